"""Merging the candidates of several sources, keeping which source proposed each one and how."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class Candidates:
    """Candidate tracks of a batch of playlists, one entry per distinct (playlist, track) pair.

    Attributes
    ----------
    rows : ndarray, shape (m,), int64
        Playlist row of each candidate, ascending.
    items : ndarray, shape (m,), int64
        Track index of each candidate.
    scores, ranks : ndarray, shape (m, n_sources), float32
        Score and 1-based rank under each source; NaN where the source did
        not propose the track.
    sources : tuple of str, length n_sources
    """

    rows: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    ranks: np.ndarray
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.rows)

    def proposed_by(self, source: str) -> np.ndarray:
        return ~np.isnan(self.ranks[:, self.sources.index(source)])


def merge_candidates(results: dict[str, tuple[np.ndarray, np.ndarray]], seed_rows: sp.csr_matrix) -> Candidates:
    """Merge per-source (k, n) id and score arrays into one candidate list per playlist.

    Ids of -1 and the playlist's own seeds are dropped.
    """
    n_rows, n_items = seed_rows.shape
    sources = tuple(results)
    keys, source_index, ranks, scores = [], [], [], []
    for s, (ids, values) in enumerate(results.values()):
        ids = np.asarray(ids, dtype=np.int64)
        rows = np.repeat(np.arange(n_rows), ids.shape[1])
        rank = np.tile(np.arange(1, ids.shape[1] + 1), n_rows)
        flat = ids.ravel()
        keep = flat >= 0
        keys.append(rows[keep] * n_items + flat[keep])
        source_index.append(np.full(int(keep.sum()), s))
        ranks.append(rank[keep])
        scores.append(np.asarray(values, dtype=np.float32).ravel()[keep])
    keys = np.concatenate(keys) if keys else np.array([], dtype=np.int64)
    seed_keys = np.repeat(np.arange(n_rows), np.diff(seed_rows.indptr)) * n_items + seed_rows.indices
    not_seed = ~np.isin(keys, seed_keys)

    unique, position = np.unique(keys[not_seed], return_inverse=True)
    merged_scores = np.full((len(unique), len(sources)), np.nan, dtype=np.float32)
    merged_ranks = np.full((len(unique), len(sources)), np.nan, dtype=np.float32)
    source_index = np.concatenate(source_index)[not_seed] if sources else np.array([], dtype=np.int64)
    merged_scores[position, source_index] = np.concatenate(scores)[not_seed] if sources else []
    merged_ranks[position, source_index] = np.concatenate(ranks)[not_seed] if sources else []
    return Candidates(unique // n_items, unique % n_items, merged_scores, merged_ranks, sources)


def candidate_recall(candidates: Candidates, hidden: list[set[int]], top: int | None = None) -> dict[str, float]:
    """Return the mean share of each playlist's hidden tracks among its candidates, per source and merged.

    ``top`` limits each source to its first ``top`` ranks and the merged list
    to its first ``top`` candidates by best rank over the sources.
    """
    n_rows = len(hidden)
    result = {}
    best_rank = np.nanmin(np.where(np.isnan(candidates.ranks), np.inf, candidates.ranks), axis=1)
    for label, mask in [*((s, candidates.proposed_by(s)) for s in candidates.sources), ("merged", None)]:
        if mask is None:
            keep = _top_per_row(candidates.rows, best_rank, top) if top else np.ones(len(candidates), dtype=bool)
        else:
            ranks = candidates.ranks[:, candidates.sources.index(label)]
            keep = mask & (ranks <= top) if top else mask
        found = np.zeros(n_rows)
        for row, item in zip(candidates.rows[keep], candidates.items[keep]):
            if item in hidden[row]:
                found[row] += 1
        sizes = np.array([max(len(h), 1) for h in hidden])
        has_hidden = np.array([len(h) > 0 for h in hidden])
        result[label] = float((found / sizes)[has_hidden].mean()) if has_hidden.any() else float("nan")
    return result


def _top_per_row(rows: np.ndarray, rank: np.ndarray, top: int) -> np.ndarray:
    order = np.lexsort((rank, rows))
    keep = np.zeros(len(rows), dtype=bool)
    boundaries = np.flatnonzero(np.diff(rows[order])) + 1
    for group in np.split(order, boundaries):
        keep[group[:top]] = True
    return keep
