"""The bandit log: every shelf and card the home page showed, with context, propensity and reward.

One row per shown candidate: ``decision`` is ``shelf`` (the order of
shelves) or ``card`` (the cards within a shelf). ``features`` is the
candidate's own feature vector as JSON, so learning and off-policy
evaluation read the log without recomputing anything. ``user_key`` is
``user:ID`` (the store's user id) or ``playlist:PID``, never an account
name. ``reward`` is NULL until feedback arrives: a stream of a card's track
for ``stream_threshold_ms`` or longer makes the card's reward, and its
shelf's, 1. Rows still NULL after the reward window count as 0 when read.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from ..errors import InputError
from .store import Store, _arrow, utc_now

LOG_COLUMNS = ("page_id", "user_key", "shown_at", "policy", "decision", "shelf", "action", "kind", "position",
               "propensity", "segment", "hour", "platform", "features", "track_uris")
DECISIONS = ("shelf", "card")
DEFAULT_REWARD_WINDOW = timedelta(minutes=30)
STREAM_THRESHOLD_MS = 30_000


def write_impressions(store: Store, rows: list[dict]) -> None:
    """Append the rows of one shown page in one transaction; each row has every column of LOG_COLUMNS."""
    if not rows:
        return
    for row in rows:
        if row["decision"] not in DECISIONS:
            raise InputError(f"decision must be one of {', '.join(DECISIONS)}, got {row['decision']!r}")
        if not 0 < row["propensity"] <= 1:
            raise InputError(f"page {row['page_id']}, action {row['action']}: propensity {row['propensity']!r} "
                             "is not in (0, 1]")
    table = pa.table({
        "page_id": pa.array([r["page_id"] for r in rows], pa.string()),
        "user_key": pa.array([r["user_key"] for r in rows], pa.string()),
        "shown_at": pa.array([r["shown_at"] for r in rows], pa.timestamp("us")),
        "policy": pa.array([r["policy"] for r in rows], pa.string()),
        "decision": pa.array([r["decision"] for r in rows], pa.string()),
        "shelf": pa.array([r["shelf"] for r in rows], pa.string()),
        "action": pa.array([r["action"] for r in rows], pa.string()),
        "kind": pa.array([r["kind"] for r in rows], pa.string()),
        "position": pa.array([int(r["position"]) for r in rows], pa.int32()),
        "propensity": pa.array([float(r["propensity"]) for r in rows], pa.float64()),
        "segment": pa.array([r["segment"] for r in rows], pa.string()),
        "hour": pa.array([int(r["hour"]) for r in rows], pa.int32()),
        "platform": pa.array([r["platform"] for r in rows], pa.string()),
        "features": pa.array([json.dumps([round(float(v), 6) for v in r["features"]]) for r in rows], pa.string()),
        "track_uris": pa.array([list(r["track_uris"]) for r in rows], pa.list_(pa.string())),
    })
    connection = store.connection
    connection.register("shown_rows", table)
    try:
        connection.execute(f"INSERT INTO bandit_log ({', '.join(LOG_COLUMNS)}) SELECT * FROM shown_rows")
    finally:
        connection.unregister("shown_rows")


def record_stream(store: Store, page_id: str, card_id: str, ms_played: int,
                  stream_threshold_ms: int = STREAM_THRESHOLD_MS, at: datetime | None = None) -> float:
    """Record that the listener played ``ms_played`` ms from a card of a page; returns the card's reward (0 or 1).

    A card's reward never drops: a short play after a stream leaves it at 1.
    The card's shelf on that page gets the same reward when it is higher.
    """
    if isinstance(ms_played, bool) or not isinstance(ms_played, (int, np.integer)) or ms_played < 0:
        raise InputError(f"ms_played must be a non-negative integer of milliseconds, got {ms_played!r}")
    rows = store.connection.execute(
        "SELECT shelf FROM bandit_log WHERE page_id = ? AND decision = 'card' AND action = ?", [page_id, card_id]
    ).fetchall()
    if not rows:
        shown = store.connection.execute(
            "SELECT action FROM bandit_log WHERE page_id = ? AND decision = 'card' ORDER BY shelf, position",
            [page_id]).fetchall()
        if not shown:
            raise InputError(f"page {page_id!r} is not in the bandit log of {store.path}; give the page id that "
                             "`tastemaker home` printed")
        raise InputError(f"card {card_id!r} was not shown on page {page_id}; it showed: "
                         f"{', '.join(r[0] for r in shown)}")
    reward = 1.0 if ms_played >= stream_threshold_ms else 0.0
    at = at or utc_now()
    connection = store.connection
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute(
            "UPDATE bandit_log SET reward = greatest(coalesce(reward, 0), ?), "
            "ms_played = greatest(coalesce(ms_played, 0), ?), rewarded_at = ? "
            "WHERE page_id = ? AND decision = 'card' AND action = ?",
            [reward, int(ms_played), at, page_id, card_id])
        connection.execute(
            "UPDATE bandit_log SET reward = greatest(coalesce(reward, 0), ?), rewarded_at = ? "
            "WHERE page_id = ? AND decision = 'shelf' AND action = ?",
            [reward, at, page_id, rows[0][0]])
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return reward


def attribute_play_events(store: Store, window: timedelta = DEFAULT_REWARD_WINDOW,
                          stream_threshold_ms: int = STREAM_THRESHOLD_MS) -> int:
    """Reward cards whose tracks the user streamed within ``window`` after the page was shown; returns cards rewarded.

    Only users with stored play events (``user:ID`` keys) can be matched;
    playlists and HetRec users have no plays with times.
    """
    connection = store.connection
    window_us = int(window.total_seconds() * 1_000_000)
    connection.execute("BEGIN TRANSACTION")
    try:
        rewarded = connection.execute(
            """
            UPDATE bandit_log SET reward = 1, rewarded_at = streamed.first_stream, ms_played = streamed.ms
            FROM (
                SELECT l.page_id, l.action, min(e.ts) AS first_stream, max(e.ms_played) AS ms
                FROM bandit_log l
                JOIN play_events e
                  ON l.user_key = 'user:' || CAST(e.user_id AS VARCHAR)
                 AND list_contains(l.track_uris, e.track_uri)
                 AND e.ts >= l.shown_at AND e.ts <= l.shown_at + to_microseconds(?)
                 AND coalesce(e.ms_played, ?) >= ? AND NOT coalesce(e.skipped, false)
                WHERE l.decision = 'card' AND l.reward IS DISTINCT FROM 1
                GROUP BY l.page_id, l.action
            ) AS streamed
            WHERE bandit_log.page_id = streamed.page_id AND bandit_log.decision = 'card'
              AND bandit_log.action = streamed.action
            RETURNING bandit_log.page_id, bandit_log.shelf
            """,
            [window_us, int(stream_threshold_ms), int(stream_threshold_ms)],
        ).fetchall()
        for page_id, shelf in set(rewarded):
            connection.execute(
                "UPDATE bandit_log SET reward = 1 WHERE page_id = ? AND decision = 'shelf' AND action = ?",
                [page_id, shelf])
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return len(rewarded)


def logged_rows(store: Store, decision: str, closed_before: datetime | None = None) -> pa.Table:
    """Return the log rows of one decision kind whose reward is known, in the order they were shown.

    A row without reward counts as reward 0 once it was shown before
    ``closed_before`` (default: now minus the 30-minute reward window); later
    rows without reward are left out, because feedback may still come.
    """
    if decision not in DECISIONS:
        raise InputError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    closed_before = closed_before or utc_now() - DEFAULT_REWARD_WINDOW
    return _arrow(store.connection.sql(
        """
        SELECT page_id, user_key, shown_at, policy, shelf, action, kind, position, propensity, segment, hour,
               platform, features, coalesce(reward, 0.0) AS reward
        FROM bandit_log
        WHERE decision = ? AND (reward IS NOT NULL OR shown_at < ?)
        ORDER BY shown_at, page_id, shelf, position
        """,
        params=[decision, closed_before],
    ))


def page_rows(store: Store, page_id: str) -> pa.Table:
    """Return every row of one page, shelves first, in display order."""
    return _arrow(store.connection.sql(
        "SELECT * FROM bandit_log WHERE page_id = ? ORDER BY decision DESC, shelf, position", params=[page_id]))


def log_counts(store: Store) -> dict[str, int]:
    """Count pages, rows and rewarded rows of the bandit log."""
    row = store.connection.execute(
        "SELECT count(DISTINCT page_id), count(*), count(*) FILTER (WHERE reward = 1) FROM bandit_log"
    ).fetchall()[0]
    return {"pages": int(row[0]), "rows": int(row[1]), "rewarded": int(row[2])}
