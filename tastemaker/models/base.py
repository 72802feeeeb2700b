"""The protocol every recommender follows.

A recommender is fitted on a users-by-items matrix (for playlists, a
playlist-by-track matrix) and scores new rows of the same item space, so a
playlist that was never seen in training, such as a challenge playlist, is
scored from its seed tracks (fold-in).

``recommend`` takes a CSR matrix of k rows and always returns two (k, N)
arrays, ``ids`` and ``scores``, best first, so one row and many rows have the
same shape. When fewer than N items are eligible for a row, the tail of that
row holds id -1 and score -inf.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from ..errors import BundleError, InputError, ModelError

log = logging.getLogger(__name__)

PARAMS_FILE = "params.json"
# Rows scored at once are chosen so a dense score block holds about 2**22
# values (16 MiB of float32; argpartition's int64 indices double that).
SCORING_VALUES = 2**22


class Recommender(ABC):
    """Base class of tastemaker's recommenders; subclasses implement ``_fit`` and ``_scores``."""

    name: ClassVar[str]

    def __init__(self, **params):
        self.params = params
        self.n_items_: int | None = None
        self.item_popularity_: np.ndarray | None = None

    # Training

    uses_titles: ClassVar[bool] = False

    def fit(self, user_items: sp.csr_matrix, show_progress: bool = False, context=None) -> "Recommender":
        """Fit on a users-by-items matrix; returns self.

        ``context`` (a ``TrainingContext``) carries titles, artists and audio
        features for the models that use them; the others ignore it.
        """
        user_items = _as_csr(user_items, "user_items")
        self.n_items_ = user_items.shape[1]
        self.item_popularity_ = np.asarray((user_items > 0).sum(axis=0)).ravel().astype(np.float32)
        self._fit(user_items, show_progress)
        return self

    @abstractmethod
    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None: ...

    # Scoring

    def recommend(self, user_items: sp.csr_matrix, N: int = 10, filter_already_liked_items: bool = True,
                  titles: list[str | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return the top-N item indices and scores for each row of ``user_items``.

        ``titles`` are the rows' playlist titles, used by models whose
        ``uses_titles`` is true and ignored by the others.
        """
        self._check_fitted()
        user_items = _as_csr(user_items, "user_items")
        if user_items.shape[1] != self.n_items_:
            raise ModelError(
                f"user_items has {user_items.shape[1]} columns but {self.name} was fitted on {self.n_items_} items"
            )
        validate_n(N, self.n_items_)
        ids = np.full((user_items.shape[0], N), -1, dtype=np.int64)
        scores = np.full((user_items.shape[0], N), -np.inf, dtype=np.float32)
        block_rows = max(1, SCORING_VALUES // max(1, self.n_items_))
        for start in range(0, user_items.shape[0], block_rows):
            rows = user_items[start:start + block_rows]
            block = np.asarray(self._scores(rows), dtype=np.float32)
            if filter_already_liked_items:
                block[np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr)), rows.indices] = -np.inf
            block_ids, block_scores = top_n(block, N)
            ids[start:start + rows.shape[0]] = block_ids
            scores[start:start + rows.shape[0]] = block_scores
        return ids, scores

    @abstractmethod
    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        """Return dense (k, n_items) scores; -inf marks items the model cannot score."""

    def similar_items(self, itemids: int | np.ndarray, N: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Return the N items most similar to each given item, excluding the item itself, as (k, N) arrays."""
        self._check_fitted()
        itemids = np.atleast_1d(np.asarray(itemids, dtype=np.int64))
        bad = itemids[(itemids < 0) | (itemids >= self.n_items_)]
        if len(bad):
            raise InputError(f"item index {int(bad[0])} is out of range: {self.name} has {self.n_items_} items")
        validate_n(N, self.n_items_ - 1)
        block = np.asarray(self._similarities(itemids), dtype=np.float32)
        block[np.arange(len(itemids)), itemids] = -np.inf
        return top_n(block, N)

    def _similarities(self, itemids: np.ndarray) -> np.ndarray:
        """Return dense (k, n_items) item-to-item similarities; default: score each item as a one-track row."""
        rows = sp.csr_matrix(
            (np.ones(len(itemids), dtype=np.float32), (np.arange(len(itemids)), itemids)),
            shape=(len(itemids), self.n_items_),
        )
        return self._scores(rows)

    # Persistence

    def save(self, folder: Path) -> None:
        """Write parameters as JSON and learned arrays as .npy files into ``folder``."""
        self._check_fitted()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PARAMS_FILE).write_text(json.dumps({"model": self.name, "params": self.params}, indent=2))
        arrays = {"item_popularity": self.item_popularity_, **self._arrays()}
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]: ...

    @classmethod
    def load(cls, folder: Path, n_items: int) -> "Recommender":
        """Load a saved model and check its arrays against the bundle's ``n_items`` tracks."""
        try:
            saved = json.loads((folder / PARAMS_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot read {folder / PARAMS_FILE}: {exc}") from exc
        if saved.get("model") != cls.name:
            raise BundleError(f"{folder / PARAMS_FILE} describes model {saved.get('model')!r}, not {cls.name!r}")
        model = cls(**saved.get("params", {}))
        model.n_items_ = n_items
        model.item_popularity_ = load_array(folder, "item_popularity", (n_items,))
        model._restore(folder, n_items)
        return model

    @abstractmethod
    def _restore(self, folder: Path, n_items: int) -> None: ...

    def _check_fitted(self) -> None:
        if self.n_items_ is None:
            raise ModelError(f"{self.name} is not fitted: call fit() or load a bundle first")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({params})"


def validate_n(N: int, n_items: int) -> None:
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or not 1 <= N <= n_items:
        raise InputError(f"N must be an integer from 1 to the catalogue size {n_items}, got {N!r}")


def top_n(scores: np.ndarray, N: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices and values of the N largest scores per row, best first; -inf entries become id -1.

    Ties are broken by the lower item index, so results are deterministic.
    """
    k, n = scores.shape
    N_eff = min(N, n)
    if N_eff < n:
        part = np.argpartition(-scores, N_eff - 1, axis=1)[:, :N_eff]
    else:
        part = np.tile(np.arange(n), (k, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    ids = np.take_along_axis(part, order, axis=1).astype(np.int64)
    values = np.take_along_axis(part_scores, order, axis=1)
    ids[~np.isfinite(values)] = -1
    if N_eff < N:
        ids = np.pad(ids, ((0, 0), (0, N - N_eff)), constant_values=-1)
        values = np.pad(values, ((0, 0), (0, N - N_eff)), constant_values=-np.inf)
    return ids, values.astype(np.float32)


def load_array(folder: Path, name: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """Load ``name.npy`` without pickle and check its shape; None in ``shape`` matches any size."""
    path = folder / f"{name}.npy"
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot load {path}: {exc}") from exc
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        wanted = "x".join("any" if s is None else str(s) for s in shape)
        raise BundleError(
            f"{path} has shape {'x'.join(map(str, array.shape))} but the bundle's id map needs {wanted}; "
            "the bundle is inconsistent, train a new one with `tastemaker train`"
        )
    return array


def _as_csr(matrix: sp.spmatrix, name: str) -> sp.csr_matrix:
    if not sp.issparse(matrix):
        raise ModelError(f"{name} must be a scipy sparse matrix, got {type(matrix).__name__}")
    return matrix.tocsr() if not isinstance(matrix, sp.csr_matrix) else matrix
