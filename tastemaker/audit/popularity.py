"""Popularity bias of recommended lists: popularity lift and novelty.

``popularity`` is the number of training rows (playlists or users) that
contain each track, as ``Recommender.item_popularity_`` stores it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from .exposure import _as_lists


def list_mean(lists: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over the tracks of each list; NaN for an empty list. Shape (k,)."""
    lists = _as_lists(lists)
    valid = lists >= 0
    picked = np.where(valid, np.asarray(values, dtype=np.float64)[np.where(valid, lists, 0)], 0.0)
    counts = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, picked.sum(axis=1) / np.maximum(counts, 1), np.nan)


def history_mean(histories: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over the tracks of each history row (unweighted); NaN for an empty row."""
    histories = sp.csr_matrix(histories)
    binary = histories.copy()
    binary.data = np.ones_like(binary.data, dtype=np.float64)
    counts = np.diff(binary.indptr)
    sums = binary @ np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def popularity_lift(list_popularity: np.ndarray, history_popularity: np.ndarray) -> float:
    """Mean popularity recommended over mean popularity in the histories, for one group of rows.

    Both inputs are per-row means (``list_mean`` and ``history_mean``); rows
    where either is NaN are left out. 1.0 means the lists are as popular as
    what the users already had; above 1 the recommender pushes popular tracks.
    Some papers report the same ratio less one, as a relative change.
    """
    both = ~np.isnan(list_popularity) & ~np.isnan(history_popularity)
    denominator = history_popularity[both].mean() if both.any() else np.nan
    if not both.any() or denominator <= 0:
        return float("nan")
    return float(list_popularity[both].mean() / denominator)


def self_information(popularity: np.ndarray, n_users: int) -> np.ndarray:
    """Self-information -log2(popularity / n_users) of each track, in bits.

    Tracks no training row contains are counted as if one did, so the value
    stays finite (log2(n_users) at most).
    """
    if n_users <= 0:
        raise InputError(f"n_users must be positive, got {n_users}")
    popularity = np.maximum(np.asarray(popularity, dtype=np.float64), 1.0)
    return np.log2(n_users / popularity)


def novelty(lists: np.ndarray, popularity: np.ndarray, n_users: int) -> np.ndarray:
    """Mean self-information of each list's tracks; NaN for an empty list. Shape (k,)."""
    return list_mean(lists, self_information(popularity, n_users))
