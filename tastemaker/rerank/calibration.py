"""Calibrated re-ranking (Steck 2018): keep the list's category mix close to the history's.

The list is built greedily. At each position the candidate i that maximises

    (1 - strength) * relevance(i) - strength * KL(p || q~(chosen + i))

is appended, where p is the category distribution of the history, q that of
the list so far with i added, and q~ = (1 - alpha) q + alpha p as in
``tastemaker.audit.calibration``. Steck adds the scores of the whole list to
the first term. Only the candidate's own score changes between candidates, so
the choice is the same.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..audit.calibration import STECK_ALPHA
from ..errors import InputError
from .base import Reranker, argmax_remaining, greedy_order


class CalibrationReranker(Reranker):
    """Greedy KL calibration against the history's category mix.

    Parameters
    ----------
    item_categories : scipy.sparse matrix, shape (n_items, n_categories)
        Category distribution of each track (one-hot artists, or tag weights),
        rows summing to 1 or empty when unknown.
    alpha : float
        Share of p mixed into q, so the divergence stays finite.
    """

    name = "calibration"

    def __init__(self, item_categories: sp.spmatrix, alpha: float = STECK_ALPHA):
        if not 0 < alpha <= 1:
            raise InputError(f"alpha must be in (0, 1], got {alpha}")
        self.item_categories = sp.csr_matrix(item_categories, dtype=np.float64)
        self.alpha = alpha

    def _rerank(self, candidates, relevance, N, strength, history, history_weights):
        if len(history) == 0:
            return candidates[:N].copy()
        p = np.asarray(history_weights @ self.item_categories[history].toarray()).ravel()
        support = np.flatnonzero(p > 0)
        if len(support) == 0:
            return candidates[:N].copy()
        p = p[support] / p[support].sum()
        categories = self.item_categories[candidates][:, support].toarray()
        alpha = self.alpha
        state = {"sum": np.zeros(len(support))}

        def step(chosen: list[int], remaining: np.ndarray) -> int:
            if chosen:
                state["sum"] = state["sum"] + categories[chosen[-1]]
            q = (state["sum"][None, :] + categories) / (len(chosen) + 1)
            divergence = np.sum(p * np.log(p / ((1 - alpha) * q + alpha * p)), axis=1)
            return argmax_remaining((1 - strength) * relevance - strength * divergence, remaining)

        return greedy_order(candidates, N, step)
