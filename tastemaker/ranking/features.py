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
from ..models.title import TitleModel
from ..retrieval.merge import Candidates
from ..signals.audio import AudioFeatureMatrix, distance_to_seeds_pairs
from ..signals.cooccurrence import seed_similarity_pairs
from ..signals.titles import normalise_title

PAIR_FEATURES = (
    "n_sources", "best_rank", "log_popularity", "artist_seed_share", "artist_popularity_share",
    "cooc_max", "cooc_mean", "item2vec_centroid", "als_dot", "audio_distance", "title_evidence",
    "seed_count", "has_title",
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


def feature_names(sources: tuple[str, ...]) -> list[str]:
    return [f"{s}_{kind}" for s in sources for kind in ("score", "rank")] + list(PAIR_FEATURES)


def build_features(candidates: Candidates, seed_rows: sp.csr_matrix, titles: list[str | None],
                   signals: Signals, title_scores: np.ndarray | None = None) -> np.ndarray:
    """Return the (m, n_features) float32 feature matrix of the candidates, columns as ``feature_names``.

    ``title_scores`` (k, n_items) may be passed when the caller already
    scored the titles, to avoid doing it twice.
    """
    rows, items = candidates.rows, candidates.items
    seed_count = np.diff(seed_rows.indptr).astype(np.float32)
    columns: list[np.ndarray] = []
    for s in range(len(candidates.sources)):
        columns.append(candidates.scores[:, s])
        columns.append(candidates.ranks[:, s])

    columns.append((~np.isnan(candidates.ranks)).sum(axis=1).astype(np.float32))
    columns.append(np.nanmin(np.where(np.isnan(candidates.ranks), np.inf, candidates.ranks), axis=1))
    columns.append(np.log1p(signals.popularity[items]))
    columns.extend(_artist_features(rows, items, seed_rows, signals.track_artist, signals.popularity))

    cooc_max, cooc_mean = seed_similarity_pairs(signals.cooc_weights, seed_rows, rows, items)
    columns.extend([cooc_max, cooc_mean])

    centroids, valid = signals.item2vec.row_vectors(seed_rows)
    unit = signals.item2vec.unit_vectors
    similarity = np.einsum("ij,ij->i", centroids[rows], unit[items])
    similarity[~valid[rows] | ~signals.item2vec.has_vector[items]] = np.nan
    columns.append(similarity)

    user_factors = signals.als.user_factors_for(seed_rows)
    als_score = np.einsum("ij,ij->i", user_factors[rows], signals.als.track_factors[items])
    als_score[seed_count[rows] == 0] = np.nan
    columns.append(als_score)

    if signals.audio is not None:
        columns.append(distance_to_seeds_pairs(signals.audio, seed_rows, rows, items))
    else:
        columns.append(np.full(len(rows), np.nan, dtype=np.float32))

    if title_scores is None:
        title_scores = signals.title.scores_for_titles(titles).scores
    title_score = title_scores[rows, items]
    columns.append(np.where(np.isfinite(title_score), title_score, np.nan))

    columns.append(seed_count[rows])
    has_title = np.array([bool(normalise_title(t)) for t in titles], dtype=np.float32)
    columns.append(has_title[rows])
    return np.column_stack(columns).astype(np.float32)


def _artist_features(rows: np.ndarray, items: np.ndarray, seed_rows: sp.csr_matrix, track_artist: np.ndarray,
                     popularity: np.ndarray) -> list[np.ndarray]:
    """Return the share of the seeds by the candidate's artist, and the artist's share of its own plays."""
    seed_share = np.full(len(rows), np.nan, dtype=np.float32)
    artist_of_item = track_artist[items]
    for row in np.unique(rows):
        seeds = seed_rows.indices[seed_rows.indptr[row]:seed_rows.indptr[row + 1]]
        if len(seeds) == 0:
            continue
        seed_artists = track_artist[seeds]
        positions = np.flatnonzero(rows == row)
        candidate_artists = artist_of_item[positions]
        share = (candidate_artists[:, None] == seed_artists[None, :]).sum(axis=1) / len(seeds)
        share[candidate_artists < 0] = np.nan
        seed_share[positions] = share

    known = track_artist >= 0
    artist_totals = np.bincount(track_artist[known], weights=popularity[known],
                                minlength=int(track_artist.max()) + 1 if known.any() else 0)
    track_share = np.full(len(items), np.nan, dtype=np.float32)
    has_artist = artist_of_item >= 0
    totals = artist_totals[artist_of_item[has_artist]]
    track_share[has_artist] = popularity[items[has_artist]] / np.maximum(totals, 1.0)
    return [seed_share, track_share]
