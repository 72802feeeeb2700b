import math

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.errors import InputError
from tastemaker.models import MODELS
from tastemaker.models.cooccurrence import CooccurrenceRecommender
from tastemaker.signals import IdMap
from tastemaker.signals.cooccurrence import (artist_cooccurrence, cooccurrence, keep_top_k, playlist_artists,
                                             seed_similarity, seed_similarity_pairs, track_artist_index)

# 4 playlists over 4 tracks. Track counts n = [3, 2, 2, 2]; playlist lengths [2, 3, 2, 2].
PLAYLISTS = np.array([
    [1, 1, 0, 0],
    [1, 1, 1, 0],
    [0, 0, 1, 1],
    [1, 0, 0, 1],
], dtype=np.float32)


def matrix() -> sp.csr_matrix:
    return sp.csr_matrix(PLAYLISTS)


def test_counts_by_hand():
    expected = np.array([
        [0, 2, 1, 1],
        [2, 0, 1, 0],
        [1, 1, 0, 1],
        [1, 0, 1, 0],
    ])
    np.testing.assert_array_equal(cooccurrence(matrix(), "count").toarray(), expected)


def test_counts_ignore_values_and_duplicates():
    weighted = matrix() * 5.0
    np.testing.assert_array_equal(cooccurrence(weighted, "count").toarray(), cooccurrence(matrix(), "count").toarray())


def test_ppmi_of_known_pair():
    weights = cooccurrence(matrix(), "ppmi")
    # Tracks 0 and 1: together in 2 of 4 playlists, alone in 3 and 2: log(2 * 4 / (3 * 2)).
    assert weights[0, 1] == pytest.approx(math.log(4 / 3), rel=1e-6)
    assert weights[1, 0] == pytest.approx(math.log(4 / 3), rel=1e-6)


def test_ppmi_drops_zero_and_negative_pmi():
    weights = cooccurrence(matrix(), "ppmi")
    # Tracks 0 and 2: log(1 * 4 / (3 * 2)) < 0. Tracks 2 and 3: log(1 * 4 / (2 * 2)) = 0.
    assert weights[0, 2] == 0
    assert weights[2, 3] == 0
    assert weights.nnz == 2
    assert np.all(weights.data > 0)


def test_bm25_of_known_pair():
    K1, B = 1.2, 0.75
    average_length = (2 + 3 + 2 + 2) / 4

    def playlist_weight(length):
        return (K1 + 1) / (K1 * (1 - B + B * length / average_length) + 1)

    idf_track_1 = math.log(1 + (4 - 2 + 0.5) / (2 + 0.5))
    weights = cooccurrence(matrix(), "bm25", K1=K1, B=B)
    # Track 0 meets track 1 in playlists 0 (2 tracks) and 1 (3 tracks).
    expected = idf_track_1 * (playlist_weight(2) + playlist_weight(3))
    assert weights[0, 1] == pytest.approx(expected, rel=1e-5)


def test_bm25_is_not_symmetric():
    weights = cooccurrence(matrix(), "bm25")
    assert weights[0, 1] != pytest.approx(weights[1, 0])


@pytest.mark.parametrize("weighting", ["count", "ppmi", "bm25"])
def test_diagonal_is_zero(weighting):
    assert np.all(cooccurrence(matrix(), weighting).diagonal() == 0)


@pytest.mark.parametrize("weighting", ["count", "ppmi", "bm25"])
def test_blocks_match_single_pass(weighting):
    rng = np.random.default_rng(0)
    X = sp.random(40, 30, density=0.2, random_state=rng, format="csr")
    whole = cooccurrence(X, weighting)
    blocked = cooccurrence(X, weighting, max_block_pairs=1)
    np.testing.assert_allclose(blocked.toarray(), whole.toarray(), rtol=1e-6)


def test_top_k_keeps_largest_per_row():
    weights = cooccurrence(matrix(), "count", top_k=1)
    assert np.diff(weights.indptr).tolist() == [1, 1, 1, 1]
    # Row 0 has counts [_, 2, 1, 1]: the largest is track 1.
    assert weights[0].indices.tolist() == [1]
    # Row 2 has counts [1, 1, _, 1]: a three-way tie goes to the lowest track index.
    assert weights[2].indices.tolist() == [0]


def test_keep_top_k_tie_order():
    row = sp.csr_matrix(np.array([[3.0, 5.0, 5.0, 1.0, 5.0]]))
    kept = keep_top_k(row, 2)
    assert kept.toarray().tolist() == [[0.0, 5.0, 5.0, 0.0, 0.0]]


def test_min_count_drops_rare_pairs():
    weights = cooccurrence(matrix(), "count", min_count=2)
    assert weights.nnz == 2
    assert weights[0, 1] == 2


def test_invalid_weighting_rejected():
    with pytest.raises(InputError, match="unknown co-occurrence weighting 'tfidf'"):
        cooccurrence(matrix(), "tfidf")


def test_dense_input_rejected():
    with pytest.raises(InputError, match="sparse"):
        cooccurrence(PLAYLISTS, "count")


def test_empty_matrix():
    weights = cooccurrence(sp.csr_matrix((0, 3), dtype=np.float32), "ppmi")
    assert weights.shape == (3, 3)
    assert weights.nnz == 0


def test_artist_cooccurrence_by_hand():
    # Tracks 0 and 1 are by artist 0, track 2 by artist 1, track 3 unknown.
    track_artist = np.array([0, 0, 1, -1])
    np.testing.assert_array_equal(playlist_artists(matrix(), track_artist).toarray(),
                                  [[1, 0], [1, 1], [0, 1], [1, 0]])
    weights = artist_cooccurrence(matrix(), track_artist, weighting="count")
    np.testing.assert_array_equal(weights.toarray(), [[0, 1], [1, 0]])


def test_artist_index_out_of_range_rejected():
    with pytest.raises(InputError, match="n_artists is 1"):
        playlist_artists(matrix(), np.array([0, 0, 1, -1]), n_artists=1)


def test_track_artist_index():
    tracks = IdMap(["t0", "t1", "t2", "t3"])
    track_artist, artists = track_artist_index(tracks, ["t2", "t0", "t1", "unknown"], ["b", "a", None, "c"])
    assert list(artists.ids) == ["a", "b", "c"]
    assert track_artist.tolist() == [0, -1, 1, -1]


def test_seed_similarity_max_and_mean():
    weights = cooccurrence(matrix(), "count")
    maximum, mean = seed_similarity(weights, [0, 2], [1, 3])
    # Candidate 1: counts 2 (with 0) and 1 (with 2). Candidate 3: 1 and 1.
    np.testing.assert_allclose(maximum, [2.0, 1.0])
    np.testing.assert_allclose(mean, [1.5, 1.0])


def test_seed_similarity_unknown_candidate_is_nan():
    weights = cooccurrence(matrix(), "count")
    maximum, mean = seed_similarity(weights, [0, -1], [-1, 1])
    assert np.isnan(maximum[0])
    assert np.isnan(mean[0])
    assert maximum[1] == 2.0
    assert mean[1] == 2.0


def test_seed_similarity_without_seeds_is_nan():
    weights = cooccurrence(matrix(), "count")
    maximum, mean = seed_similarity(weights, [], [0, 1])
    assert np.isnan(maximum).all()
    assert np.isnan(mean).all()


def test_seed_similarity_repeated_seed_counts_once():
    weights = cooccurrence(matrix(), "count")
    assert seed_similarity(weights, [0, 0, 2], [1])[1][0] == pytest.approx(1.5)


def test_seed_similarity_pairs_match_single():
    weights = cooccurrence(matrix(), "ppmi")
    seed_rows = sp.csr_matrix(np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    pair_rows = np.array([1, 0, 0, 2, 1])
    pair_items = np.array([0, 1, 3, 1, 3])
    maximum, mean = seed_similarity_pairs(weights, seed_rows, pair_rows, pair_items)
    for position, (row, item) in enumerate(zip(pair_rows, pair_items)):
        single = seed_similarity(weights, seed_rows[row].indices, [item])
        np.testing.assert_array_equal(maximum[position], single[0][0])
        np.testing.assert_array_equal(mean[position], single[1][0])
    assert np.isnan(maximum[3])


def test_cooc_registered():
    assert MODELS["cooc"] is CooccurrenceRecommender


def test_cooc_scores_sum_over_seeds():
    model = CooccurrenceRecommender(weighting="count", top_k=None, min_count=1).fit(matrix())
    row = sp.csr_matrix(np.array([[1, 0, 1, 0]], dtype=np.float32))
    scores = model._scores(row)
    # Track 1: 2 (with 0) + 1 (with 2); track 3: 1 + 1.
    assert scores[0, 1] == 3.0
    assert scores[0, 3] == 2.0
    ids, _ = model.recommend(row, N=3)
    assert ids.tolist() == [[1, 3, -1]]


def test_cooc_unrelated_track_not_scored():
    X = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 1]], dtype=np.float32))
    model = CooccurrenceRecommender(weighting="count", min_count=1).fit(X)
    scores = model._scores(sp.csr_matrix(np.array([[1, 0, 0]], dtype=np.float32)))
    assert scores[0, 2] == -np.inf


def test_cooc_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    X = sp.random(50, 20, density=0.3, random_state=rng, format="csr")
    model = CooccurrenceRecommender(weighting="ppmi", top_k=5, min_count=1).fit(X)
    model.save(tmp_path)
    loaded = CooccurrenceRecommender.load(tmp_path, n_items=20)
    assert loaded.params == model.params
    assert (loaded.weights_ != model.weights_).nnz == 0
    for expected, actual in zip(model.recommend(X[:10], N=5), loaded.recommend(X[:10], N=5)):
        np.testing.assert_array_equal(expected, actual)


def test_cooc_load_rejects_bad_indices(tmp_path):
    from tastemaker.errors import BundleError

    CooccurrenceRecommender(weighting="count", min_count=1).fit(matrix()).save(tmp_path)
    stored = np.load(tmp_path / "weights_indices.npy")
    np.save(tmp_path / "weights_indices.npy", np.full_like(stored, 9))
    with pytest.raises(BundleError, match="refers to track 9"):
        CooccurrenceRecommender.load(tmp_path, n_items=4)


def test_keep_top_k_matches_full_sort():
    rng = np.random.default_rng(0)
    for _ in range(100):
        weights = sp.random(int(rng.integers(1, 20)), int(rng.integers(1, 20)), density=rng.random(),
                            random_state=rng, format="csr")
        weights.data = np.round(weights.data * 3) + 1  # few distinct values, so many ties
        k = int(rng.integers(1, 8))
        expected = np.zeros(weights.shape)
        for row in range(weights.shape[0]):
            columns, values = weights[row].indices, weights[row].data
            best = np.lexsort((columns, -values))[:k]
            expected[row, columns[best]] = values[best]
        np.testing.assert_array_equal(keep_top_k(weights, k).toarray(), expected)
