"""Each re-ranker moves a hand-made list toward its goal, and rejects bad input with a clear message."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.audit.calibration import calibration_error, one_hot_categories
from tastemaker.audit.exposure import artist_exposure, gini, track_exposure
from tastemaker.errors import InputError
from tastemaker.rerank import (
    ArtistFairnessReranker,
    CalibrationReranker,
    MMRReranker,
    PopularityReranker,
    RerankContext,
    build_reranker,
    parse_rerank_spec,
)
from tastemaker.rerank.base import relevance

# Tracks 0-5: artists 0, 0, 0, 1, 1, 2.
TRACK_ARTIST = np.array([0, 0, 0, 1, 1, 2])
CANDIDATES = np.arange(6)
SCORES = np.array([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])


def test_relevance_rescales_to_unit_interval():
    assert relevance(np.array([2.0, 4.0, -np.inf, 3.0])).tolist() == [0.0, 1.0, 0.0, 0.5]
    assert relevance(np.array([1.0, 1.0])).tolist() == [0.0, 0.0]


def test_calibration_matches_history_mix():
    categories = one_hot_categories(TRACK_ARTIST, 3)
    history = np.array([0, 3])  # half artist 0, half artist 1
    reranker = CalibrationReranker(categories)
    plain = CANDIDATES[:2]
    calibrated = reranker.rerank(CANDIDATES, SCORES, 2, 1.0, history)
    assert TRACK_ARTIST[calibrated].tolist() in ([0, 1], [1, 0])
    histories = sp.csr_matrix((np.ones(2), ([0, 0], history)), shape=(1, 6))
    before = calibration_error(plain[None, :], histories, categories)[0]
    after = calibration_error(calibrated[None, :], histories, categories)[0]
    assert after < before


def test_calibration_without_history_keeps_order():
    reranker = CalibrationReranker(one_hot_categories(TRACK_ARTIST, 3))
    assert reranker.rerank(CANDIDATES, SCORES, 4, 1.0, None).tolist() == [0, 1, 2, 3]


def test_calibration_rejects_bad_alpha():
    with pytest.raises(InputError, match="alpha"):
        CalibrationReranker(one_hot_categories(TRACK_ARTIST, 3), alpha=0.0)


def test_mmr_by_artist_spreads_artists():
    reranker = MMRReranker(track_artist=TRACK_ARTIST)
    result = reranker.rerank(CANDIDATES, SCORES, 3, 0.9)
    assert result.tolist() == [0, 3, 5]


def test_mmr_by_vectors_skips_near_duplicate():
    vectors = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0]])
    reranker = MMRReranker(item_vectors=vectors)
    result = reranker.rerank(np.array([0, 1, 2]), np.array([3.0, 2.9, 1.0]), 2, 0.5)
    assert result.tolist() == [0, 2]


def test_mmr_low_strength_keeps_order():
    reranker = MMRReranker(track_artist=TRACK_ARTIST)
    assert reranker.rerank(CANDIDATES, SCORES, 3, 0.05).tolist() == [0, 1, 2]


def test_mmr_needs_similarity_source():
    with pytest.raises(InputError, match="item_vectors or track_artist"):
        MMRReranker()


def test_popularity_demotes_popular_tracks():
    popularity = np.array([1000.0, 500.0, 1.0, 1.0, 1.0, 1.0])
    reranker = PopularityReranker(popularity)
    result = reranker.rerank(CANDIDATES, SCORES, 3, 0.8)
    assert 0 not in result.tolist()
    assert result[0] == 2


def test_popularity_rejects_negative_counts():
    with pytest.raises(InputError, match="non-negative"):
        PopularityReranker(np.array([1.0, -2.0]))


def test_fairness_spreads_exposure_over_lists():
    lists_plain = np.tile(CANDIDATES[:3], (20, 1))
    reranker = ArtistFairnessReranker(TRACK_ARTIST)
    lists_fair = reranker.rerank_batch(np.tile(CANDIDATES, (20, 1)), np.tile(SCORES, (20, 1)), 3, 0.7)
    plain = gini(artist_exposure(track_exposure(lists_plain, 6), TRACK_ARTIST, 3))
    fair = gini(artist_exposure(track_exposure(lists_fair, 6), TRACK_ARTIST, 3))
    assert plain == pytest.approx(2 / 3)
    assert fair < plain / 2


def test_fairness_first_list_follows_scores_then_rotates():
    reranker = ArtistFairnessReranker(TRACK_ARTIST)
    first = reranker.rerank(CANDIDATES, SCORES, 1, 1.0)
    second = reranker.rerank(CANDIDATES, SCORES, 1, 1.0)
    assert first.tolist() == [0]
    assert TRACK_ARTIST[second[0]] != 0


def test_fairness_reset_forgets_exposure():
    reranker = ArtistFairnessReranker(TRACK_ARTIST)
    reranker.rerank(CANDIDATES, SCORES, 3, 1.0)
    reranker.reset()
    assert reranker.exposure_.sum() == 0
    assert reranker.rerank(CANDIDATES, SCORES, 1, 1.0).tolist() == [0]


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan"), "0.5", True])
def test_strength_out_of_range_rejected(strength):
    reranker = PopularityReranker(np.ones(6))
    with pytest.raises(InputError, match="strength must be a number from 0 to 1"):
        reranker.rerank(CANDIDATES, SCORES, 3, strength)


def test_duplicate_candidates_rejected():
    reranker = PopularityReranker(np.ones(6))
    with pytest.raises(InputError, match="more than once"):
        reranker.rerank(np.array([1, 1]), np.array([1.0, 0.5]), 2, 0.5)


def test_mismatched_shapes_rejected():
    reranker = PopularityReranker(np.ones(6))
    with pytest.raises(InputError, match="one length"):
        reranker.rerank(np.array([1, 2]), np.array([1.0]), 2, 0.5)


def test_bad_list_length_rejected():
    reranker = PopularityReranker(np.ones(6))
    with pytest.raises(InputError, match="N must be a positive integer"):
        reranker.rerank(CANDIDATES, SCORES, 0, 0.5)


def test_parse_rerank_spec():
    assert parse_rerank_spec("mmr:0.3") == ("mmr", 0.3)
    assert parse_rerank_spec("fairness:1") == ("fairness", 1.0)


@pytest.mark.parametrize("spec, message", [
    ("mmr", "expected NAME:STRENGTH"),
    ("shuffle:0.2", "unknown name 'shuffle'"),
    ("mmr:high", "strength 'high' is not a number"),
    ("mmr:2", r"invalid re-ranker .mmr:2.: strength 2 is outside 0 to 1"),
])
def test_parse_rerank_spec_rejects(spec, message):
    with pytest.raises(InputError, match=message):
        parse_rerank_spec(spec)


def test_build_reranker_names_missing_input():
    with pytest.raises(InputError, match="needs item_categories"):
        build_reranker("calibration", RerankContext(track_artist=TRACK_ARTIST))
    with pytest.raises(InputError, match="unknown re-ranker"):
        build_reranker("shuffle", RerankContext())
