"""Pair features of the ranker, checked on tiny hand-made playlists."""

import numpy as np
import pytest
import scipy.sparse as sp

import tastemaker.models  # noqa: F401  (imports the models before the features that refer to them)
from tastemaker.ranking.features import seed_share_of_key, seed_vector_similarity

SEEDS = sp.csr_matrix(np.array([[1, 1, 1, 0, 0],
                                [0, 0, 0, 0, 0],
                                [0, 0, 0, 1, 1]], dtype=np.float32))


def test_seed_share_counts_matching_keys():
    key = np.array([7, 7, -1, 3, 7])
    rows = np.array([0, 0, 1, 2, 2, 0])
    items = np.array([4, 3, 0, 4, 2, 0])
    share = seed_share_of_key(rows, items, SEEDS, key)
    assert share[0] == pytest.approx(2 / 3)  # two of three seeds have key 7; the third is unknown
    assert share[1] == 0.0
    assert np.isnan(share[2])  # the playlist has no seeds
    assert share[3] == pytest.approx(1 / 2)
    assert np.isnan(share[4])  # the candidate's key is unknown
    assert share[5] == pytest.approx(2 / 3)


def test_seed_similarity_takes_max_and_mean():
    unit = np.array([[1, 0], [0, 1], [1, 0], [0.6, 0.8], [1, 0]], dtype=np.float32)
    rows = np.array([0, 2])
    items = np.array([3, 3])
    maximum, mean = seed_vector_similarity(unit, SEEDS, rows, items)
    # Item 3 against seeds 0, 1, 2: cosines 0.6, 0.8, 0.6.
    assert maximum[0] == pytest.approx(0.8)
    assert mean[0] == pytest.approx((0.6 + 0.8 + 0.6) / 3)
    # Against seeds 3 and 4: cosines 1.0 and 0.6.
    assert maximum[1] == pytest.approx(1.0)
    assert mean[1] == pytest.approx(0.8)


def test_seed_similarity_skips_tracks_without_vectors():
    unit = np.array([[1, 0], [0, 1], [1, 0], [0.6, 0.8], [0, 0]], dtype=np.float32)
    has_vector = np.array([True, True, True, True, False])
    maximum, mean = seed_vector_similarity(unit, SEEDS, np.array([2, 0]), np.array([3, 4]), has_vector)
    assert maximum[0] == pytest.approx(1.0)  # seed 4 has no vector, so only seed 3 counts
    assert mean[0] == pytest.approx(1.0)
    assert np.isnan(maximum[1])  # the candidate has no vector
