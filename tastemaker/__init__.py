"""tastemaker: music recommendation from playlists and listening data."""

__version__ = "0.1.0"
