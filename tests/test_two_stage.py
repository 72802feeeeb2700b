"""The two-stage recommender on generated playlists: ranking contract, fallbacks, merge and retrieval."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.bundle import load_bundle, write_bundle
from tastemaker.errors import InputError
from tastemaker.models import TwoStageRecommender
from tastemaker.pipeline import bundle_reranker, load_catalogue, playlist_names, training_data
from tastemaker.products.continuation import FALLBACK_NO_SEEDS, FALLBACK_TITLE, continue_playlists
from tastemaker.retrieval.index import VectorIndex, exact_search, measure_recall
from tastemaker.retrieval.merge import candidate_recall, merge_candidates
from tastemaker.store import Store

SMALL = {"per_source": 100, "popular_candidates": 20, "audio_candidates": 20, "ranker_playlists": 150,
         "als": {"factors": 16, "iterations": 5}, "item2vec": {"vector_size": 16, "epochs": 3},
         "ranker": {"n_estimators": 30}}
UNKNOWN_URI = "spotify:track:" + "Z" * 22


@pytest.fixture(scope="module")
def fitted(trained_dir):
    with Store.open(trained_dir, read_only=True) as store:
        data = training_data(store)
        names = playlist_names(store)
        context = load_catalogue(store).context(data, names)
        pids, uris = store.playlist_track_pairs()
    model = TwoStageRecommender(**SMALL).fit(data.matrix, context=context)
    return model, data, context, pids, uris


def seed_rows(data, seed_lists):
    rows, _ = data.rows_for(seed_lists)
    return rows


def test_never_returns_seed_or_duplicate(fitted):
    model, data, _, pids, uris = fitted
    seed_lists = [list(uris[pids == pid][:k]) for pid, k in zip(np.unique(pids)[:40], [1, 5, 10, 25] * 10)]
    rows = seed_rows(data, seed_lists)

    ids, _ = model.recommend(rows, N=200)

    for r in range(rows.shape[0]):
        returned = ids[r][ids[r] >= 0]
        seeds = set(rows.indices[rows.indptr[r]:rows.indptr[r + 1]].tolist())
        assert not seeds & set(returned.tolist())
        assert len(set(returned.tolist())) == len(returned)


def test_same_seeds_same_ranking(fitted):
    model, data, _, pids, uris = fitted
    rows = seed_rows(data, [list(uris[pids == pids[0]][:5])])

    first, first_scores = model.recommend(rows, N=100)
    second, second_scores = model.recommend(rows, N=100)

    assert first.tolist() == second.tolist()
    assert first_scores.tolist() == second_scores.tolist()


def test_refit_gives_same_ranking(trained_dir, fitted):
    model, data, context, pids, uris = fitted
    rows = seed_rows(data, [list(uris[pids == pids[0]][:5])])
    again = TwoStageRecommender(**SMALL).fit(data.matrix, context=context)

    assert again.recommend(rows, N=50)[0].tolist() == model.recommend(rows, N=50)[0].tolist()


def test_unknown_seeds_fall_back_to_title(fitted):
    model, data, context, _, _ = fitted
    title = next(t for t in context.titles if t)

    result = continue_playlists(model, data.tracks, [[UNKNOWN_URI]], 50, titles=[title])[0]

    assert result.fallback == FALLBACK_TITLE
    assert result.unknown_seeds == [UNKNOWN_URI]
    assert len(result.track_ids) == 50
    assert "two_stage" in result.sources


def test_unknown_seeds_no_title_popularity(fitted):
    model, data, _, _, _ = fitted
    order = np.lexsort((np.arange(len(model.item_popularity_)), -model.item_popularity_))

    result = continue_playlists(model, data.tracks, [[UNKNOWN_URI]], 50, titles=["🔥🔥"])[0]

    assert result.fallback == FALLBACK_NO_SEEDS
    assert result.track_ids == data.tracks.external(order[:50])
    assert set(result.sources) == {"popularity fallback"}


def test_bundle_round_trip_same_ranking(fitted, tmp_path):
    model, data, _, pids, uris = fitted
    rows = seed_rows(data, [list(uris[pids == pid][:5]) for pid in np.unique(pids)[:5]])
    path = write_bundle(tmp_path, data.tracks, {"two_stage": model}, "two_stage", {})

    loaded = load_bundle(path).model("two_stage")

    assert loaded.recommend(rows, N=100)[0].tolist() == model.recommend(rows, N=100)[0].tolist()


def test_report_lists_feature_importance(fitted):
    model = fitted[0]

    importance = model.report_["feature_importance"]

    assert set(importance) == set(model._feature_names())
    assert abs(sum(importance.values()) - 1.0) < 1e-3
    assert set(model.report_["candidate_recall"]) == {*model._source_names(), "merged"}


def test_merge_drops_seeds_keeps_sources():
    seeds = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32))
    results = {
        "a": (np.array([[0, 2, 3], [4, -1, -1]]), np.array([[0.9, 0.8, 0.7], [0.5, -np.inf, -np.inf]])),
        "b": (np.array([[3, 1, -1], [4, 2, 1]]), np.array([[3.0, 2.0, -np.inf], [1.0, 0.5, 0.2]])),
    }

    merged = merge_candidates(results, seeds)

    assert list(zip(merged.rows.tolist(), merged.items.tolist())) == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 4)]
    assert np.isnan(merged.ranks[0, 0])  # track 1 came from b alone
    assert merged.ranks[2].tolist() == [3.0, 1.0]  # track 3: rank 3 in a, rank 1 in b
    assert merged.scores[5].tolist() == [0.5, 1.0]


def test_candidate_recall_per_source():
    seeds = sp.csr_matrix((1, 6), dtype=np.float32)
    results = {"a": (np.array([[0, 1, 2]]), np.ones((1, 3))), "b": (np.array([[3, 4, -1]]), np.ones((1, 3)))}
    merged = merge_candidates(results, seeds)

    recall = candidate_recall(merged, [{1, 3, 5, 4}])

    assert recall == {"a": 0.25, "b": 0.5, "merged": 0.75}


def test_voyager_recall_cosine_and_inner_product():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 16)).astype(np.float32) * rng.uniform(0.2, 2.0, size=(3000, 1)).astype(np.float32)
    queries = rng.normal(size=(50, 16)).astype(np.float32)

    for space in ("cosine", "inner_product"):
        index = VectorIndex.build(vectors, space, query_ef=400)
        assert measure_recall(index, vectors, queries, 50)["recall"] >= 0.95, space


def test_voyager_inner_product_scores_are_dot_products():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(500, 8)).astype(np.float32)
    query = rng.normal(size=(1, 8)).astype(np.float32)
    index = VectorIndex.build(vectors, "inner_product", query_ef=500)

    ids, scores = index.query(query, 10)

    assert np.allclose(scores[0], (vectors[ids[0]] @ query[0]), atol=1e-3)
    assert set(ids[0].tolist()) == set(exact_search(vectors, query, 10, "inner_product")[0].tolist())


def test_rerank_popularity_lowers_popularity(fitted):
    model, data, _, pids, uris = fitted
    seeds = [list(uris[pids == pid][:5]) for pid in np.unique(pids)[:20]]
    reranker = bundle_reranker(model, "popularity:1")

    plain = continue_playlists(model, data.tracks, seeds, 10)
    reranked = continue_playlists(model, data.tracks, seeds, 10, rerank=reranker)

    def mean_popularity(results):
        indices = [data.tracks.index(uri) for result in results for uri in result.track_ids]
        return float(model.item_popularity_[indices].mean())

    assert mean_popularity(reranked) < mean_popularity(plain)
    for result, row_seeds in zip(reranked, seeds):
        assert len(result.track_ids) == 10
        assert len(set(result.track_ids)) == 10
        assert not set(result.track_ids) & set(row_seeds)


def test_rerank_strength_zero_is_identity(fitted):
    model, data, _, pids, uris = fitted
    seeds = [list(uris[pids == pids[0]][:5])]

    plain = continue_playlists(model, data.tracks, seeds, 10)[0]
    unchanged = continue_playlists(model, data.tracks, seeds, 10, rerank=bundle_reranker(model, "fairness:0"))[0]

    assert unchanged.track_ids == plain.track_ids
    assert unchanged.scores == plain.scores


def test_rerank_invalid_spec_message(fitted):
    with pytest.raises(InputError, match="invalid re-ranker 'mmr': expected NAME:STRENGTH"):
        bundle_reranker(fitted[0], "mmr")
