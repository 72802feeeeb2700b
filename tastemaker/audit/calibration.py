"""Calibration error: how far a list's category mix is from the mix of the history it was made for.

Steck (2018, "Calibrated recommendations") measures it as the Kullback-Leibler
divergence KL(p || q~) = sum_g p(g) log(p(g) / q~(g)), where p is the category
distribution of the user's history, q that of the list, and
q~ = (1 - alpha) q + alpha p with a small alpha keeps the divergence finite
when the list misses a category of the history. Categories are genres in the
paper. MPD has none, so tastemaker uses the artist there, and the tags of
artists where a source such as HetRec Last.fm provides them.

An item's categories are one row of an (n_items, n_categories) CSR matrix
whose non-empty rows sum to 1; an item with no known category has an empty
row and adds nothing to either distribution.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from .exposure import _as_lists

STECK_ALPHA = 0.01


def one_hot_categories(item_category: np.ndarray, n_categories: int | None = None) -> sp.csr_matrix:
    """Build the category matrix of items that each have one category (such as an artist); -1 means unknown."""
    item_category = np.asarray(item_category, dtype=np.int64)
    known = np.flatnonzero(item_category >= 0)
    size = int(item_category[known].max()) + 1 if len(known) else 0
    n_categories = size if n_categories is None else n_categories
    if size > n_categories:
        raise InputError(f"item_category refers to category {size - 1} but n_categories is {n_categories}")
    return sp.csr_matrix((np.ones(len(known)), (known, item_category[known])),
                         shape=(len(item_category), n_categories))


def weighted_categories(items: np.ndarray, categories: np.ndarray, weights: np.ndarray, n_items: int,
                        n_categories: int) -> sp.csr_matrix:
    """Build a category matrix from (item, category, weight) triples, each item's row normalised to sum 1.

    For tags, the weight of a (artist, tag) pair is how many users applied it.
    """
    matrix = sp.csr_matrix((np.asarray(weights, dtype=np.float64), (items, categories)),
                           shape=(n_items, n_categories))
    matrix.sum_duplicates()
    return normalise_rows(matrix)


def normalise_rows(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Scale each row of a non-negative matrix to sum 1; empty rows stay empty."""
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def history_distribution(histories: sp.csr_matrix, item_categories: sp.csr_matrix) -> sp.csr_matrix:
    """Category distribution p of each history row, each item weighted by its value in the row."""
    return normalise_rows(sp.csr_matrix(histories, dtype=np.float64) @ item_categories)


def list_distribution(lists: np.ndarray, item_categories: sp.csr_matrix) -> sp.csr_matrix:
    """Category distribution q of each recommended list, every position weighted equally."""
    lists = _as_lists(lists)
    return normalise_rows(lists_matrix(lists, item_categories.shape[0]) @ item_categories)


def lists_matrix(lists: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Turn (k, N) lists into a binary (k, n_items) CSR matrix; -1 slots are dropped."""
    lists = _as_lists(lists)
    rows, positions = np.nonzero(lists >= 0)
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, lists[rows, positions])), shape=(lists.shape[0], n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def kl_divergence(p: np.ndarray, q: np.ndarray, alpha: float = STECK_ALPHA) -> float:
    """KL(p || (1 - alpha) q + alpha p) in nats for two distributions over the same categories."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise InputError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    if not 0 <= alpha <= 1:
        raise InputError(f"alpha must be in [0, 1], got {alpha}")
    support = p > 0
    mixed = (1 - alpha) * q[support] + alpha * p[support]
    with np.errstate(divide="ignore"):
        return float(np.sum(p[support] * np.log(p[support] / mixed)))


def calibration_error(lists: np.ndarray, histories: sp.csr_matrix, item_categories: sp.csr_matrix,
                      alpha: float = STECK_ALPHA) -> np.ndarray:
    """Steck's calibration KL of each list against its history row; NaN where either has no category.

    Returns an array of shape (k,) in nats.
    """
    lists = _as_lists(lists)
    if histories.shape[0] != lists.shape[0]:
        raise InputError(f"histories has {histories.shape[0]} rows but lists has {lists.shape[0]}")
    p = history_distribution(histories, item_categories).tocoo()
    q = list_distribution(lists, item_categories).tocsr()
    q_at_p = np.asarray(q[p.row, p.col]).ravel() if p.nnz else np.zeros(0)
    mixed = (1 - alpha) * q_at_p + alpha * p.data
    with np.errstate(divide="ignore"):
        terms = p.data * np.log(p.data / mixed)
    errors = np.bincount(p.row, weights=terms, minlength=lists.shape[0])
    has_p = np.bincount(p.row, minlength=lists.shape[0]) > 0
    has_q = np.diff(q.indptr) > 0
    return np.where(has_p & has_q, errors, np.nan)
