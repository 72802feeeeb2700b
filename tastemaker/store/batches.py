"""Column batches that ingest fills and the store writes in one transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

TRACK_COLUMNS = ("track_uri", "name", "artist_name", "artist_uri", "album_uri", "album_name", "duration_ms")
PLAYLIST_COLUMNS = (
    "pid", "source", "name", "description", "collaborative", "modified_at", "num_tracks",
    "num_followers", "num_edits", "num_artists", "num_albums", "duration_ms", "num_samples",
    "num_holdouts", "file",
)
REJECT_COLUMNS = ("content_sha256", "file", "record_index", "item_index", "field", "value", "reason")

ARTIST_URI = r"^spotify:artist:[0-9A-Za-z]{22}$"
ALBUM_URI = r"^spotify:album:[0-9A-Za-z]{22}$"

_PLAYLIST_TYPES = {
    "pid": pa.int64(), "source": pa.string(), "name": pa.string(), "description": pa.string(),
    "collaborative": pa.bool_(), "modified_at": pa.timestamp("s"), "num_tracks": pa.int32(),
    "num_followers": pa.int32(), "num_edits": pa.int32(), "num_artists": pa.int32(),
    "num_albums": pa.int32(), "duration_ms": pa.int64(), "num_samples": pa.int32(),
    "num_holdouts": pa.int32(), "file": pa.string(),
}
_TRACK_TYPES = {
    "track_uri": pa.string(), "name": pa.string(), "artist_name": pa.string(),
    "artist_uri": pa.string(), "album_uri": pa.string(), "album_name": pa.string(),
    "duration_ms": pa.int64(),
}
_REJECT_TYPES = {
    "content_sha256": pa.string(), "file": pa.string(), "record_index": pa.int32(),
    "item_index": pa.int32(), "field": pa.string(), "value": pa.string(), "reason": pa.string(),
}


@dataclass
class PlaylistBatch:
    """Rows that ingest adds to the store, as columns.

    ``tracks`` maps a track URI to its metadata tuple in TRACK_COLUMNS order,
    with values as the source gave them: ``tracks_table`` turns values of the
    wrong type into NULL. The first row seen for a URI wins, and later rows
    only fill fields that are NULL in the store.
    """

    playlists: dict[str, list] = field(default_factory=lambda: {c: [] for c in PLAYLIST_COLUMNS})
    playlist_tracks: dict[str, list] = field(default_factory=lambda: {"pid": [], "pos": [], "track_uri": []})
    tracks: dict[str, tuple] = field(default_factory=dict)
    rejects: dict[str, list] = field(default_factory=lambda: {c: [] for c in REJECT_COLUMNS})

    @property
    def row_count(self) -> int:
        return len(self.playlist_tracks["pid"]) + len(self.playlists["pid"]) + len(self.rejects["reason"])

    def add_reject(self, content_sha256: str, file: str, record_index: int | None, item_index: int | None,
                   field_name: str | None, value: object, reason: str) -> None:
        row = (content_sha256, file, record_index, item_index, field_name,
               None if value is None else _short_repr(value), reason)
        for column, item in zip(REJECT_COLUMNS, row):
            self.rejects[column].append(item)

    def extend(self, other: "PlaylistBatch") -> None:
        for source, target in ((other.playlists, self.playlists), (other.playlist_tracks, self.playlist_tracks),
                               (other.rejects, self.rejects)):
            for column, values in source.items():
                target[column].extend(values)
        for uri, row in other.tracks.items():
            self.tracks.setdefault(uri, row)

    def playlists_table(self) -> pa.Table:
        return pa.table({c: _typed_array(self.playlists[c], _PLAYLIST_TYPES[c]) for c in PLAYLIST_COLUMNS})

    def playlist_tracks_table(self) -> pa.Table:
        return pa.table({
            "pid": pa.array(self.playlist_tracks["pid"], type=pa.int64()),
            "pos": pa.array(self.playlist_tracks["pos"], type=pa.int32()),
            "track_uri": pa.array(self.playlist_tracks["track_uri"], type=pa.string()),
        })

    def tracks_table(self) -> pa.Table:
        rows = list(self.tracks.values())
        columns = list(zip(*rows)) if rows else [() for _ in TRACK_COLUMNS]
        arrays = {c: _typed_array(list(col), _TRACK_TYPES[c]) for c, col in zip(TRACK_COLUMNS, columns)}
        for column, pattern in (("artist_uri", ARTIST_URI), ("album_uri", ALBUM_URI)):
            values = arrays[column]
            arrays[column] = pc.if_else(pc.match_substring_regex(values, pattern), values, pa.scalar(None, pa.string()))
        return pa.table(arrays)

    def rejects_table(self) -> pa.Table:
        return pa.table({c: pa.array(self.rejects[c], type=_REJECT_TYPES[c]) for c in REJECT_COLUMNS})


def _typed_array(values: list, arrow_type: pa.DataType) -> pa.Array:
    """Build an Arrow array; values of the wrong type become NULL instead of failing the batch."""
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([_coerce(v, arrow_type) for v in values], type=arrow_type)


def _coerce(value: object, arrow_type: pa.DataType) -> object:
    if value is None:
        return None
    if pa.types.is_string(arrow_type):
        return value if isinstance(value, str) else None
    if pa.types.is_integer(arrow_type):
        bits = arrow_type.bit_width - 1
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2**bits) <= value < 2**bits
        return value if ok else None
    if pa.types.is_boolean(arrow_type):
        return value if isinstance(value, bool) else None
    try:
        pa.array([value], type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    return value


_CONTROL = re.compile(r"[\x00-\x1f]")


def _short_repr(value: object, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
