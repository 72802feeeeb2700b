"""EASE (Steck 2019): a closed-form item-item linear model over the most frequent items."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .base import Recommender, load_array

log = logging.getLogger(__name__)


class EASERecommender(Recommender):
    """Embarrassingly shallow autoencoder restricted to the ``max_items`` most frequent items.

    Fitting inverts a dense ``max_items`` x ``max_items`` Gram matrix in
    float64, which takes about ``3 * 8 * max_items**2`` bytes (2.4 GB at the
    default 10,000). The whole benchmark process peaked at 3.3 GB resident on
    the MPD sample. The learned matrix is kept in float32. Items
    outside the kept set are never recommended.
    """

    name = "ease"

    def __init__(self, l2: float = 500.0, max_items: int = 10_000):
        super().__init__(l2=l2, max_items=max_items)
        self.items_: np.ndarray | None = None
        self.weights_: np.ndarray | None = None

    @staticmethod
    def peak_memory_bytes(max_items: int) -> int:
        return 3 * 8 * max_items * max_items

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        counts = self.item_popularity_
        kept = min(self.params["max_items"], int((counts > 0).sum()))
        # Most frequent first; ties go to the lower index so the kept set is deterministic.
        self.items_ = np.sort(np.lexsort((np.arange(len(counts)), -counts))[:kept]).astype(np.int64)
        log.info("EASE over %d items, about %.1f GB peak", kept, self.peak_memory_bytes(kept) / 1e9)

        X = user_items[:, self.items_]
        gram = (X.T @ X).toarray().astype(np.float64)
        gram[np.diag_indices(kept)] += self.params["l2"]
        P = np.linalg.inv(gram)
        del gram
        B = P / (-np.diag(P))
        B[np.diag_indices(kept)] = 0.0
        self.weights_ = B.astype(np.float32)

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        scores = np.full(rows.shape, -np.inf, dtype=np.float32)
        scores[:, self.items_] = rows[:, self.items_] @ self.weights_
        scores[np.diff(rows.indptr) == 0] = -np.inf
        return scores

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"items": self.items_, "weights": self.weights_}

    def _restore(self, folder: Path, n_items: int) -> None:
        items = load_array(folder, "items", (None,))
        if len(items) and (items.min() < 0 or items.max() >= n_items):
            from ..errors import BundleError

            raise BundleError(f"{folder}/items.npy refers to item {items.max()} but the bundle has {n_items} tracks")
        self.items_ = items
        self.weights_ = load_array(folder, "weights", (len(items), len(items)))
