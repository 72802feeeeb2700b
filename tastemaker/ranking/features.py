"""Features of (playlist, candidate track) pairs for the learning-to-rank model.

Every feature is computed from the seeds, the title and the fitted signals,
never from the hidden tracks, so the same function serves training and
serving. Missing values are NaN, which LightGBM treats as missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..models.implicit_models import ALSRecommender
from ..models.item2vec import Item2VecRecommender
from ..models.playlist_knn import PlaylistKNNRecommender
from ..models.title import TitleModel
from ..retrieval.merge import Candidates
from ..signals.audio import AudioFeatureMatrix, distance_to_seeds_pairs
from ..signals.cooccurrence import seed_similarity_pairs
from ..signals.titles import normalise_title

PAIR_FEATURES = (
    "n_sources", "best_rank", "log_popularity", "artist_seed_share", "artist_popularity_share",
    "cooc_max", "cooc_mean", "item2vec_centroid", "als_dot", "audio_distance", "title_evidence",
    "seed_count", "has_title", "als_seed_max", "als_seed_mean", "item2vec_seed_max", "als_dot_row_rank",
    "cooc_max_row_rank", "knn_all_score", "album_seed_share",
)


@dataclass
class Signals:
    """The fitted signals the features read."""

    als: ALSRecommender
    item2vec: Item2VecRecommender
    cooc_weights: sp.csr_matrix
    title: TitleModel
    track_artist: np.ndarray
    popularity: np.ndarray
    audio: AudioFeatureMatrix | None = None
    knn: PlaylistKNNRecommender | None = None
    track_album: np.ndarray | None = None


@dataclass
class Evidence:
    """Evidence the features compare candidates with, computed once per chunk of playlists.

    ``rows`` are the seeds, or for a playlist without seeds the tracks its
    title suggests; the ALS factors and item2vec centroids are folded from them.
    """

    rows: sp.csr_matrix
    als_factors: np.ndarray
    centroids: np.ndarray
    has_centroid: np.ndarray
    neighbour_scores: np.ndarray | None = None  # (k, n_items) playlist-neighbour votes, -inf for none

    @classmethod
    def of(cls, rows: sp.csr_matrix, signals: Signals) -> "Evidence":
        centroids, valid = signals.item2vec.row_vectors(rows)
        neighbour_scores = None if signals.knn is None else signals.knn._scores(rows)
        return cls(rows, signals.als.user_factors_for(rows), centroids, valid, neighbour_scores)


def feature_names(sources: tuple[str, ...]) -> list[str]:
    return [f"{s}_{kind}" for s in sources for kind in ("score", "rank")] + list(PAIR_FEATURES)


def build_features(candidates: Candidates, seed_rows: sp.csr_matrix, titles: list[str | None],
                   signals: Signals, title_scores: np.ndarray | None = None,
                   evidence: Evidence | None = None) -> np.ndarray:
    """Return the (m, n_features) float32 feature matrix of the candidates, columns as ``feature_names``.

    ``title_scores`` (k, n_items) may be passed when the caller already
    scored the titles, to avoid doing it twice. ``evidence`` contains what the
    similarity features compare each candidate with (by default the seeds);
    ``seed_count`` always counts the real seeds.
    """
    if evidence is None:
        evidence = Evidence.of(seed_rows, signals)
    evidence_rows = evidence.rows
    rows, items = candidates.rows, candidates.items
    seed_count = np.diff(seed_rows.indptr).astype(np.float32)
    columns: list[np.ndarray] = []
    for s in range(len(candidates.sources)):
        columns.append(candidates.scores[:, s])
        columns.append(candidates.ranks[:, s])

    columns.append((~np.isnan(candidates.ranks)).sum(axis=1).astype(np.float32))
    columns.append(np.nanmin(np.where(np.isnan(candidates.ranks), np.inf, candidates.ranks), axis=1))
    columns.append(np.log1p(signals.popularity[items]))
    columns.extend(_artist_features(rows, items, evidence_rows, signals.track_artist, signals.popularity))

    cooc_max, cooc_mean = seed_similarity_pairs(signals.cooc_weights, evidence_rows, rows, items)
    columns.extend([cooc_max, cooc_mean])

    unit = signals.item2vec.unit_vectors
    similarity = np.einsum("ij,ij->i", evidence.centroids[rows], unit[items])
    similarity[~evidence.has_centroid[rows] | ~signals.item2vec.has_vector[items]] = np.nan
    columns.append(similarity)

    als_score = np.einsum("ij,ij->i", evidence.als_factors[rows], signals.als.track_factors[items])
    als_score[np.diff(evidence_rows.indptr)[rows] == 0] = np.nan
    columns.append(als_score)

    if signals.audio is not None:
        columns.append(distance_to_seeds_pairs(signals.audio, evidence_rows, rows, items))
    else:
        columns.append(np.full(len(rows), np.nan, dtype=np.float32))

    if title_scores is None:
        title_scores = signals.title.scores_for_titles(titles).scores
    title_score = title_scores[rows, items]
    columns.append(np.where(np.isfinite(title_score), title_score, np.nan))

    columns.append(seed_count[rows])
    has_title = np.array([bool(normalise_title(t)) for t in titles], dtype=np.float32)
    columns.append(has_title[rows])

    als_max, als_mean = seed_vector_similarity(signals.als.unit_track_factors, evidence_rows, rows, items)
    i2v_max, _ = seed_vector_similarity(unit, evidence_rows, rows, items, signals.item2vec.has_vector)
    columns.extend([als_max, als_mean, i2v_max, _rank_within_rows(rows, als_score),
                    _rank_within_rows(rows, cooc_max)])
    if evidence.neighbour_scores is None:
        columns.append(np.full(len(rows), np.nan, dtype=np.float32))
    else:
        votes = evidence.neighbour_scores[rows, items]
        columns.append(np.where(np.isfinite(votes), votes, 0.0).astype(np.float32))
    if signals.track_album is None:
        columns.append(np.full(len(rows), np.nan, dtype=np.float32))
    else:
        columns.append(seed_share_of_key(rows, items, evidence_rows, signals.track_album))
    return np.column_stack(columns).astype(np.float32)


def seed_vector_similarity(unit: np.ndarray, seed_rows: sp.csr_matrix, rows: np.ndarray, items: np.ndarray,
                           has_vector: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the largest and the mean cosine similarity of each candidate to its playlist's seeds.

    ``unit`` contains unit-length track vectors. Seeds or candidates without a
    vector (``has_vector`` False) are left out; a pair with none gets NaN.
    """
    maximum = np.full(len(rows), np.nan, dtype=np.float32)
    mean = np.full(len(rows), np.nan, dtype=np.float32)
    order = np.argsort(rows, kind="stable")
    present, starts = np.unique(rows[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    for row, start, end in zip(present, starts, ends):
        seeds = seed_rows.indices[seed_rows.indptr[row]:seed_rows.indptr[row + 1]]
        if has_vector is not None:
            seeds = seeds[has_vector[seeds]]
        if len(seeds) == 0:
            continue
        positions = order[start:end]
        similarity = unit[items[positions]] @ unit[seeds].T
        maximum[positions] = similarity.max(axis=1)
        mean[positions] = similarity.mean(axis=1)
    if has_vector is not None:
        maximum[~has_vector[items]] = np.nan
        mean[~has_vector[items]] = np.nan
    return maximum, mean


def _rank_within_rows(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return each value's rank among the candidates of its row, 0 for the largest; NaN stays NaN."""
    filled = np.where(np.isnan(values), -np.inf, values)
    order = np.lexsort((-filled, rows))
    starts = np.searchsorted(rows[order], rows[order], side="left")
    ranks = np.empty(len(rows), dtype=np.float32)
    ranks[order] = np.arange(len(order)) - starts
    ranks[np.isnan(values)] = np.nan
    return ranks


def seed_share_of_key(rows: np.ndarray, items: np.ndarray, seed_rows: sp.csr_matrix, track_key: np.ndarray
                      ) -> np.ndarray:
    """Return the share of each candidate's playlist seeds that have its key (artist or album).

    A key of -1 means unknown: such a candidate gets NaN, and such a seed
    counts in the denominator but matches nothing.
    """
    share = np.full(len(rows), np.nan, dtype=np.float32)
    key_of_item = track_key[items]
    order = np.argsort(rows, kind="stable")
    present, starts = np.unique(rows[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    for row, start, end in zip(present, starts, ends):
        seeds = seed_rows.indices[seed_rows.indptr[row]:seed_rows.indptr[row + 1]]
        if len(seeds) == 0:
            continue
        positions = order[start:end]
        seed_keys = track_key[seeds]
        seed_keys = seed_keys[seed_keys >= 0]
        share[positions] = 0.0
        if len(seed_keys):
            values, counts = np.unique(seed_keys, return_counts=True)
            found = np.searchsorted(values, key_of_item[positions]).clip(0, len(values) - 1)
            matched = values[found] == key_of_item[positions]
            share[positions] = np.where(matched, counts[found], 0) / len(seeds)
    share[key_of_item < 0] = np.nan
    return share


def _artist_features(rows: np.ndarray, items: np.ndarray, seed_rows: sp.csr_matrix, track_artist: np.ndarray,
                     popularity: np.ndarray) -> list[np.ndarray]:
    """Return the share of the seeds by the candidate's artist, and the artist's share of its own plays."""
    seed_share = seed_share_of_key(rows, items, seed_rows, track_artist)
    artist_of_item = track_artist[items]
    known = track_artist >= 0
    artist_totals = np.bincount(track_artist[known], weights=popularity[known],
                                minlength=int(track_artist.max()) + 1 if known.any() else 0)
    track_share = np.full(len(items), np.nan, dtype=np.float32)
    has_artist = artist_of_item >= 0
    totals = artist_totals[artist_of_item[has_artist]]
    track_share[has_artist] = popularity[items[has_artist]] / np.maximum(totals, 1.0)
    return [seed_share, track_share]
