"""Playlist continuation: N new tracks for playlists given by their seed tracks.

A model's list is completed with the most popular tracks when it has fewer
than N eligible tracks. It is replaced by them when the playlist has neither
a known seed nor a title the model can use. Both cases are flagged, so an
empty or short list never hides a failure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..models.base import Recommender, validate_n
from ..rerank.base import Reranker
from ..signals import IdMap

log = logging.getLogger(__name__)

FALLBACK_NO_SEEDS = "no known seed tracks and no usable title: most popular tracks"
FALLBACK_TITLE = "no known seed tracks: tracks that go with the title"
RERANK_POOL = 500  # tracks a re-ranker chooses from when fewer are requested
FALLBACK_PADDED = "model had fewer than N tracks: completed with the most popular tracks"


@dataclass
class Continuation:
    """One playlist's continuation: track ids best first, their scores and sources."""

    track_ids: list[str]
    scores: list[float]
    sources: list[str]
    fallback: str | None = None
    unknown_seeds: list[str] = field(default_factory=list)


def popularity_order(popularity: np.ndarray) -> np.ndarray:
    """Return item indices from most to least popular, ties by lower index."""
    return np.lexsort((np.arange(len(popularity)), -popularity))


def continue_rows(model: Recommender, rows: sp.csr_matrix, N: int, order: np.ndarray,
                  titles: list[str | None] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, list[str | None], np.ndarray]:
    """Recommend N items per row, completing short lists from ``order``.

    Returns the (k, N) item indices and model scores, each row's fallback
    reason (None when the model filled the list alone), and a (k, N) boolean
    mask of the positions filled by the fallback, whose scores are -inf.
    """
    validate_n(N, rows.shape[1])
    ids, scores = model.recommend(rows, N=N, filter_already_liked_items=True, titles=titles)
    fallbacks: list[str | None] = [None] * rows.shape[0]
    if model.uses_titles:
        for r in np.flatnonzero((np.diff(rows.indptr) == 0) & (ids[:, 0] >= 0)):
            fallbacks[r] = FALLBACK_TITLE
    filled = ids < 0
    for r in np.flatnonzero(filled.any(axis=1)):
        seeds = rows.indices[rows.indptr[r]:rows.indptr[r + 1]]
        present = ids[r][ids[r] >= 0]
        excluded = np.concatenate([seeds, present])
        extra = order[~np.isin(order, excluded)][: int(filled[r].sum())]
        ids[r, filled[r]] = np.pad(extra, (0, int(filled[r].sum()) - len(extra)), constant_values=-1)
        if len(seeds) == 0 and fallbacks[r] is None:
            fallbacks[r] = FALLBACK_NO_SEEDS
        elif fallbacks[r] is None:
            fallbacks[r] = FALLBACK_PADDED
    return ids, scores, fallbacks, filled


def continue_playlists(model: Recommender, tracks: IdMap, seed_lists: list[list[str]], N: int,
                       model_name: str | None = None, titles: list[str | None] | None = None,
                       rerank: tuple[Reranker, float] | None = None) -> list[Continuation]:
    """Continue playlists given as lists of seed track URIs; unknown seeds are reported per playlist.

    With ``rerank`` (a re-ranker and its strength), the model's first
    ``max(N, RERANK_POOL)`` tracks are re-ordered and cut to N; the model's
    order is the relevance the re-ranker trades off.
    """
    indptr, indices, unknown = [0], [], []
    for seeds in seed_lists:
        known, missing = tracks.indices(seeds)
        indices.extend(np.unique(known).tolist())
        indptr.append(len(indices))
        unknown.append(missing)
    rows = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int64),
                          np.asarray(indptr)), shape=(len(seed_lists), len(tracks)))
    order = popularity_order(model.item_popularity_)
    pool = N if rerank is None else min(max(N, RERANK_POOL), len(tracks))
    ids, scores, fallbacks, filled = continue_rows(model, rows, pool, order, titles)
    if rerank is not None:
        ids, scores, filled = _rerank_rows(ids, scores, filled, rows, N, *rerank)
    name = model_name or model.name
    results = []
    for r in range(len(seed_lists)):
        valid = ids[r] >= 0
        row_scores = np.where(filled[r], np.nan, scores[r])
        sources = ["popularity fallback" if f else name for f in filled[r]]
        if fallbacks[r]:
            log.debug("row %d of %d: %s (unknown seeds: %d)", r, len(seed_lists), fallbacks[r], len(unknown[r]))
        results.append(Continuation(
            track_ids=tracks.external(ids[r][valid]),
            scores=[float(s) for s in row_scores[valid]],
            sources=[s for s, v in zip(sources, valid) if v],
            fallback=fallbacks[r],
            unknown_seeds=unknown[r],
        ))
    return results


def _rerank_rows(ids: np.ndarray, scores: np.ndarray, filled: np.ndarray, rows: sp.csr_matrix, N: int,
                 reranker: Reranker, strength: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-order each row's pool and keep N, carrying each kept track's model score and fallback mark."""
    rank_relevance = np.where(ids >= 0, -np.arange(ids.shape[1], dtype=np.float64), -np.inf)
    kept = reranker.rerank_batch(ids, rank_relevance, N, strength, histories=rows)
    new_scores = np.full(kept.shape, -np.inf, dtype=np.float32)
    new_filled = np.zeros(kept.shape, dtype=bool)
    for r in range(kept.shape[0]):
        position = {int(item): i for i, item in enumerate(ids[r]) if item >= 0}
        for j, item in enumerate(kept[r]):
            if item >= 0:
                new_scores[r, j] = scores[r, position[int(item)]]
                new_filled[r, j] = filled[r, position[int(item)]]
    return kept, new_scores, new_filled
