"""The ``tastemaker`` command."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Optional

import duckdb
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .errors import InputError, TastemakerError
from .ingest import IngestReport, ingest_challenge, ingest_mpd
from .ingest.mpd import read_challenge
from .models import MODELS
from .pipeline import (
    DEFAULT_MODELS,
    continue_seed_lists,
    load_current_bundle,
    parse_model_params,
    run_evaluation,
    timed,
    train,
    write_submission,
)
from .store import Store

log = logging.getLogger("tastemaker")
# Piped output gets a wide console, so tables keep whole ids and numbers.
console = Console(width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

app = typer.Typer(
    help="tastemaker: music recommendation from playlists and listening data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
ingest_app = typer.Typer(help="Load source files into the store.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


class Settings:
    data_dir: Path = Path("tastemaker-data")
    show_progress: bool = False


settings = Settings()


@app.callback()
def main_options(
    data_dir: Annotated[Path, typer.Option(
        "--data-dir", envvar="TASTEMAKER_DATA_DIR",
        help="Folder of the store (tastemaker.duckdb), bundles and reports.")] = Path("tastemaker-data"),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages too.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log warnings and errors only.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"tastemaker {__version__}")
        raise typer.Exit()
    settings.data_dir = data_dir
    settings.show_progress = errors.is_terminal and not quiet
    level = logging.INFO
    if verbose:
        level = logging.DEBUG
    elif quiet:
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(message)s", datefmt="[%X]", force=True,
                        handlers=[RichHandler(console=errors, show_path=False, rich_tracebacks=False)])
    for noisy in ("implicit", "gensim"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def open_store(read_only: bool = False) -> Store:
    return Store.open(settings.data_dir, read_only=read_only)


# Ingest


def _run_ingest(kind: str, paths: list[Path]) -> IngestReport:
    function = ingest_mpd if kind == "mpd" else ingest_challenge
    with open_store() as store, Progress(
        TextColumn("[bold]ingest[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=errors, disable=not settings.show_progress,
    ) as progress:
        task = progress.add_task("", total=None)

        def advance(path: Path, _report) -> None:
            progress.update(task, advance=1, description=path.name)

        started = time.perf_counter()
        report = function(store, list(paths), progress=advance)
        elapsed = time.perf_counter() - started
    print_ingest_report(report, elapsed)
    return report


def print_ingest_report(report: IngestReport, elapsed: float) -> None:
    statuses = report.files_by_status
    table = Table(title="ingest report", show_header=True)
    table.add_column("records")
    for column in ("read", "loaded", "merged", "rejected"):
        table.add_column(column, justify="right")
    total = report.total
    table.add_row("playlists", str(total("playlists_read")), str(total("playlists_loaded")), "-",
                  str(total("playlists_rejected")))
    table.add_row("tracks", str(total("tracks_read")), str(total("tracks_loaded")), str(total("tracks_merged")),
                  str(total("tracks_rejected")))
    console.print(table)
    console.print(
        f"files: {len(report.files)} read, {statuses.get('loaded', 0)} loaded, "
        f"{statuses.get('skipped', 0)} skipped as already ingested, {statuses.get('rejected', 0)} rejected "
        f"({elapsed:.1f} s)"
    )
    if statuses.get("skipped") == len(report.files):
        console.print("every file was ingested before; nothing changed")
    for file in report.files:
        if file.status == "rejected":
            errors.print(f"[red]rejected file[/]: {file.message}", highlight=False)
    reasons = {k: v for k, v in report.reasons.items() if k != "invalid file"}
    if reasons:
        console.print("rejected records by reason:")
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            console.print(f"  {count:>8}  {reason}")
    for file in report.files:
        for warning in file.warnings:
            errors.print(f"[yellow]warning[/]: {warning}", highlight=False)


def _exit_for(report: IngestReport) -> None:
    """Print this run's rejects (whole files are already printed) and exit 1 when there are any."""
    playlists = report.total("playlists_rejected")
    tracks = report.total("tracks_rejected")
    if not (report.failed_files or playlists or tracks):
        return
    files = {f.file for f in report.files if f.status == "loaded"}
    with open_store(read_only=True) as store:
        shown = [row for row in store.rejects(limit=1000) if row[0] in files and row[1] is not None][:10]
    for file, record, item, field, value, reason in shown:
        location = f"{file}, playlist {record}"
        if item is not None:
            location += f", track {item}"
        if field is not None:
            location += f", field {field!r}"
        errors.print(f"  {location}: {reason}" + (f" (value: {value})" if value is not None else ""),
                     highlight=False)
    errors.print(
        f"[red]error[/]: rejected {len(report.failed_files)} file(s), {playlists} playlist(s) and {tracks} "
        "track row(s), the rows of rejected playlists included; everything valid was loaded. Fix the records "
        "listed above and ingest the fixed files again; every rejected record is kept in the store's rejects "
        "table.", highlight=False)
    raise typer.Exit(1)


@ingest_app.command("mpd")
def ingest_mpd_command(
    paths: Annotated[list[Path], typer.Argument(help="MPD slice files (.json or .json.gz) or folders of them.")],
) -> None:
    """Ingest Million Playlist Dataset slices, full or reduced schema."""
    _exit_for(_run_ingest("mpd", paths))


@ingest_app.command("challenge")
def ingest_challenge_command(
    paths: Annotated[list[Path], typer.Argument(help="RecSys Challenge 2018 challenge_set.json files.")],
) -> None:
    """Ingest a RecSys Challenge 2018 challenge set: playlists to continue, with their seeds."""
    _exit_for(_run_ingest("challenge", paths))


@ingest_app.command("audio-features")
def ingest_audio_features_command(
    path: Annotated[Path, typer.Argument(help="CSV of Spotify audio features keyed by track id or URI.")],
    key_column: Annotated[Optional[str], typer.Option(help="Name of the track id column; found by name if omitted.")] = None,
) -> None:
    """Ingest a table of audio features (danceability, energy, tempo, ...) and report catalogue coverage."""
    from .ingest.audio_features import ingest_audio_features

    with open_store() as store:
        report = ingest_audio_features(store, path, key_column)
    console.print(f"audio features from {path}: {report.rows_read} rows read, {report.rows_loaded} loaded, "
                  f"{report.rows_merged} merged ({report.merged_already_stored} already stored), "
                  f"{report.rows_rejected} rejected ({report.seconds:.1f} s)")
    for reason, count in report.reasons.most_common():
        console.print(f"  {count:>8}  {reason}")
    for example in report.examples[:10]:
        errors.print(f"  {example}", highlight=False)
    coverage = report.coverage
    if coverage is not None:
        console.print(f"coverage: {coverage.tracks_with_features} of {coverage.tracks} catalogue tracks "
                      f"({coverage.track_share:.1%}), {coverage.occurrences_with_features} of "
                      f"{coverage.occurrences} playlist rows ({coverage.occurrence_share:.1%})")
    if report.rows_rejected:
        raise typer.Exit(1)


# Train and evaluate

ModelOption = Annotated[Optional[list[str]], typer.Option(
    "--model", "-m", help=f"Model to include; repeat for several. Choices: {', '.join(MODELS)}.")]
ParamOption = Annotated[Optional[list[str]], typer.Option(
    "--param", "-p", help="Model parameter as MODEL.NAME=VALUE, for example als.factors=64; repeatable.")]


@app.command("train")
def train_command(
    model: ModelOption = None,
    param: ParamOption = None,
    default: Annotated[Optional[str], typer.Option(help="Model that recommend and continue use by default.")] = None,
    engine: Annotated[str, typer.Option(help="local, or spark to train als, item2vec and popularity on Spark.")] = "local",
    master: cli_spark.MasterOption = None,
    input_path: cli_spark.InputOption = None,
) -> None:
    """Train models on every stored playlist and publish them as the current bundle."""
    if engine != "local" or master is not None or input_path is not None:
        cli_spark.train_with_spark(engine, model, param, default, master, input_path)
        return
    models = parse_model_params(model or list(DEFAULT_MODELS), param or [])
    if default is not None and default not in dict(models):
        raise InputError(f"--default {default!r} is not among the trained models ({', '.join(dict(models))})")
    with open_store(read_only=True) as store:
        path = train(store, settings.data_dir, models, default, settings.show_progress)
    console.print(f"bundle written: {path}")


@app.command("evaluate")
def evaluate_command(
    model: ModelOption = None,
    param: ParamOption = None,
    test_playlists: Annotated[int, typer.Option(min=1, help="Number of test playlists, spread over the buckets.")] = 1000,
    seeds: Annotated[Optional[list[int]], typer.Option(
        "--seeds", help="Keep only buckets with this many seed tracks (0, 1, 5, 10, 25, 100); repeatable.")] = None,
    bucket: Annotated[Optional[list[str]], typer.Option(
        help="Keep only this bucket (title, first-1, first-5, random-5, ..., random-100); repeatable.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the split.")] = 0,
    min_hidden: Annotated[int, typer.Option(min=1, help="Minimum hidden tracks per test playlist.")] = 5,
    n: Annotated[int, typer.Option("-n", min=1, help="Recommendations per playlist.")] = 500,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the CSV and Markdown reports.")] = None,
) -> None:
    """Score models side by side on held-out playlists, RecSys Challenge 2018 style."""
    models = parse_model_params(model or list(DEFAULT_MODELS), param or [])
    with open_store(read_only=True) as store:
        result, split = run_evaluation(store, models, test_playlists, bucket, seeds, seed, min_hidden, n,
                                       settings.show_progress)
    print_evaluation(result)
    out = out or settings.data_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    result.write_csv(out / f"evaluation-{stamp}.csv")
    header = f"# Evaluation\n\nSplit: {split}\n\n"
    (out / f"evaluation-{stamp}.md").write_text(header + result.to_markdown())
    console.print(f"reports written: {out / f'evaluation-{stamp}.csv'} and .md")


def print_evaluation(result) -> None:
    for metric, label in (("r_precision", "R-precision"), ("ndcg", "NDCG"), ("clicks", "clicks (lower is better)"),
                          ("recall", f"recall@{result.n_recommendations}")):
        table = Table(title=label)
        table.add_column("bucket")
        table.add_column("playlists", justify="right")
        for name in result.models:
            table.add_column(name, justify="right")
        for bucket in result.buckets:
            count = next(r["playlists"] for r in result.rows if r["bucket"] == bucket)
            fmt = "{:.2f}" if metric == "clicks" else "{:.4f}"
            table.add_row(bucket, str(count), *[fmt.format(result.value(m, bucket, metric)) for m in result.models])
        console.print(table)


# Recommend and continue


@app.command("recommend")
def recommend_command(
    playlist: Annotated[Optional[int], typer.Option(help="Continue this stored playlist (its pid).")] = None,
    seed_track: Annotated[Optional[list[str]], typer.Option(
        "--seed-track", help="Seed track URI, for example spotify:track:...; repeatable.")] = None,
    title: Annotated[Optional[str], typer.Option(help="Playlist title, for models that use titles.")] = None,
    n: Annotated[int, typer.Option("-n", help="Number of tracks to recommend.")] = 10,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model of the current bundle to use.")] = None,
    user: Annotated[Optional[str], typer.Option(
        "--user", help="Recommend from this user's imported listening history instead.")] = None,
    rerank: Annotated[Optional[str], typer.Option(
        help="Re-rank as NAME:STRENGTH, NAME one of calibration, mmr, fairness, popularity; strength 0 to 1.")] = None,
) -> None:
    """Recommend tracks for a stored playlist, or for seed tracks and a title."""
    if user is not None:
        if playlist is not None or seed_track or title or rerank:
            raise InputError("give --user NAME alone, without --playlist, --seed-track, --title or --rerank")
        cli_listening.print_user_recommendations(user, n, model)
        return
    if playlist is not None and (seed_track or title):
        raise InputError("give either --playlist PID, or --seed-track URI and --title TEXT, not both")
    if playlist is None and not seed_track and not title:
        raise InputError("give --playlist PID, or one or more --seed-track URI, or a --title")
    with open_store(read_only=True) as store:
        if playlist is not None:
            title, seeds = store.playlist(playlist)
            console.print(f"playlist {playlist}: {title!r}, {len(seeds)} tracks")
        else:
            seeds = list(seed_track or [])
        bundle = load_current_bundle(settings.data_dir)
        result = continue_seed_lists(bundle, [seeds], n, model, [title], rerank)[0]
        metadata = store.track_metadata(result.track_ids)
    if result.unknown_seeds:
        errors.print(f"[yellow]warning[/]: {len(result.unknown_seeds)} seed tracks are not in the model's "
                     f"catalogue and were ignored: {', '.join(result.unknown_seeds[:5])}", highlight=False)
    if result.fallback:
        errors.print(f"[yellow]fallback[/]: {result.fallback}", highlight=False)
    print_tracks(result, metadata, f"model {model or bundle.default_model}, bundle {bundle.path.name}")


def print_tracks(result, metadata: dict, title: str) -> None:
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("artist")
    table.add_column("track")
    table.add_column("score", justify="right")
    table.add_column("source")
    table.add_column("uri")
    for rank, (uri, score, source) in enumerate(zip(result.track_ids, result.scores, result.sources), start=1):
        track_name, artist = metadata.get(uri, (None, None))
        score_text = "-" if score != score else f"{score:.4f}"
        table.add_row(str(rank), artist or "?", track_name or "?", score_text, source, uri)
    console.print(table)


@app.command("continue")
def continue_command(
    challenge: Annotated[Path, typer.Option(help="challenge_set.json whose playlists to continue.")],
    out: Annotated[Path, typer.Option(help="Submission CSV to write.")],
    team_info: Annotated[str, typer.Option(help="Team name and contact e-mail, comma-separated.")] = "tastemaker,tastemaker@localhost",
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model of the current bundle to use.")] = None,
    n: Annotated[int, typer.Option("-n", help="Tracks per playlist; the challenge requires 500.")] = 500,
    rerank: Annotated[Optional[str], typer.Option(
        help="Re-rank as NAME:STRENGTH, NAME one of calibration, mmr, fairness, popularity; strength 0 to 1.")] = None,
) -> None:
    """Write a RecSys Challenge 2018 submission: N new tracks for every challenge playlist."""
    with timed("read the challenge set"):
        playlists, report = read_challenge(challenge)
    if report.tracks_rejected:
        log.warning("%d seed entries were invalid and ignored", report.tracks_rejected)
    bundle = load_current_bundle(settings.data_dir)
    with timed(f"continue {len(playlists)} playlists"):
        results = continue_seed_lists(bundle, [p.seeds for p in playlists], n, model, [p.name for p in playlists],
                                      rerank)
    fallbacks = sum(1 for r in results if r.fallback)
    for playlist, result in zip(playlists, results):
        if result.fallback:
            log.info("playlist %d (%r): %s", playlist.pid, playlist.name, result.fallback)
    write_submission(out, [p.pid for p in playlists], results, team_info, n)
    console.print(f"submission written: {out} ({len(playlists)} playlists, {fallbacks} from the fallback)")


# Demo and generated data


@app.command("generate")
def generate_command(
    out: Annotated[Path, typer.Argument(help="Folder to write generated MPD slice files into.")],
    playlists: Annotated[int, typer.Option(min=10, help="Number of playlists.")] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write generated playlists in the MPD format (not real data)."""
    from .generate import generate_mpd

    paths = generate_mpd(out, n_playlists=playlists, seed=seed)
    console.print(f"wrote {len(paths)} generated slice files to {out}")


@app.command("demo")
def demo_command(
    mpd: Annotated[Optional[Path], typer.Option(help="Real MPD slices to use instead of generated data.")] = None,
    test_playlists: Annotated[int, typer.Option(min=10, help="Test playlists for the evaluation.")] = 1000,
    examples: Annotated[int, typer.Option(min=0, help="Example continuations to print.")] = 3,
) -> None:
    """Ingest data (generated unless --mpd is given), train, evaluate and show continuations."""
    from .demo import run_demo

    run_demo(settings.data_dir, mpd, test_playlists, examples, settings.show_progress, console)


@app.command("status")
def status_command() -> None:
    """Show the row counts of the store and which bundle is current."""
    with open_store(read_only=True) as store:
        snapshot = store.snapshot()
    for table, count in snapshot["counts"].items():
        console.print(f"{table:>16}: {count}")
    try:
        bundle = load_current_bundle(settings.data_dir)
        console.print(f"current bundle: {bundle.path.name} (models: {', '.join(bundle.models)})")
    except TastemakerError as exc:
        console.print(f"current bundle: none ({exc})")


def main() -> None:
    """Run the CLI; errors tastemaker raises on purpose print one message and exit 1, without a traceback."""
    try:
        app()
    except TastemakerError as exc:
        errors.print(f"[red]error[/]: {exc}", highlight=False)
        sys.exit(1)
    except duckdb.IOException as exc:
        errors.print(f"[red]error[/]: cannot use the store in {settings.data_dir}: {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(130)


from . import cli_listening  # noqa: E402  (registers the listening-history commands)

from . import cli_impact  # noqa: E402  (registers the audit and simulate commands)

from . import cli_spark  # noqa: E402  (registers the export and recommend-all commands)

from . import cli_products  # noqa: E402  (registers home, discover-weekly, daily-mix, radio and the other products)

from . import cli_content  # noqa: E402  (registers ingest audio, train-content, onboard and cold-start)

from . import cli_serve  # noqa: E402  (registers serve, the HTTP API and web page)
