"""Most popular tracks: the baseline every other model must beat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .base import Recommender


class PopularityRecommender(Recommender):
    """Scores every item by the number of rows (playlists or users) that contain it."""

    name = "popularity"

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        pass

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_popularity_, (rows.shape[0], self.n_items_)).copy()

    def _similarities(self, itemids: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_popularity_, (len(itemids), self.n_items_)).copy()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _restore(self, folder: Path, n_items: int) -> None:
        pass
