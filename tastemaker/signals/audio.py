"""Audio features aligned to a track id map, and a content source built on them.

Features are z-scored per column over the catalogue tracks that have them,
so every column weighs the same in distances. Most tracks have no features
(about 4% of distinct MPD tracks do), so every function here carries a mask
or returns NaN rather than treating a missing track as the average track.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from ..errors import InputError
from ..models.base import top_n
from ..store.audio import AUDIO_FEATURE_COLUMNS
from .idmap import IdMap

# key, mode and time_signature are category codes, whose differences mean
# nothing, so distances use only the continuous features by default.
CONTINUOUS_FEATURES = tuple(c for c in AUDIO_FEATURE_COLUMNS if c not in ("key", "mode", "time_signature"))
METRICS = ("cosine", "euclidean")


@dataclass
class AudioFeatureMatrix:
    """Standardised audio features of the catalogue.

    Attributes
    ----------
    values : ndarray, shape (n_items, n_features), float32
        ``(raw - mean) / std`` per column; rows of tracks without features are 0.
    has_features : ndarray, shape (n_items,), bool
    columns : tuple of str, length n_features
    mean, std : ndarray, shape (n_features,), float64
        Statistics over the tracks with features; a constant column gets std 1.
    """

    values: np.ndarray
    has_features: np.ndarray
    columns: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray


def audio_feature_matrix(tracks: IdMap, table: pa.Table,
                         columns: Sequence[str] = CONTINUOUS_FEATURES) -> AudioFeatureMatrix:
    """Align stored audio features to the track axis and z-score them.

    Parameters
    ----------
    tracks : IdMap
        Track URIs of the matrix columns, n_items of them.
    table : pyarrow.Table
        ``track_uri`` and the feature columns, as from
        :func:`tastemaker.store.audio.read_audio_features`. Rows of tracks not
        in ``tracks`` are ignored.
    columns : sequence of str
        Feature columns to use, in order.
    """
    unknown = [c for c in columns if c not in AUDIO_FEATURE_COLUMNS]
    if unknown:
        raise InputError(f"unknown audio feature {unknown[0]!r}; choose from: {', '.join(AUDIO_FEATURE_COLUMNS)}")
    positions = np.asarray([tracks.get(uri) for uri in table.column("track_uri").to_pylist()], dtype=np.int64)
    known = positions >= 0
    raw = np.column_stack([table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in columns]) \
        if len(columns) else np.zeros((table.num_rows, 0))
    raw = raw[known]
    if len(raw):
        mean = raw.mean(axis=0)
        std = raw.std(axis=0)
    else:
        mean = np.zeros(len(columns))
        std = np.ones(len(columns))
    std[std == 0] = 1.0
    values = np.zeros((len(tracks), len(columns)), dtype=np.float32)
    values[positions[known]] = (raw - mean) / std
    has_features = np.zeros(len(tracks), dtype=bool)
    has_features[positions[known]] = True
    return AudioFeatureMatrix(values, has_features, tuple(columns), mean, std)


def seed_profile(features: AudioFeatureMatrix, seeds: np.ndarray | Sequence[int]) -> np.ndarray | None:
    """Return the mean standardised features of the seeds that have features, or None when none has.

    Returns
    -------
    ndarray, shape (n_features,), float32, or None
    """
    seeds = np.unique(np.asarray(seeds, dtype=np.int64))
    seeds = seeds[(seeds >= 0) & (seeds < len(features.has_features))]
    seeds = seeds[features.has_features[seeds]]
    if len(seeds) == 0:
        return None
    return features.values[seeds].mean(axis=0)


def nearest_to_seeds(features: AudioFeatureMatrix, seeds: np.ndarray | Sequence[int], N: int,
                     metric: str = "euclidean", exclude_seeds: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Return the N tracks whose features are nearest to the seeds' mean: a content-based candidate source.

    Scores are cosine similarities for ``metric="cosine"`` and negative
    Euclidean distances for ``"euclidean"``, so higher is nearer either way.
    Only tracks with features are returned.

    Returns
    -------
    ids : ndarray, shape (N,), int64
        Best first; -1 at the tail when fewer tracks qualify, and everywhere
        when no seed has features.
    scores : ndarray, shape (N,), float32
        -inf where ids is -1.
    """
    _check_metric(metric)
    profile = seed_profile(features, seeds)
    scores = np.full(len(features.has_features), -np.inf, dtype=np.float32)
    if profile is not None:
        scores[features.has_features] = _closeness(features.values[features.has_features], profile, metric)
        if exclude_seeds:
            seeds = np.asarray(seeds, dtype=np.int64)
            scores[seeds[(seeds >= 0) & (seeds < len(scores))]] = -np.inf
    ids, values = top_n(scores[None, :], N)
    return ids[0], values[0]


def distance_to_seeds(features: AudioFeatureMatrix, seeds: np.ndarray | Sequence[int],
                      candidates: np.ndarray | Sequence[int], metric: str = "euclidean") -> np.ndarray:
    """Return the distance of each candidate's features to the seeds' mean.

    The distance is Euclidean, or ``1 - cosine similarity`` for
    ``metric="cosine"``.

    Returns
    -------
    ndarray, shape (c,), float32
        NaN for a candidate without features, or for every candidate when no
        seed has features.
    """
    _check_metric(metric)
    candidates = np.asarray(candidates, dtype=np.int64)
    distances = np.full(len(candidates), np.nan, dtype=np.float32)
    profile = seed_profile(features, seeds)
    if profile is None:
        return distances
    valid = (candidates >= 0) & (candidates < len(features.has_features))
    valid[valid] = features.has_features[candidates[valid]]
    closeness = _closeness(features.values[candidates[valid]], profile, metric)
    distances[valid] = 1.0 - closeness if metric == "cosine" else -closeness
    return distances


def distance_to_seeds_pairs(features: AudioFeatureMatrix, seed_rows: sp.csr_matrix, pair_rows: np.ndarray,
                            pair_items: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Apply :func:`distance_to_seeds` to (playlist, candidate) pairs of many playlists.

    Parameters
    ----------
    seed_rows : csr_matrix, shape (k, n_items)
        Row r contains the seeds of playlist r as its non-zero columns.
    pair_rows, pair_items : ndarray, shape (m,), int
        Playlist row and candidate of each pair.

    Returns
    -------
    ndarray, shape (m,), float32
    """
    _check_metric(metric)
    present = sp.csr_matrix(seed_rows, dtype=np.float32, copy=True)
    present.data[:] = 1.0
    present = present @ sp.diags(features.has_features.astype(np.float32))
    counts = np.asarray(present.sum(axis=1)).ravel()
    profiles = np.asarray(present @ features.values) / np.maximum(counts, 1.0)[:, None]

    pair_rows = np.asarray(pair_rows, dtype=np.int64)
    pair_items = np.asarray(pair_items, dtype=np.int64)
    distances = np.full(len(pair_rows), np.nan, dtype=np.float32)
    valid = (counts[pair_rows] > 0) & features.has_features[pair_items]
    candidates = features.values[pair_items[valid]]
    targets = profiles[pair_rows[valid]]
    if metric == "euclidean":
        distances[valid] = np.linalg.norm(candidates - targets, axis=1)
    else:
        norms = np.linalg.norm(candidates, axis=1) * np.linalg.norm(targets, axis=1)
        cosine = np.einsum("ij,ij->i", candidates, targets) / np.where(norms > 0, norms, 1.0)
        distances[valid] = 1.0 - cosine
    return distances


def _closeness(values: np.ndarray, profile: np.ndarray, metric: str) -> np.ndarray:
    """Return cosine similarity or negative Euclidean distance of each row of ``values`` to ``profile``.

    A zero vector on either side has cosine similarity 0.
    """
    if metric == "euclidean":
        return -np.linalg.norm(values - profile, axis=1)
    norms = np.linalg.norm(values, axis=1) * np.linalg.norm(profile)
    return (values @ profile) / np.where(norms > 0, norms, 1.0)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
