"""The cold-track protocol: can content features recover tracks that no training playlist contains?

1. A seeded ``cold_share`` of the catalogue tracks that have audio features
   become cold: every occurrence of them is removed from training.
2. Test playlists are drawn (seeded) among the playlists that contain a cold
   track and enough other tracks. Each keeps ``seeds`` random non-cold
   tracks as seeds and hides the rest, as the challenge's random buckets do.
3. ALS is fitted on the remaining playlists (the test playlists' seeds
   included) and each test playlist is folded in from its seeds.
4. Every method fills the same 500 places (``n``) from one score over the
   whole catalogue: warm tracks with their ALS score through the Voyager
   index, cold tracks with a score the method gives them. The figure is
   recall@500 of the hidden cold tracks, averaged over the test playlists.
   With ``exact_search`` the warm scores are computed exactly instead of
   through the index, which is faster for one evaluation and gives the
   ranking that the index approximates.

The methods:

* ``content mapping (KIND)``: cold tracks get factors predicted from their
  audio features (:class:`~tastemaker.content.mapping.ContentMapper`) and
  compete with the warm tracks by the same dot product;
* ``random ranks``: cold tracks are inserted at uniformly random ranks of the
  full ranking, so each lands in the 500 places with probability
  500 / (warm + cold tracks). The report shows one seeded draw and divides
  by that expectation;
* ``audio kNN of the seeds``: in each playlist, the cold places that the
  first mapper's list gave to cold tracks go instead to the cold tracks
  whose standardised audio features are nearest to the mean of the seeds'
  features. Both methods thus get the same number of cold places, and only
  the choice of cold tracks differs. Playlists without a seed that has
  features get no cold track.
* ``warm reference``: ALS fitted with the cold tracks left in training,
  scoring them as warm tracks: what collaborative filtering would reach had
  the tracks been played. It needs a second ALS fit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from ..errors import InputError
from ..models.base import top_n
from ..models.implicit_models import ALSRecommender
from ..retrieval.index import VectorIndex
from ..signals import PlaylistTracks
from ..signals.audio import CONTINUOUS_FEATURES, audio_feature_matrix
from ..store.audio import AUDIO_FEATURE_COLUMNS
from .mapping import MAPPERS, ContentMapper

log = logging.getLogger(__name__)

MAPPING_LABEL = "content mapping ({})"
RANDOM_LABEL = "random ranks"
KNN_LABEL = "audio kNN of the seeds"
WARM_LABEL = "warm reference (cold tracks left in training)"
EXACT_BLOCK_ROWS = 64  # playlists scored at once by exact search; bounds the dense score block


@dataclass
class ColdStartSettings:
    """Parameters of the protocol; every random choice follows ``seed``."""

    cold_share: float = 0.1
    test_playlists: int = 1000
    seeds: int = 10
    n: int = 500
    seed: int = 0
    factors: int = 64
    iterations: int = 15
    regularization: float = 0.05
    alpha: float = 10.0
    mappers: tuple[str, ...] = MAPPERS
    warm_reference: bool = True
    query_ef: int = 2000
    exact_search: bool = False  # score warm tracks exactly instead of through a Voyager index


@dataclass
class MethodResult:
    """One row of the report: recall@n of hidden cold tracks and what the lists looked like."""

    method: str
    cold_recall: float
    cold_places: float  # mean number of cold tracks among a list's n places
    warm_recall: float | None  # recall@n of the hidden warm tracks, where the method makes whole lists
    seconds: float = 0.0


@dataclass
class ColdStartResult:
    settings: ColdStartSettings
    rows: list[MethodResult] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    random_expectation: float = 0.0
    mapper_reports: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def ratio_to_random(self, method: str) -> float:
        """Return a method's cold recall divided by the expected cold recall of random ranks."""
        return self.row(method).cold_recall / self.random_expectation

    def row(self, method: str) -> MethodResult:
        for row in self.rows:
            if row.method == method:
                return row
        raise KeyError(method)

    def to_csv(self) -> str:
        lines = ["method,cold_recall,ratio_to_expected_random,cold_places,warm_recall,seconds"]
        for row in self.rows:
            warm = "" if row.warm_recall is None else f"{row.warm_recall:.6f}"
            lines.append(f'"{row.method}",{row.cold_recall:.6f},{self.ratio_to_random(row.method):.3f},'
                         f"{row.cold_places:.3f},{warm},{row.seconds:.2f}")
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        s, c = self.settings, self.counts
        expected = self.random_expectation
        lines = [
            f"Cold tracks: {c['cold_tracks']} of the {c['tracks_with_features']} catalogue tracks with audio "
            f"features ({s.cold_share:.0%}, seed {s.seed}), removed from {c['cold_rows_removed']} playlist rows. "
            f"Test playlists: {c['test_playlists']}, each with {s.seeds} random non-cold seeds and "
            f"{c['hidden_cold']} hidden cold-track occurrences in all. "
            f"Every list has {s.n} places, filled from {c['warm_tracks']} warm and {c['cold_tracks']} cold tracks. "
            f"ALS: {s.factors} factors, {s.iterations} iterations.",
            "",
            f"| method | cold recall@{s.n} | x random (expected) | cold places per list | warm recall@{s.n} |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in self.rows:
            ratio = row.cold_recall / expected if expected > 0 else float("nan")
            warm = "-" if row.warm_recall is None else f"{row.warm_recall:.4f}"
            lines.append(f"| {row.method} | {row.cold_recall:.4f} | {ratio:.1f} | {row.cold_places:.2f} | {warm} |")
        lines += ["", f"x random divides by the expected recall of random ranks, {s.n} / "
                      f"{c['warm_tracks'] + c['cold_tracks']} = {expected:.4f}; the random ranks row is one seeded "
                      "draw of it.", ""]
        for kind, report in self.mapper_reports.items():
            details = ", ".join(f"{k} {v}" for k, v in report.items())
            lines.append(f"Mapper {kind}: {details}.")
        lines.append("")
        lines.append("Seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()) + ".")
        return "\n".join(lines) + "\n"


def run_cold_start(pids: np.ndarray, uris: np.ndarray, audio: pa.Table,
                   settings: ColdStartSettings | None = None) -> ColdStartResult:
    """Run the cold-track protocol of the module docstring on playlist rows and stored audio features.

    Parameters
    ----------
    pids, uris : ndarray
        Parallel arrays of playlist ids and track URIs, as from
        ``Store.playlist_track_pairs``.
    audio : pyarrow.Table
        Stored audio features, as from ``read_audio_features``.
    """
    s = settings or ColdStartSettings()
    _check_settings(s)
    result = ColdStartResult(s)
    rng = np.random.default_rng(s.seed)
    started = time.perf_counter()

    data = PlaylistTracks.from_pairs(pids, uris)
    matrix = data.matrix
    mapping_features = audio_feature_matrix(data.tracks, audio, AUDIO_FEATURE_COLUMNS)
    knn_features = audio_feature_matrix(data.tracks, audio, CONTINUOUS_FEATURES)
    with_features = np.flatnonzero(mapping_features.has_features)
    cold_count = int(round(s.cold_share * len(with_features)))
    if cold_count < 1:
        raise InputError(f"only {len(with_features)} catalogue tracks have audio features, too few for a cold "
                         f"share of {s.cold_share}; ingest audio features with `tastemaker ingest audio-features`")
    cold = np.sort(rng.choice(with_features, size=cold_count, replace=False))
    is_cold = np.zeros(matrix.shape[1], dtype=bool)
    is_cold[cold] = True

    test_rows, seed_lists, hidden_cold, hidden_warm = _choose_test_playlists(matrix, is_cold, s, rng)
    train = _training_matrix(matrix, is_cold, test_rows, seed_lists)
    seed_rows = _rows(seed_lists, matrix.shape[1])
    result.counts = {
        "tracks": int(matrix.shape[1]), "tracks_with_features": int(len(with_features)), "cold_tracks": cold_count,
        "cold_rows_removed": int(matrix[:, cold].nnz), "test_playlists": len(test_rows),
        "hidden_cold": int(sum(len(h) for h in hidden_cold)),
    }
    result.seconds["split"] = time.perf_counter() - started

    started = time.perf_counter()
    als = ALSRecommender(factors=s.factors, iterations=s.iterations, regularization=s.regularization,
                         alpha=s.alpha, random_state=s.seed).fit(train)
    result.seconds["ALS fit"] = time.perf_counter() - started
    factors = als.track_factors
    user_factors = als.user_factors_for(seed_rows)
    popularity = np.asarray(train.sum(axis=0)).ravel()
    warm = (popularity > 0) & ~is_cold
    result.counts["warm_tracks"] = int(warm.sum())
    result.random_expectation = s.n / (int(warm.sum()) + cold_count)

    started = time.perf_counter()
    warm_ids, warm_scores = _warm_lists(factors, warm, user_factors, seed_lists, s)
    result.seconds["warm retrieval"] = time.perf_counter() - started

    training = warm & mapping_features.has_features
    first_lists = None
    for kind in s.mappers:
        started = time.perf_counter()
        mapper = ContentMapper(kind, seed=s.seed).fit(mapping_features.values[training], factors[training])
        cold_factors = mapper.predict(mapping_features.values[cold])
        cold_scores = user_factors @ cold_factors.T
        lists = _merge(warm_ids, warm_scores, cold, cold_scores, s.n)
        seconds = time.perf_counter() - started
        result.rows.append(_score(MAPPING_LABEL.format(kind), lists, is_cold, hidden_cold, hidden_warm, seconds))
        result.mapper_reports[kind] = mapper.report_
        result.seconds[f"mapping ({kind})"] = seconds
        if first_lists is None:
            first_lists = lists

    result.rows.append(_random_ranks(warm_ids, cold, int(warm.sum()), s.n, rng, hidden_cold, hidden_warm, is_cold))
    result.rows.append(_audio_knn(first_lists, seed_lists, knn_features, cold, is_cold, hidden_cold))

    if s.warm_reference:
        started = time.perf_counter()
        result.rows.append(_warm_reference(matrix, test_rows, seed_lists, is_cold, s, hidden_cold, hidden_warm))
        result.seconds["warm reference"] = time.perf_counter() - started
    return result


def _check_settings(s: ColdStartSettings) -> None:
    if not 0 < s.cold_share < 1:
        raise InputError(f"cold share must be between 0 and 1, got {s.cold_share}")
    for name in ("test_playlists", "seeds", "n", "factors", "iterations"):
        if getattr(s, name) < 1:
            raise InputError(f"{name.replace('_', ' ')} must be a positive integer, got {getattr(s, name)}")
    unknown = [m for m in s.mappers if m not in MAPPERS]
    if unknown or not s.mappers:
        raise InputError(f"unknown content mapper {unknown[0] if unknown else None!r}; choose from: "
                         f"{', '.join(MAPPERS)}")


def _choose_test_playlists(matrix: sp.csr_matrix, is_cold: np.ndarray, s: ColdStartSettings,
                           rng: np.random.Generator):
    """Draw test playlists with a cold track and at least ``seeds`` other tracks; return rows, seeds, hidden sets."""
    cold_per_row = np.asarray(matrix[:, np.flatnonzero(is_cold)].getnnz(axis=1)).ravel()
    warm_per_row = np.diff(matrix.indptr) - cold_per_row
    eligible = np.flatnonzero((cold_per_row > 0) & (warm_per_row >= s.seeds))
    if len(eligible) == 0:
        raise InputError(f"no playlist contains a cold track and at least {s.seeds} other tracks; "
                         "lower --seeds or raise --cold-share")
    rows = np.sort(rng.choice(eligible, size=min(s.test_playlists, len(eligible)), replace=False))
    seed_lists, hidden_cold, hidden_warm = [], [], []
    for row in rows:
        items = matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]
        candidates = items[~is_cold[items]]
        seeds = np.sort(rng.choice(candidates, size=s.seeds, replace=False))
        seed_lists.append(seeds)
        rest = np.setdiff1d(items, seeds)
        hidden_cold.append(set(rest[is_cold[rest]].tolist()))
        hidden_warm.append(set(rest[~is_cold[rest]].tolist()))
    return rows, seed_lists, hidden_cold, hidden_warm


def _training_matrix(matrix: sp.csr_matrix, is_cold: np.ndarray, test_rows: np.ndarray,
                     seed_lists: list[np.ndarray]) -> sp.csr_matrix:
    """Return the matrix with test rows cut to their seeds and every cold track's column emptied."""
    coo = matrix.tocoo()
    keep = ~is_cold[coo.col]
    in_test = np.zeros(matrix.shape[0], dtype=bool)
    in_test[test_rows] = True
    keep &= ~in_test[coo.row]
    seed_row = np.repeat(test_rows, [len(seeds) for seeds in seed_lists])
    seed_col = np.concatenate(seed_lists) if seed_lists else np.array([], dtype=np.int64)
    rows = np.concatenate([coo.row[keep], seed_row])
    cols = np.concatenate([coo.col[keep], seed_col])
    train = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=matrix.shape)
    train.sum_duplicates()
    train.data[:] = 1.0
    return train


def _rows(seed_lists: list[np.ndarray], n_items: int) -> sp.csr_matrix:
    indptr = np.concatenate([[0], np.cumsum([len(seeds) for seeds in seed_lists])])
    indices = np.concatenate(seed_lists) if seed_lists else np.array([], dtype=np.int64)
    return sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(seed_lists), n_items))


def _warm_lists(factors: np.ndarray, warm: np.ndarray, user_factors: np.ndarray, seed_lists: list[np.ndarray],
                s: ColdStartSettings) -> tuple[np.ndarray, np.ndarray]:
    """Return the n best warm tracks per playlist, seeds excluded, and their scores."""
    n = s.n
    width = n + max(len(seeds) for seeds in seed_lists)
    if s.exact_search:
        blocks = []
        for start in range(0, len(user_factors), EXACT_BLOCK_ROWS):
            block = user_factors[start:start + EXACT_BLOCK_ROWS] @ factors.T
            block[:, ~warm] = -np.inf
            blocks.append(top_n(block, width))
        ids = np.vstack([b[0] for b in blocks])
        scores = np.vstack([b[1] for b in blocks])
    else:
        index = VectorIndex.build(factors, "inner_product", mask=warm, query_ef=max(s.query_ef, width), seed=s.seed)
        ids, scores = index.query(user_factors, width)
    kept_ids = np.full((len(seed_lists), n), -1, dtype=np.int64)
    kept_scores = np.full((len(seed_lists), n), -np.inf, dtype=np.float32)
    for r, seeds in enumerate(seed_lists):
        keep = (ids[r] >= 0) & ~np.isin(ids[r], seeds)
        count = min(n, int(keep.sum()))
        kept_ids[r, :count] = ids[r][keep][:count]
        kept_scores[r, :count] = scores[r][keep][:count]
    return kept_ids, kept_scores


def _merge(warm_ids: np.ndarray, warm_scores: np.ndarray, cold: np.ndarray, cold_scores: np.ndarray,
           n: int) -> np.ndarray:
    """Return the n best of each playlist's warm list and all cold tracks, by score."""
    ids = np.hstack([warm_ids, np.broadcast_to(cold, (len(warm_ids), len(cold)))])
    scores = np.hstack([warm_scores, cold_scores.astype(np.float32)])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :n]
    return np.take_along_axis(ids, order, axis=1)


def _recall(lists: np.ndarray, hidden: list[set[int]]) -> float:
    values = [len(h.intersection(row.tolist())) / len(h) for row, h in zip(lists, hidden) if h]
    return float(np.mean(values)) if values else 0.0


def _score(method: str, lists: np.ndarray, is_cold: np.ndarray, hidden_cold, hidden_warm, seconds: float
           ) -> MethodResult:
    places = float(np.mean([(is_cold[row[row >= 0]]).sum() for row in lists]))
    return MethodResult(method, _recall(lists, hidden_cold), places, _recall(lists, hidden_warm), seconds)


def _random_ranks(warm_ids: np.ndarray, cold: np.ndarray, warm_count: int, n: int, rng: np.random.Generator,
                  hidden_cold, hidden_warm, is_cold: np.ndarray) -> MethodResult:
    """Insert the cold tracks at uniformly random ranks among warm + cold tracks and keep the first n."""
    total = warm_count + len(cold)
    lists = np.full(warm_ids.shape, -1, dtype=np.int64)
    for r in range(len(warm_ids)):
        ranks = rng.choice(total, size=len(cold), replace=False)
        placed = np.full(n, -1, dtype=np.int64)
        inside = ranks < n
        placed[ranks[inside]] = cold[inside]
        free = placed < 0
        placed[free] = warm_ids[r][: int(free.sum())]
        lists[r] = placed
    return _score(RANDOM_LABEL, lists, is_cold, hidden_cold, hidden_warm, 0.0)


def _audio_knn(reference_lists: np.ndarray, seed_lists: list[np.ndarray], features, cold: np.ndarray,
               is_cold: np.ndarray, hidden_cold) -> MethodResult:
    """Fill each list's cold places (as many as the reference list has) with the cold tracks nearest the seeds."""
    started = time.perf_counter()
    cold_values = features.values[cold]
    chosen_lists, places = [], []
    for row, seeds in zip(reference_lists, seed_lists):
        budget = int(is_cold[row[row >= 0]].sum())
        places.append(budget)
        seeds = seeds[features.has_features[seeds]]
        if budget == 0 or len(seeds) == 0:
            chosen_lists.append(np.array([], dtype=np.int64))
            continue
        profile = features.values[seeds].mean(axis=0)
        distance = np.linalg.norm(cold_values - profile, axis=1)
        chosen_lists.append(cold[np.argsort(distance, kind="stable")[:budget]])
    values = [len(h.intersection(chosen.tolist())) / len(h) for chosen, h in zip(chosen_lists, hidden_cold) if h]
    return MethodResult(KNN_LABEL, float(np.mean(values)) if values else 0.0, float(np.mean(places)), None,
                        time.perf_counter() - started)


def _warm_reference(matrix: sp.csr_matrix, test_rows: np.ndarray, seed_lists: list[np.ndarray],
                    is_cold: np.ndarray, s: ColdStartSettings, hidden_cold, hidden_warm) -> MethodResult:
    started = time.perf_counter()
    train = _training_matrix(matrix, np.zeros_like(is_cold), test_rows, seed_lists)
    als = ALSRecommender(factors=s.factors, iterations=s.iterations, regularization=s.regularization,
                         alpha=s.alpha, random_state=s.seed).fit(train)
    popularity = np.asarray(train.sum(axis=0)).ravel()
    user_factors = als.user_factors_for(_rows(seed_lists, matrix.shape[1]))
    lists, _ = _warm_lists(als.track_factors, popularity > 0, user_factors, seed_lists, s)
    return _score(WARM_LABEL, lists, is_cold, hidden_cold, hidden_warm, time.perf_counter() - started)
