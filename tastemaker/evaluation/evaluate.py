"""Train each model on a split, continue the test playlists and score them side by side."""

from __future__ import annotations

import csv
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..models import model_class
from ..products.continuation import continue_rows, popularity_order
from ..signals import PlaylistTracks
from ..signals.catalogue import Catalogue
from .metrics import clicks, ndcg, r_precision, recall_at
from .split import Split

log = logging.getLogger(__name__)

METRICS = ("r_precision", "ndcg", "clicks", "recall")
OVERALL = "overall"


@dataclass
class EvaluationResult:
    """Mean metrics per model and bucket, plus each model's timings."""

    n_recommendations: int
    rows: list[dict] = field(default_factory=list)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    reports: dict[str, dict] = field(default_factory=dict)

    def value(self, model: str, bucket: str, metric: str) -> float:
        for row in self.rows:
            if row["model"] == model and row["bucket"] == bucket:
                return row[metric]
        raise KeyError((model, bucket))

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(row["model"] for row in self.rows))

    @property
    def buckets(self) -> list[str]:
        return list(dict.fromkeys(row["bucket"] for row in self.rows))

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["model", "bucket", "playlists", *METRICS])
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()})

    def to_markdown(self) -> str:
        lines = [f"Recommendations per playlist: {self.n_recommendations}. "
                 f"Higher is better except clicks; recall is recall@{self.n_recommendations}.", ""]
        for metric in METRICS:
            lines.append(f"### {metric}")
            lines.append("")
            lines.append("| bucket | playlists | " + " | ".join(self.models) + " |")
            lines.append("|---|---:|" + "---:|" * len(self.models))
            for bucket in self.buckets:
                count = next(r["playlists"] for r in self.rows if r["bucket"] == bucket)
                values = " | ".join(f"{self.value(m, bucket, metric):.4f}" for m in self.models)
                lines.append(f"| {bucket} | {count} | {values} |")
            lines.append("")
        lines.append("### timings (seconds)")
        lines.append("")
        lines.append("| model | fit | recommend |")
        lines.append("|---|---:|---:|")
        for model, timing in self.timings.items():
            lines.append(f"| {model} | {timing['fit']:.2f} | {timing['recommend']:.2f} |")
        return "\n".join(lines) + "\n"


def score_lists(recommended: np.ndarray, test_hidden: list[set], test_buckets: list[str],
                n_recommendations: int) -> dict[str, dict[str, float]]:
    """Return mean metrics per bucket and overall for (k, N) lists of track ids."""
    per_playlist = {m: np.zeros(len(test_hidden)) for m in METRICS}
    for i, (items, hidden) in enumerate(zip(recommended, test_hidden)):
        items = list(items)
        per_playlist["r_precision"][i] = r_precision(items, hidden)
        per_playlist["ndcg"][i] = ndcg(items, hidden)
        per_playlist["clicks"][i] = clicks(items, hidden)
        per_playlist["recall"][i] = recall_at(items, hidden, n_recommendations)
    buckets = np.asarray(test_buckets)
    summary = {}
    for bucket in [*dict.fromkeys(test_buckets), OVERALL]:
        mask = np.ones(len(buckets), dtype=bool) if bucket == OVERALL else buckets == bucket
        summary[bucket] = {"playlists": int(mask.sum()),
                           **{m: float(per_playlist[m][mask].mean()) for m in METRICS}}
    return summary


def evaluate(split: Split, models: list[tuple[str, dict]], n_recommendations: int = 500,
             show_progress: bool = False, catalogue: Catalogue | None = None) -> EvaluationResult:
    """Fit every model on the split's training pairs and score its continuations of the test playlists.

    ``catalogue`` supplies artists and audio features to the models that use
    them; without it they see no artists and no audio.
    """
    data = PlaylistTracks.from_pairs(split.train_pids, split.train_uris)
    context = (catalogue or Catalogue()).context(data, split.names)
    rows, _ = data.rows_for([t.seeds for t in split.test])
    titles = [t.name for t in split.test]
    hidden = [set(t.hidden) for t in split.test]
    buckets = [t.bucket for t in split.test]
    n = min(n_recommendations, len(data.tracks))
    result = EvaluationResult(n_recommendations=n)
    log.info("split: %d training playlists, %d tracks, %d test playlists",
             data.matrix.shape[0], data.matrix.shape[1], len(split.test))

    order = None
    for label, params in models:
        name = params.get("model", label)
        model = model_class(name)(**{k: v for k, v in params.items() if k != "model"})
        started = time.perf_counter()
        model.fit(data.matrix, show_progress=show_progress, context=context)
        fitted = time.perf_counter()
        if order is None:
            order = popularity_order(model.item_popularity_)
        ids, _, _, _ = continue_rows(model, rows, n, order, titles)
        recommended = data.tracks.ids[np.where(ids >= 0, ids, 0)]
        recommended[ids < 0] = None
        done = time.perf_counter()
        result.timings[label] = {"fit": fitted - started, "recommend": done - fitted}
        if getattr(model, "report_", None):
            result.reports[label] = model.report_
        log.info("%s: fit %.1f s, %d continuations %.1f s", label, fitted - started, len(split.test), done - fitted)
        for bucket, values in score_lists(recommended, hidden, buckets, n).items():
            result.rows.append({"model": label, "bucket": bucket, **values})
    return result
