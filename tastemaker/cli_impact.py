"""Impact commands of the ``tastemaker`` CLI: ``audit`` and ``simulate``, defined on the app of cli.py.

cli.py imports this module at its end, which registers the commands.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .cli import ModelOption, ParamOption, app, console, errors, open_store, settings
from .errors import InputError

AUDIT_MODELS = ("popularity", "als", "itemknn")


def _progress(label: str) -> Progress:
    return Progress(TextColumn(f"[bold]{label}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.description}"), console=errors, disable=not settings.show_progress)


def _strengths(text: str) -> tuple[float, ...]:
    from .rerank.base import validate_strength

    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"invalid --strengths {text!r}: expected comma-separated numbers from 0 to 1, "
                         "for example 0.1,0.3,0.5") from None
    if not values:
        raise InputError("--strengths is empty: give comma-separated numbers from 0 to 1, for example 0.1,0.3,0.5")
    for value in values:
        validate_strength(value)
    return values


def _report_folder(out: Optional[Path], kind: str) -> Path:
    return out or settings.data_dir / "reports" / f"{kind}-{time.strftime('%Y%m%dT%H%M%S')}"


@app.command("audit")
def audit_command(
    model: ModelOption = None,
    param: ParamOption = None,
    users: Annotated[str, typer.Option(
        help="Rows to audit: playlists (held-out MPD playlists), plays (listeners' play events, temporal "
             "leave-last-out), hetrec (HetRec Last.fm play counts, seeded random hold-out of artists), or "
             "listening (plays when the store has play events, else hetrec).")] = "playlists",
    test_playlists: Annotated[int, typer.Option(
        min=1, help="Playlists to audit, spread over the buckets (--users playlists).")] = 1000,
    seeds: Annotated[Optional[list[int]], typer.Option(
        "--seeds", help="Keep only buckets with this many seed tracks (1, 5, 10, 25, 100); repeatable.")] = None,
    bucket: Annotated[Optional[list[str]], typer.Option(
        help="Keep only this bucket (first-1, first-5, random-5, ..., random-100); repeatable. "
             "Default: every bucket with seed tracks.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the split and the reference model.")] = 0,
    min_hidden: Annotated[int, typer.Option(
        min=1, help="Minimum hidden tracks per audited playlist (--users playlists).")] = 5,
    holdout: Annotated[Optional[int], typer.Option(
        min=1, help="Hidden items per listening user. Default: 10.")] = None,
    min_train: Annotated[Optional[int], typer.Option(
        min=1, help="Training items a listening user needs besides the hidden ones. Default: 5.")] = None,
    level: Annotated[Optional[str], typer.Option(
        help="Items recommended from play events: track or artist. Default: track.")] = None,
    max_users: Annotated[Optional[int], typer.Option(
        min=1, help="Audit a seeded sample of at most this many listening users; the rest still train. "
                    "Default: all.")] = None,
    n: Annotated[int, typer.Option("-n", min=1, help="Length of the audited lists.")] = 100,
    candidates: Annotated[int, typer.Option(min=1, help="Model candidates that re-rankers choose from.")] = 500,
    rerank: Annotated[Optional[list[str]], typer.Option(
        help="Also audit every model re-ranked as NAME:STRENGTH (calibration, mmr, fairness, popularity; "
             "strength from 0 to 1); repeatable.")] = None,
    frontier: Annotated[Optional[list[str]], typer.Option(
        help="Model whose accuracy against artist-exposure Gini is traced for every re-ranker; repeatable. "
             "Default: als when audited.")] = None,
    no_frontier: Annotated[bool, typer.Option("--no-frontier", help="Skip the frontier.")] = False,
    strengths: Annotated[str, typer.Option(help="Comma-separated re-ranker strengths of the frontier.")]
    = "0.05,0.1,0.2,0.3,0.5,0.75,1",
    categories: Annotated[str, typer.Option(
        help="Categories for calibration: artist, tag (artist tags, from HetRec), or auto (tags where they "
             "cover most tracks).")] = "auto",
    weighting: Annotated[str, typer.Option(help="Exposure per rank: log (1 / log2(rank + 1)) or uniform.")] = "log",
    out: Annotated[Optional[Path], typer.Option(help="Folder for the reports; default under DATA_DIR/reports.")]
    = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw PNG figures (needs matplotlib).")] = True,
) -> None:
    """Audit models' side effects on held-out playlists or listeners: exposure, popularity, diversity, calibration."""
    from .audit.data import playlist_audit_data
    from .audit.exposure import WEIGHTINGS
    from .audit.listening_data import listening_audit_data
    from .audit.report import frontier_sentence, write_audit_report
    from .audit.run import AuditSettings, run_audit
    from .pipeline import parse_model_params
    from .rerank import RERANKERS, parse_rerank_spec

    models = parse_model_params(model or list(AUDIT_MODELS), param or [])
    reranks = [parse_rerank_spec(spec) for spec in rerank or []]
    if weighting not in WEIGHTINGS:
        raise InputError(f"invalid --weighting {weighting!r}: choose one of {', '.join(WEIGHTINGS)}")
    labels = [label for label, _ in models]
    if no_frontier:
        frontier_models = []
    elif frontier:
        frontier_models = list(frontier)
    else:
        frontier_models = ["als"] if "als" in labels else []
    missing = [m for m in frontier_models if m not in labels]
    if missing:
        raise InputError(f"invalid --frontier {missing[0]!r}: it is not among the audited models ({', '.join(labels)})")
    grid = _strengths(strengths)

    listening = _listening_data(users, seeds, bucket, holdout, min_train, level, max_users)

    with open_store(read_only=True) as store:
        if listening is None:
            data = playlist_audit_data(store, test_playlists, bucket, seeds, seed, min_hidden, categories)
        else:
            # NOTE: ALS reads confidence weights with the default ConfidenceParams; unlike evaluate-users, audit
            # has no options to change them.
            data = listening_audit_data(store, listening, level or "track", holdout or 10, min_train or 5, seed,
                                        categories, max_users=max_users)
    audit_settings = AuditSettings(N=n, candidates=candidates, weighting=weighting, seed=seed)
    extra = len([(name, s) for name in RERANKERS for s in grid if (name, s) not in reranks])
    total = len(models) * (1 + len(reranks)) + len(frontier_models) * extra
    with _progress("audit") as progress:
        task = progress.add_task("", total=total)
        result = run_audit(data, models, audit_settings, reranks, frontier_models, grid,
                           progress=lambda step: progress.update(task, advance=1, description=step))

    folder = _report_folder(out, "audit")
    files = write_audit_report(result, folder, plots=plots)
    print_audit(result)
    for model_label in frontier_models:
        console.print(f"frontier of {model_label}: {frontier_sentence(result, model_label)}")
    console.print(f"reports written to {folder}: {', '.join(sorted(p.name for p in files.values()))}")


AUDITED_USERS = ("playlists", "listening", "plays", "hetrec")


def _listening_data(users: str, seeds, bucket, holdout, min_train, level, max_users) -> str | None:
    """Check the options that belong to one kind of audited rows; return the listening data, None for playlists."""
    if users not in AUDITED_USERS:
        raise InputError(f"invalid --users {users!r}: choose one of {', '.join(AUDITED_USERS)}")
    listening_options = {"--holdout": holdout, "--min-train": min_train, "--level": level, "--max-users": max_users}
    if users == "playlists":
        misplaced = [name for name, value in listening_options.items() if value is not None]
        if misplaced:
            raise InputError(f"{misplaced[0]} applies to listening users only; add --users listening, plays or "
                             "hetrec, or leave it out")
        return None
    misplaced = [name for name, value in (("--seeds", seeds), ("--bucket", bucket)) if value]
    if misplaced:
        raise InputError(f"{misplaced[0]} applies to playlists only, not to --users {users}; leave it out")
    if level is not None and users == "hetrec":
        raise InputError("--level applies to play events only: HetRec play counts are per artist")
    if level is not None and level not in ("track", "artist"):
        raise InputError(f"invalid --level {level!r}: choose track or artist")
    return "auto" if users == "listening" else users


def print_audit(result) -> None:
    """Print the main audit figures of the ``all`` group, one row per model and re-ranker."""
    from .audit.document import format_cell
    from .audit.report import audited_rows, variant_label
    from .audit.run import NO_RERANK

    columns = ("ndcg", "coverage", "artist_gini", "top1_artist_share", "long_tail_share", "popularity_lift",
               "novelty", "intra_list_diversity", "calibration_kl", "duration_ratio")
    table = Table(title=f"audit of {audited_rows(result)} lists of {result.settings.N}")
    table.add_column("model")
    for column in columns:
        table.add_column(column, justify="right")
    wanted = {(NO_RERANK, 0.0), *result.reranks}
    for row in result.select(group="all"):
        if (row["reranker"], row["strength"]) in wanted:
            table.add_row(variant_label(row["model"], row["reranker"], row["strength"]),
                          *[format_cell(float(row[c])) for c in columns])
    console.print(table)


@app.command("simulate")
def simulate_command(
    policy: Annotated[Optional[list[str]], typer.Option(
        "--policy", help="Policy to run: popularity, random, oracle, als, als-explore:EPSILON, "
                         "als+RERANKER:STRENGTH (calibration, mmr, fairness, popularity), paid-boost:BOOST; "
                         "repeatable. Default: all of them.")] = None,
    seed: Annotated[Optional[list[int]], typer.Option(
        "--seed", help="Seed of one world and its runs; repeatable. Default: 0, 1 and 2.")] = None,
    users: Annotated[int, typer.Option(min=2, help="Users in the generated world.")] = 1000,
    tracks: Annotated[int, typer.Option(min=10, help="Tracks in the generated world.")] = 5000,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds of recommend, play, retrain.")] = 20,
    slate_size: Annotated[int, typer.Option(min=1, help="Tracks recommended to each user per round.")] = 10,
    reward: Annotated[str, typer.Option(
        help="What counts as a positive play for retraining: stream (at least 30 s) or completion.")] = "stream",
    reward_experiment: Annotated[bool, typer.Option(
        "--reward-experiment/--no-reward-experiment",
        help="Also run ALS rewarded by streams and by completions to compare recommended durations.")] = True,
    calibration: Annotated[str, typer.Option(
        help="Real data the world is fitted to: store (the playlists in DATA_DIR), builtin (constants measured "
             "on the MPD sample), or auto (store when it has playlists).")] = "auto",
    skip_log: Annotated[Optional[Path], typer.Option(
        help="Spotify skip-challenge CSV whose skip and completion rates the listening model matches.")] = None,
    events: Annotated[str, typer.Option(
        help="Where play events go: store (tables in DATA_DIR's store, read back to retrain) or memory.")]
    = "store",
    out: Annotated[Optional[Path], typer.Option(help="Folder for the reports; default under DATA_DIR/reports.")]
    = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw PNG figures (needs matplotlib).")] = True,
) -> None:
    """Simulate the recommend-consume-retrain feedback loop in a generated world calibrated on real data."""
    from dataclasses import replace

    from .audit.simulation_report import homogenisation_sentence, write_simulation_report
    from .simulate.experiment import DEFAULT_POLICIES, ExperimentSettings, run_experiment
    from .simulate.fit import DEFAULT_CALIBRATION, calibrate_from_store, skip_rates
    from .simulate.loop import LoopSettings, MemoryEvents, StoreEvents
    from .simulate.policies import make_policy
    from .simulate.world import WorldParams

    if calibration not in ("auto", "store", "builtin"):
        raise InputError(f"invalid --calibration {calibration!r}: choose auto, store or builtin")
    if events not in ("store", "memory"):
        raise InputError(f"invalid --events {events!r}: choose store or memory")
    policies = tuple(policy or DEFAULT_POLICIES)
    for spec in policies:
        make_policy(spec)
    if reward not in ("stream", "completion"):
        raise InputError(f"invalid --reward {reward!r}: choose stream or completion")
    if slate_size > tracks:
        raise InputError(f"--slate-size {slate_size} is larger than --tracks {tracks}")
    world = WorldParams(n_users=users, n_tracks=tracks)
    world.validate()
    loop = LoopSettings(rounds=rounds, slate_size=slate_size, reward=reward)
    experiment = ExperimentSettings(policies=policies, seeds=tuple(seed or (0, 1, 2)), world=world, loop=loop,
                                   reward_experiment=reward_experiment)

    with open_store() as store:
        fitted = DEFAULT_CALIBRATION
        has_playlists = store.counts()["playlist_tracks"] >= 10
        if calibration == "store" or (calibration == "auto" and has_playlists):
            fitted = calibrate_from_store(store, skip_log)
        elif skip_log is not None:
            early, completed = skip_rates(skip_log)
            fitted = replace(DEFAULT_CALIBRATION, early_skip_rate=early, completion_rate=completed,
                             source=f"{DEFAULT_CALIBRATION.source}; skip rates from {skip_log}")
        sink = StoreEvents(store) if events == "store" else MemoryEvents()
        runs = len(experiment.seeds) * (len(policies) + (2 if reward_experiment else 0))
        with _progress("simulate") as progress:
            task = progress.add_task("", total=runs)
            result = run_experiment(experiment, fitted, sink,
                                    progress=lambda step: progress.update(task, advance=1, description=step))

    folder = _report_folder(out, "simulation")
    files = write_simulation_report(result, folder, plots=plots)
    print_simulation(result)
    console.print(homogenisation_sentence(result))
    console.print(f"reports written to {folder}: {', '.join(sorted(p.name for p in files.values()))}")


def print_simulation(result) -> None:
    """Print the per-policy summary across seeds."""
    table = Table(title=f"simulation: {len(result.settings.seeds)} seeds, {result.settings.loop.rounds} rounds")
    columns = (("total_utility", "utility"), ("jaccard", "Jaccard"), ("jaccard_rise", "rise"),
               ("artist_gini", "artist Gini"), ("tail_share", "tail"), ("gs_score", "GS"),
               ("paid_exposure_share", "paid"), ("seconds_per_round", "s/round"))
    table.add_column("policy")
    for _, label in columns:
        table.add_column(label, justify="right")
    for row in result.summary():
        table.add_row(row["policy"], *[f"{row[key]:.4g}" for key, _ in columns])
    console.print(table)
