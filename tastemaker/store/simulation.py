"""Writes and reads of the simulation tables: runs, play events and per-round metrics."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from ..errors import InputError
from .store import Store, _arrow, utc_now

# The event column each reward counts; the SQL below takes the column name
# from this fixed table, never from input.
REWARD_COLUMNS = {"stream": "streamed", "completion": "completed"}


def start_run(store: Store, run_id: str, policy: str, seed: int, reward: str, params: dict) -> None:
    """Record a run, replacing every row of an earlier run with the same id."""
    _check_reward(reward)
    connection = store.connection
    connection.execute("BEGIN TRANSACTION")
    try:
        for table in ("simulation_events", "simulation_rounds", "simulation_runs"):
            # Table names come from the fixed tuple above.
            connection.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
        connection.execute("INSERT INTO simulation_runs VALUES (?, ?, ?, ?, ?, ?)",
                           [run_id, policy, int(seed), reward, json.dumps(params, sort_keys=True), utc_now()])
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def write_events(store: Store, run_id: str, round_index: int, users: np.ndarray, tracks: np.ndarray,
                 positions: np.ndarray, ms_played: np.ndarray, streamed: np.ndarray, completed: np.ndarray) -> None:
    """Append one round's plays of a run."""
    count = len(users)
    table = pa.table({
        "run_id": pa.array([run_id] * count, pa.string()),
        "round": pa.array(np.full(count, round_index, dtype=np.int32)),
        "user_index": pa.array(np.asarray(users, dtype=np.int32)),
        "track_index": pa.array(np.asarray(tracks, dtype=np.int32)),
        "position": pa.array(np.asarray(positions, dtype=np.int32)),
        "ms_played": pa.array(np.asarray(ms_played, dtype=np.int64)),
        "streamed": pa.array(np.asarray(streamed, dtype=bool)),
        "completed": pa.array(np.asarray(completed, dtype=bool)),
    })
    store.connection.register("round_events", table)
    try:
        store.connection.execute("INSERT INTO simulation_events SELECT * FROM round_events")
    finally:
        store.connection.unregister("round_events")


def reward_counts(store: Store, run_id: str, reward: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (users, tracks, counts) of a run's rewarded plays so far, ordered by user and track."""
    column = REWARD_COLUMNS[_check_reward(reward)]
    table = _arrow(store.connection.sql(
        f"SELECT user_index, track_index, count(*) AS plays FROM simulation_events "
        f"WHERE run_id = ? AND {column} GROUP BY user_index, track_index ORDER BY user_index, track_index",
        params=[run_id],
    ))
    return (table.column("user_index").to_numpy().astype(np.int64),
            table.column("track_index").to_numpy().astype(np.int64),
            table.column("plays").to_numpy().astype(np.float32))


def write_round_metrics(store: Store, run_id: str, round_index: int, metrics: dict[str, float]) -> None:
    """Store one round's metrics of a run, one row per metric."""
    rows = [[run_id, round_index, name, None if value is None or np.isnan(value) else float(value)]
            for name, value in metrics.items()]
    store.connection.executemany("INSERT INTO simulation_rounds VALUES (?, ?, ?, ?)", rows)


def round_metrics(store: Store) -> pa.Table:
    """Return run_id, policy, seed, reward, round, metric and value of every stored round, in order."""
    return _arrow(store.connection.sql(
        "SELECT r.run_id, r.policy, r.seed, r.reward, m.round, m.metric, m.value "
        "FROM simulation_rounds m JOIN simulation_runs r USING (run_id) ORDER BY r.run_id, m.round, m.metric"
    ))


def event_count(store: Store, run_id: str) -> int:
    """Count the stored plays of a run."""
    return int(store.connection.execute("SELECT count(*) FROM simulation_events WHERE run_id = ?",
                                        [run_id]).fetchall()[0][0])


def _check_reward(reward: str) -> str:
    if reward not in REWARD_COLUMNS:
        raise InputError(f"reward must be one of {', '.join(REWARD_COLUMNS)}, got {reward!r}")
    return reward
