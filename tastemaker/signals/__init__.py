"""Model input built from stored events: id maps and interaction matrices."""

from .idmap import IdMap
from .matrix import PlaylistTracks

__all__ = ["IdMap", "PlaylistTracks"]
