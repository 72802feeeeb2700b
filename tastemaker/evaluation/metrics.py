"""Ranking metrics of the RecSys Challenge 2018, for one recommended list against the hidden tracks.

``recommended`` is an ordered sequence of track ids (no duplicates) and
``hidden`` the set of withheld track ids, which may include tracks the model
has never seen: they still count in the denominator, as in the challenge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLICKS_PAGE = 10  # the challenge's Recommended Songs feature shows 10 tracks per refresh


def r_precision(recommended: Sequence, hidden: set) -> float:
    """Share of the hidden tracks found among the first ``len(hidden)`` recommendations.

    This is the track-level R-precision; the challenge's variant also gives
    0.25 credit per matching artist, which this function does not.
    """
    if not hidden:
        raise ValueError("hidden must not be empty")
    return len(hidden.intersection(recommended[: len(hidden)])) / len(hidden)


def ndcg(recommended: Sequence, hidden: set) -> float:
    """Normalised discounted cumulative gain with binary relevance over the whole list."""
    if not hidden:
        raise ValueError("hidden must not be empty")
    gains = np.fromiter((item in hidden for item in recommended), dtype=np.float64, count=len(recommended))
    discounts = 1.0 / np.log2(np.arange(2, len(recommended) + 2))
    dcg = float(gains @ discounts)
    ideal = float(discounts[: min(len(hidden), len(recommended))].sum())
    return dcg / ideal if ideal > 0 else 0.0


def clicks(recommended: Sequence, hidden: set, page: int = CLICKS_PAGE) -> int:
    """Refreshes of a 10-track page needed before a hidden track appears; 51 when none of 500 does."""
    for rank, item in enumerate(recommended):
        if item in hidden:
            return rank // page
    return len(recommended) // page + 1


def recall_at(recommended: Sequence, hidden: set, k: int) -> float:
    """Share of the hidden tracks among the first k recommendations."""
    if not hidden:
        raise ValueError("hidden must not be empty")
    return len(hidden.intersection(recommended[:k])) / len(hidden)
