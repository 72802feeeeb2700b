import json

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.models import MODELS
from tastemaker.models.item2vec import Item2VecRecommender, PlaylistSentences


def two_cluster_matrix(playlists_per_cluster: int = 60, seed: int = 0) -> sp.csr_matrix:
    """Playlists of 4 tracks drawn from tracks 0-7 or from tracks 8-15, never both."""
    rng = np.random.default_rng(seed)
    rows = []
    for cluster in (0, 1):
        for _ in range(playlists_per_cluster):
            rows.append(rng.choice(8, size=4, replace=False) + 8 * cluster)
    indptr = np.arange(0, 4 * len(rows) + 1, 4)
    return sp.csr_matrix((np.ones(4 * len(rows), dtype=np.float32), np.concatenate(rows), indptr),
                         shape=(len(rows), 16))


def fit_toy(**overrides) -> Item2VecRecommender:
    params = dict(vector_size=16, window=4, negative=5, sample=0.0, min_count=1, epochs=30, seed=3)
    params.update(overrides)
    return Item2VecRecommender(**params).fit(two_cluster_matrix())


def test_item2vec_registered():
    assert MODELS["item2vec"] is Item2VecRecommender


def test_same_cluster_tracks_closer():
    model = fit_toy()
    unit = model.track_vectors / np.linalg.norm(model.track_vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    cluster = np.arange(16) // 8
    same = cluster[:, None] == cluster[None, :]
    off_diagonal = ~np.eye(16, dtype=bool)
    within = cosine[same & off_diagonal].mean()
    between = cosine[~same].mean()
    assert within > between + 0.3


def test_recommend_stays_in_cluster():
    model = fit_toy()
    row = sp.csr_matrix((np.ones(2, dtype=np.float32), ([0, 0], [0, 1])), shape=(1, 16))
    ids, scores = model.recommend(row, N=6)
    assert set(ids[0].tolist()) <= set(range(2, 8))
    assert np.all(np.diff(scores[0]) <= 0)


def test_track_vectors_shape_and_mask():
    model = fit_toy()
    assert model.track_vectors.shape == (16, 16)
    assert model.track_vectors.dtype == np.float32
    assert model.has_vector.dtype == bool
    assert model.has_vector.all()


def test_rare_track_has_no_vector():
    matrix = two_cluster_matrix().tolil()
    matrix.resize((matrix.shape[0], 17))
    matrix[0, 16] = 1.0  # track 16 is in one playlist only
    model = Item2VecRecommender(vector_size=8, window=5, min_count=2, epochs=5, sample=0.0).fit(matrix.tocsr())
    assert not model.has_vector[16]
    assert np.all(model.track_vectors[16] == 0)
    scores = model._scores(sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 17)))
    assert scores[0, 16] == -np.inf
    assert np.isfinite(scores[0, :16]).all()


def test_row_without_vectors_gets_no_recommendations():
    matrix = two_cluster_matrix().tolil()
    matrix.resize((matrix.shape[0], 17))
    matrix[0, 16] = 1.0
    model = Item2VecRecommender(vector_size=8, window=5, min_count=2, epochs=5, sample=0.0).fit(matrix.tocsr())
    ids, scores = model.recommend(sp.csr_matrix(([1.0], ([0], [16])), shape=(1, 17)), N=3)
    assert ids.tolist() == [[-1, -1, -1]]
    assert np.all(scores == -np.inf)


def test_no_track_frequent_enough():
    model = Item2VecRecommender(min_count=1000, epochs=1).fit(two_cluster_matrix())
    assert not model.has_vector.any()
    ids, _ = model.recommend(two_cluster_matrix()[:1], N=2)
    assert ids.tolist() == [[-1, -1]]


def test_same_seed_same_vectors():
    first = fit_toy(epochs=5)
    second = fit_toy(epochs=5)
    np.testing.assert_array_equal(first.track_vectors, second.track_vectors)


def test_other_seed_other_vectors():
    assert not np.array_equal(fit_toy(epochs=5, seed=1).track_vectors, fit_toy(epochs=5, seed=2).track_vectors)


def test_sentences_reshuffled_each_pass():
    matrix = sp.csr_matrix(np.ones((1, 30), dtype=np.float32))
    corpus = PlaylistSentences(matrix, seed=0)
    first, second = list(corpus), list(corpus)
    assert sorted(first[0], key=int) == [str(i) for i in range(30)]
    assert first != second
    assert list(PlaylistSentences(matrix, seed=0)) == first


def test_long_row_split_into_sentences():
    matrix = sp.csr_matrix(np.ones((1, 25_000), dtype=np.float32))
    sentences = list(PlaylistSentences(matrix, seed=0))
    assert [len(s) for s in sentences] == [10_000, 10_000, 5_000]
    assert len({token for s in sentences for token in s}) == 25_000


def test_single_track_rows_skipped():
    matrix = sp.csr_matrix(np.eye(3, dtype=np.float32))
    assert list(PlaylistSentences(matrix, seed=0)) == []


def test_save_load_round_trip(tmp_path):
    model = fit_toy(epochs=5)
    model.save(tmp_path)
    assert json.loads((tmp_path / "params.json").read_text())["model"] == "item2vec"
    assert not list(tmp_path.glob("*.pkl"))
    assert not list(tmp_path.glob("*.model"))
    loaded = Item2VecRecommender.load(tmp_path, n_items=16)
    np.testing.assert_array_equal(loaded.track_vectors, model.track_vectors)
    np.testing.assert_array_equal(loaded.has_vector, model.has_vector)
    rows = two_cluster_matrix()[:5]
    for expected, actual in zip(model.recommend(rows, N=5), loaded.recommend(rows, N=5)):
        np.testing.assert_array_equal(expected, actual)


def test_load_rejects_wrong_catalogue_size(tmp_path):
    from tastemaker.errors import BundleError

    fit_toy(epochs=1).save(tmp_path)
    with pytest.raises(BundleError, match="shape"):
        Item2VecRecommender.load(tmp_path, n_items=17)
