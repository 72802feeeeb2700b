"""The contract every registered recommender follows, on a tiny matrix whose expected ranking is known.

The matrix has two disjoint blocks: playlists 0-99 draw their tracks from
items 0-19 (block A) and playlists 100-199 from items 20-39 (block B). No
playlist mixes the blocks, so a collaborative model must rank the unseen
items of a row's own block above every item of the other block. Popularity
must order items by how many playlists contain them, counted here directly.
Every model is fitted with the same side information: one title per block
and five tracks per artist, never shared across blocks.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.errors import InputError
from tastemaker.models import MODELS
from tastemaker.signals.context import TrainingContext

BLOCK_SIZE = 20
PLAYLISTS_PER_BLOCK = 100
TRACKS_PER_PLAYLIST = 8
N_ITEMS = 2 * BLOCK_SIZE
BLOCK_A = set(range(BLOCK_SIZE))
BLOCK_B = set(range(BLOCK_SIZE, N_ITEMS))

# Small settings keep each fit well under a second. ALS gets 2 factors, the
# rank of the two-block matrix. With spare factors it fits single items, so
# folding in a few seeds then scores some other-block items above own-block ones.
FAST_PARAMS = {
    "als": {"factors": 2, "iterations": 5},
    "bpr": {"factors": 8, "iterations": 50},
    "ease": {"max_items": N_ITEMS},
    # word2vec's frequent-word subsampling would drop nearly every token of a 40-item corpus.
    "item2vec": {"sample": 0, "vector_size": 8},
    # With every candidate pair in the LambdaRank loss, 20 trees misordered one B-block query; 50 do not.
    "two_stage": {"per_source": 20, "popular_candidates": 10, "audio_candidates": 10, "ranker_playlists": 60,
                  "als": {"factors": 2, "iterations": 5}, "item2vec": {"sample": 0, "vector_size": 8},
                  "ranker": {"n_estimators": 50, "min_child_samples": 5}},
}

# Query rows: seeds from block A, seeds from block B, one seed, and no seed.
QUERY_SEEDS = [[0, 1, 2], [20, 25], [7], []]


def block_matrix() -> sp.csr_matrix:
    rng = np.random.default_rng(0)
    rows, columns = [], []
    for block in range(2):
        for playlist in range(PLAYLISTS_PER_BLOCK):
            items = rng.choice(BLOCK_SIZE, size=TRACKS_PER_PLAYLIST, replace=False) + block * BLOCK_SIZE
            rows.extend([block * PLAYLISTS_PER_BLOCK + playlist] * TRACKS_PER_PLAYLIST)
            columns.extend(items.tolist())
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, columns)), shape=(2 * PLAYLISTS_PER_BLOCK, N_ITEMS))


def query_rows(seed_lists: list[list[int]]) -> sp.csr_matrix:
    rows = [r for r, seeds in enumerate(seed_lists) for _ in seeds]
    columns = [item for seeds in seed_lists for item in seeds]
    data = np.ones(len(columns), dtype=np.float32)
    return sp.csr_matrix((data, (rows, columns)), shape=(len(seed_lists), N_ITEMS))


def block_context() -> TrainingContext:
    titles = ["rock mix"] * PLAYLISTS_PER_BLOCK + ["jazz night"] * PLAYLISTS_PER_BLOCK
    return TrainingContext(titles, np.arange(N_ITEMS, dtype=np.int64) // 5)


def fit_model(name: str, matrix: sp.csr_matrix):
    return MODELS[name](**FAST_PARAMS.get(name, {})).fit(matrix, context=block_context())


@pytest.fixture(scope="module")
def matrix() -> sp.csr_matrix:
    return block_matrix()


@pytest.fixture(scope="module", params=list(MODELS))
def model(request, matrix):
    return fit_model(request.param, matrix)


def is_collaborative(model) -> bool:
    return model.name != "popularity"


# Shapes and list invariants


def test_recommend_one_row_shape(model):
    ids, scores = model.recommend(query_rows(QUERY_SEEDS[:1]), N=10)
    assert ids.shape == (1, 10)
    assert scores.shape == (1, 10)


def test_recommend_many_rows_shape(model):
    ids, scores = model.recommend(query_rows(QUERY_SEEDS), N=10)
    assert ids.shape == (len(QUERY_SEEDS), 10)
    assert scores.shape == (len(QUERY_SEEDS), 10)


def test_recommend_rows_independent(model):
    together_ids, together_scores = model.recommend(query_rows(QUERY_SEEDS), N=N_ITEMS)
    for r, seeds in enumerate(QUERY_SEEDS):
        alone_ids, alone_scores = model.recommend(query_rows([seeds]), N=N_ITEMS)
        assert np.array_equal(alone_ids[0], together_ids[r]), f"row {r}"
        assert np.allclose(alone_scores[0], together_scores[r], rtol=1e-5, atol=1e-6), f"row {r}"


def test_recommend_excludes_seeds(model):
    ids, _ = model.recommend(query_rows(QUERY_SEEDS), N=N_ITEMS)
    for r, seeds in enumerate(QUERY_SEEDS):
        assert not set(seeds) & set(ids[r].tolist()), f"row {r} returned a seed"


def test_recommend_unfiltered_no_duplicates(model):
    # Unfiltered, a model may or may not list the seeds, but no id may repeat.
    ids, _ = model.recommend(query_rows([[0, 1, 2]]), N=N_ITEMS, filter_already_liked_items=False)
    valid = ids[0][ids[0] >= 0]
    assert len(set(valid.tolist())) == len(valid)


def test_popularity_unfiltered_keeps_seeds(matrix):
    model = fit_model("popularity", matrix)
    ids, _ = model.recommend(query_rows([[0, 1, 2]]), N=N_ITEMS, filter_already_liked_items=False)
    assert {0, 1, 2} <= set(ids[0].tolist())


def test_recommend_no_duplicates(model):
    ids, _ = model.recommend(query_rows(QUERY_SEEDS), N=N_ITEMS)
    for r in range(len(QUERY_SEEDS)):
        valid = ids[r][ids[r] >= 0]
        assert len(set(valid.tolist())) == len(valid), f"row {r} repeats an id"


def test_recommend_padding_at_tail(model):
    ids, scores = model.recommend(query_rows(QUERY_SEEDS), N=N_ITEMS)
    for r in range(len(QUERY_SEEDS)):
        padded = ids[r] < 0
        first_pad = int(np.argmax(padded)) if padded.any() else N_ITEMS
        assert padded[first_pad:].all(), f"row {r}: id -1 before a real id"
        assert (ids[r][padded] == -1).all(), f"row {r}: negative id other than -1"
        assert np.isneginf(scores[r][padded]).all(), f"row {r}: id -1 with a finite score"
        assert np.isfinite(scores[r][~padded]).all(), f"row {r}: real id with a non-finite score"
        assert (np.diff(scores[r][~padded]) <= 0).all(), f"row {r}: scores not best first"


def test_recommend_valid_ids(model):
    ids, _ = model.recommend(query_rows(QUERY_SEEDS), N=N_ITEMS)
    valid = ids[ids >= 0]
    assert valid.max() < N_ITEMS
    assert ids.dtype.kind == "i"


def test_recommend_full_list_length(model):
    # For a row seeded in block A, popularity lists every non-seed item and a CF model at most that many.
    ids, _ = model.recommend(query_rows([[0, 1, 2]]), N=N_ITEMS)
    real = int((ids[0] >= 0).sum())
    if is_collaborative(model):
        assert real <= N_ITEMS - 3
    else:
        assert real == N_ITEMS - 3


# Expected rankings


def test_popularity_count_order(matrix):
    counts = [int((matrix[:, item].toarray() > 0).sum()) for item in range(N_ITEMS)]
    expected = sorted(range(N_ITEMS), key=lambda item: (-counts[item], item))
    model = fit_model("popularity", matrix)

    ids, scores = model.recommend(query_rows([[]]), N=N_ITEMS)

    assert ids[0].tolist() == expected
    assert scores[0].tolist() == [float(counts[item]) for item in expected]


def test_popularity_skips_seeds_in_order(matrix):
    counts = [int((matrix[:, item].toarray() > 0).sum()) for item in range(N_ITEMS)]
    seeds = [0, 1, 2]
    expected = [i for i in sorted(range(N_ITEMS), key=lambda item: (-counts[item], item)) if i not in seeds]
    model = fit_model("popularity", matrix)

    ids, _ = model.recommend(query_rows([seeds]), N=N_ITEMS - len(seeds))

    assert ids[0].tolist() == expected


@pytest.mark.parametrize("seeds", [[0, 1, 2], [20, 25], [7], list(range(15))], ids=["A3", "B2", "A1", "A15"])
def test_cf_ranks_own_block_first(model, seeds):
    if not is_collaborative(model):
        pytest.skip("popularity ignores the seeds by design")
    own_block = BLOCK_A if seeds[0] in BLOCK_A else BLOCK_B
    remaining = own_block - set(seeds)

    ids, _ = model.recommend(query_rows([seeds]), N=N_ITEMS)

    top = ids[0][: len(remaining)].tolist()
    assert set(top) == remaining, f"{model.name} ranked {sorted(set(top) - remaining)} among the own block"


def test_cf_empty_row_unscored(model):
    # Continuation detects a row without known seeds by its empty list and flags the fallback.
    if not is_collaborative(model):
        pytest.skip("popularity scores every row alike")
    if getattr(model, "uses_titles", False):
        pytest.skip(f"{model.name} uses titles, so it may score a row without seeds")
    ids, scores = model.recommend(query_rows([[]]), N=5)
    assert (ids == -1).all()
    assert np.isneginf(scores).all()


# Argument checks


@pytest.mark.parametrize("bad_n", [0, -1, N_ITEMS + 1, 2.5, True, "10"])
def test_recommend_bad_n(model, bad_n):
    with pytest.raises(InputError) as raised:
        model.recommend(query_rows(QUERY_SEEDS[:1]), N=bad_n)
    assert f"N must be an integer from 1 to the catalogue size {N_ITEMS}, got {bad_n!r}" in str(raised.value)


def test_recommend_n_catalogue_size(model):
    ids, _ = model.recommend(query_rows(QUERY_SEEDS[:1]), N=N_ITEMS)
    assert ids.shape == (1, N_ITEMS)


def test_recommend_n_one(model):
    ids, _ = model.recommend(query_rows(QUERY_SEEDS[:1]), N=1)
    assert ids.shape == (1, 1)


# Determinism and persistence


def test_fit_deterministic(model, matrix):
    again = fit_model(model.name, matrix)
    first_ids, first_scores = model.recommend(query_rows(QUERY_SEEDS), N=N_ITEMS)
    second_ids, second_scores = again.recommend(query_rows(QUERY_SEEDS), N=N_ITEMS)
    assert np.array_equal(first_ids, second_ids)
    assert np.array_equal(first_scores, second_scores)


def test_save_load_roundtrip(model, tmp_path):
    model.save(tmp_path / model.name)
    loaded = type(model).load(tmp_path / model.name, N_ITEMS)

    before_ids, before_scores = model.recommend(query_rows(QUERY_SEEDS), N=N_ITEMS)
    after_ids, after_scores = loaded.recommend(query_rows(QUERY_SEEDS), N=N_ITEMS)

    assert loaded.params == model.params
    assert np.array_equal(before_ids, after_ids)
    assert np.array_equal(before_scores, after_scores)


def test_save_load_similar_items(model, tmp_path):
    model.save(tmp_path / model.name)
    loaded = type(model).load(tmp_path / model.name, N_ITEMS)
    before = model.similar_items([0, 20], N=5)
    after = loaded.similar_items([0, 20], N=5)
    assert np.array_equal(before[0], after[0])
    assert np.allclose(before[1], after[1])


# Similar items


def test_similar_items_shape(model):
    ids, scores = model.similar_items([0, 20, 7], N=5)
    assert ids.shape == (3, 5)
    assert scores.shape == (3, 5)


def test_similar_items_scalar_shape(model):
    ids, scores = model.similar_items(3, N=4)
    assert ids.shape == (1, 4)
    assert scores.shape == (1, 4)


def test_similar_items_excludes_item(model):
    items = list(range(N_ITEMS))
    ids, _ = model.similar_items(items, N=N_ITEMS - 1)
    for row, item in enumerate(items):
        assert item not in ids[row].tolist(), f"item {item} is similar to itself"


def test_similar_items_no_duplicates(model):
    ids, _ = model.similar_items(list(range(N_ITEMS)), N=N_ITEMS - 1)
    for row in range(N_ITEMS):
        valid = ids[row][ids[row] >= 0]
        assert len(set(valid.tolist())) == len(valid), f"item {row}"


def test_similar_items_bad_n(model):
    with pytest.raises(InputError) as raised:
        model.similar_items([0], N=N_ITEMS)
    assert f"catalogue size {N_ITEMS - 1}, got {N_ITEMS}" in str(raised.value)


@pytest.mark.parametrize("item", [-1, N_ITEMS])
def test_similar_items_bad_item(model, item):
    with pytest.raises(InputError) as raised:
        model.similar_items([item], N=3)
    assert f"item index {item} is out of range" in str(raised.value)
    assert f"has {N_ITEMS} items" in str(raised.value)


def test_cf_similar_items_own_block(model):
    if not is_collaborative(model):
        pytest.skip("popularity's similar items are the most popular ones")
    ids, _ = model.similar_items([0, 20], N=5)
    assert set(ids[0].tolist()) <= BLOCK_A
    assert set(ids[1].tolist()) <= BLOCK_B
