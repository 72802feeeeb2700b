"""The LightGBM skip model: challenge log reader, features, mean average accuracy, baselines, saving."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require_shared
from tastemaker.errors import InputError
from tastemaker.generate_listening import generate_listening
from tastemaker.models.skip import (
    CHALLENGE_COLUMNS,
    SkipModel,
    SkipSessions,
    baseline_predictions,
    evaluate_skip_model,
    mean_average_accuracy,
    predicted_rows,
    read_challenge_log,
    sessions_from_events,
)

HEADER = ("session_id,session_position,session_length,track_id_clean,skip_1,skip_2,skip_3,not_skipped,"
          "context_switch,no_pause_before_play,short_pause_before_play,long_pause_before_play,"
          "hist_user_behavior_n_seekfwd,hist_user_behavior_n_seekback,hist_user_behavior_is_shuffle,hour_of_day,"
          "date,premium,context_type,hist_user_behavior_reason_start,hist_user_behavior_reason_end")


def challenge_row(session: str, position: int, length: int, track: str, skip: bool, hour: str = "16") -> str:
    return (f"{session},{position},{length},{track},False,{skip},False,{not skip},0,1,0,0,0,0,True,{hour},"
            f"2018-07-15,True,radio,trackdone,{'fwdbtn' if skip else 'trackdone'}")


def tiny_sessions(outcomes: list[list[bool]]) -> SkipSessions:
    session, position, length, skipped = [], [], [], []
    for s, plays in enumerate(outcomes):
        for p, skip in enumerate(plays, start=1):
            session.append(s)
            position.append(p)
            length.append(len(plays))
            skipped.append(skip)
    n = len(session)
    none = np.full(n, None, dtype=object)
    return SkipSessions(np.array(session), np.array(position), np.array(length),
                        np.array([f"t{i % 3}" for i in range(n)], dtype=object), np.array(skipped), none, none,
                        none, np.full(n, np.nan), np.full(n, np.nan), np.zeros(n), none)


# Metric and baselines


def test_mean_average_accuracy_by_hand():
    sessions = tiny_sessions([[False, False, True, False], [True, True]])
    rows, _ = predicted_rows(sessions, "half")
    assert rows.tolist() == [2, 3, 5]
    # Session 0 predicts [True, True] against [True, False]: AA = (1 * 1 + 0.5 * 0) / 2.
    # Session 1 predicts [False] against [True]: AA = 0.
    score, first = mean_average_accuracy(sessions, rows, np.array([True, True, False]))
    assert score == pytest.approx((0.5 + 0.0) / 2)
    assert first == pytest.approx(0.5)


def test_mean_average_accuracy_rewards_early_hits():
    sessions = tiny_sessions([[False, False, False, False, True, True]])
    rows, _ = predicted_rows(sessions, "half")
    early, _ = mean_average_accuracy(sessions, rows, np.array([False, False, False]))
    late, _ = mean_average_accuracy(sessions, rows, np.array([True, True, True]))
    assert early == pytest.approx(1 / 3)
    assert late == pytest.approx((0.5 * 1 + (2 / 3) * 1) / 3)


def test_baselines():
    sessions = tiny_sessions([[False, True, True, False], [True, False, False]])
    rows, predictions = baseline_predictions(sessions, "half", "skip-previous")
    assert rows.tolist() == [2, 3, 5, 6]
    assert predictions.tolist() == [True, True, True, True]
    _, never = baseline_predictions(sessions, "half", "not-skipped")
    assert not never.any()
    rows, previous = baseline_predictions(sessions, "previous", "skip-previous")
    assert rows.tolist() == [1, 2, 3, 5, 6]
    assert previous.tolist() == [False, True, True, True, False]
    with pytest.raises(InputError, match="unknown baseline"):
        baseline_predictions(sessions, "half", "coin")


# Challenge log


def test_read_real_challenge_sample():
    folder = require_shared("spotify-skip-sample")

    sessions = read_challenge_log(folder / "very_small.csv")

    assert sessions.n_sessions == 11
    assert len(sessions.session) == 201
    assert sessions.rejected == []
    assert set(sessions.context_type) <= {"editorial_playlist", "user_collection", "catalog", "radio", "charts",
                                          "personalized_playlist"}
    for scheme in ("half", "previous"):
        for baseline in ("not-skipped", "skip-previous"):
            rows, predictions = baseline_predictions(sessions, scheme, baseline)
            score, _ = mean_average_accuracy(sessions, rows, predictions)
            assert 0 <= score <= 1


def test_challenge_log_bad_rows(tmp_path):
    path = tmp_path / "log.csv"
    lines = [HEADER, challenge_row("a", 1, 2, "t1", False), challenge_row("a", 2, 2, "t2", True),
             challenge_row("b", 1, 2, "t1", False, hour="25"), challenge_row("b", 2, 2, "t2", True)]
    path.write_text("\n".join(lines) + "\n")

    sessions = read_challenge_log(path)

    assert sessions.n_sessions == 1
    assert sessions.rejected == [(4, "hour_of_day", "25", "invalid hour_of_day: expected an integer from 0 to 23")]


def test_challenge_log_wrong_file(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="missing columns session_id"):
        read_challenge_log(path)
    path.write_text("")
    with pytest.raises(InputError, match="the file is empty"):
        read_challenge_log(path)
    assert "skip_2" in CHALLENGE_COLUMNS


def test_challenge_log_gap_in_positions(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("\n".join([HEADER, challenge_row("a", 1, 3, "t1", False), challenge_row("a", 3, 3, "t3", True)]))
    with pytest.raises(InputError, match="missing or repeated session_position"):
        read_challenge_log(path)


# The model


@pytest.fixture(scope="module")
def generated_sessions():
    data = generate_listening(n_users=80, n_tracks=600, n_artists=60, sessions_per_user=30, seed=2)
    return sessions_from_events(data.events_table())


def test_sessions_from_play_events(generated_sessions):
    assert generated_sessions.n_sessions > 1000
    assert 0.2 < generated_sessions.skipped.mean() < 0.5
    assert set(generated_sessions.pause_before[generated_sessions.position > 1]) <= {"none", "short", "long"}


@pytest.mark.parametrize("scheme", ["half", "previous"])
def test_model_beats_both_baselines(generated_sessions, scheme):
    result, _ = evaluate_skip_model(generated_sessions, scheme=scheme, seed=0, num_boost_round=150)

    assert result["model"][0] > result["not-skipped"][0]
    assert result["model"][0] > result["skip-previous"][0]


def test_model_save_and_load(tmp_path, generated_sessions):
    train = generated_sessions.subset(np.arange(200))
    test = generated_sessions.subset(np.arange(200, 260))
    model = SkipModel(num_boost_round=30).fit(train)
    rows, probabilities = model.predict_proba(test)

    model.save(tmp_path / "skip")
    loaded = SkipModel.load(tmp_path / "skip")

    assert (tmp_path / "skip" / "skip_model.txt").read_text().startswith("tree")
    assert not list((tmp_path / "skip").glob("*.pkl"))
    loaded_rows, loaded_probabilities = loaded.predict_proba(test)
    assert np.array_equal(rows, loaded_rows)
    assert np.allclose(probabilities, loaded_probabilities)


def test_model_deterministic(generated_sessions):
    train = generated_sessions.subset(np.arange(150))
    first = SkipModel(num_boost_round=20, seed=3).fit(train).predict_proba(train)[1]
    second = SkipModel(num_boost_round=20, seed=3).fit(train).predict_proba(train)[1]
    assert np.array_equal(first, second)


def test_invalid_scheme():
    with pytest.raises(InputError, match="parameter scheme must be one of half, previous"):
        SkipModel(scheme="all")
