"""Popularity de-biasing: demote candidates in proportion to how popular they already are.

Each candidate's value is (1 - strength) * relevance - strength * penalty,
where penalty = log(1 + popularity) / log(1 + max popularity) is in [0, 1];
the log keeps the head of a heavy-tailed popularity curve from flattening
every other difference. Candidates are then sorted by value, ties in their
input order.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .base import Reranker


class PopularityReranker(Reranker):
    """Trade relevance against track popularity.

    Parameters
    ----------
    popularity : ndarray, shape (n_items,)
        Training rows containing each track (``Recommender.item_popularity_``).
    """

    name = "popularity"

    def __init__(self, popularity: np.ndarray):
        popularity = np.asarray(popularity, dtype=np.float64)
        if popularity.ndim != 1 or (len(popularity) and popularity.min() < 0):
            raise InputError("popularity must be a 1-D array of non-negative counts")
        top = np.log1p(popularity.max()) if len(popularity) else 0.0
        self.penalty = np.log1p(popularity) / top if top > 0 else np.zeros_like(popularity)

    def _rerank(self, candidates, relevance, N, strength, history, history_weights):
        value = (1 - strength) * relevance - strength * self.penalty[candidates]
        return candidates[np.argsort(-value, kind="stable")[:N]]
