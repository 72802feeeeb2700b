"""Co-occurrence recommender: a track's score is its summed weighted co-occurrence with the row's tracks."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..errors import BundleError
from ..signals.cooccurrence import cooccurrence
from .base import Recommender, load_array

log = logging.getLogger(__name__)


class CooccurrenceRecommender(Recommender):
    """Scores track j for a row by ``sum over the row's tracks i of W[i, j]``.

    ``W`` comes from :func:`tastemaker.signals.cooccurrence.cooccurrence`
    with the given ``weighting``, ``min_count`` and per-track ``top_k``
    neighbours. Tracks that co-occur with none of the row's tracks are not
    scored.

    BM25 is the default because it ranked best on a 5,853-playlist MPD
    sample (1,000 test playlists over all buckets, split seed 0): overall
    R-precision 0.107 for bm25, 0.101 for count (both with min_count=1),
    0.078 for ppmi with min_count=2 and 0.024 for ppmi with min_count=1,
    whose top pairs are mostly tracks seen once.
    """

    name = "cooc"

    def __init__(self, weighting: str = "bm25", top_k: int | None = 500, min_count: int = 1,
                 K1: float = 1.2, B: float = 0.75):
        super().__init__(weighting=weighting, top_k=top_k, min_count=min_count, K1=K1, B=B)
        self.weights_: sp.csr_matrix | None = None

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        self.weights_ = cooccurrence(user_items, **self.params)
        log.info("cooc: %d stored pairs over %d tracks", self.weights_.nnz, self.weights_.shape[0])

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        present = rows.copy()
        present.data = np.ones_like(present.data, dtype=np.float32)
        product = (present @ self.weights_).tocsr()
        scores = np.full(product.shape, -np.inf, dtype=np.float32)
        row_of_entry = np.repeat(np.arange(product.shape[0]), np.diff(product.indptr))
        scores[row_of_entry, product.indices] = product.data
        return scores

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "weights_data": self.weights_.data,
            "weights_indices": self.weights_.indices,
            "weights_indptr": self.weights_.indptr,
        }

    def _restore(self, folder: Path, n_items: int) -> None:
        data = load_array(folder, "weights_data", (None,))
        indices = load_array(folder, "weights_indices", (len(data),))
        indptr = load_array(folder, "weights_indptr", (n_items + 1,))
        if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
            raise BundleError(f"{folder}/weights_indices.npy refers to track {indices.max()} "
                              f"but the bundle has {n_items} tracks")
        if indptr[0] != 0 or indptr[-1] != len(data) or np.any(np.diff(indptr) < 0):
            raise BundleError(f"{folder}/weights_indptr.npy is not a valid CSR row pointer for {len(data)} entries")
        self.weights_ = sp.csr_matrix((data, indices, indptr), shape=(n_items, n_items))
