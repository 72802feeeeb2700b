"""Train models on audit data, continue the audited rows, optionally re-rank, and measure the lists.

For each model the top ``candidates`` tracks are computed once. Each variant
(the plain top N, and each re-ranker at each strength) then picks N of them,
and every variant is measured per user group. Users are split by the mean
popularity of their history: the upper half is ``mainstream`` and the lower
half ``niche``. The group ``all`` contains every audited row.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..evaluation.metrics import ndcg, r_precision, recall_at
from ..models import ALSRecommender, model_class
from ..products.continuation import continue_rows, popularity_order
from ..rerank import RERANKERS, RerankContext, build_reranker
from .calibration import calibration_error
from .data import AuditData
from .diversity import artist_diversity, intra_list_diversity
from .duration import duration_bias
from .exposure import (
    artist_exposure,
    catalogue_coverage,
    gini,
    long_tail_mask,
    long_tail_share,
    top_share,
    track_exposure,
)
from .popularity import history_mean, list_mean, novelty, popularity_lift

log = logging.getLogger(__name__)

GROUPS = ("all", "mainstream", "niche")
NO_RERANK = "none"
FRONTIER_STRENGTHS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
# The frontier target: a re-ranker should cut artist-exposure Gini by this
# share while losing at most MAX_NDCG_LOSS of the plain list's NDCG.
GINI_CUT_TARGET = 0.20
MAX_NDCG_LOSS = 0.05
METRICS = ("coverage", "track_gini", "artist_gini", "top1_artist_share", "long_tail_share", "popularity_lift",
           "novelty", "intra_list_diversity", "artist_diversity", "calibration_kl", "duration_ratio",
           "recommended_duration_s", "catalogue_duration_s", "duration_known", "ndcg", "r_precision", "recall")


@dataclass
class AuditSettings:
    """Settings of list making and measurement.

    N is the audited list length and ``candidates`` the model's list that
    re-rankers choose from. ``weighting`` is the exposure weighting of
    ``tastemaker.audit.exposure``, and ``head_share`` defines the long tail.
    """

    N: int = 100
    candidates: int = 500
    weighting: str = "log"
    head_share: float = 0.8
    seed: int = 0
    reference_factors: int = 32


@dataclass
class AuditResult:
    """One row per model, re-ranker, strength and group, plus timings and a frontier summary."""

    settings: AuditSettings
    description: dict
    rows: list[dict] = field(default_factory=list)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    frontier_models: list[str] = field(default_factory=list)
    reranks: list[tuple[str, float]] = field(default_factory=list)
    candidate_artists: dict[str, int] = field(default_factory=dict)
    n_artists: int = 0

    def select(self, model: str | None = None, reranker: str | None = None, group: str | None = None) -> list[dict]:
        return [r for r in self.rows if (model is None or r["model"] == model)
                and (reranker is None or r["reranker"] == reranker) and (group is None or r["group"] == group)]

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(r["model"] for r in self.rows))

    def frontier(self, model: str) -> list[dict]:
        """Return, for ``model``, each variant's NDCG and artist Gini with their change against the plain list."""
        base = self.select(model, NO_RERANK, "all")[0]
        points = []
        for row in self.select(model, group="all"):
            points.append({
                "model": model, "reranker": row["reranker"], "strength": row["strength"],
                "ndcg": row["ndcg"], "artist_gini": row["artist_gini"],
                "ndcg_change": _relative(row["ndcg"], base["ndcg"]),
                "artist_gini_change": _relative(row["artist_gini"], base["artist_gini"]),
            })
        return points

    def frontier_verdict(self, model: str) -> dict:
        """Find the largest artist-Gini cut within the NDCG budget, per re-ranker, and whether it meets the target."""
        best: dict[str, dict] = {}
        for point in self.frontier(model):
            if point["reranker"] == NO_RERANK or point["ndcg_change"] < -MAX_NDCG_LOSS:
                continue
            current = best.get(point["reranker"])
            if current is None or point["artist_gini_change"] < current["artist_gini_change"]:
                best[point["reranker"]] = point
        meets = [p for p in best.values() if p["artist_gini_change"] <= -GINI_CUT_TARGET]
        return {"best_within_budget": best, "meets_target": bool(meets)}


def _relative(value: float, base: float) -> float:
    return (value - base) / base if base else float("nan")


def user_groups(histories, popularity: np.ndarray) -> np.ndarray:
    """Label each row mainstream or niche by the mean training popularity of its history (median split).

    Rows without history are labelled ``no history``.
    """
    means = history_mean(histories, popularity)
    labels = np.full(len(means), "no history", dtype=object)
    known = ~np.isnan(means)
    if known.any():
        median = np.median(means[known])
        labels[known & (means > median)] = "mainstream"
        labels[known & (means <= median)] = "niche"
    return labels


def reference_vectors(data: AuditData, settings: AuditSettings) -> np.ndarray:
    """Fit one small ALS on the training rows; its track factors measure similarity for every model alike."""
    model = ALSRecommender(factors=settings.reference_factors, iterations=10, random_state=settings.seed)
    model.fit(data.train)
    return np.asarray(model.track_factors, dtype=np.float64)


def measure(lists: np.ndarray, data: AuditData, popularity: np.ndarray, item_vectors: np.ndarray,
            tail: np.ndarray, groups: np.ndarray, settings: AuditSettings) -> dict[str, dict]:
    """Return every metric per group for (k, N) lists of track indices."""
    per_row = {
        "list_popularity": list_mean(lists, popularity),
        "history_popularity": history_mean(data.histories, popularity),
        "novelty": novelty(lists, popularity, data.train.shape[0]),
        "intra_list_diversity": intra_list_diversity(lists, item_vectors),
        "artist_diversity": artist_diversity(lists, data.track_artist),
        "calibration_kl": calibration_error(lists, data.histories, data.item_categories),
        "ndcg": np.array([ndcg(row.tolist(), hidden) for row, hidden in zip(lists, data.hidden)]),
        "r_precision": np.array([r_precision(row.tolist(), hidden) for row, hidden in zip(lists, data.hidden)]),
        "recall": np.array([recall_at(row.tolist(), hidden, lists.shape[1])
                            for row, hidden in zip(lists, data.hidden)]),
    }
    result = {}
    for group in [*GROUPS, *sorted(set(groups) - set(GROUPS))]:
        mask = np.ones(len(lists), dtype=bool) if group == "all" else groups == group
        if not mask.any():
            continue
        subset = lists[mask]
        tracks = track_exposure(subset, data.n_items, settings.weighting)
        artists = artist_exposure(tracks, data.track_artist, data.n_artists)
        durations = duration_bias(subset, data.durations_ms)
        result[group] = {
            "users": int(mask.sum()),
            "coverage": catalogue_coverage(subset, data.n_items),
            "track_gini": gini(tracks),
            "artist_gini": gini(artists),
            "top1_artist_share": top_share(artists, 0.01),
            "long_tail_share": long_tail_share(subset, tail, settings.weighting),
            "popularity_lift": popularity_lift(per_row["list_popularity"][mask], per_row["history_popularity"][mask]),
            "recommended_duration_s": durations.recommended_mean_s,
            "catalogue_duration_s": durations.catalogue_mean_s,
            "duration_ratio": durations.ratio,
            "duration_known": durations.recommended_known,
            **{name: _nanmean(per_row[name][mask]) for name in
               ("novelty", "intra_list_diversity", "artist_diversity", "calibration_kl", "ndcg", "r_precision",
                "recall")},
        }
    return result


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")


def model_input(data: AuditData, name: str, params: dict) -> tuple[sp.csr_matrix, sp.csr_matrix, dict]:
    """Return the training matrix, history rows and constructor parameters for model ``name``.

    With confidence weights (listening data) ALS reads them, with its own
    alpha 1 unless set, because the weights already contain alpha. Every
    other model, and ALS on playlists, reads the binary rows.
    """
    params = {k: v for k, v in params.items() if k != "model"}
    if name == "als" and data.weighted_train is not None:
        return data.weighted_train, data.weighted_histories, {"alpha": 1.0, **params}
    return data.train, data.histories, params


def run_audit(data: AuditData, models: list[tuple[str, dict]], settings: AuditSettings | None = None,
              reranks: list[tuple[str, float]] | None = None, frontier_models: list[str] | None = None,
              frontier_strengths: tuple[float, ...] = FRONTIER_STRENGTHS, progress=None) -> AuditResult:
    """Audit each model's lists, plain and re-ranked.

    ``reranks`` are (name, strength) pairs applied to every model;
    ``frontier_models`` are the labels of the models for which every
    re-ranker is also run at each of ``frontier_strengths``. ``progress``,
    when given, is called with a short description after each step.
    """
    settings = settings or AuditSettings()
    reranks = list(reranks or [])
    frontier_models = list(frontier_models or [])
    result = AuditResult(settings, dict(data.description), frontier_models=frontier_models, reranks=reranks,
                         n_artists=data.n_artists)
    N = min(settings.N, data.n_items)
    M = max(N, min(settings.candidates, data.n_items))

    started = time.perf_counter()
    item_vectors = reference_vectors(data, settings)
    log.info("reference ALS vectors: %.1f s", time.perf_counter() - started)

    for label, params in models:
        name = params.get("model", label)
        train, histories, model_params = model_input(data, name, params)
        model = model_class(name)(**model_params)
        started = time.perf_counter()
        model.fit(train, context=data.context)
        fitted = time.perf_counter()
        popularity = model.item_popularity_.astype(np.float64)
        ids, scores, _, _ = continue_rows(model, histories, M, popularity_order(popularity), data.titles)
        recommended = time.perf_counter()
        timing = {"fit": fitted - started, "recommend": recommended - fitted, "rerank": 0.0}
        result.timings[label] = timing
        candidate_artists = data.track_artist[ids[ids >= 0]]
        result.candidate_artists[label] = len(np.unique(candidate_artists[candidate_artists >= 0]))

        groups = user_groups(data.histories, popularity)
        tail = long_tail_mask(popularity, settings.head_share)
        context = RerankContext(track_artist=data.track_artist, popularity=popularity, item_vectors=item_vectors,
                                item_categories=data.item_categories)
        variants = [(NO_RERANK, 0.0), *reranks]
        if label in frontier_models:
            variants += [(name, s) for name in RERANKERS for s in frontier_strengths if (name, s) not in reranks]

        for name, strength in variants:
            rerank_started = time.perf_counter()
            if name == NO_RERANK:
                lists = ids[:, :N]
            else:
                lists = build_reranker(name, context).rerank_batch(ids, scores, N, strength, data.histories)
            timing["rerank"] += time.perf_counter() - rerank_started
            for group, values in measure(lists, data, popularity, item_vectors, tail, groups, settings).items():
                result.rows.append({"model": label, "reranker": name, "strength": strength, "group": group,
                                    **values})
            if progress:
                progress(f"{label} {name} {strength:g}")
        log.info("%s: fit %.1f s, %d lists of %d candidates %.1f s, re-ranking %.1f s", label, timing["fit"],
                 len(ids), M, timing["recommend"], timing["rerank"])
    return result
