"""Diversity within lists and across users: intra-list diversity, homogenisation and the GS-score.

Item vectors are any embedding of the tracks, shape (n_items, d), such as
ALS track factors. Similarity between two tracks is the cosine of their
vectors, and a zero vector is dissimilar to everything.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from .exposure import _as_lists

# Above this many users the pairwise Jaccard is estimated from sampled pairs
# instead of the full (n_users, n_users) intersection matrix.
EXACT_JACCARD_USERS = 2000


def unit_vectors(item_vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length; zero rows stay zero."""
    vectors = np.asarray(item_vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def intra_list_diversity(lists: np.ndarray, item_vectors: np.ndarray) -> np.ndarray:
    """Mean cosine distance (1 - cosine) over all pairs of tracks in each list; NaN below two tracks.

    Uses sum over pairs of u_i . u_j = (|sum u|^2 - sum |u_i|^2) / 2, so a
    list of N tracks costs O(N d), not O(N^2 d). Returns shape (k,).
    """
    lists = _as_lists(lists)
    units = unit_vectors(item_vectors)
    valid = lists >= 0
    picked = np.where(valid[..., None], units[np.where(valid, lists, 0)], 0.0)
    total = picked.sum(axis=1)
    squared_norms = (picked ** 2).sum(axis=(1, 2))
    m = valid.sum(axis=1).astype(np.float64)
    pair_similarity = ((total ** 2).sum(axis=1) - squared_norms) / 2
    pairs = m * (m - 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, 1.0 - pair_similarity / np.maximum(pairs, 1), np.nan)


def artist_diversity(lists: np.ndarray, track_artist: np.ndarray) -> np.ndarray:
    """Share of the pairs of tracks in each list that are by different artists; NaN below two tracks.

    A track whose artist is unknown (-1) counts as its own artist.
    """
    lists = _as_lists(lists)
    track_artist = np.asarray(track_artist, dtype=np.int64)
    result = np.full(lists.shape[0], np.nan)
    for row, items in enumerate(lists):
        items = items[items >= 0]
        m = len(items)
        if m < 2:
            continue
        artists = track_artist[items]
        _, counts = np.unique(artists[artists >= 0], return_counts=True)
        same = float((counts * (counts - 1)).sum()) / 2
        result[row] = 1.0 - same / (m * (m - 1) / 2)
    return result


def jaccard_pairs(sets: sp.csr_matrix, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Jaccard index |A & B| / |A | B| of the rows ``left[i]`` and ``right[i]`` of a binary matrix.

    Two empty sets have Jaccard index 0 here.
    """
    binary = _binary(sets)
    sizes = np.diff(binary.indptr).astype(np.float64)
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    intersection = np.asarray(binary[left].multiply(binary[right]).sum(axis=1)).ravel()
    union = sizes[left] + sizes[right] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def mean_pairwise_jaccard(sets: sp.csr_matrix, max_pairs: int = 200_000, seed: int = 0) -> float:
    """Mean Jaccard index of the consumed sets over all pairs of distinct users.

    This is the homogenisation measure of Chaney, Stewart and Engelhardt
    (2018): it rises as users come to consume the same tracks. With more than
    EXACT_JACCARD_USERS users the mean is estimated from ``max_pairs`` pairs
    drawn uniformly with the given seed.
    """
    binary = _binary(sets)
    n = binary.shape[0]
    if n < 2:
        raise InputError(f"mean pairwise Jaccard needs at least 2 users, got {n}")
    if n <= EXACT_JACCARD_USERS:
        intersection = (binary @ binary.T).toarray()
        sizes = np.diff(binary.indptr).astype(np.float64)
        union = sizes[:, None] + sizes[None, :] - intersection
        upper = np.triu_indices(n, k=1)
        values = np.divide(intersection[upper], union[upper], out=np.zeros(len(upper[0])),
                           where=union[upper] > 0)
        return float(values.mean())
    rng = np.random.default_rng(seed)
    left = rng.integers(0, n, size=max_pairs)
    right = (left + rng.integers(1, n, size=max_pairs)) % n
    return float(jaccard_pairs(binary, left, right).mean())


def generalist_specialist(weights: sp.csr_matrix, item_vectors: np.ndarray) -> np.ndarray:
    """GS-score of each user: the weighted mean cosine similarity of their tracks to their centre.

    Anderson et al. (2020, "Algorithmic effects on the diversity of
    consumption on Spotify") define the centre as the weighted mean of the
    unit track vectors; the score is then the length of that mean. Near 1 the
    user is a specialist (tracks close together), lower is a generalist.
    ``weights`` contains play counts, shape (n_users, n_items). NaN for users
    with no plays. Returns shape (n_users,).
    """
    weights = sp.csr_matrix(weights, dtype=np.float64)
    units = unit_vectors(item_vectors)
    if units.shape[0] != weights.shape[1]:
        raise InputError(f"item_vectors has {units.shape[0]} rows but weights has {weights.shape[1]} columns")
    totals = np.asarray(weights.sum(axis=1)).ravel()
    centres = np.asarray(weights @ units)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.linalg.norm(centres, axis=1) / np.maximum(totals, 1e-300), np.nan)


def _binary(sets: sp.spmatrix) -> sp.csr_matrix:
    binary = sp.csr_matrix(sets, dtype=np.float64, copy=True)
    binary.eliminate_zeros()
    binary.data[:] = 1.0
    return binary
