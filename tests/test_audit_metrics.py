"""Audit metrics against values computed by hand on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.audit.calibration import (
    calibration_error,
    kl_divergence,
    one_hot_categories,
    weighted_categories,
)
from tastemaker.audit.diversity import (
    artist_diversity,
    generalist_specialist,
    intra_list_diversity,
    jaccard_pairs,
    mean_pairwise_jaccard,
)
from tastemaker.audit.duration import duration_bias
from tastemaker.audit.exposure import (
    artist_exposure,
    catalogue_coverage,
    gini,
    long_tail_mask,
    long_tail_share,
    position_weights,
    top_share,
    track_exposure,
)
from tastemaker.audit.popularity import history_mean, list_mean, novelty, popularity_lift, self_information
from tastemaker.errors import InputError


# Gini and concentration


def test_gini_equal_exposure_is_zero():
    assert gini(np.full(10, 3.0)) == 0.0


def test_gini_one_item_takes_all():
    values = np.zeros(1000)
    values[17] = 5.0
    assert gini(values) == pytest.approx(999 / 1000)
    assert gini(values) > 0.99


def test_gini_hand_computed():
    # Sorted [1, 2, 3]: sum (2i - n - 1) x_i = -2*1 + 0*2 + 2*3 = 4; n * sum = 3 * 6.
    assert gini(np.array([3.0, 1.0, 2.0])) == pytest.approx(4 / 18)


def test_gini_empty_and_zero():
    assert gini(np.array([])) == 0.0
    assert gini(np.zeros(4)) == 0.0


def test_gini_rejects_negative():
    with pytest.raises(InputError, match="non-negative"):
        gini(np.array([-1.0, 2.0]))


def test_top_share_hand_computed():
    values = np.array([50.0] + [1.0] * 99 + [0.0] * 100)  # 200 artists: top 1% is 2 artists
    assert top_share(values, 0.01) == pytest.approx(51 / 149)


def test_top_share_rejects_bad_fraction():
    with pytest.raises(InputError, match="fraction"):
        top_share(np.ones(3), 0.0)


# Exposure and coverage


def test_position_weights_log():
    assert position_weights(3, "log") == pytest.approx([1.0, 1 / math.log2(3), 0.5])
    assert position_weights(2, "uniform") == pytest.approx([1.0, 1.0])


def test_position_weights_rejects_unknown():
    with pytest.raises(InputError, match="weighting"):
        position_weights(3, "linear")


def test_track_exposure_sums_over_lists():
    lists = np.array([[0, 1, -1], [1, 2, 3]])
    exposure = track_exposure(lists, 5, "uniform")
    assert exposure.tolist() == [1, 2, 1, 1, 0]


def test_track_exposure_log_weighting():
    lists = np.array([[2, 0]])
    exposure = track_exposure(lists, 3, "log")
    assert exposure == pytest.approx([1 / math.log2(3), 0.0, 1.0])


def test_track_exposure_rejects_out_of_range():
    with pytest.raises(InputError, match="catalogue has 2 tracks"):
        track_exposure(np.array([[0, 5]]), 2)


def test_artist_exposure_skips_unknown_artist():
    exposure = np.array([1.0, 2.0, 3.0, 4.0])
    track_artist = np.array([0, 0, 1, -1])
    assert artist_exposure(exposure, track_artist, 3).tolist() == [3.0, 3.0, 0.0]


def test_catalogue_coverage():
    assert catalogue_coverage(np.array([[0, 1], [1, -1]]), 8) == pytest.approx(2 / 8)


def test_long_tail_mask_head_holds_share():
    # Interactions 50, 30, 10, 5, 5: the head reaching 80 of 100 is the first two.
    popularity = np.array([5.0, 50.0, 10.0, 30.0, 5.0])
    assert long_tail_mask(popularity, 0.8).tolist() == [True, False, True, False, True]


def test_long_tail_share_uniform():
    tail = np.array([True, False, True])
    assert long_tail_share(np.array([[0, 1], [1, 2]]), tail, "uniform") == pytest.approx(0.5)


# Popularity


def test_popularity_lift_hand_computed():
    popularity = np.array([10.0, 2.0, 4.0, 6.0])
    lists = np.array([[0, 3], [0, -1]])
    histories = sp.csr_matrix(np.array([[0, 1, 1, 0], [0, 1, 0, 0]], dtype=np.float32))
    recommended = list_mean(lists, popularity)
    had = history_mean(histories, popularity)
    assert recommended.tolist() == [8.0, 10.0]
    assert had.tolist() == [3.0, 2.0]
    assert popularity_lift(recommended, had) == pytest.approx(9.0 / 2.5)


def test_popularity_lift_skips_empty_rows():
    assert popularity_lift(np.array([4.0, np.nan]), np.array([2.0, 1.0])) == pytest.approx(2.0)
    assert math.isnan(popularity_lift(np.array([np.nan]), np.array([1.0])))


def test_self_information_and_novelty():
    popularity = np.array([8.0, 1.0, 0.0])
    assert self_information(popularity, 8).tolist() == [0.0, 3.0, 3.0]
    assert novelty(np.array([[0, 1], [-1, -1]]), popularity, 8)[0] == pytest.approx(1.5)
    assert math.isnan(novelty(np.array([[0, 1], [-1, -1]]), popularity, 8)[1])


# Calibration


def test_kl_identical_mixes_is_zero():
    p = np.array([0.2, 0.3, 0.5])
    assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)


def test_kl_hand_computed():
    p = np.array([0.5, 0.5])
    q = np.array([1.0, 0.0])
    alpha = 0.01
    expected = 0.5 * math.log(0.5 / (0.99 + 0.005)) + 0.5 * math.log(0.5 / 0.005)
    assert kl_divergence(p, q, alpha) == pytest.approx(expected)


def test_calibration_error_matches_kl():
    categories = one_hot_categories(np.array([0, 0, 1, 2]), 3)
    histories = sp.csr_matrix(np.array([[1, 0, 1, 0], [1, 1, 0, 0]], dtype=np.float32))
    lists = np.array([[1, 2], [2, 3]])
    errors = calibration_error(lists, histories, categories)
    assert errors[0] == pytest.approx(0.0, abs=1e-12)
    assert errors[1] == pytest.approx(kl_divergence(np.array([1.0, 0, 0]), np.array([0, 0.5, 0.5])))


def test_calibration_error_nan_without_history():
    categories = one_hot_categories(np.array([0, 1]), 2)
    errors = calibration_error(np.array([[0, 1]]), sp.csr_matrix((1, 2)), categories)
    assert math.isnan(errors[0])


def test_weighted_categories_normalises_rows():
    matrix = weighted_categories(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([3.0, 1.0, 2.0]), 3, 2)
    assert matrix.toarray().tolist() == [[0.75, 0.25], [0.0, 1.0], [0.0, 0.0]]


# Diversity


def test_intra_list_diversity_hand_computed():
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    # Pairs: (0,1) cos 0, (0,2) cos 1/sqrt2, (1,2) cos 1/sqrt2; distance mean = 1 - sqrt2/3.
    ild = intra_list_diversity(np.array([[0, 1, 2], [0, -1, -1]]), vectors)
    assert ild[0] == pytest.approx(1 - math.sqrt(2) / 3)
    assert math.isnan(ild[1])


def test_intra_list_diversity_identical_items():
    vectors = np.array([[1.0, 1.0], [2.0, 2.0]])
    assert intra_list_diversity(np.array([[0, 1]]), vectors)[0] == pytest.approx(0.0, abs=1e-12)


def test_artist_diversity_hand_computed():
    # Artists 0, 0, 1, unknown: 6 pairs, 1 by the same artist.
    assert artist_diversity(np.array([[0, 1, 2, 3]]), np.array([0, 0, 1, -1]))[0] == pytest.approx(5 / 6)


def test_jaccard_pairs_hand_computed():
    sets = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=np.float32))
    assert jaccard_pairs(sets, np.array([0, 0, 2]), np.array([1, 0, 2])).tolist() == [1 / 3, 1.0, 0.0]


def test_mean_pairwise_jaccard_hand_computed():
    sets = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1]], dtype=np.float32))
    # Pairs: (0,1) 1/3, (0,2) 2/3, (1,2) 2/3.
    assert mean_pairwise_jaccard(sets) == pytest.approx(5 / 9)


def test_mean_pairwise_jaccard_sampled_matches_exact(monkeypatch):
    rng = np.random.default_rng(3)
    sets = sp.csr_matrix((rng.random((60, 40)) < 0.2).astype(np.float32))
    exact = mean_pairwise_jaccard(sets)
    monkeypatch.setattr("tastemaker.audit.diversity.EXACT_JACCARD_USERS", 10)
    assert mean_pairwise_jaccard(sets, max_pairs=50_000) == pytest.approx(exact, abs=0.01)


def test_mean_pairwise_jaccard_identical_users_is_one():
    sets = sp.csr_matrix(np.ones((4, 3), dtype=np.float32))
    assert mean_pairwise_jaccard(sets) == pytest.approx(1.0)


def test_generalist_specialist_hand_computed():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    weights = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0]], dtype=np.float64))
    scores = generalist_specialist(weights, vectors)
    # Orthogonal tracks: centre (0.5, 0.5), length 1/sqrt2. Same direction: 1.
    assert scores[0] == pytest.approx(1 / math.sqrt(2))
    assert scores[1] == pytest.approx(1.0)
    assert math.isnan(scores[2])


# Duration


def test_duration_bias_hand_computed():
    durations = np.array([120_000.0, 240_000.0, np.nan, 180_000.0])
    bias = duration_bias(np.array([[0, 2], [0, -1]]), durations)
    assert bias.recommended_mean_s == pytest.approx(120.0)
    assert bias.catalogue_mean_s == pytest.approx(180.0)
    assert bias.ratio == pytest.approx(2 / 3)
    assert bias.recommended_known == pytest.approx(2 / 3)
    assert bias.catalogue_known == pytest.approx(3 / 4)


def test_duration_bias_unknown_everywhere():
    bias = duration_bias(np.array([[0, 1]]), np.full(2, np.nan))
    assert math.isnan(bias.recommended_mean_s)
    assert math.isnan(bias.ratio)
    assert bias.recommended_known == 0.0


def test_lists_must_be_integer_matrix():
    with pytest.raises(InputError, match=r"\(k, N\) integer array"):
        track_exposure(np.array([0.5, 1.0]), 3)
