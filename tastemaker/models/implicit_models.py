"""ALS, BPR and BM25 item-kNN from the ``implicit`` library behind tastemaker's protocol."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.nearest_neighbours import ItemItemRecommender, bm25_weight
from threadpoolctl import ThreadpoolController, threadpool_limits

from .base import Recommender, load_array

log = logging.getLogger(__name__)

_controller: ThreadpoolController | None = None


def _one_blas_thread():
    """Limit BLAS to one thread, with the libraries looked up once per process.

    Building a controller reads the process's memory map, which costs more
    than folding one playlist in; a served request must not pay it each time.
    """
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


# Threads implicit uses to fold rows in after training. A fold-in solves one
# small system per row, so for the few rows of a request OpenMP threads cost
# more in start-up and waiting than they save.
FOLD_IN_THREADS = 1


class ALSRecommender(Recommender):
    """Implicit-feedback matrix factorisation (Hu, Koren and Volinsky 2008) with alternating least squares.

    Confidence is ``1 + alpha * value``; new rows are folded in by solving
    their least-squares problem against the fixed track factors.
    """

    name = "als"

    def __init__(self, factors: int = 128, regularization: float = 0.05, alpha: float = 10.0,
                 iterations: int = 15, random_state: int = 0, num_threads: int = 0):
        super().__init__(factors=factors, regularization=regularization, alpha=alpha,
                         iterations=iterations, random_state=random_state, num_threads=num_threads)
        self._model = None

    def _build(self):
        p = self.params
        return AlternatingLeastSquares(
            factors=p["factors"], regularization=p["regularization"], alpha=p["alpha"],
            iterations=p["iterations"], random_state=p["random_state"], num_threads=p["num_threads"],
        )

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        # implicit runs its own threads; a multi-threaded BLAS on top of them
        # oversubscribes the cores and slows training down. The model is built
        # inside the limit because its constructor checks the BLAS threads.
        with threadpool_limits(1, "blas"):
            self._model = self._build()
            self._model.fit(user_items, show_progress=show_progress)
        self._model.num_threads = FOLD_IN_THREADS

    @property
    def track_factors(self) -> np.ndarray:
        return self._model.item_factors

    @property
    def unit_track_factors(self) -> np.ndarray:
        """Track factors scaled to unit length (zero rows stay zero), computed once per set of factors."""
        factors = self._model.item_factors
        if getattr(self, "_unit_source", None) is not factors:
            norms = np.linalg.norm(factors, axis=1, keepdims=True)
            self._unit_factors = factors / np.where(norms > 0, norms, 1.0)
            self._unit_source = factors
        return self._unit_factors

    def user_factors_for(self, rows: sp.csr_matrix) -> np.ndarray:
        """Fold rows in: the factors ALS would give them with the track factors fixed."""
        with _one_blas_thread():
            return self._model.recalculate_user(np.arange(rows.shape[0]), rows)

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        scores = self.user_factors_for(rows) @ self._model.item_factors.T
        scores[np.diff(rows.indptr) == 0] = -np.inf
        return scores

    def _similarities(self, itemids: np.ndarray) -> np.ndarray:
        factors = self._model.item_factors
        norms = np.linalg.norm(factors, axis=1)
        norms[norms == 0] = 1.0
        return (factors[itemids] / norms[itemids, None]) @ (factors / norms[:, None]).T

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"track_factors": self._model.item_factors}

    def _restore(self, folder: Path, n_items: int) -> None:
        with threadpool_limits(1, "blas"):
            self._model = self._build()
        factors = load_array(folder, "track_factors", (n_items, self.params["factors"]))
        self._model.item_factors = factors.astype(np.float32)
        self._model.num_threads = FOLD_IN_THREADS


class BPRRecommender(Recommender):
    """Bayesian personalised ranking (Rendle et al. 2009) trained by implicit's SGD.

    implicit cannot fold a new row in for BPR, so a row's user vector is the
    mean of its items' factors, with the bias term set to 1 as in training.
    """

    name = "bpr"

    def __init__(self, factors: int = 128, learning_rate: float = 0.05, regularization: float = 0.01,
                 iterations: int = 100, random_state: int = 0, num_threads: int = 1):
        super().__init__(factors=factors, learning_rate=learning_rate, regularization=regularization,
                         iterations=iterations, random_state=random_state, num_threads=num_threads)
        self.item_factors_: np.ndarray | None = None

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        p = self.params
        # num_threads defaults to 1 because implicit's multi-threaded SGD is
        # lock-free and so not reproducible for a fixed seed.
        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=p["factors"], learning_rate=p["learning_rate"], regularization=p["regularization"],
                iterations=p["iterations"], random_state=p["random_state"], num_threads=p["num_threads"],
            )
            model.fit(user_items, show_progress=show_progress)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        counts = np.diff(rows.indptr).astype(np.float32)
        users = rows @ self.item_factors_
        users = users / np.maximum(counts, 1.0)[:, None]
        users[:, -1] = 1.0
        scores = users @ self.item_factors_.T
        scores[counts == 0] = -np.inf
        return scores

    def _similarities(self, itemids: np.ndarray) -> np.ndarray:
        factors = self.item_factors_[:, :-1]
        norms = np.linalg.norm(factors, axis=1)
        norms[norms == 0] = 1.0
        return (factors[itemids] / norms[itemids, None]) @ (factors / norms[:, None]).T

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"track_factors": self.item_factors_}

    def _restore(self, folder: Path, n_items: int) -> None:
        # implicit's BPR adds one column for the item bias.
        self.item_factors_ = load_array(folder, "track_factors", (n_items, self.params["factors"] + 1))


class ItemKNNRecommender(Recommender):
    """Item-based k-nearest neighbours over BM25-weighted co-occurrence (implicit's BM25Recommender).

    A row's score for an item is the sum of its similarities to the row's
    items; items with no similarity to any of them are not scored.
    """

    name = "itemknn"

    def __init__(self, K: int = 200, K1: float = 1.2, B: float = 0.0, num_threads: int = 0):
        super().__init__(K=K, K1=K1, B=B, num_threads=num_threads)
        self.similarity_: sp.csr_matrix | None = None

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        p = self.params
        # BM25 treats each track as a document over playlists. Length
        # normalisation (B > 0) divides by track popularity, which lowered
        # R-precision on MPD playlists from 0.136 (B=0) to 0.056 (B=0.75).
        weighted = bm25_weight(user_items.T.tocsr(), K1=p["K1"], B=p["B"]).T.tocsr()
        model = ItemItemRecommender(K=p["K"], num_threads=p["num_threads"])
        model.fit(weighted, show_progress=show_progress)
        self.similarity_ = model.similarity.tocsr().astype(np.float32)

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        product = (rows @ self.similarity_).tocsr()
        scores = np.full(product.shape, -np.inf, dtype=np.float32)
        row_index = np.repeat(np.arange(product.shape[0]), np.diff(product.indptr))
        scores[row_index, product.indices] = product.data
        return scores

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "similarity_data": self.similarity_.data,
            "similarity_indices": self.similarity_.indices,
            "similarity_indptr": self.similarity_.indptr,
        }

    def _restore(self, folder: Path, n_items: int) -> None:
        data = load_array(folder, "similarity_data", (None,))
        indices = load_array(folder, "similarity_indices", (len(data),))
        indptr = load_array(folder, "similarity_indptr", (n_items + 1,))
        if len(indices) and (indices.max() >= n_items or indices.min() < 0):
            from ..errors import BundleError

            raise BundleError(f"{folder}: similarity_indices refers to item {indices.max()} of {n_items}")
        self.similarity_ = sp.csr_matrix((data, indices, indptr), shape=(n_items, n_items))
