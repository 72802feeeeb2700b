"""Listening sessions: a user's plays split wherever the pause between two plays exceeds a gap (30 minutes).

The pause is measured from the end of one play (its ``ts``) to the start of
the next (its ``ts`` minus ``ms_played``). A play without a duration starts
at its ``ts``. Sessions are computed when they are needed rather than stored,
because they depend on the gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..errors import InputError

DEFAULT_GAP_MINUTES = 30.0
_MINUTE_US = 60 * 1_000_000


@dataclass
class Sessions:
    """Per play: its session (dense ids from 0, in play order), 1-based position and the session's length."""

    ids: np.ndarray
    position: np.ndarray
    length: np.ndarray

    @property
    def count(self) -> int:
        return int(self.ids.max()) + 1 if len(self.ids) else 0


def split_sessions(users: np.ndarray, ts_us: np.ndarray, ms_played: np.ndarray | None = None,
                   gap_minutes: float = DEFAULT_GAP_MINUTES) -> Sessions:
    """Split plays ordered by user and time into sessions; raise ValueError when they are not in that order."""
    if gap_minutes <= 0:
        raise InputError(f"parameter gap_minutes must be a number of minutes > 0, got {gap_minutes!r}")
    users = np.asarray(users)
    ts_us = np.asarray(ts_us, dtype=np.int64)
    n = len(ts_us)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Sessions(empty, empty, empty)
    same_user = np.r_[False, users[1:] == users[:-1]]
    if np.any(same_user & (np.r_[0, np.diff(ts_us)] < 0)):
        raise ValueError("plays must be ordered by user and time")
    played_us = np.zeros(n, dtype=np.int64) if ms_played is None else np.asarray(ms_played, np.int64) * 1000
    starts_us = ts_us - np.maximum(played_us, 0)
    pause = np.r_[np.iinfo(np.int64).max, starts_us[1:] - ts_us[:-1]]
    new_session = ~same_user | (pause > gap_minutes * _MINUTE_US)
    ids = np.cumsum(new_session) - 1
    first = np.flatnonzero(new_session)
    lengths = np.diff(np.r_[first, n])
    position = np.arange(n) - first[ids] + 1
    return Sessions(ids.astype(np.int64), position.astype(np.int64), lengths[ids].astype(np.int64))


def sessions_of_events(events: pa.Table, gap_minutes: float = DEFAULT_GAP_MINUTES) -> Sessions:
    """Split a play-events table (user_id, ts, ms_played; ordered by user and time) into sessions."""
    users = events.column("user_id").to_numpy(zero_copy_only=False)
    ts = np.asarray(events.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    ms = None
    if "ms_played" in events.column_names:
        ms = np.asarray(events.column("ms_played").fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return split_sessions(users, ts, ms, gap_minutes)
