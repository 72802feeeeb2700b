"""Audit and simulation reports: Markdown and HTML pages, PNG figures, and the CSV behind every figure."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from .document import Document, pyplot, write_csv
from .run import GINI_CUT_TARGET, GROUPS, MAX_NDCG_LOSS, METRICS, NO_RERANK, AuditResult

log = logging.getLogger(__name__)

METRIC_LABELS = {
    "coverage": "catalogue coverage (share of tracks in any list)",
    "track_gini": "Gini of track exposure",
    "artist_gini": "Gini of artist exposure",
    "top1_artist_share": "exposure share of the top 1% of artists",
    "long_tail_share": "long-tail share of exposure",
    "popularity_lift": "popularity lift (list over history)",
    "novelty": "novelty (mean self-information, bits)",
    "intra_list_diversity": "intra-list diversity (mean cosine distance)",
    "artist_diversity": "share of track pairs by different artists",
    "calibration_kl": "calibration error (KL divergence, nats)",
    "duration_ratio": "duration ratio (recommended over catalogue mean)",
    "recommended_duration_s": "mean recommended duration (s)",
    "catalogue_duration_s": "mean catalogue duration (s)",
    "duration_known": "share of recommended slots with a known duration",
    "ndcg": "NDCG@N",
    "r_precision": "R-precision",
    "recall": "recall@N",
}


def variant_label(model: str, reranker: str, strength: float) -> str:
    return model if reranker == NO_RERANK else f"{model} + {reranker}:{strength:g}"


def write_audit_report(result: AuditResult, out: Path, plots: bool = True) -> dict[str, Path]:
    """Write audit.csv, frontier.csv, audit.md, audit.html and frontier-MODEL.png files into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"audit_csv": write_csv(out / "audit.csv", result.rows, ["model", "reranker", "strength", "group",
                                                                    "users", *METRICS])}
    points = [p for model in result.frontier_models for p in result.frontier(model)]
    if points:
        files["frontier_csv"] = write_csv(out / "frontier.csv", points)

    document = Document("tastemaker audit")
    _describe(document, result)
    _audit_tables(document, result)
    for model in result.frontier_models:
        figure = f"frontier-{model}.png"
        if plots:
            files[f"frontier_{model}"] = plot_frontier(result, model, out / figure)
        _frontier_section(document, result, model, figure if plots else None)
    _timings(document, result)
    files["markdown"], files["html"] = document.write(out, "audit")
    return files


def _describe(document: Document, result: AuditResult) -> None:
    settings = result.settings
    description = result.description
    items = description.get("items", "tracks")
    split = description.get("split") or (f"Split seed {description.get('seed', '?')}, buckets "
                                         f"{', '.join(description.get('per_bucket', {}))}")
    catalogue = f"{description.get('tracks', '?')} catalogue {items}"
    if items != "artists":
        catalogue += f" by {description.get('artists', '?')} artists"
    document.paragraph(
        f"Data: {description.get('source', 'unknown')}; audited rows: {audited_rows(result)} "
        f"{description.get('rows', 'users')}, {catalogue}. {split}.")
    categories = description.get("categories", "artist")
    category_note = description.get("category_note") or (
        "Calibration uses the artist as the category, because MPD has no genres."
        if categories == "artist" else "Calibration uses artist tags as categories.")
    notes = [
        f"Lists: the top {settings.N} of each model; re-rankers choose {settings.N} of the model's top "
        f"{settings.candidates} candidates.",
        f"Exposure weighting: {settings.weighting} (log: rank r gets 1 / log2(r + 1)). Gini and the top-1% share "
        f"are over every catalogue {'artist' if items == 'artists' else 'track or artist'}, including those never "
        "recommended.",
        f"Long tail: the {items} outside the most popular ones that hold {settings.head_share:.0%} of training "
        "interactions.",
        "Groups: rows split at the median of their history's mean track popularity; mainstream is the upper half, "
        "niche the lower.",
        category_note,
        "Intra-list diversity uses the track factors of one reference ALS model fitted on the training rows, the "
        "same for every audited model.",
        "Durations come from the tracks table (full MPD schema) or from ingested audio features; the duration rows "
        "state the share of slots whose duration is known, and read n/a where none is.",
    ]
    if description.get("input_note"):
        notes.append(description["input_note"])
    if items == "artists":
        notes.append("Every item is an artist, so the metrics named after tracks measure artists: the track and "
                     "artist figures coincide, every pair in a list is by different artists, and no item has a "
                     "duration.")
    document.bullets(notes)


def audited_rows(result: AuditResult) -> int | str:
    """Return the number of audited rows, from the ``all`` group of the plain lists."""
    rows = result.select(reranker=NO_RERANK, group="all")
    return rows[0]["users"] if rows else "?"


def _audit_tables(document: Document, result: AuditResult) -> None:
    variants = [(m, NO_RERANK, 0.0) for m in result.models] + \
               [(m, name, strength) for m in result.models for name, strength in result.reranks]
    groups = [g for g in GROUPS if result.select(group=g)] + \
             sorted({r["group"] for r in result.rows} - set(GROUPS))
    for group in groups:
        columns, values = [], []
        for model, name, strength in variants:
            rows = [r for r in result.select(model, name, group) if r["strength"] == strength]
            if rows:
                columns.append(variant_label(model, name, strength))
                values.append(rows[0])
        if not columns:
            continue
        document.heading(f"Audit: {group} ({values[0]['users']} rows)")
        table = [[METRIC_LABELS[m].replace("@N", f"@{result.settings.N}"), *[v[m] for v in values]]
                 for m in METRICS]
        document.table(["metric", *columns], table)


def _frontier_section(document: Document, result: AuditResult, model: str, figure: str | None) -> None:
    document.heading(f"Accuracy against artist-exposure Gini: {model}")
    points = result.frontier(model)
    document.table(["re-ranker", "strength", "NDCG", "NDCG change", "artist Gini", "Gini change"],
                   [[p["reranker"], f"{p['strength']:g}", p["ndcg"], _percent(p["ndcg_change"]), p["artist_gini"],
                     _percent(p["artist_gini_change"])] for p in points])
    document.paragraph(frontier_sentence(result, model))
    if figure:
        document.image(figure, f"NDCG@{result.settings.N} against the Gini of artist exposure for each re-ranker "
                               f"of {model}; the star is the plain list, labels are strengths.")


def frontier_sentence(result: AuditResult, model: str) -> str:
    """State whether a re-ranker cuts artist Gini by the target within the NDCG budget, or by how much all miss."""
    verdict = result.frontier_verdict(model)
    best = verdict["best_within_budget"]
    target = (f"the target is a cut of at least {GINI_CUT_TARGET:.0%} in artist-exposure Gini while losing at most "
              f"{MAX_NDCG_LOSS:.0%} NDCG")
    if not best:
        return f"No re-ranker stays within the NDCG budget at any strength tried, so {target} is not met."
    ranked = sorted(best.values(), key=lambda p: p["artist_gini_change"])
    top = ranked[0]
    summary = "; ".join(f"{p['reranker']} at {p['strength']:g}: Gini {_percent(p['artist_gini_change'])}, "
                        f"NDCG {_percent(p['ndcg_change'])}" for p in ranked)
    if verdict["meets_target"]:
        return f"Met: {top['reranker']} at strength {top['strength']:g} does it ({target}). Best per re-ranker " \
               f"within the NDCG budget: {summary}."
    miss = GINI_CUT_TARGET + top["artist_gini_change"]
    return (f"Not met: {target}. The largest cut within the budget is {top['reranker']} at strength "
            f"{top['strength']:g}, {_percent(top['artist_gini_change'])}, which misses the target by "
            f"{100 * miss:.1f} percentage points. Best per re-ranker within the budget: {summary}."
            f"{_reach(result, model)}")


def _reach(result: AuditResult, model: str) -> str:
    reachable = result.candidate_artists.get(model)
    if not reachable or not result.n_artists:
        return ""
    return (f" Re-rankers only reorder the model's top {result.settings.candidates} candidates, and those of all "
            f"lists together come from {reachable} of the {result.n_artists} catalogue artists "
            f"({reachable / result.n_artists:.1%}), so every other artist keeps zero exposure.")


def _timings(document: Document, result: AuditResult) -> None:
    document.heading("Timings (seconds)")
    document.table(["model", "fit", "recommend", "re-rank (all variants)"],
                   [[m, t["fit"], t["recommend"], t["rerank"]] for m, t in result.timings.items()])


def _percent(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:+.1f}%"


def plot_frontier(result: AuditResult, model: str, path: Path) -> Path:
    """Plot NDCG against artist-exposure Gini, one line per re-ranker through its strengths."""
    plt = pyplot()
    points = result.frontier(model)
    base = next(p for p in points if p["reranker"] == NO_RERANK)
    figure, axes = plt.subplots(figsize=(7, 5))
    for name in dict.fromkeys(p["reranker"] for p in points if p["reranker"] != NO_RERANK):
        line = sorted((p for p in points if p["reranker"] == name), key=lambda p: p["strength"])
        xs = [base["artist_gini"], *[p["artist_gini"] for p in line]]
        ys = [base["ndcg"], *[p["ndcg"] for p in line]]
        axes.plot(xs, ys, marker="o", label=name)
        for p in line:
            axes.annotate(f"{p['strength']:g}", (p["artist_gini"], p["ndcg"]), fontsize=7,
                          textcoords="offset points", xytext=(3, 3))
    axes.plot([base["artist_gini"]], [base["ndcg"]], marker="*", markersize=14, color="black", linestyle="none",
              label="plain list")
    axes.axvline(base["artist_gini"] * (1 - GINI_CUT_TARGET), color="grey", linestyle=":", linewidth=1)
    axes.axhline(base["ndcg"] * (1 - MAX_NDCG_LOSS), color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("Gini of artist exposure (lower is more equal)")
    axes.set_ylabel(f"NDCG@{result.settings.N}")
    axes.set_title(f"{model}: accuracy against artist-exposure Gini")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
