"""The simulation report: metrics per round per policy across seeds, the reward experiment and the world's fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..simulate.experiment import EXPLOITATION, SimulationResult
from ..simulate.fit import CurveFit
from .document import Document, pyplot, write_csv

ROUND_PLOTS = (("jaccard", "homogenisation (mean pairwise Jaccard)"), ("utility", "true utility per user"),
               ("artist_gini", "Gini of artist exposure"), ("top1_artist_share", "exposure share of top 1% artists"),
               ("tail_share", "long-tail share of exposure"), ("gs_score", "GS-score (higher: more specialist)"))
SUMMARY_COLUMNS = (("total_utility", "utility (sum over rounds)"), ("utility_vs_als", "utility vs ALS"),
                   ("jaccard", "final Jaccard"), ("jaccard_rise", "Jaccard rise"),
                   ("jaccard_rise_vs_als", "Jaccard rise vs ALS"), ("artist_gini", "artist Gini"),
                   ("top1_artist_share", "top-1% artist share"), ("tail_share", "tail share"),
                   ("gs_score", "GS-score"), ("paid_exposure_share", "paid artists' exposure"),
                   ("recommended_duration_s", "recommended duration (s)"), ("seconds_per_round", "s per round"))


def write_simulation_report(result: SimulationResult, out: Path, plots: bool = True) -> dict[str, Path]:
    """Write simulation.md and .html, the PNG figures, and rounds, summary, rewards and fit CSVs beside them."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "rounds_csv": write_csv(out / "rounds.csv", result.round_rows()),
        "summary_csv": write_csv(out / "summary.csv", result.summary()),
        "fit_csv": write_csv(out / "fit.csv", fit_rows(result)),
        "fit_points_csv": write_csv(out / "popularity-fit.csv", popularity_fit_points(result)),
    }
    if result.reward_runs:
        files["rewards_csv"] = write_csv(out / "rewards.csv", result.round_rows(result.reward_runs))
    if plots:
        files["rounds_png"] = plot_rounds(result, out / "rounds.png")
        files["homogenisation_png"] = plot_metric(result, "jaccard", "homogenisation (mean pairwise Jaccard)",
                                                  out / "homogenisation.png")
        files["tradeoff_png"] = plot_tradeoff(result, out / "tradeoff.png")
        if result.reward_runs:
            files["rewards_png"] = plot_rewards(result, out / "rewards.png")
        files["fit_png"] = plot_fit(result, out / "popularity-fit.png")

    document = Document("tastemaker simulation")
    _describe(document, result)
    _summary(document, result, plots)
    if result.reward_runs:
        _rewards(document, result, plots)
    _fit(document, result, plots)
    files["markdown"], files["html"] = document.write(out, "simulation")
    return files


def _describe(document: Document, result: SimulationResult) -> None:
    settings = result.settings
    world, loop = settings.world, settings.loop
    document.paragraph(
        f"{world.n_users} users, {world.n_tracks} tracks, {loop.rounds} rounds, slates of {loop.slate_size}, "
        f"reward: {loop.reward}; seeds {', '.join(map(str, settings.seeds))}; {result.run_count} runs in "
        f"{result.seconds:.0f} s. Calibration: {result.calibration.source}.")
    document.bullets([
        "Homogenisation is the mean Jaccard index of users' consumed sets over all pairs of users (Chaney, Stewart "
        "and Engelhardt 2018), the sets growing with every round's plays.",
        "Utility is the true preference summed over the tracks a user played in the round, averaged over users.",
        "Exposure metrics are of each round's slates, rank r weighted 1 / log2(r + 1); the long tail is the tracks "
        f"outside the most appealing ones that hold {loop.head_share:.0%} of appeal.",
        "The GS-score (Anderson et al. 2020) is the length of the mean of a user's unit track vectors over all "
        "plays so far, averaged over users: 1 when every track points the same way.",
        f"Paid artists: {loop.boosted_share:.0%} of artists, drawn with the seed; every policy reports their "
        "exposure, and the paid-boost policy promotes them.",
        "Bands and ± values are one standard deviation across seeds.",
    ])


def _summary(document: Document, result: SimulationResult, plots: bool) -> None:
    document.heading("Policies across seeds")
    rows = result.summary()
    document.table(["policy", *[label for _, label in SUMMARY_COLUMNS]],
                   [[row["policy"], *[_summary_cell(row, key) for key, _ in SUMMARY_COLUMNS]] for row in rows])
    document.paragraph(homogenisation_sentence(result))
    if plots:
        document.image("homogenisation.png", "Mean pairwise Jaccard of consumed sets per round (log scale where "
                                             "every value is positive); bands are one standard deviation across "
                                             "seeds.")
        document.image("rounds.png", "Metrics per round per policy, mean across seeds with one standard deviation.")
        document.image("tradeoff.png", "Rise in homogenisation against total utility per policy, across seeds.")


def homogenisation_sentence(result: SimulationResult) -> str:
    """State whether pure exploitation homogenises users and which policies slow it, at what utility cost."""
    rows = {row["policy"]: row for row in result.summary()}
    base = rows.get(EXPLOITATION)
    if base is None:
        return f"Pure exploitation ({EXPLOITATION}) was not run, so homogenisation is not compared."
    rising = base["jaccard_rise"] > 0
    parts = [f"Under pure ALS exploitation the mean pairwise Jaccard goes from "
             f"{base['jaccard'] - base['jaccard_rise']:.4f} in round 1 to {base['jaccard']:.4f} "
             f"({'rising' if rising else 'not rising'}, +{base['jaccard_rise']:.4f} ± {base['jaccard_rise_sd']:.4f})."]
    if "random" in rows:
        parts.append(f"Random recommendations, which learn nothing from the loop, rise by "
                     f"{rows['random']['jaccard_rise']:.4f}.")
    slower = [row for policy, row in rows.items() if policy not in (EXPLOITATION, "random")
              and "jaccard_rise_vs_als" in row and row["jaccard_rise_vs_als"] < 0]
    for row in sorted(slower, key=lambda r: r["jaccard_rise_vs_als"]):
        parts.append(f"{row['policy']} slows the rise by {-100 * row['jaccard_rise_vs_als']:.1f}% at "
                     f"{100 * row['utility_vs_als']:+.1f}% utility.")
    if not slower:
        parts.append("No policy other than random slows the rise.")
    return " ".join(parts)


def _rewards(document: Document, result: SimulationResult, plots: bool) -> None:
    document.heading("Reward: streamed 30 seconds against listened to the end")
    rows = []
    for reward in ("stream", "completion"):
        duration = result.series("recommended_duration_s", EXPLOITATION, result.reward_runs, reward)
        completion = result.series("completion_rate", EXPLOITATION, result.reward_runs, reward)
        utility = result.series("utility", EXPLOITATION, result.reward_runs, reward)
        if not len(duration):
            continue
        rows.append([reward, _mean_sd(duration[:, 0]), _mean_sd(duration[:, -1]),
                     _mean_sd(completion[:, -1]), _mean_sd(utility.sum(axis=1))])
    document.table(["reward", "recommended duration round 1 (s)", "final round (s)", "final completion rate",
                    "utility (sum)"], rows)
    document.paragraph("Both runs are ALS on the same worlds and histories. A stream counts after 30 seconds "
                       "whatever the length, while a long track is completed less often at equal preference, so a "
                       "completion reward favours short tracks.")
    if plots:
        document.image("rewards.png", "Mean recommended duration per round under each reward, with one standard "
                                      "deviation across seeds.")


def _fit(document: Document, result: SimulationResult, plots: bool) -> None:
    document.heading("Generated world against real data")
    document.paragraph("Popularity curves are Zipf-Mandelbrot fits rows(rank) = C / (rank + q)^s. The real curves "
                       "come from the calibration; the generated ones are fitted to the organic plays of the first "
                       "seed's world, a far smaller sample, so their head is flatter.")
    document.table(["quantity", "real data", "generated world"], [[r["quantity"], r["real"], r["generated"]]
                                                                   for r in fit_rows(result)])
    if plots:
        document.image("popularity-fit.png", "Rank-frequency of tracks: the real fitted curve scaled to the "
                                             "world's catalogue, and the generated organic plays.")


def fit_rows(result: SimulationResult) -> list[dict]:
    """Return the fit check as (quantity, real, generated) rows."""
    check = result.fit_check
    if not check:
        return []
    rows = []
    for kind in ("track", "artist"):
        real: CurveFit = check[f"real_{kind}_curve"]
        generated: CurveFit = check[f"generated_{kind}_curve"]
        for name in ("s", "q", "r2_log"):
            rows.append({"quantity": f"{kind} curve {name}", "real": float(getattr(real, name)),
                         "generated": float(getattr(generated, name))})
        rows.append({"quantity": f"{kind}s with plays", "real": real.n, "generated": generated.n})
    for name in ("tracks_per_artist", "early_skip_rate", "completion_rate", "median_duration_s"):
        rows.append({"quantity": name.replace("_", " "), "real": check[f"real_{name}"],
                     "generated": check[f"generated_{name}"]})
    return rows


def _summary_cell(row: dict, key: str) -> str:
    if key not in row:
        return "n/a"
    if key.endswith("_vs_als"):
        return f"{100 * row[key]:+.1f}%"
    sd = row.get(f"{key}_sd")
    return f"{row[key]:.4g} ± {sd:.2g}" if sd is not None else f"{row[key]:.4g}"


def _mean_sd(values: np.ndarray) -> str:
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.4g} ± {sd:.2g}"


def _band(axes, values: np.ndarray, label: str) -> None:
    rounds = np.arange(1, values.shape[1] + 1)
    mean = values.mean(axis=0)
    sd = values.std(axis=0, ddof=1) if values.shape[0] > 1 else np.zeros_like(mean)
    line, = axes.plot(rounds, mean, label=label, linewidth=1.4)
    low = np.where(mean - sd > 0, mean - sd, mean)
    axes.fill_between(rounds, low, mean + sd, color=line.get_color(), alpha=0.18, linewidth=0)


def plot_metric(result: SimulationResult, metric: str, title: str, path: Path) -> Path:
    """Plot one metric per round per policy; a log scale keeps policies that differ tenfold readable."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(8, 5))
    for policy in result.policies():
        _band(axes, result.series(metric, policy), policy)
    if all((result.series(metric, p) > 0).all() for p in result.policies()):
        axes.set_yscale("log")
    axes.set_xlabel("round")
    axes.set_title(title)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_rounds(result: SimulationResult, path: Path) -> Path:
    plt = pyplot()
    figure, grid = plt.subplots(2, 3, figsize=(15, 8))
    for axes, (metric, title) in zip(grid.ravel(), ROUND_PLOTS):
        for policy in result.policies():
            _band(axes, result.series(metric, policy), policy)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("round")
    grid.ravel()[0].legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_tradeoff(result: SimulationResult, path: Path) -> Path:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7, 5))
    for row in result.summary():
        axes.errorbar(row["total_utility"], row["jaccard_rise"], xerr=row["total_utility_sd"],
                      yerr=row["jaccard_rise_sd"], marker="o", capsize=3, label=row["policy"])
    axes.set_xlabel("total true utility per user over all rounds")
    axes.set_ylabel("rise in mean pairwise Jaccard, first to last round")
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_rewards(result: SimulationResult, path: Path) -> Path:
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for reward in ("stream", "completion"):
        values = result.series("recommended_duration_s", EXPLOITATION, result.reward_runs, reward)
        if len(values):
            _band(left, values, f"reward: {reward}")
            _band(right, result.series("completion_rate", EXPLOITATION, result.reward_runs, reward),
                  f"reward: {reward}")
    left.set_title("mean recommended duration (s)")
    right.set_title("share of plays completed")
    for axes in (left, right):
        axes.set_xlabel("round")
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def popularity_fit_points(result: SimulationResult) -> list[dict]:
    """Return, per track rank, the real fitted curve scaled to the organic plays, and the generated plays."""
    check = result.fit_check
    counts = check["generated_track_counts"]
    real: CurveFit = check["real_track_curve"]
    scaled = real.weights(len(counts)) * counts.sum()
    return [{"rank": rank + 1, "real_fit_scaled": float(scaled[rank]), "generated_plays": int(counts[rank])}
            for rank in range(len(counts))]


def plot_fit(result: SimulationResult, path: Path) -> Path:
    plt = pyplot()
    points = popularity_fit_points(result)
    real: CurveFit = result.fit_check["real_track_curve"]
    generated: CurveFit = result.fit_check["generated_track_curve"]
    ranks = np.array([p["rank"] for p in points])
    plays = np.array([p["generated_plays"] for p in points], dtype=np.float64)
    figure, axes = plt.subplots(figsize=(7, 5))
    axes.loglog(ranks[plays > 0], plays[plays > 0], marker=".", linestyle="none", markersize=3,
                label=f"generated organic plays (fit s={generated.s:.2f})")
    axes.loglog(ranks, [p["real_fit_scaled"] for p in points], label=f"real fit, scaled (s={real.s:.2f})")
    axes.set_xlabel("track rank")
    axes.set_ylabel("plays")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
