"""The DuckDB store and every SQL statement of tastemaker."""

from .batches import PlaylistBatch
from .store import IngestLogEntry, Store, utc_now

__all__ = ["IngestLogEntry", "PlaylistBatch", "Store", "utc_now"]
