"""Products users see. Playlist continuation is the first; home shelves and mixes will build on it."""
