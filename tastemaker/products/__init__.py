"""What users see: playlist continuation now; home shelves and mixes build on it."""
