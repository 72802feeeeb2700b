"""SQL for content features of audio files, new tracks found in audio folders, and artist tag counts.

The ``audio_content`` table is created on the first write, so stores made
before it existed gain it when an audio folder is ingested; reads of a store
without it return empty tables.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from .store import Store, _arrow

# One row per ingested audio file, keyed by the SHA-256 of its bytes.
# features follows tastemaker.content.features.CONTENT_FEATURES of
# feature_version. matched_by records how the file found its track: 'spotify id'
# (in the file name), 'tags', 'file name' or 'new track'.
CONTENT_STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS audio_content (
        content_sha256 VARCHAR PRIMARY KEY,
        track_uri VARCHAR NOT NULL,
        file VARCHAR NOT NULL,
        matched_by VARCHAR NOT NULL,
        feature_version INTEGER NOT NULL,
        features DOUBLE[] NOT NULL,
        duration_s DOUBLE NOT NULL,
        sample_rate INTEGER NOT NULL,
        ingested_at TIMESTAMP NOT NULL
    )
    """,
]

CONTENT_TYPES = {
    "content_sha256": pa.string(), "track_uri": pa.string(), "file": pa.string(), "matched_by": pa.string(),
    "feature_version": pa.int32(), "features": pa.list_(pa.float64()), "duration_s": pa.float64(),
    "sample_rate": pa.int32(),
}
NEW_TRACK_TYPES = {"track_uri": pa.string(), "name": pa.string(), "artist_name": pa.string(),
                   "duration_ms": pa.int64()}


def ensure_content_table(store: Store) -> None:
    for statement in CONTENT_STATEMENTS:
        store.connection.execute(statement)


def ingested_content_hashes(store: Store) -> dict[str, str]:
    """Return ``content_sha256 -> track_uri`` of every ingested audio file; empty before the first ingest."""
    if not store.has_table("audio_content"):
        return {}
    return dict(store.connection.execute("SELECT content_sha256, track_uri FROM audio_content").fetchall())


def catalogue_track_names(store: Store) -> list[tuple[str, str | None, str | None]]:
    """Return ``(track_uri, artist_name, name)`` of every catalogue track."""
    return store.connection.execute("SELECT track_uri, artist_name, name FROM tracks").fetchall()


def write_audio_content(store: Store, content: pa.Table, new_tracks: pa.Table, rejects: pa.Table,
                        ingested_at: datetime) -> None:
    """Insert content rows, new catalogue tracks and rejected files in one transaction.

    ``content`` has the columns of CONTENT_TYPES, ``new_tracks`` those of
    NEW_TRACK_TYPES and ``rejects`` those of the rejects table. Rows whose
    file hash or track URI is already stored are left unchanged, and the
    rejects of a file replace that file's earlier rejects.
    """
    connection = store.connection
    ensure_content_table(store)
    connection.execute("BEGIN TRANSACTION")
    try:
        if new_tracks.num_rows:
            connection.register("batch_new_tracks", new_tracks)
            connection.execute(
                """
                INSERT INTO tracks (track_uri, name, artist_name, duration_ms, first_seen)
                SELECT b.track_uri, arg_min(b.name, b.track_uri), arg_min(b.artist_name, b.track_uri),
                       arg_min(b.duration_ms, b.track_uri), ?
                FROM batch_new_tracks b ANTI JOIN tracks t ON t.track_uri = b.track_uri
                GROUP BY b.track_uri
                """,
                [ingested_at],
            )
            connection.unregister("batch_new_tracks")
        if content.num_rows:
            connection.register("batch_content", content)
            connection.execute(
                """
                INSERT INTO audio_content
                SELECT b.content_sha256, b.track_uri, b.file, b.matched_by, b.feature_version, b.features,
                       b.duration_s, b.sample_rate, ?
                FROM batch_content b ANTI JOIN audio_content a ON a.content_sha256 = b.content_sha256
                """,
                [ingested_at],
            )
            connection.unregister("batch_content")
        if rejects.num_rows:
            connection.register("batch_rejects", rejects)
            connection.execute("DELETE FROM rejects WHERE content_sha256 IN (SELECT content_sha256 FROM batch_rejects)")
            connection.execute("INSERT INTO rejects SELECT * FROM batch_rejects")
            connection.unregister("batch_rejects")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def read_audio_content(store: Store, feature_version: int) -> pa.Table:
    """Return track_uri and features of every track with content features of ``feature_version``.

    A track with several files gets the features of the file ingested first
    (ties broken by the file's hash), so the result has one row per track,
    ordered by track URI.
    """
    if not store.has_table("audio_content"):
        return pa.table({"track_uri": pa.array([], pa.string()), "features": pa.array([], pa.list_(pa.float64()))})
    return _arrow(store.connection.sql(
        """
        SELECT track_uri, arg_min(features, (ingested_at, content_sha256)) AS features
        FROM audio_content WHERE feature_version = ?
        GROUP BY track_uri ORDER BY track_uri
        """,
        params=[feature_version],
    ))


def catalogue_artists(store: Store) -> pa.Table:
    """Return each catalogue artist key (URI, else ``name:`` and the name) with one spelling of its name."""
    return _arrow(store.connection.sql(
        """
        SELECT COALESCE(t.artist_uri, 'name:' || t.artist_name) AS artist,
               arg_min(COALESCE(a.name, t.artist_name), t.track_uri) AS name
        FROM tracks t LEFT JOIN artists a ON a.artist_uri = t.artist_uri
        WHERE t.artist_uri IS NOT NULL OR t.artist_name IS NOT NULL
        GROUP BY 1 ORDER BY 1
        """
    ))


def artist_tag_counts(store: Store) -> pa.Table:
    """Return artist_uri, artist name, tag (case-folded) and how many users gave it, from the artist_tags table."""
    if not store.has_table("artist_tags"):
        return pa.table({"artist_uri": pa.array([], pa.string()), "name": pa.array([], pa.string()),
                         "tag": pa.array([], pa.string()), "users": pa.array([], pa.int64())})
    return _arrow(store.connection.sql(
        """
        SELECT g.artist_uri, a.name, lower(trim(g.tag)) AS tag, count(DISTINCT g.user_id) AS users
        FROM artist_tags g LEFT JOIN artists a ON a.artist_uri = g.artist_uri
        GROUP BY g.artist_uri, a.name, lower(trim(g.tag))
        ORDER BY g.artist_uri, tag
        """
    ))
