"""SQL for the audio_features table: writing ingested rows, reading them back, join coverage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from ..errors import StoreError
from .store import Store, _arrow

AUDIO_FEATURE_COLUMNS = (
    "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo", "duration_ms", "time_signature",
)
INTEGER_FEATURES = frozenset({"key", "mode", "duration_ms", "time_signature"})


@dataclass(frozen=True)
class AudioCoverage:
    """How much of the stored playlist data has audio features.

    ``tracks`` counts distinct tracks in the catalogue (the tracks table) and
    ``occurrences`` rows of playlist_tracks, so the second share weights each
    track by the number of playlists it is in.
    """

    tracks: int
    tracks_with_features: int
    occurrences: int
    occurrences_with_features: int

    @property
    def track_share(self) -> float:
        return self.tracks_with_features / self.tracks if self.tracks else 0.0

    @property
    def occurrence_share(self) -> float:
        return self.occurrences_with_features / self.occurrences if self.occurrences else 0.0


def write_audio_features(store: Store, features: pa.Table, rejects: pa.Table, content_sha256: str,
                         file: str, ingested_at: datetime) -> int:
    """Insert feature rows whose track is not stored yet, and the file's rejects, in one transaction.

    ``features`` has track_uri and AUDIO_FEATURE_COLUMNS, with distinct
    track URIs; ``rejects`` has the columns of the rejects table. Rejects of
    an earlier ingest of the same content are replaced, so ingesting a file
    twice stores its rejects once. Returns how many feature rows were
    already stored and so left unchanged.
    """
    connection = store.connection
    columns = ", ".join(("track_uri", *AUDIO_FEATURE_COLUMNS))
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.register("batch_audio", features)
        already_stored = connection.execute(
            "SELECT count(*) FROM batch_audio b SEMI JOIN audio_features a ON a.track_uri = b.track_uri"
        ).fetchall()[0][0]
        # Column names come from the fixed tuple above, never from input.
        connection.execute(
            f"INSERT INTO audio_features SELECT {columns}, ?, ?, ? "
            "FROM batch_audio b ANTI JOIN audio_features a ON a.track_uri = b.track_uri",
            [content_sha256, file, ingested_at],
        )
        connection.unregister("batch_audio")
        connection.execute("DELETE FROM rejects WHERE content_sha256 = ?", [content_sha256])
        if rejects.num_rows:
            connection.register("batch_rejects", rejects)
            connection.execute("INSERT INTO rejects SELECT * FROM batch_rejects")
            connection.unregister("batch_rejects")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return int(already_stored)


def read_audio_features(store: Store) -> pa.Table:
    """Return track_uri and AUDIO_FEATURE_COLUMNS of every stored track with features, ordered by URI."""
    columns = ", ".join(("track_uri", *AUDIO_FEATURE_COLUMNS))
    try:
        return _arrow(store.connection.sql(f"SELECT {columns} FROM audio_features ORDER BY track_uri"))
    except duckdb.CatalogException as exc:
        raise StoreError(_missing_table_message(store)) from exc


def audio_coverage(store: Store) -> AudioCoverage:
    """Count the catalogue tracks and playlist rows that have audio features."""
    try:
        tracks = store.connection.execute(
            "SELECT count(*), count(a.track_uri) FROM tracks t LEFT JOIN audio_features a USING (track_uri)"
        ).fetchall()[0]
        occurrences = store.connection.execute(
            "SELECT count(*), count(a.track_uri) FROM playlist_tracks p LEFT JOIN audio_features a USING (track_uri)"
        ).fetchall()[0]
    except duckdb.CatalogException as exc:
        raise StoreError(_missing_table_message(store)) from exc
    return AudioCoverage(int(tracks[0]), int(tracks[1]), int(occurrences[0]), int(occurrences[1]))


def _missing_table_message(store: Store) -> str:
    return (f"the store {store.path} has no audio_features table; it was created by an older tastemaker and "
            "is opened read-only: open it writable once, for example by ingesting audio features")
