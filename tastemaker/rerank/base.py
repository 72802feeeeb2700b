"""The protocol every re-ranker follows.

A re-ranker takes one list of candidate track indices with their model
scores, best first, and returns at most N of them in a new order. Its
``strength`` in [0, 1] trades the model's order against the re-ranker's goal:
0 returns the first N valid candidates unchanged, 1 follows the goal alone.
Candidates with index -1 (empty slots) are dropped; non-finite scores (a
fallback's -inf) rank as the lowest relevance.

Model scores are rescaled to [0, 1] per list (min-max over the finite
scores) before they are mixed with a penalty, so one strength means the
same for models whose scores have different scales.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from ..errors import InputError


class Reranker(ABC):
    """Base class of the re-rankers; subclasses implement ``_rerank``."""

    name: ClassVar[str]

    def rerank(self, candidates: np.ndarray, scores: np.ndarray, N: int, strength: float,
               history: np.ndarray | None = None, history_weights: np.ndarray | None = None) -> np.ndarray:
        """Return up to N of ``candidates`` in the re-ranked order, as an int64 array.

        ``history`` contains the track indices the list is made for (a
        playlist's seeds, a user's plays) and ``history_weights`` their
        weights. Only calibration uses them.
        """
        validate_strength(strength)
        validate_list_length(N)
        candidates, scores = valid_candidates(candidates, scores)
        if strength == 0 or len(candidates) <= 1:
            return candidates[:N].copy()
        history = np.zeros(0, dtype=np.int64) if history is None else np.asarray(history, dtype=np.int64)
        if history_weights is None:
            history_weights = np.ones(len(history))
        return self._rerank(candidates, relevance(scores), min(N, len(candidates)), float(strength),
                            history, np.asarray(history_weights, dtype=np.float64))

    @abstractmethod
    def _rerank(self, candidates: np.ndarray, relevance: np.ndarray, N: int, strength: float,
                history: np.ndarray, history_weights: np.ndarray) -> np.ndarray:
        """Return N of the (valid, distinct) candidates; ``relevance`` is in [0, 1], higher is better."""

    def rerank_batch(self, ids: np.ndarray, scores: np.ndarray, N: int, strength: float,
                     histories: sp.csr_matrix | None = None) -> np.ndarray:
        """Re-rank every row of (k, M) ``ids`` and ``scores``; returns (k, N) ids, -1 where a row runs short.

        Rows are processed in order, which matters for re-rankers that keep
        state across lists (artist-exposure fairness).
        """
        ids = np.asarray(ids)
        scores = np.asarray(scores)
        if ids.ndim != 2 or ids.shape != scores.shape:
            raise InputError(f"ids and scores must be (k, M) arrays of one shape, got {ids.shape} and {scores.shape}")
        if histories is not None and histories.shape[0] != ids.shape[0]:
            raise InputError(f"histories has {histories.shape[0]} rows but ids has {ids.shape[0]}")
        result = np.full((ids.shape[0], N), -1, dtype=np.int64)
        for row in range(ids.shape[0]):
            history = weights = None
            if histories is not None:
                start, end = histories.indptr[row], histories.indptr[row + 1]
                history, weights = histories.indices[start:end], histories.data[start:end]
            reranked = self.rerank(ids[row], scores[row], N, strength, history, weights)
            result[row, :len(reranked)] = reranked
        return result

    def reset(self) -> None:
        """Forget state kept across lists; stateless re-rankers have none."""


def validate_strength(strength: float) -> None:
    if isinstance(strength, bool) or not isinstance(strength, (int, float, np.floating, np.integer)) \
            or not 0 <= strength <= 1:
        raise InputError(f"strength must be a number from 0 to 1, got {strength!r}")


def validate_list_length(N: int) -> None:
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
        raise InputError(f"N must be a positive integer, got {N!r}")


def valid_candidates(candidates: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop empty slots (-1) and check that no candidate appears twice."""
    candidates = np.asarray(candidates)
    scores = np.asarray(scores, dtype=np.float64)
    if candidates.ndim != 1 or candidates.shape != scores.shape:
        raise InputError(f"candidates and scores must be 1-D arrays of one length, got shapes "
                         f"{candidates.shape} and {scores.shape}")
    if len(candidates) and not np.issubdtype(candidates.dtype, np.integer):
        raise InputError(f"candidates must be integer track indices, got dtype {candidates.dtype}")
    keep = candidates >= 0
    candidates = candidates[keep].astype(np.int64)
    if len(np.unique(candidates)) != len(candidates):
        raise InputError("candidates contain a track more than once; pass each candidate once")
    return candidates, scores[keep]


def relevance(scores: np.ndarray) -> np.ndarray:
    """Rescale scores to [0, 1] by min-max over the finite ones; non-finite and constant scores become 0."""
    finite = np.isfinite(scores)
    result = np.zeros(len(scores), dtype=np.float64)
    if not finite.any():
        return result
    low, high = scores[finite].min(), scores[finite].max()
    if high > low:
        result[finite] = (scores[finite] - low) / (high - low)
    return result


def greedy_order(candidates: np.ndarray, N: int, step) -> np.ndarray:
    """Pick N candidates one at a time; ``step(chosen_positions, remaining_mask)`` returns the next position.

    Positions index ``candidates``. Shared by the greedy re-rankers.
    """
    remaining = np.ones(len(candidates), dtype=bool)
    chosen: list[int] = []
    for _ in range(N):
        position = int(step(chosen, remaining))
        chosen.append(position)
        remaining[position] = False
    return candidates[np.asarray(chosen, dtype=np.int64)]


def argmax_remaining(values: np.ndarray, remaining: np.ndarray) -> int:
    """Position of the largest value among the remaining ones; ties go to the earlier candidate."""
    positions = np.flatnonzero(remaining)
    return int(positions[np.argmax(values[positions])])
