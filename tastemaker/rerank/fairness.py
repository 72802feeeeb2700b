"""Artist-exposure fairness amortised over many lists.

The re-ranker keeps the exposure every artist has received in the lists it
has produced so far, rank r (from 1) counting 1 / log2(r + 1) as in the
audit. It builds each new list greedily: each position takes the candidate
that maximises

    (1 - strength) * relevance(i) - strength * penalty(artist(i))

with penalty(a) = log(1 + E_a / m) / log(1 + E_max / m), where E_a is the
artist's exposure so far, E_max the largest and m the mean over artists with
any exposure. The penalty is 0 for an artist never shown and 1 for the most
shown one; exposure placed earlier in the same list counts too. Fairness is
therefore amortised over the whole sequence of lists, not enforced within
each one. Call ``reset()`` to start a new sequence.
"""

from __future__ import annotations

import numpy as np

from ..audit.exposure import position_weights
from ..errors import InputError
from .base import Reranker, argmax_remaining


class ArtistFairnessReranker(Reranker):
    """Spread exposure across artists over a sequence of lists.

    Parameters
    ----------
    track_artist : ndarray, shape (n_items,)
        Artist index of each track; -1 when unknown (never penalised).
    n_artists : int, optional
        Number of artists; defaults to the largest index plus one.
    """

    name = "fairness"

    def __init__(self, track_artist: np.ndarray, n_artists: int | None = None):
        self.track_artist = np.asarray(track_artist, dtype=np.int64)
        known = self.track_artist[self.track_artist >= 0]
        size = int(known.max()) + 1 if len(known) else 0
        self.n_artists = size if n_artists is None else n_artists
        if size > self.n_artists:
            raise InputError(f"track_artist refers to artist {size - 1} but n_artists is {self.n_artists}")
        self.reset()

    def reset(self) -> None:
        self.exposure_ = np.zeros(self.n_artists, dtype=np.float64)
        self._total = 0.0
        self._exposed = 0
        self._max = 0.0

    def penalties(self, artists: np.ndarray) -> np.ndarray:
        """Return the current penalty in [0, 1] of each artist index (-1 gets 0)."""
        result = np.zeros(len(artists), dtype=np.float64)
        if self._max <= 0:
            return result
        mean = self._total / self._exposed
        known = artists >= 0
        result[known] = np.log1p(self.exposure_[artists[known]] / mean) / np.log1p(self._max / mean)
        return result

    def _record(self, artist: int, weight: float) -> None:
        if artist < 0:
            return
        if self.exposure_[artist] == 0:
            self._exposed += 1
        self.exposure_[artist] += weight
        self._total += weight
        self._max = max(self._max, self.exposure_[artist])

    def _rerank(self, candidates, relevance, N, strength, history, history_weights):
        artists = self.track_artist[candidates]
        weights = position_weights(N, "log")
        remaining = np.ones(len(candidates), dtype=bool)
        chosen = []
        for rank in range(N):
            value = (1 - strength) * relevance - strength * self.penalties(artists)
            position = argmax_remaining(value, remaining)
            remaining[position] = False
            chosen.append(position)
            self._record(int(artists[position]), float(weights[rank]))
        return candidates[np.asarray(chosen, dtype=np.int64)]
