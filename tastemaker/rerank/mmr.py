"""Maximal marginal relevance (MMR) for diversity within a list.

The list is built greedily: each position takes the candidate that maximises

    (1 - strength) * relevance(i) - strength * max_{j chosen} similarity(i, j)

Similarity is the cosine of track vectors when they are given, else 1 for two
tracks by the same artist and 0 otherwise.
"""

from __future__ import annotations

import numpy as np

from ..audit.diversity import unit_vectors
from ..errors import InputError
from .base import Reranker, argmax_remaining, greedy_order


class MMRReranker(Reranker):
    """Diversify a list by penalising candidates similar to those already chosen.

    Parameters
    ----------
    item_vectors : ndarray, shape (n_items, d), optional
        Track embedding, such as ALS track factors.
    track_artist : ndarray, shape (n_items,), optional
        Artist index of each track, -1 when unknown; used when no vectors are given.
    """

    name = "mmr"

    def __init__(self, item_vectors: np.ndarray | None = None, track_artist: np.ndarray | None = None):
        if item_vectors is None and track_artist is None:
            raise InputError("MMR needs item_vectors or track_artist to measure similarity; pass one of them")
        self.units = None if item_vectors is None else unit_vectors(item_vectors)
        self.track_artist = None if track_artist is None else np.asarray(track_artist, dtype=np.int64)

    def similarities(self, candidates: np.ndarray) -> np.ndarray:
        """Return the (M, M) similarity matrix of the candidates."""
        if self.units is not None:
            vectors = self.units[candidates]
            return vectors @ vectors.T
        artists = self.track_artist[candidates]
        return ((artists[:, None] == artists[None, :]) & (artists[:, None] >= 0)).astype(np.float64)

    def _rerank(self, candidates, relevance, N, strength, history, history_weights):
        similarity = self.similarities(candidates)
        state = {"max": np.zeros(len(candidates))}

        def step(chosen: list[int], remaining: np.ndarray) -> int:
            if chosen:
                state["max"] = np.maximum(state["max"], similarity[:, chosen[-1]])
            return argmax_remaining((1 - strength) * relevance - strength * state["max"], remaining)

        return greedy_order(candidates, N, step)
