"""The generated world, its fit to real data, and the choice and listening model."""

from __future__ import annotations

import numpy as np
import pytest

from tastemaker.errors import InputError
from tastemaker.simulate.choice import ChoiceModel, ChoiceParams
from tastemaker.simulate.fit import (
    DEFAULT_CALIBRATION,
    CurveFit,
    calibrate,
    calibrate_from_store,
    fit_log_durations,
    fit_rank_curve,
    skip_rates,
)
from tastemaker.simulate.world import MAX_DURATION_MS, MIN_DURATION_MS, WorldParams, generate_world, organic_history
from tastemaker.store import Store

from conftest import require_shared

SMALL = WorldParams(n_users=120, n_tracks=600, n_genres=6, factors=8, initial_plays=10, seed=3)


@pytest.fixture(scope="module")
def world():
    return generate_world(SMALL)


@pytest.fixture(scope="module")
def choice(world):
    return ChoiceModel.calibrated(world, seed=3)


# Fits


def test_fit_rank_curve_recovers_parameters():
    ranks = np.arange(1, 20_001)
    counts = 1e6 * (ranks + 40.0) ** -1.2
    fit = fit_rank_curve(counts)
    assert fit.s == pytest.approx(1.2, rel=1e-3)
    assert fit.q == pytest.approx(40.0, rel=1e-2)
    assert fit.n == 20_000
    assert fit.r2_log > 0.9999


def test_fit_rank_curve_ignores_order_and_zeros():
    counts = np.array([5, 0, 50, 1, 3, 9, 2, 20, 1, 1, 4, 7])
    assert fit_rank_curve(counts) == fit_rank_curve(np.sort(counts))


def test_fit_rank_curve_needs_ten_entities():
    with pytest.raises(InputError, match="at least 10 entities"):
        fit_rank_curve(np.array([3, 2, 1, 0]))


def test_curve_weights_follow_quantiles():
    curve = CurveFit(s=1.0, q=0.0, C=1.0, n=1000, r2_log=1.0)
    weights = curve.weights(10)
    assert weights.sum() == pytest.approx(1.0)
    assert np.all(np.diff(weights) < 0)
    # Quantile ranks 50.5, 150.5, ...: the first weight over the second is 150.5 / 50.5.
    assert weights[0] / weights[1] == pytest.approx(150.5 / 50.5)


def test_fit_log_durations():
    mean, sd = fit_log_durations(np.exp(np.array([5.0, 5.0, 6.0, 6.0] * 5)) * 1000)
    assert mean == pytest.approx(5.5)
    assert sd == pytest.approx(0.5)


def test_skip_rates_from_csv(tmp_path):
    path = tmp_path / "skips.csv"
    path.write_text("session_id,skip_2,not_skipped\na,True,False\na,False,True\nb,False,True\nb,False,False\n")
    assert skip_rates(path) == (0.25, 0.5)


def test_skip_rates_rejects_other_csv(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a skip-challenge log"):
        skip_rates(path)


def test_skip_rates_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read the skip log"):
        skip_rates(tmp_path / "absent.csv")


def test_skip_rates_real_sample():
    folder = require_shared("spotify-skip-sample")
    early, completed = skip_rates(folder / "very_small.csv")
    assert early == pytest.approx(DEFAULT_CALIBRATION.early_skip_rate, abs=1e-3)
    assert completed == pytest.approx(DEFAULT_CALIBRATION.completion_rate, abs=1e-3)


def test_calibrate_without_durations_uses_defaults():
    rng = np.random.default_rng(0)
    counts = rng.zipf(2.0, size=500)
    fitted = calibrate(counts, counts[:200], np.full(100, 3.0), None, None)
    assert fitted.duration_log_mean == DEFAULT_CALIBRATION.duration_log_mean
    assert fitted.tracks_per_artist == 3.0
    assert fitted.tracks.n == 500


def test_calibrate_from_generated_store(trained_dir):
    with Store.open(trained_dir, read_only=True) as store:
        fitted = calibrate_from_store(store)
    assert fitted.tracks.s > 0
    assert fitted.artists.n <= fitted.tracks.n
    assert "fitted to the store" in fitted.source


# World


def test_world_shapes(world):
    assert world.user_taste.shape == (120, 8)
    assert world.track_features.shape == (600, 8)
    assert np.allclose(np.linalg.norm(world.track_features, axis=1), 1.0)
    assert world.appeal.sum() == pytest.approx(1.0)
    assert world.utility_matrix().shape == (120, 600)


def test_world_every_artist_has_a_track(world):
    counts = np.bincount(world.track_artist, minlength=world.n_artists)
    assert (counts >= 1).all()
    assert world.n_artists == round(600 / DEFAULT_CALIBRATION.tracks_per_artist)


def test_world_durations_clipped(world):
    assert world.durations_ms.min() >= MIN_DURATION_MS
    assert world.durations_ms.max() <= MAX_DURATION_MS


def test_world_is_reproducible(world):
    again = generate_world(SMALL)
    assert np.array_equal(again.track_features, world.track_features)
    assert np.array_equal(again.track_artist, world.track_artist)
    assert not np.array_equal(generate_world(WorldParams(**{**vars(SMALL), "seed": 4})).track_artist,
                              world.track_artist)


def test_world_appeal_follows_curve(world):
    assert np.sort(world.appeal)[::-1] == pytest.approx(DEFAULT_CALIBRATION.tracks.weights(600))


def test_tracks_share_their_artists_genre(world):
    for artist in range(world.n_artists):
        assert len(np.unique(world.track_genre[world.track_artist == artist])) == 1


@pytest.mark.parametrize("field, value, message", [
    ("n_users", 1, "at least 2"),
    ("n_tracks", 0, "n_tracks must be a positive integer"),
    ("initial_plays", 600, "must be below n_tracks"),
    ("taste_noise", -1.0, "taste_noise must be non-negative"),
])
def test_world_params_rejected(field, value, message):
    with pytest.raises(InputError, match=message):
        generate_world(WorldParams(**{**vars(SMALL), field: value}))


def test_organic_history_distinct_and_liked(world):
    users, tracks = organic_history(world, np.random.default_rng(0))
    assert len(users) == 120 * 10
    pairs = set(zip(users.tolist(), tracks.tolist()))
    assert len(pairs) == len(users)
    assert world.utility(users, tracks).mean() > world.utility_matrix().mean() + 0.2


# Choice and listening


def test_choice_matches_real_rates(world, choice):
    users, tracks = organic_history(world, np.random.default_rng(3))
    plays = choice.listen(world, users, tracks, np.full(len(users), -1), np.random.default_rng(9))
    assert (plays.ms_played < 30_000).mean() == pytest.approx(DEFAULT_CALIBRATION.early_skip_rate, abs=0.04)
    assert plays.completed.mean() == pytest.approx(DEFAULT_CALIBRATION.completion_rate, abs=0.04)


def test_choice_position_bias(world, choice):
    rng = np.random.default_rng(0)
    order = np.argsort(-world.utility_matrix(), axis=1)[:, :10]
    counts = np.zeros(10)
    for _ in range(20):
        counts += np.bincount(choice.respond(world, order, rng).positions, minlength=10)
    assert counts[0] > 3 * counts[9]


def test_choice_prefers_liked_tracks(world, choice):
    rng = np.random.default_rng(1)
    best = np.argsort(-world.utility_matrix(), axis=1)[:, :10]
    worst = np.argsort(world.utility_matrix(), axis=1)[:, :10]
    liked = choice.respond(world, best, rng)
    disliked = choice.respond(world, worst, rng)
    assert len(liked) > 3 * len(disliked)


def test_liked_tracks_completed_more(world, choice):
    users = np.repeat(np.arange(world.n_users), 10)
    best = np.argsort(-world.utility_matrix(), axis=1)[:, :10].ravel()
    worst = np.argsort(world.utility_matrix(), axis=1)[:, :10].ravel()
    positions = np.zeros(len(users), dtype=np.int64)
    liked = choice.listen(world, users, best, positions, np.random.default_rng(4))
    disliked = choice.listen(world, users, worst, positions, np.random.default_rng(4))
    assert liked.completed.mean() > disliked.completed.mean() + 0.2


def test_long_tracks_completed_less(world, choice):
    users = np.repeat(np.arange(world.n_users), 50)
    tracks = np.tile(np.argsort(-world.utility_matrix()[0])[:50], world.n_users)
    plays = choice.listen(world, users, tracks, np.zeros(len(users), dtype=np.int64), np.random.default_rng(2))
    short = plays.durations_ms < np.median(plays.durations_ms)
    assert plays.completed[short].mean() > plays.completed[~short].mean()


def test_plays_flags(world, choice):
    plays = choice.listen(world, np.array([0, 1]), np.array([0, 1]), np.array([-1, -1]), np.random.default_rng(0))
    assert (plays.ms_played <= plays.durations_ms).all()
    assert np.array_equal(plays.skipped, ~plays.completed)
    assert np.array_equal(plays.streamed, plays.ms_played >= 30_000)


def test_respond_rejects_wrong_rows(world, choice):
    with pytest.raises(InputError, match="one row per user"):
        choice.respond(world, np.zeros((3, 5), dtype=np.int64), np.random.default_rng(0))


def test_choice_rejects_inconsistent_rates(world):
    from dataclasses import replace

    bad = replace(world, calibration=replace(DEFAULT_CALIBRATION, early_skip_rate=0.9, completion_rate=0.5))
    with pytest.raises(InputError, match="inconsistent"):
        ChoiceModel.calibrated(bad, ChoiceParams())
