"""Property tests that every re-ranker must pass, on random candidate lists."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from tastemaker.audit.calibration import one_hot_categories
from tastemaker.rerank import RERANKERS, RerankContext, build_reranker

N_ITEMS = 40
N_ARTISTS = 7


def context() -> RerankContext:
    rng = np.random.default_rng(0)
    track_artist = rng.integers(-1, N_ARTISTS, size=N_ITEMS)
    return RerankContext(
        track_artist=track_artist,
        popularity=rng.integers(0, 100, size=N_ITEMS).astype(np.float64),
        item_vectors=rng.normal(size=(N_ITEMS, 4)),
        item_categories=one_hot_categories(track_artist, N_ARTISTS),
    )


@st.composite
def candidate_lists(draw):
    size = draw(st.integers(min_value=0, max_value=25))
    candidates = draw(st.lists(st.integers(min_value=0, max_value=N_ITEMS - 1), min_size=size, max_size=size,
                               unique=True))
    scores = draw(st.lists(st.one_of(st.floats(min_value=-50, max_value=50), st.just(-np.inf)),
                           min_size=size, max_size=size))
    holes = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    candidates = np.array([-1 if hole else c for c, hole in zip(candidates, holes)], dtype=np.int64)
    history = draw(st.lists(st.integers(min_value=0, max_value=N_ITEMS - 1), max_size=8, unique=True))
    N = draw(st.integers(min_value=1, max_value=30))
    return candidates, np.array(scores, dtype=np.float64), np.array(history, dtype=np.int64), N


@pytest.mark.parametrize("name", list(RERANKERS))
@settings(max_examples=60, deadline=None)
@given(case=candidate_lists(), strength=st.floats(min_value=0, max_value=1))
def test_output_is_distinct_subset(name, case, strength):
    candidates, scores, history, N = case
    reranker = build_reranker(name, context())
    result = reranker.rerank(candidates, scores, N, strength, history)
    valid = candidates[candidates >= 0]
    assert result.dtype == np.int64
    assert len(result) == min(N, len(valid))
    assert len(set(result.tolist())) == len(result)
    assert set(result.tolist()) <= set(valid.tolist())


@pytest.mark.parametrize("name", list(RERANKERS))
@settings(max_examples=60, deadline=None)
@given(case=candidate_lists())
def test_strength_zero_is_identity(name, case):
    candidates, scores, history, N = case
    reranker = build_reranker(name, context())
    result = reranker.rerank(candidates, scores, N, 0.0, history)
    assert result.tolist() == candidates[candidates >= 0][:N].tolist()


@pytest.mark.parametrize("name", list(RERANKERS))
@settings(max_examples=30, deadline=None)
@given(case=candidate_lists(), strength=st.floats(min_value=0, max_value=1))
def test_full_length_is_permutation(name, case, strength):
    candidates, scores, history, _ = case
    valid = candidates[candidates >= 0]
    reranker = build_reranker(name, context())
    result = reranker.rerank(candidates, scores, max(1, len(valid)), strength, history)
    assert sorted(result.tolist()) == sorted(valid.tolist())


@pytest.mark.parametrize("name", list(RERANKERS))
def test_batch_matches_single_lists(name):
    rng = np.random.default_rng(1)
    ids = np.stack([rng.permutation(N_ITEMS)[:12] for _ in range(5)])
    ids[2, 8:] = -1
    scores = rng.normal(size=ids.shape)
    histories = sp.csr_matrix((rng.random((5, N_ITEMS)) < 0.1).astype(np.float64))
    batch = build_reranker(name, context()).rerank_batch(ids, scores, 10, 0.6, histories)
    single = build_reranker(name, context())
    for row in range(5):
        history = histories.indices[histories.indptr[row]:histories.indptr[row + 1]]
        expected = single.rerank(ids[row], scores[row], 10, 0.6, history)
        assert batch[row, :len(expected)].tolist() == expected.tolist()
        assert (batch[row, len(expected):] == -1).all()
