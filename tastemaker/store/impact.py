"""Reads the audit needs from the store: track durations and artist tags."""

from __future__ import annotations

import pyarrow as pa

from .store import Store, _arrow


def track_durations(store: Store) -> pa.Table:
    """Return track_uri and duration_ms of every stored track whose duration is known.

    The track's own duration (full MPD schema) wins; audio features fill in
    where it is missing.
    """
    if store.has_table("audio_features"):
        query = """
            SELECT t.track_uri, COALESCE(t.duration_ms, a.duration_ms) AS duration_ms
            FROM tracks t LEFT JOIN audio_features a USING (track_uri)
            WHERE COALESCE(t.duration_ms, a.duration_ms) IS NOT NULL
            ORDER BY t.track_uri
        """
    else:
        query = "SELECT track_uri, duration_ms FROM tracks WHERE duration_ms IS NOT NULL ORDER BY track_uri"
    return _arrow(store.connection.sql(query))


def artist_tag_counts(store: Store) -> pa.Table:
    """Return artist_uri, tag and the number of users who gave the artist that tag, where tags are stored."""
    if not store.has_table("artist_tags"):
        return pa.table({"artist_uri": pa.array([], pa.string()), "tag": pa.array([], pa.string()),
                         "users": pa.array([], pa.int64())})
    return _arrow(store.connection.sql(
        "SELECT artist_uri, tag, count(DISTINCT user_id) AS users FROM artist_tags "
        "GROUP BY artist_uri, tag ORDER BY artist_uri, tag"
    ))


def occurrence_counts(store: Store) -> dict[str, pa.Table]:
    """Count playlist rows per track and per artist, and tracks per artist, over every stored playlist.

    Returns tables keyed ``tracks`` (track_uri, rows), ``artists`` (artist,
    rows) and ``tracks_per_artist`` (artist, tracks). The artist key is the
    artist URI, else ``name:`` and the artist name.
    """
    artist = "COALESCE(t.artist_uri, 'name:' || t.artist_name)"
    return {
        "tracks": _arrow(store.connection.sql(
            "SELECT track_uri, count(*) AS rows FROM playlist_tracks GROUP BY track_uri ORDER BY rows DESC, track_uri"
        )),
        "artists": _arrow(store.connection.sql(
            f"SELECT {artist} AS artist, count(*) AS rows FROM playlist_tracks p JOIN tracks t USING (track_uri) "
            "WHERE t.artist_uri IS NOT NULL OR t.artist_name IS NOT NULL GROUP BY 1 ORDER BY rows DESC, artist"
        )),
        "tracks_per_artist": _arrow(store.connection.sql(
            f"SELECT {artist} AS artist, count(*) AS tracks FROM tracks t "
            "WHERE t.artist_uri IS NOT NULL OR t.artist_name IS NOT NULL GROUP BY 1 ORDER BY tracks DESC, artist"
        )),
    }
