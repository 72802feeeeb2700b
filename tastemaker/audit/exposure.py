"""Exposure of tracks and artists in recommended lists, and how concentrated it is.

A batch of recommended lists is a (k, N) integer array of track indices, best
first, where -1 marks an empty slot. Exposure is the attention a slot gets.
``"uniform"`` counts every slot once. ``"log"`` weighs rank r (from 1) by
1 / log2(r + 1), the position discount of DCG, because listeners attend to
the top of a list more than to its end.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

WEIGHTINGS = ("uniform", "log")


def position_weights(N: int, weighting: str = "log") -> np.ndarray:
    """Return the exposure of ranks 1..N under ``weighting``."""
    if weighting not in WEIGHTINGS:
        raise InputError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if weighting == "uniform":
        return np.ones(N, dtype=np.float64)
    return 1.0 / np.log2(np.arange(2, N + 2, dtype=np.float64))


def track_exposure(lists: np.ndarray, n_items: int, weighting: str = "log") -> np.ndarray:
    """Sum the exposure each of ``n_items`` tracks receives over all lists; shape (n_items,)."""
    lists = _as_lists(lists)
    weights = np.broadcast_to(position_weights(lists.shape[1], weighting), lists.shape)
    valid = lists >= 0
    if valid.any() and lists[valid].max() >= n_items:
        raise InputError(f"lists refer to track {int(lists[valid].max())} but the catalogue has {n_items} tracks")
    return np.bincount(lists[valid], weights=weights[valid], minlength=n_items).astype(np.float64)


def artist_exposure(exposure: np.ndarray, track_artist: np.ndarray, n_artists: int | None = None) -> np.ndarray:
    """Sum track exposure per artist; tracks whose artist is unknown (-1) are left out."""
    track_artist = np.asarray(track_artist, dtype=np.int64)
    if track_artist.shape != exposure.shape:
        raise InputError(f"track_artist has {track_artist.shape[0]} entries but exposure has {exposure.shape[0]}")
    known = track_artist >= 0
    size = int(track_artist[known].max()) + 1 if known.any() else 0
    n_artists = size if n_artists is None else n_artists
    if size > n_artists:
        raise InputError(f"track_artist refers to artist {size - 1} but n_artists is {n_artists}")
    return np.bincount(track_artist[known], weights=exposure[known], minlength=n_artists).astype(np.float64)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 when all are equal, (n - 1) / n when one has everything.

    Every entry counts, zeros included, so the population is the whole
    catalogue (or every artist), not only what was recommended. Returns 0 for
    an empty or all-zero input.
    """
    values = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if len(values) == 0 or values[-1] <= 0:
        return 0.0
    if values[0] < 0:
        raise InputError(f"gini needs non-negative values, got {values[0]}")
    n = len(values)
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * ranks - n - 1) @ values) / (n * values.sum()))


def top_share(values: np.ndarray, fraction: float = 0.01) -> float:
    """Share of the total that goes to the top ``fraction`` of entries (at least one entry).

    With artist exposure this is the share of exposure taken by the top 1% of
    artists, ranked by the exposure they received.
    """
    if not 0 < fraction <= 1:
        raise InputError(f"fraction must be in (0, 1], got {fraction}")
    values = np.asarray(values, dtype=np.float64).ravel()
    total = values.sum()
    if len(values) == 0 or total <= 0:
        return 0.0
    count = max(1, int(np.floor(fraction * len(values))))
    return float(np.sort(values)[::-1][:count].sum() / total)


def catalogue_coverage(lists: np.ndarray, n_items: int) -> float:
    """Share of the ``n_items`` catalogue tracks that appear in at least one list."""
    lists = _as_lists(lists)
    if n_items <= 0:
        raise InputError(f"n_items must be positive, got {n_items}")
    return len(np.unique(lists[lists >= 0])) / n_items


def long_tail_mask(popularity: np.ndarray, head_share: float = 0.8) -> np.ndarray:
    """Mark the long-tail tracks: all but the most popular ones that together take ``head_share`` of interactions.

    With the default 0.8, the short head is the smallest set of most popular
    tracks with 80% of the training interactions, and the long tail has the
    other 20%. Ties at the boundary go to the head, by lower index.
    """
    if not 0 < head_share < 1:
        raise InputError(f"head_share must be in (0, 1), got {head_share}")
    popularity = np.asarray(popularity, dtype=np.float64)
    order = np.lexsort((np.arange(len(popularity)), -popularity))
    cumulative = np.cumsum(popularity[order])
    total = cumulative[-1] if len(cumulative) else 0.0
    tail = np.ones(len(popularity), dtype=bool)
    if total <= 0:
        return tail
    head_count = int(np.searchsorted(cumulative, head_share * total, side="left")) + 1
    tail[order[:head_count]] = False
    return tail


def long_tail_share(lists: np.ndarray, tail: np.ndarray, weighting: str = "log") -> float:
    """Share of the exposure in ``lists`` that goes to long-tail tracks (``tail`` from ``long_tail_mask``)."""
    exposure = track_exposure(lists, len(tail), weighting)
    total = exposure.sum()
    return float(exposure[tail].sum() / total) if total > 0 else 0.0


def _as_lists(lists: np.ndarray) -> np.ndarray:
    lists = np.asarray(lists)
    if lists.ndim != 2 or not np.issubdtype(lists.dtype, np.integer):
        raise InputError(f"lists must be a (k, N) integer array of track indices, got shape {lists.shape} "
                         f"and dtype {lists.dtype}")
    return lists.astype(np.int64, copy=False)
