"""Reads of the catalogue and of one listener that the products need (Discover Weekly, Daily Mix, Radio, ...)."""

from __future__ import annotations

import pyarrow as pa

from .store import Store, _arrow


def catalogue_tracks(store: Store) -> pa.Table:
    """Return track_uri, name, artist_name and first_seen of every stored track, ordered by URI."""
    return _arrow(store.connection.sql(
        "SELECT track_uri, name, artist_name, first_seen FROM tracks ORDER BY track_uri"))


def top_artist_tags(store: Store, per_artist: int = 3) -> pa.Table:
    """Return artist_uri, tag and uses of each artist's most used tags (HetRec tag assignments)."""
    if not store.has_table("artist_tags"):
        return pa.table({"artist_uri": pa.array([], pa.string()), "tag": pa.array([], pa.string()),
                         "uses": pa.array([], pa.int64())})
    return _arrow(store.connection.sql(
        """
        SELECT artist_uri, tag, uses FROM (
            SELECT artist_uri, lower(tag) AS tag, count(*) AS uses,
                   row_number() OVER (PARTITION BY artist_uri ORDER BY count(*) DESC, lower(tag)) AS rank
            FROM artist_tags GROUP BY artist_uri, lower(tag)
        ) WHERE rank <= ? ORDER BY artist_uri, rank
        """,
        params=[per_artist],
    ))


def user_artist_counts(store: Store, user_id: int) -> pa.Table:
    """Return artist_uri, the artist's name and plays of one user's stored play counts, most played first."""
    return _arrow(store.connection.sql(
        """
        SELECT p.artist_uri, a.name, sum(p.plays)::BIGINT AS plays
        FROM user_artist_plays p LEFT JOIN artists a USING (artist_uri)
        WHERE p.user_id = ? GROUP BY p.artist_uri, a.name ORDER BY plays DESC, p.artist_uri
        """,
        params=[int(user_id)],
    ))


def user_events(store: Store, user_id: int) -> pa.Table:
    """Return one user's play events with their platform, ordered by time."""
    return _arrow(store.connection.sql(
        "SELECT user_id, ts, track_uri, ms_played, skipped, reason_end, platform FROM play_events "
        "WHERE user_id = ? ORDER BY ts, track_uri",
        params=[int(user_id)],
    ))


def streamed_pairs(store: Store, stream_threshold_ms: int = 30_000) -> pa.Table:
    """Return user_id and track_uri of every user's streams (plays of at least the threshold, or of unknown length)."""
    return _arrow(store.connection.sql(
        """
        SELECT DISTINCT user_id, track_uri FROM play_events
        WHERE (ms_played IS NULL OR ms_played >= ?) AND NOT coalesce(skipped, false)
        ORDER BY user_id, track_uri
        """,
        params=[int(stream_threshold_ms)],
    ))
