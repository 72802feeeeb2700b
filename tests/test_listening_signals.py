"""Confidence weights, skip classification, time decay, sessions and the per-user evaluation."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tastemaker.errors import InputError
from tastemaker.evaluation.per_user import (
    ModelSpec,
    evaluate_per_user,
    random_split,
    score_user,
    temporal_split,
)
from tastemaker.generate_listening import generate_listening
from tastemaker.signals.confidence import (
    ConfidenceParams,
    classify_plays,
    count_user_items,
    decay_weights,
    event_user_items,
)
from tastemaker.signals.sessions import sessions_of_events, split_sessions

MINUTE_US = 60 * 1_000_000
DAY_US = 24 * 60 * MINUTE_US


def events(rows: list[tuple]) -> pa.Table:
    """Build play events from (user, minute, track, ms_played, skipped, reason_end) tuples."""
    users, minutes, tracks, ms, skipped, reasons = zip(*rows)
    return pa.table({
        "user_id": pa.array(users, pa.int64()),
        "ts": pa.array([m * MINUTE_US for m in minutes], pa.timestamp("us")),
        "track_uri": pa.array(tracks, pa.string()),
        "ms_played": pa.array(ms, pa.int64()),
        "skipped": pa.array(skipped, pa.bool_()),
        "reason_end": pa.array(reasons, pa.string()),
        "artist_name": pa.array([t.split("-")[0] for t in tracks], pa.string()),
    })


# Classification and confidence


def test_classify_plays():
    ms = np.array([200_000, 10_000, 10_000, 200_000, 200_000, 0, 50_000])
    known = np.array([True, True, True, True, True, False, True])
    skipped = np.array([False, False, False, True, False, False, False])
    reason = np.array(["trackdone", "fwdbtn", "trackerror", "trackdone", "fwdbtn", None, "endplay"], dtype=object)

    stream, skip = classify_plays(ms, known, skipped, reason, 30_000)

    assert stream.tolist() == [True, False, False, False, False, True, True]
    assert skip.tolist() == [False, True, False, True, True, False, False]


def test_stream_threshold_configurable():
    ms = np.array([20_000, 40_000])
    known = np.ones(2, bool)
    stream, skip = classify_plays(ms, known, np.zeros(2, bool), np.array([None, None], object), 10_000)
    assert stream.tolist() == [True, True]
    stream, skip = classify_plays(ms, known, np.zeros(2, bool), np.array([None, None], object), 60_000)
    assert skip.tolist() == [True, True]


def test_confidence_values():
    table = events([
        (1, 0, "a-1", 200_000, False, "trackdone"), (1, 5, "a-1", 200_000, False, "trackdone"),
        (1, 10, "b-1", 5_000, True, "fwdbtn"),
        (1, 20, "c-1", 200_000, False, "trackdone"), (1, 30, "c-1", 3_000, False, "fwdbtn"),
    ])
    params = ConfidenceParams(alpha=2.0, epsilon=1.0)

    data = event_user_items(table, params)

    row = dict(zip(data.items.external(data.matrix[0].indices), data.matrix[0].data))
    assert row["a-1"] == pytest.approx(1 + 2 * np.log1p(2))
    assert row["b-1"] == pytest.approx(-(1 + 2 * np.log1p(1)))
    assert "c-1" not in row  # one stream and one skip cancel out


def test_skip_weight_and_linear_scaling():
    table = events([(1, 0, "a-1", 200_000, False, "trackdone")] * 1
                   + [(1, m, "a-1", 200_000, False, "trackdone") for m in (5, 10)]
                   + [(1, 15, "a-1", 1_000, False, "fwdbtn")])
    data = event_user_items(table, ConfidenceParams(alpha=1.0, scaling="linear", skip_weight=0.5))
    assert data.matrix[0, 0] == pytest.approx(1 + (3 - 0.5))


def test_raw_and_binary_weightings():
    table = events([(1, 0, "a-1", 200_000, False, "trackdone"), (1, 5, "a-1", 1_000, True, "fwdbtn"),
                    (1, 9, "b-1", 1_000, True, "fwdbtn")])
    raw = event_user_items(table, weighting="raw")
    binary = event_user_items(table, weighting="binary")
    assert raw.matrix.toarray().tolist() == [[2.0, 1.0]]
    assert binary.matrix.toarray().tolist() == [[0.0, 0.0]]


def test_time_decay_half_life():
    weights = decay_weights(np.array([0, 10 * DAY_US, 20 * DAY_US]), half_life_days=10.0)
    assert weights.tolist() == pytest.approx([0.25, 0.5, 1.0])
    assert decay_weights(np.array([0, DAY_US]), None).tolist() == [1.0, 1.0]


def test_decay_lowers_old_plays():
    table = events([(1, 0, "a-1", 200_000, False, "trackdone"),
                    (1, 60 * 24 * 30, "b-1", 200_000, False, "trackdone")])
    data = event_user_items(table, ConfidenceParams(half_life_days=30.0))
    old, new = data.matrix.toarray()[0]
    assert old < new


def test_artist_level_matrix():
    table = events([(1, 0, "x-1", 200_000, False, "trackdone"), (1, 5, "x-2", 200_000, False, "trackdone"),
                    (2, 0, "y-1", 200_000, False, "trackdone")])
    data = event_user_items(table, level="artist")
    assert data.matrix.shape == (2, 2)
    assert data.matrix[0].nnz == 1


def test_count_weightings():
    data = count_user_items(np.array([1, 1, 2]), np.array(["a", "b", "a"]), np.array([100, 1, 0]),
                            ConfidenceParams(alpha=1.0))
    assert data.matrix.nnz == 2
    assert data.matrix[0, 0] == pytest.approx(1 + np.log1p(100))
    raw = count_user_items(np.array([1]), np.array(["a"]), np.array([100]), weighting="raw")
    assert raw.matrix[0, 0] == 100


def test_invalid_parameters():
    with pytest.raises(InputError, match="parameter alpha must be a number > 0, got -1"):
        ConfidenceParams(alpha=-1)
    with pytest.raises(InputError, match="parameter scaling must be one of log, linear"):
        ConfidenceParams(scaling="cube")
    with pytest.raises(InputError, match="parameter weighting must be one of"):
        event_user_items(events([(1, 0, "a-1", 1, False, None)]), weighting="loud")


# Sessions


def test_sessions_split_at_gap():
    users = np.array([1, 1, 1, 1, 2])
    ts = np.array([0, 10, 45, 46, 50]) * MINUTE_US
    ms = np.array([60_000, 60_000, 60_000, 60_000, 60_000])

    sessions = split_sessions(users, ts, ms, gap_minutes=30)

    assert sessions.ids.tolist() == [0, 0, 1, 1, 2]
    assert sessions.position.tolist() == [1, 2, 1, 2, 1]
    assert sessions.length.tolist() == [2, 2, 2, 2, 1]


def test_session_gap_counts_from_play_start():
    # The second play ends 40 minutes after the first but lasted 20 minutes, so the pause is 20 minutes.
    sessions = split_sessions(np.array([1, 1]), np.array([0, 40]) * MINUTE_US, np.array([0, 20 * 60_000]))
    assert sessions.count == 1
    assert split_sessions(np.array([1, 1]), np.array([0, 40]) * MINUTE_US, None, gap_minutes=30).count == 2


def test_sessions_configurable_and_ordered():
    ts = np.array([0, 20]) * MINUTE_US
    assert split_sessions(np.array([1, 1]), ts, None, gap_minutes=10).count == 2
    with pytest.raises(ValueError, match="ordered by user and time"):
        split_sessions(np.array([1, 1]), ts[::-1], None)
    with pytest.raises(InputError, match="gap_minutes"):
        split_sessions(np.array([1]), ts[:1], None, gap_minutes=0)


def test_generated_sessions_recovered():
    data = generate_listening(n_users=5, n_tracks=300, n_artists=30, sessions_per_user=8, seed=3)
    sessions = sessions_of_events(data.events_table())
    assert sessions.count == len(np.unique(data.session))
    assert (np.diff(sessions.ids) != 0).sum() == (np.diff(data.session) != 0).sum()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=40))
def test_sessions_properties(minutes):
    ts = np.sort(np.array(minutes, dtype=np.int64)) * MINUTE_US
    sessions = split_sessions(np.zeros(len(ts), dtype=np.int64), ts, None, gap_minutes=30)
    assert sessions.ids[0] == 0
    assert np.all(np.diff(sessions.ids) >= 0)
    assert np.all(np.diff(sessions.ids) <= 1)
    assert sessions.count == 1 + int((np.diff(ts) > 30 * MINUTE_US).sum())
    assert np.all(sessions.position <= sessions.length)


# Per-user evaluation


def test_score_user_metrics():
    scores = score_user(["a", "x", "b", "y"], {"a", "b", "c"}, k=4)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["map"] == pytest.approx((1 + 2 / 3) / 3)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert scores["ndcg"] == pytest.approx((1 + 1 / np.log2(4)) / ideal)


def test_temporal_split_hides_newest_items():
    rows = [(1, m, f"t-{m}", 200_000, False, "trackdone") for m in range(10)]
    rows += [(1, 20, "t-0", 200_000, False, "trackdone")]  # a replay of an old track after the cutoff
    rows += [(2, 0, "t-0", 200_000, False, "trackdone")]

    split = temporal_split(events(rows), holdout=3, min_train=2)

    assert split.hidden == {"1": {"t-7", "t-8", "t-9"}}
    assert split.skipped_users == 1
    trained = split.train_events.filter(pa.compute.equal(split.train_events.column("user_id"), 1))
    assert sorted(trained.column("track_uri").to_pylist()) == [f"t-{m}" for m in range(7)]
    assert max(trained.column("ts").to_pylist()) < datetime(1970, 1, 1, 0, 7)


def test_random_split_seeded():
    users = np.repeat(np.arange(3), 20)
    items = np.tile(np.arange(20), 3).astype(str)
    counts = np.ones(60)
    first = random_split(users, items, counts, holdout=5, seed=7)
    second = random_split(users, items, counts, holdout=5, seed=7)
    other = random_split(users, items, counts, holdout=5, seed=8)
    assert first.hidden == second.hidden
    assert first.hidden != other.hidden
    assert all(len(h) == 5 for h in first.hidden.values())
    assert len(first.train_counts[0]) == 60 - 15


def test_split_needs_enough_items():
    with pytest.raises(InputError, match="lower --holdout"):
        random_split(np.array([1, 1]), np.array(["a", "b"]), np.array([1, 1]), holdout=5)


def test_per_user_evaluation_on_generated_plays():
    data = generate_listening(n_users=120, n_tracks=800, n_artists=80, sessions_per_user=25, seed=5)
    split = temporal_split(data.events_table(), holdout=5, min_train=10)
    base = {"factors": 16, "iterations": 10, "regularization": 0.05, "alpha": 1.0}
    specs = [ModelSpec("als-confidence", "als", base, "confidence"), ModelSpec("als-raw", "als", base, "raw"),
             ModelSpec("popularity", "popularity")]

    result = evaluate_per_user(split, specs, k=10)

    assert [row["users"] for row in result.rows] == [120, 120, 120]
    # Taste is learnable: ALS finds several times more hidden tracks than popularity.
    assert result.value("als-confidence", "ndcg") > 3 * result.value("popularity", "ndcg")
    assert result.value("als-confidence", "recall") > 3 * result.value("popularity", "recall")
    comparison = result.compare("als-confidence", "als-raw")
    assert comparison["users"] == len(split.hidden)
    assert comparison["ci95"][0] <= comparison["difference"] <= comparison["ci95"][1]
    assert "| als-confidence | als | confidence |" in result.to_markdown()
