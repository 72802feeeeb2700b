"""Playlist neighbours: cosine similarity of track sets, votes weighted by similarity ** power."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.errors import BundleError
from tastemaker.models import PlaylistKNNRecommender


def _rows(track_lists, n_items):
    rows = [r for r, tracks in enumerate(track_lists) for _ in tracks]
    cols = [t for tracks in track_lists for t in tracks]
    return sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(track_lists), n_items))


TRAIN = _rows([[0, 1, 2], [0, 1], [3, 4]], 5)
QUERY = _rows([[0, 1]], 5)


def test_votes_are_similarities_to_the_power():
    model = PlaylistKNNRecommender(neighbours=2, power=1.0).fit(TRAIN)
    scores = model._scores(QUERY)[0]
    to_first = 2 / math.sqrt(2 * 3)  # cosine of {0, 1} and {0, 1, 2}
    to_second = 1.0  # {0, 1} and {0, 1}
    assert scores[0] == pytest.approx(to_first + to_second)
    assert scores[2] == pytest.approx(to_first)
    assert np.isneginf(scores[3])
    assert np.isneginf(scores[4])

    squared = PlaylistKNNRecommender(neighbours=2, power=2.0).fit(TRAIN)._scores(QUERY)[0]
    assert squared[2] == pytest.approx(to_first ** 2)


def test_only_the_nearest_playlists_vote():
    model = PlaylistKNNRecommender(neighbours=1, power=1.0).fit(TRAIN)
    ids, scores = model.recommend(QUERY, N=3)
    # The only neighbour is {0, 1}, whose tracks are the seeds themselves.
    assert ids[0].tolist() == [-1, -1, -1]
    assert np.isneginf(scores[0]).all()


def test_saved_model_scores_the_same(tmp_path):
    model = PlaylistKNNRecommender(neighbours=2).fit(TRAIN)
    model.save(tmp_path / "knn")
    loaded = PlaylistKNNRecommender.load(tmp_path / "knn", 5)
    np.testing.assert_array_equal(loaded._scores(QUERY), model._scores(QUERY))


def test_load_rejects_corrupt_row_pointer(tmp_path):
    PlaylistKNNRecommender().fit(TRAIN).save(tmp_path / "knn")
    np.save(tmp_path / "knn" / "playlists_indptr.npy", np.array([0, 9, 2], dtype=np.int32))
    with pytest.raises(BundleError, match="playlists_indptr.npy is not a valid row pointer"):
        PlaylistKNNRecommender.load(tmp_path / "knn", 5)
