"""Per-user evaluation of recommenders on listening data: recall@K, NDCG@K and MAP@K.

Two hold-outs:

- temporal leave-last-out, for plays with times: each user's streamed items
  (played at least once past the stream threshold without a skip, see
  signals.confidence) are ordered by their first play, and the last
  ``holdout`` of them are hidden. The user's training plays are those before
  the first play of the earliest hidden item. Hidden items are therefore new to
  the user, as a recommendation must be once seen items are filtered, and an
  item the user only skipped is never counted as a hit. Other users' plays
  after that time stay in training, as is usual for leave-last-out.
- a seeded random hold-out, for play counts without times (HetRec): each
  user's ``holdout`` hidden items are drawn at random.

A user needs ``holdout + min_train`` distinct items to be evaluated; the
others stay in training and are counted as skipped. Every model is fitted on
the training matrix and recommends K items per evaluated user from that
user's training row, with the items of the row filtered out. ALS reads the
weighted matrix (confidence, raw counts or binary); the other models read
the positive entries as 1, because they have no notion of confidence.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from ..errors import InputError
from ..models import model_class
from ..signals.confidence import (
    ConfidenceParams,
    UserItems,
    artist_keys,
    classify_plays,
    count_user_items,
    event_user_items,
)
from ..signals.idmap import IdMap
from .metrics import ndcg

log = logging.getLogger(__name__)

METRICS = ("recall", "ndcg", "map")


@dataclass
class ModelSpec:
    """One evaluated configuration: a label, the model's name and parameters, and the input weighting."""

    label: str
    model: str
    params: dict = field(default_factory=dict)
    weighting: str = "binary"


@dataclass
class PerUserSplit:
    """Training data (plays or counts) and each evaluated user's hidden items."""

    kind: str  # "temporal" or "random"
    level: str  # "track" or "artist"
    hidden: dict[str, set[str]]
    skipped_users: int
    train_events: pa.Table | None = None
    train_counts: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    holdout: int = 10
    seed: int | None = None

    def describe(self) -> dict:
        return {"kind": self.kind, "level": self.level, "holdout": self.holdout, "seed": self.seed,
                "users_evaluated": len(self.hidden), "users_skipped": self.skipped_users}


@dataclass
class PerUserResult:
    """Mean metrics per configuration, and each user's NDCG for paired comparisons."""

    k: int
    split: dict
    rows: list[dict] = field(default_factory=list)
    per_user_ndcg: dict[str, np.ndarray] = field(default_factory=dict)

    def value(self, label: str, metric: str) -> float:
        for row in self.rows:
            if row["label"] == label:
                return row[metric]
        raise KeyError(label)

    def compare(self, label: str, baseline: str, samples: int = 2000, seed: int = 0) -> dict:
        """Return the mean NDCG@K difference of ``label`` over ``baseline`` with a paired bootstrap 95% interval."""
        a, b = self.per_user_ndcg[label], self.per_user_ndcg[baseline]
        differences = a - b
        rng = np.random.default_rng(seed)
        means = differences[rng.integers(0, len(differences), size=(samples, len(differences)))].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        return {"label": label, "baseline": baseline, "ndcg": float(a.mean()), "baseline_ndcg": float(b.mean()),
                "difference": float(differences.mean()), "ci95": (float(low), float(high)),
                "relative": float(differences.mean() / b.mean()) if b.mean() > 0 else float("inf"),
                "users": int(len(differences))}

    def to_markdown(self) -> str:
        lines = [f"| configuration | model | weighting | users | recall@{self.k} | NDCG@{self.k} | MAP@{self.k} "
                 "| fit s |", "|---|---|---|---:|---:|---:|---:|---:|"]
        for row in self.rows:
            lines.append(f"| {row['label']} | {row['model']} | {row['weighting']} | {row['users']} | "
                         f"{row['recall']:.4f} | {row['ndcg']:.4f} | {row['map']:.4f} | {row['fit_seconds']:.1f} |")
        return "\n".join(lines) + "\n"


# Splits


def temporal_split(events: pa.Table, holdout: int = 10, min_train: int = 5, level: str = "track",
                   stream_threshold_ms: int = 30_000) -> PerUserSplit:
    """Hide each user's last ``holdout`` newly streamed items (see the module docstring).

    ``events`` needs user_id and ts, track_uri (or artist_name for artist
    level), ms_played, skipped and reason_end.
    """
    _check_sizes(holdout, min_train)
    order = pc.sort_indices(events, sort_keys=[("user_id", "ascending"), ("ts", "ascending")])
    events = events.take(order)
    users = np.asarray(events.column("user_id").to_numpy(zero_copy_only=False)).astype(str)
    ts = np.asarray(events.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    items = (np.asarray(events.column("track_uri").to_pylist(), dtype=object).astype(str) if level == "track"
             else artist_keys(events.column("artist_name").to_pylist()))
    ms = events.column("ms_played")
    stream, _ = classify_plays(
        np.asarray(ms.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64),
        ~np.asarray(ms.is_null(), dtype=bool),
        np.asarray(events.column("skipped").fill_null(False).to_numpy(zero_copy_only=False), dtype=bool),
        np.asarray(events.column("reason_end").to_pylist(), dtype=object), stream_threshold_ms)

    keep = np.ones(len(users), dtype=bool)
    hidden: dict[str, set[str]] = {}
    skipped = 0
    boundaries = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
    for start, end in zip(boundaries[:-1], boundaries[1:]):
        distinct, first = np.unique(items[start:end], return_index=True)
        streamed = np.isin(distinct, items[start:end][stream[start:end]])
        if streamed.sum() < holdout + min_train:
            skipped += 1
            continue
        candidates = np.flatnonzero(streamed)
        by_first_play = candidates[np.argsort(first[candidates], kind="stable")]
        newest = distinct[by_first_play[-holdout:]]
        cutoff = ts[start + first[by_first_play[-holdout]]]
        keep[start:end] = ts[start:end] < cutoff
        hidden[users[start]] = set(newest.tolist())
    if not hidden:
        raise InputError(f"no user has the {holdout + min_train} distinct items a temporal hold-out needs; "
                         "lower --holdout or ingest more listening data")
    return PerUserSplit("temporal", level, hidden, skipped, train_events=events.filter(pa.array(keep)),
                        holdout=holdout)


def random_split(user_ids: np.ndarray, item_ids: np.ndarray, counts: np.ndarray, holdout: int = 10,
                 min_train: int = 5, seed: int = 0) -> PerUserSplit:
    """Hide ``holdout`` randomly drawn items of each user with enough items; the same seed hides the same items."""
    _check_sizes(holdout, min_train)
    user_ids = np.asarray(user_ids).astype(str)
    item_ids = np.asarray(item_ids, dtype=object).astype(str)
    counts = np.asarray(counts)
    order = np.lexsort((item_ids, user_ids))
    user_ids, item_ids, counts = user_ids[order], item_ids[order], counts[order]
    rng = np.random.default_rng(seed)
    keep = np.ones(len(user_ids), dtype=bool)
    hidden: dict[str, set[str]] = {}
    skipped = 0
    boundaries = np.flatnonzero(np.r_[True, user_ids[1:] != user_ids[:-1], True])
    for start, end in zip(boundaries[:-1], boundaries[1:]):
        if end - start < holdout + min_train:
            skipped += 1
            continue
        chosen = start + rng.choice(end - start, size=holdout, replace=False)
        keep[chosen] = False
        hidden[user_ids[start]] = set(item_ids[chosen].tolist())
    if not hidden:
        raise InputError(f"no user has the {holdout + min_train} items a random hold-out needs; lower --holdout")
    return PerUserSplit("random", "artist", hidden, skipped,
                        train_counts=(user_ids[keep], item_ids[keep], counts[keep]), holdout=holdout, seed=seed)


# Evaluation


def training_matrix(split: PerUserSplit, weighting: str, params: ConfidenceParams) -> UserItems:
    if split.train_counts is not None:
        return count_user_items(*split.train_counts, params=params, weighting=weighting)
    return event_user_items(split.train_events, params, weighting, split.level)


def evaluate_per_user(split: PerUserSplit, specs: list[ModelSpec], k: int = 10,
                      params: ConfidenceParams = ConfidenceParams(), show_progress: bool = False) -> PerUserResult:
    """Fit every configuration on the split's training data and score its top-K for each evaluated user."""
    if k < 1:
        raise InputError(f"parameter k must be an integer >= 1, got {k!r}")
    result = PerUserResult(k=k, split=split.describe())
    matrices: dict[str, UserItems] = {}
    for spec in specs:
        weighting = spec.weighting if spec.model == "als" else "binary"
        if weighting not in matrices:
            matrices[weighting] = training_matrix(split, weighting, params)
        data = matrices[weighting]
        matrix = data.matrix if spec.model == "als" else data.positive(binary=True)
        eval_users = [u for u in split.hidden if u in data.users]
        rows = matrix[[data.users.index(u) for u in eval_users]]

        model = model_class(spec.model)(**spec.params)
        started = time.perf_counter()
        model.fit(matrix, show_progress=show_progress)
        fitted = time.perf_counter()
        ids, _ = model.recommend(rows, N=min(k, matrix.shape[1]), filter_already_liked_items=True)
        log.info("%s: fit %.1f s, %d users scored in %.1f s", spec.label, fitted - started, len(eval_users),
                 time.perf_counter() - fitted)

        scores = {m: np.zeros(len(split.hidden)) for m in METRICS}
        position = {u: i for i, u in enumerate(split.hidden)}
        for user, recommended in zip(eval_users, ids):
            items = [data.items.ids[i] for i in recommended if i >= 0]
            user_scores = score_user(items, split.hidden[user], k)
            for metric in METRICS:
                scores[metric][position[user]] = user_scores[metric]
        result.rows.append({
            "label": spec.label, "model": spec.model, "weighting": weighting, "users": len(split.hidden),
            **{m: float(scores[m].mean()) for m in METRICS}, "fit_seconds": fitted - started,
        })
        result.per_user_ndcg[spec.label] = scores["ndcg"]
    return result


def score_user(recommended: list[str], hidden: set[str], k: int) -> dict[str, float]:
    """Return recall@k, NDCG@k and MAP@k of one ranked list against the hidden items."""
    top = recommended[:k]
    hits = np.fromiter((item in hidden for item in top), dtype=bool, count=len(top))
    precision_at = np.cumsum(hits) / np.arange(1, len(top) + 1) if len(top) else np.zeros(0)
    average_precision = float((precision_at * hits).sum() / min(len(hidden), k)) if hidden else 0.0
    return {
        "recall": float(hits.sum() / len(hidden)) if hidden else 0.0,
        "ndcg": ndcg(top, hidden) if top else 0.0,
        "map": average_precision,
    }


def default_specs(ease_max_items: int = 5_000) -> list[ModelSpec]:
    """Every model, with ALS on confidence, raw counts and binary input."""
    return [
        ModelSpec("popularity", "popularity"),
        ModelSpec("als-confidence", "als", {"alpha": 1.0}, "confidence"),
        ModelSpec("als-raw", "als", {"alpha": 1.0}, "raw"),
        ModelSpec("als-binary", "als", {}, "binary"),
        ModelSpec("bpr", "bpr"),
        ModelSpec("itemknn", "itemknn"),
        ModelSpec("ease", "ease", {"max_items": ease_max_items}),
    ]


def _check_sizes(holdout: int, min_train: int) -> None:
    if holdout < 1:
        raise InputError(f"parameter holdout must be an integer >= 1, got {holdout!r}")
    if min_train < 1:
        raise InputError(f"parameter min_train must be an integer >= 1, got {min_train!r}")


def sparse_rows(matrix: sp.csr_matrix, users: IdMap, wanted: list[str]) -> sp.csr_matrix:
    return matrix[[users.index(u) for u in wanted]]
