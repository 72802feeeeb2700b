"""Sparse track-track and artist-artist co-occurrence, and features of candidates against seeds.

Two tracks co-occur once for every playlist that contains both. The raw
counts ``X.T @ X`` of a binary playlist-by-track matrix ``X`` are computed in
blocks of rows, without the diagonal, and optionally re-weighted:

* ``"count"``: the number of playlists that contain both tracks.
* ``"ppmi"``: positive pointwise mutual information with playlists as the
  sampling unit, ``max(0, log(c_ij * N / (n_i * n_j)))``, where ``N`` is the
  number of playlists and ``n_i`` the number that contain track i. It is
  largest for rare pairs: two tracks seen once, together, get ``log N``.
  ``min_count=2`` drops such pairs.
* ``"bm25"``: ``sum`` over the playlists that contain i of the BM25 weight of
  track j in that playlist, with term frequency 1, the always-positive
  ``idf_j = log(1 + (N - n_j + 0.5) / (n_j + 0.5))`` and length
  normalisation by the playlist's length. Unlike the others it is not
  symmetric.

Row i of the result lists the tracks that co-occur with track i. With
``top_k`` only the k largest weights of each row are kept, so memory is at
most ``n_items * top_k`` entries and the pruned matrix is no longer symmetric.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from .idmap import IdMap

WEIGHTINGS = ("count", "ppmi", "bm25")
MAX_BLOCK_PAIRS = 10_000_000  # bound on the track pairs one block multiplies, about 120 MB of intermediate


def cooccurrence(matrix: sp.spmatrix, weighting: str = "ppmi", top_k: int | None = None, min_count: int = 1,
                 K1: float = 1.2, B: float = 0.75, max_block_pairs: int = MAX_BLOCK_PAIRS) -> sp.csr_matrix:
    """Compute weighted co-occurrence between the columns of a binary matrix.

    Parameters
    ----------
    matrix : sparse matrix, shape (n_rows, n_items)
        Playlists (or users) by tracks; any non-zero entry counts as 1.
    weighting : {"count", "ppmi", "bm25"}
    top_k : int or None
        Keep only the ``top_k`` largest weights per row; ties go to the lower
        column index. None keeps every pair.
    min_count : int
        Pairs that co-occur in fewer rows are dropped before weighting.
    K1, B : float
        BM25 parameters, used only by ``"bm25"``.
    max_block_pairs : int
        Rows of the result are computed in blocks whose product has at most
        about this many entries before summing, to bound memory.

    Returns
    -------
    csr_matrix, shape (n_items, n_items), float32
        Zero diagonal; only positive weights are stored.
    """
    if weighting not in WEIGHTINGS:
        raise InputError(f"unknown co-occurrence weighting {weighting!r}; choose one of: {', '.join(WEIGHTINGS)}")
    if top_k is not None and top_k < 1:
        raise InputError(f"top_k must be a positive integer or None, got {top_k!r}")
    X = _binary(matrix)
    n_rows, n_items = X.shape
    item_counts = np.asarray(X.sum(axis=0)).ravel()
    row_lengths = np.diff(X.indptr).astype(np.float64)

    left = X.T.tocsr()  # items by rows
    if weighting == "bm25":
        average = row_lengths.mean() if n_rows else 1.0
        row_weight = (K1 + 1.0) / (K1 * (1.0 - B + B * row_lengths / average) + 1.0)
        weighted_left = (left @ sp.diags(row_weight)).tocsr()
        idf = np.log1p((n_rows - item_counts + 0.5) / (item_counts + 0.5))

    blocks = []
    for start, stop in _blocks(left, row_lengths, max_block_pairs):
        counts = _drop_diagonal((left[start:stop] @ X).tocsr(), start)
        if min_count > 1:
            counts.data[counts.data < min_count] = 0
            counts.eliminate_zeros()
        if weighting == "count":
            weights = counts
        elif weighting == "ppmi":
            weights = _ppmi(counts, start, item_counts, n_rows)
        else:
            weights = _drop_diagonal((weighted_left[start:stop] @ X).tocsr(), start)
            if min_count > 1:
                weights = weights.multiply(counts > 0).tocsr()
            weights = (weights @ sp.diags(idf)).tocsr()
        if top_k is not None:
            weights = keep_top_k(weights, top_k)
        blocks.append(weights.astype(np.float32))
    if not blocks:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    return sp.vstack(blocks, format="csr")


def artist_cooccurrence(matrix: sp.spmatrix, track_artist: np.ndarray, n_artists: int | None = None,
                        **options) -> sp.csr_matrix:
    """Compute co-occurrence between artists: two artists co-occur in a playlist with tracks by both.

    Parameters
    ----------
    matrix : sparse matrix, shape (n_rows, n_items)
    track_artist : ndarray, shape (n_items,), int
        Artist index of each track; -1 for a track whose artist is unknown.
    n_artists : int, optional
        Number of artists; defaults to ``track_artist.max() + 1``.
    **options
        Passed to :func:`cooccurrence` (weighting, top_k, min_count, ...).

    Returns
    -------
    csr_matrix, shape (n_artists, n_artists), float32
    """
    return cooccurrence(playlist_artists(matrix, track_artist, n_artists), **options)


def playlist_artists(matrix: sp.spmatrix, track_artist: np.ndarray, n_artists: int | None = None) -> sp.csr_matrix:
    """Return the binary rows-by-artists matrix, shape (n_rows, n_artists)."""
    X = _binary(matrix)
    track_artist = np.asarray(track_artist, dtype=np.int64)
    if track_artist.shape != (X.shape[1],):
        raise InputError(f"track_artist must have one entry per track ({X.shape[1]}), got shape {track_artist.shape}")
    if n_artists is None:
        n_artists = int(track_artist.max()) + 1 if len(track_artist) else 0
    known = np.flatnonzero(track_artist >= 0)
    if len(known) and track_artist[known].max() >= n_artists:
        raise InputError(f"track_artist refers to artist {track_artist[known].max()} but n_artists is {n_artists}")
    to_artist = sp.csr_matrix((np.ones(len(known), dtype=np.float32), (known, track_artist[known])),
                              shape=(X.shape[1], n_artists))
    return _binary(X @ to_artist)


def track_artist_index(tracks: IdMap, track_uris: Sequence[str], artists: Sequence[str | None]
                       ) -> tuple[np.ndarray, IdMap]:
    """Map each track of ``tracks`` to a dense artist index.

    Parameters
    ----------
    tracks : IdMap
        The track axis of the matrix, n_items ids.
    track_uris, artists : sequences of equal length
        Artist key of each track, such as the columns of ``Store.track_artists()``;
        None for an unknown artist. Tracks not listed get -1.

    Returns
    -------
    track_artist : ndarray, shape (n_items,), int64
    artist_ids : IdMap
        The artist keys in index order (sorted).
    """
    names = sorted({a for a in artists if a is not None})
    artist_ids = IdMap(names)
    track_artist = np.full(len(tracks), -1, dtype=np.int64)
    for uri, artist in zip(track_uris, artists):
        position = tracks.get(uri)
        if position >= 0 and artist is not None:
            track_artist[position] = artist_ids.index(artist)
    return track_artist, artist_ids


def seed_similarity(weights: sp.csr_matrix, seeds: np.ndarray | Sequence[int],
                    candidates: np.ndarray | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Return the max and mean co-occurrence weight of each candidate with the seeds.

    The weight of candidate c with seed s is ``weights[s, c]``, so with a
    ``top_k`` matrix a candidate counts only when it is among the seed's
    neighbours. A seed listed twice counts once.

    Parameters
    ----------
    weights : csr_matrix, shape (n, n)
        Non-negative weights from :func:`cooccurrence`.
    seeds : array of int, shape (s,)
        Negative entries (unknown seeds, such as a track without an artist)
        are ignored.
    candidates : array of int, shape (c,)
        Negative entries get NaN.

    Returns
    -------
    max, mean : ndarray, shape (c,), float32
        NaN for every candidate when no seed is valid.
    """
    seeds = np.unique(np.asarray(seeds, dtype=np.int64))
    seeds = seeds[seeds >= 0]
    candidates = np.asarray(candidates, dtype=np.int64)
    maximum = np.full(len(candidates), np.nan, dtype=np.float32)
    mean = np.full(len(candidates), np.nan, dtype=np.float32)
    valid = candidates >= 0
    if len(seeds) == 0 or not valid.any():
        return maximum, mean
    block = weights[seeds][:, candidates[valid]]
    maximum[valid] = block.max(axis=0).toarray().ravel()
    mean[valid] = np.asarray(block.sum(axis=0)).ravel() / len(seeds)
    return maximum, mean


def seed_similarity_pairs(weights: sp.csr_matrix, seed_rows: sp.csr_matrix, pair_rows: np.ndarray,
                          pair_items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply :func:`seed_similarity` to (playlist, candidate) pairs of many playlists.

    Parameters
    ----------
    weights : csr_matrix, shape (n, n)
    seed_rows : csr_matrix, shape (k, n)
        Row r contains the seeds of playlist r as its non-zero columns.
    pair_rows : ndarray, shape (m,), int
        Playlist row of each pair.
    pair_items : ndarray, shape (m,), int
        Candidate of each pair.

    Returns
    -------
    max, mean : ndarray, shape (m,), float32
    """
    pair_rows = np.asarray(pair_rows, dtype=np.int64)
    pair_items = np.asarray(pair_items, dtype=np.int64)
    maximum = np.full(len(pair_rows), np.nan, dtype=np.float32)
    mean = np.full(len(pair_rows), np.nan, dtype=np.float32)
    order = np.argsort(pair_rows, kind="stable")
    rows, starts = np.unique(pair_rows[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    for row, start, end in zip(rows, starts, ends):
        positions = order[start:end]
        seeds = seed_rows.indices[seed_rows.indptr[row]:seed_rows.indptr[row + 1]]
        maximum[positions], mean[positions] = seed_similarity(weights, seeds, pair_items[positions])
    return maximum, mean


def keep_top_k(weights: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of each row; ties go to the lower column index.

    Each row longer than k is partitioned on its own, in O(row length), to
    find its k-th largest value; the selection itself is vectorised.
    """
    weights = weights.tocsr()
    weights.sort_indices()
    lengths = np.diff(weights.indptr)
    long_rows = np.flatnonzero(lengths > k)
    if len(long_rows) == 0:
        return weights
    data, indptr = weights.data, weights.indptr
    threshold = np.zeros(weights.shape[0], dtype=data.dtype)
    above_count = np.zeros(weights.shape[0], dtype=np.int64)
    for row in long_rows:
        values = data[indptr[row]:indptr[row + 1]]
        threshold[row] = np.partition(values, len(values) - k)[len(values) - k]
        above_count[row] = np.count_nonzero(values > threshold[row])

    row_of_entry = np.repeat(np.arange(weights.shape[0]), lengths)
    is_long = lengths[row_of_entry] > k
    entry_threshold = threshold[row_of_entry]
    tied = is_long & (data == entry_threshold)
    # Rank of each tied entry among its row's tied entries, in column order.
    tied_before = np.concatenate([[0], np.cumsum(tied)])
    tied_rank = tied_before[1:] - 1 - tied_before[indptr[:-1]][row_of_entry]
    keep = ~is_long | (data > entry_threshold) | (tied & (tied_rank < k - above_count[row_of_entry]))
    kept_lengths = np.bincount(row_of_entry[keep], minlength=weights.shape[0])
    indptr = np.concatenate([[0], np.cumsum(kept_lengths)])
    return sp.csr_matrix((data[keep], weights.indices[keep], indptr), shape=weights.shape)


def _ppmi(counts: sp.csr_matrix, start: int, item_counts: np.ndarray, n_rows: int) -> sp.csr_matrix:
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr)) + start
    expected = item_counts[rows].astype(np.float64) * item_counts[counts.indices]
    pmi = np.log(counts.data.astype(np.float64) * n_rows / expected)
    weights = sp.csr_matrix((np.maximum(pmi, 0.0), counts.indices, counts.indptr), shape=counts.shape)
    weights.eliminate_zeros()
    return weights


def _drop_diagonal(block: sp.csr_matrix, start: int) -> sp.csr_matrix:
    """Remove the entries (i, start + i) of a block that starts at row ``start`` of a square matrix."""
    rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
    block.data[block.indices == rows + start] = 0
    block.eliminate_zeros()
    return block


def _blocks(left: sp.csr_matrix, row_lengths: np.ndarray, max_block_pairs: int) -> list[tuple[int, int]]:
    """Split the items into consecutive blocks whose products stay near ``max_block_pairs`` entries.

    Item i multiplies ``sum of len(p) over its playlists p`` pairs; an item
    above the bound gets a block of its own.
    """
    pairs = np.asarray(left @ row_lengths).ravel()
    n_items = left.shape[0]
    blocks, start, total = [], 0, 0.0
    for item in range(n_items):
        if item > start and total + pairs[item] > max_block_pairs:
            blocks.append((start, item))
            start, total = item, 0.0
        total += pairs[item]
    if n_items:
        blocks.append((start, n_items))
    return blocks


def _binary(matrix: sp.spmatrix) -> sp.csr_matrix:
    if not sp.issparse(matrix):
        raise InputError(f"matrix must be a scipy sparse matrix, got {type(matrix).__name__}")
    X = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    X.sum_duplicates()
    X.eliminate_zeros()
    X.data[:] = 1.0
    return X
