"""Playlist neighbours: score tracks by how often they appear in the training playlists most like the row.

Item co-occurrence compares tracks one pair at a time; this model compares
whole playlists. A row's similarity to each training playlist is the cosine
of their track sets. The ``neighbours`` most similar playlists vote for their
tracks with weight ``similarity ** power``, and a track's score is the sum of
its votes. A higher power trusts the closest playlists more.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..errors import BundleError
from ..signals.cooccurrence import keep_top_k
from .base import Recommender, load_array

log = logging.getLogger(__name__)


class PlaylistKNNRecommender(Recommender):
    """Nearest training playlists by cosine of track sets, voting for their tracks."""

    name = "playlist_knn"

    def __init__(self, neighbours: int = 100, power: float = 2.0):
        super().__init__(neighbours=neighbours, power=power)
        self.playlists_: sp.csr_matrix | None = None

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        binary = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
        binary.eliminate_zeros()
        binary.data[:] = 1.0
        self.playlists_ = binary
        self._prepare()
        log.info("playlist_knn: %d training playlists", binary.shape[0])

    def _prepare(self) -> None:
        """Build the length-normalised transpose that similarity queries multiply by."""
        lengths = np.diff(self.playlists_.indptr).astype(np.float32)
        scale = sp.diags(1.0 / np.sqrt(np.maximum(lengths, 1.0)))
        self._normalised_t = (scale @ self.playlists_).T.tocsr()

    def neighbour_weights(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """Return (k, n_playlists) vote weights: ``similarity ** power`` of each row's nearest playlists."""
        present = sp.csr_matrix(rows, dtype=np.float32, copy=True)
        present.data[:] = 1.0
        lengths = np.diff(present.indptr).astype(np.float32)
        similarity = (present @ self._normalised_t).tocsr()
        row_of_entry = np.repeat(np.arange(similarity.shape[0]), np.diff(similarity.indptr))
        similarity.data /= np.sqrt(np.maximum(lengths[row_of_entry], 1.0))
        nearest = keep_top_k(similarity, self.params["neighbours"])
        nearest.data **= self.params["power"]
        return nearest

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        product = (self.neighbour_weights(rows) @ self.playlists_).tocsr()
        scores = np.full(product.shape, -np.inf, dtype=np.float32)
        row_of_entry = np.repeat(np.arange(product.shape[0]), np.diff(product.indptr))
        scores[row_of_entry, product.indices] = product.data
        return scores

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"playlists_indices": self.playlists_.indices, "playlists_indptr": self.playlists_.indptr}

    def _restore(self, folder: Path, n_items: int) -> None:
        indptr = load_array(folder, "playlists_indptr", (None,))
        indices = load_array(folder, "playlists_indices", (None,))
        if len(indptr) == 0 or indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
            raise BundleError(f"{folder}/playlists_indptr.npy is not a valid row pointer for {len(indices)} entries")
        if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
            raise BundleError(f"{folder}/playlists_indices.npy refers to track {indices.max()} "
                              f"but the bundle has {n_items} tracks")
        data = np.ones(len(indices), dtype=np.float32)
        self.playlists_ = sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, n_items))
        self._prepare()
