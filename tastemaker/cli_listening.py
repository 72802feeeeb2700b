"""Listening-history commands of the ``tastemaker`` CLI, defined on the apps of cli.py.

cli.py imports this module at its end, which registers: ``ingest
spotify-extended``, ``ingest spotify-account``, ``ingest lastfm-1k``,
``ingest hetrec``, ``ingest listenbrainz``, ``import-spotify``,
``generate-listening``, ``train-listening``, ``evaluate-users`` and
``train-skip``; ``recommend --user`` calls ``print_user_recommendations``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .cli import app, console, errors, ingest_app, open_store, print_tracks, settings
from .errors import InputError
from .ingest.hetrec import ingest_hetrec
from .ingest.lastfm import ingest_lastfm_1k
from .ingest.listening_base import ListeningIngestReport, SourceFile, expand_sources
from .ingest.listenbrainz import ingest_listenbrainz
from .ingest.spotify import (
    ACCOUNT_FILES,
    ANY_HISTORY_FILES,
    EXTENDED_FILES,
    AccountHistoryIngest,
    ExtendedHistoryIngest,
    ingest_spotify_account,
    ingest_spotify_extended,
)
from .ingest.timeparse import resolve_zone
from .signals.confidence import ConfidenceParams
from .store.listening import rejects_of

UserOption = Annotated[Optional[str], typer.Option(
    "--user", help="Account name the plays belong to; stored only as a salted hash. Overrides names in the files.")]


# Ingest


def _run(label: str, ingest: Callable[..., ListeningIngestReport]) -> ListeningIngestReport:
    with open_store() as store, Progress(
        TextColumn(f"[bold]{label}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=errors, disable=not settings.show_progress,
    ) as progress:
        task = progress.add_task("", total=None)

        def advance(source: SourceFile, _report) -> None:
            progress.update(task, advance=1, description=source.name)

        started = time.perf_counter()
        report = ingest(store, advance)
        elapsed = time.perf_counter() - started
    print_listening_report(report, elapsed)
    return report


def print_listening_report(report: ListeningIngestReport, elapsed: float) -> None:
    total = report.total
    table = Table(title="ingest report", show_header=True)
    for column in ("rows read", "loaded", "merged (duplicates)", "rejected", "set aside"):
        table.add_column(column, justify="right")
    table.add_row(*(str(total(name)) for name in ("rows_read", "rows_loaded", "rows_merged", "rows_rejected",
                                                  "rows_set_aside")))
    console.print(table)

    statuses = report.files_by_status
    console.print(f"files: {len(report.files)} read, {statuses.get('loaded', 0)} loaded, "
                  f"{statuses.get('skipped', 0)} skipped as already ingested, {statuses.get('rejected', 0)} rejected "
                  f"({elapsed:.1f} s)")
    if report.files and statuses.get("skipped") == len(report.files):
        console.print("every file was ingested before; nothing changed")
    set_aside = report.set_aside
    if set_aside:
        console.print("set aside: " + ", ".join(f"{count} {kind} plays" for kind, count in sorted(set_aside.items())))
    if report.match_rate is not None:
        matched, new = total("rows_name_matched"), total("rows_new_track")
        console.print(f"rows without a Spotify URI: {matched + new}; matched to the catalogue by name: {matched} "
                      f"({100 * report.match_rate:.1f}%), added as new catalogue tracks: {new}")
    for note in report.notes:
        console.print(f"note: {note}")
    for file in report.failed_files:
        errors.print(f"[red]rejected file[/]: {file.message}", highlight=False)

    reasons = {k: v for k, v in report.reasons.items() if k != "invalid file"}
    if reasons:
        console.print("rejected rows by reason:")
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            console.print(f"  {count:>8}  {reason}")
    for file in report.files:
        for warning in file.warnings:
            errors.print(f"[yellow]warning[/]: {warning}", highlight=False)


def _exit_for(report: ListeningIngestReport) -> None:
    rejected = report.total("rows_rejected")
    if not report.failed_files and not rejected:
        return
    hashes = [f.content_sha256 for f in report.files if f.content_sha256 and (f.rows_rejected or f.status == "rejected")]
    with open_store(read_only=True) as store:
        for file, record, field, value, reason in rejects_of(store, hashes, limit=10):
            location = f"{file}, record {record}" if record is not None else file
            if field is not None:
                location += f", field {field!r}"
            errors.print(f"  {location}: {reason}" + (f" (value: {value})" if value is not None else ""),
                         highlight=False)
    errors.print(
        f"[red]error[/]: {len(report.failed_files)} files and {rejected} rows were rejected; the valid rows were "
        "loaded. Every rejected row is kept in the store's rejects table; fix the files and ingest them again.",
        highlight=False)
    raise typer.Exit(1)


@ingest_app.command("spotify-extended")
def ingest_spotify_extended_command(
    paths: Annotated[list[Path], typer.Argument(
        help="Streaming_History_Audio_*.json files, folders of them, or the export's .zip.")],
    user: UserOption = None,
) -> None:
    """Ingest Spotify Extended Streaming History; podcast and audiobook plays are counted and set aside."""
    _exit_for(_run("ingest", lambda store, advance: ingest_spotify_extended(store, paths, user, advance)))


@ingest_app.command("spotify-account")
def ingest_spotify_account_command(
    paths: Annotated[list[Path], typer.Argument(help="StreamingHistory_music_*.json files, folders or the .zip.")],
    user: Annotated[str, typer.Option("--user", help="Account name the plays belong to; stored only hashed.")],
    timezone: Annotated[str, typer.Option(
        "--timezone", help="IANA time zone of the local endTime values, for example Europe/Berlin, or UTC.")],
) -> None:
    """Ingest the account-data export's StreamingHistory; tracks are matched to the catalogue by name."""
    _exit_for(_run("ingest", lambda store, advance: ingest_spotify_account(store, paths, timezone, user, advance)))


@ingest_app.command("lastfm-1k")
def ingest_lastfm_command(
    paths: Annotated[list[Path], typer.Argument(help="Last.fm 1K listening logs (.tsv) or their folder.")],
) -> None:
    """Ingest the Last.fm 1K users listening log; tracks are matched to the catalogue by name."""
    _exit_for(_run("ingest", lambda store, advance: ingest_lastfm_1k(store, paths, advance)))


@ingest_app.command("hetrec")
def ingest_hetrec_command(
    folder: Annotated[Path, typer.Argument(help="The unpacked HetRec 2011 Last.fm 2K folder.")],
) -> None:
    """Ingest HetRec 2011 Last.fm: user-artist play counts, tags, tag assignments and friends."""
    _exit_for(_run("ingest", lambda store, advance: ingest_hetrec(store, folder, advance)))


@ingest_app.command("listenbrainz")
def ingest_listenbrainz_command(
    paths: Annotated[list[Path], typer.Argument(help="ListenBrainz listens as .jsonl files, a JSON array, or folders.")],
    user: UserOption = None,
) -> None:
    """Ingest ListenBrainz listens; Spotify links give URIs, other tracks are matched by name."""
    _exit_for(_run("ingest", lambda store, advance: ingest_listenbrainz(store, paths, user, advance)))


@app.command("import-spotify")
def import_spotify_command(
    export: Annotated[Path, typer.Argument(help="Your Spotify data export: the .zip as downloaded, or its folder.")],
    user: Annotated[str, typer.Option("--user", help="A name for yourself; `recommend --user NAME` uses it.")],
    timezone: Annotated[Optional[str], typer.Option(
        "--timezone", help="IANA time zone for account-data files (local endTime); not needed for extended history.")]
        = None,
) -> None:
    """Import your own Spotify streaming history, then get recommendations with `recommend --user NAME`.

    The Extended Streaming History is used when the export has it. The
    account-data StreamingHistory files cover the same plays with less
    detail, so they are read only when there is no extended history.
    """
    sources = expand_sources([export], ANY_HISTORY_FILES, "Spotify streaming history (Streaming_History_Audio_*.json "
                                                          "or StreamingHistory_music_*.json)")
    extended = [s for s in sources if EXTENDED_FILES.match(s.name)]
    account = [s for s in sources if ACCOUNT_FILES.match(s.name)]
    if extended:
        if account:
            console.print(f"note: {len(account)} account-data StreamingHistory files were not read, because the "
                          "Extended Streaming History covers the same plays in more detail")
        report = _run("import", lambda store, advance: ExtendedHistoryIngest(store, user).run(extended, advance))
    else:
        if timezone is None:
            raise InputError(
                f"{export} contains account-data StreamingHistory files, whose endTime is local time without a zone: "
                "pass --timezone with your zone, for example --timezone Europe/Berlin, or --timezone UTC"
            )
        zone = resolve_zone(timezone)
        report = _run("import", lambda store, advance: AccountHistoryIngest(store, user, zone).run(account, advance))
    console.print(f"next: `tastemaker recommend --user {user}` (train a model first with "
                  "`tastemaker train-listening` or `tastemaker train` if there is none)")
    _exit_for(report)


@app.command("generate-listening")
def generate_listening_command(
    out: Annotated[Path, typer.Argument(help="Folder to write generated Extended Streaming History files into.")],
    users: Annotated[int, typer.Option(min=1, help="Number of listeners.")] = 100,
    tracks: Annotated[int, typer.Option(min=10, help="Number of catalogue tracks.")] = 3000,
    sessions: Annotated[int, typer.Option(min=1, help="Mean listening sessions per user.")] = 40,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write generated listening histories in the Extended Streaming History format (not real data)."""
    from .generate_listening import generate_listening, write_extended_history

    data = generate_listening(n_users=users, n_tracks=tracks, n_artists=max(10, tracks // 10),
                              sessions_per_user=sessions, seed=seed)
    paths = write_extended_history(data, out, seed=seed)
    console.print(f"wrote {data.n_plays} generated plays of {users} users in {len(paths)} files to {out}")


# Training and evaluation

AlphaOption = Annotated[Optional[float], typer.Option(help="Confidence alpha: c = 1 + alpha * net evidence.")]
EpsilonOption = Annotated[Optional[float], typer.Option(help="Log scaling: net uses log(1 + plays / epsilon).")]
ScalingOption = Annotated[Optional[str], typer.Option(help="Scaling of play counts: log or linear.")]
SkipWeightOption = Annotated[Optional[float], typer.Option(help="Weight of skips against streams (0 ignores skips).")]
HalfLifeOption = Annotated[Optional[float], typer.Option(help="Half-life of time decay in days; none by default.")]
ThresholdOption = Annotated[Optional[float], typer.Option(
    "--stream-threshold-s", help="Seconds of play after which a play counts as a stream (default 30).")]


def confidence_params(alpha, epsilon, scaling, skip_weight, half_life_days, stream_threshold_s) -> ConfidenceParams:
    values = {"alpha": alpha, "epsilon": epsilon, "scaling": scaling, "skip_weight": skip_weight,
              "half_life_days": half_life_days,
              "stream_threshold_ms": None if stream_threshold_s is None else int(round(stream_threshold_s * 1000))}
    return ConfidenceParams(**{k: v for k, v in values.items() if v is not None})


@app.command("train-listening")
def train_listening_command(
    model: Annotated[Optional[list[str]], typer.Option(
        "--model", "-m", help="Model to train; repeatable. ALS reads the confidence, others its positive part.")] = None,
    param: Annotated[Optional[list[str]], typer.Option(
        "--param", "-p", help="Model parameter as MODEL.NAME=VALUE, for example als.factors=64; repeatable.")] = None,
    alpha: AlphaOption = None, epsilon: EpsilonOption = None, scaling: ScalingOption = None,
    skip_weight: SkipWeightOption = None, half_life_days: HalfLifeOption = None,
    stream_threshold_s: ThresholdOption = None,
) -> None:
    """Train models on every stored play (confidence-weighted) for `recommend --user`."""
    from .listening_recommend import train_listening
    from .pipeline import parse_model_params

    models = parse_model_params(model or ["als"], param or [])
    for name, values in models:
        if name == "als":
            # The confidence already contains alpha, so ALS must not scale it again.
            values.setdefault("alpha", 1.0)
    params = confidence_params(alpha, epsilon, scaling, skip_weight, half_life_days, stream_threshold_s)
    with open_store(read_only=True) as store:
        path = train_listening(store, settings.data_dir, models, params, show_progress=settings.show_progress)
    console.print(f"listening bundle written: {path}")


@app.command("evaluate-users")
def evaluate_users_command(
    data: Annotated[str, typer.Option(
        help="plays: temporal leave-last-out on stored play events; hetrec: seeded random hold-out on HetRec "
             "play counts.")] = "plays",
    level: Annotated[str, typer.Option(help="Items to recommend from play events: track or artist.")] = "track",
    holdout: Annotated[int, typer.Option(min=1, help="Hidden items per user.")] = 10,
    min_train: Annotated[int, typer.Option(min=1, help="Training items a user needs besides the hidden ones.")] = 5,
    k: Annotated[int, typer.Option("-k", min=1, help="Cut-off K of recall@K, NDCG@K and MAP@K.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the random hold-out.")] = 0,
    factors: Annotated[int, typer.Option(help="Latent factors of ALS and BPR.")] = 64,
    ease_max_items: Annotated[int, typer.Option(help="Items EASE keeps; its memory grows with the square.")] = 5000,
    alpha: AlphaOption = None, epsilon: EpsilonOption = None, scaling: ScalingOption = None,
    skip_weight: SkipWeightOption = None, half_life_days: HalfLifeOption = None,
    stream_threshold_s: ThresholdOption = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the Markdown and JSON report.")] = None,
) -> None:
    """Score every model per user, with ALS on confidence, raw play counts and binary input side by side."""
    from .evaluation.per_user import default_specs, evaluate_per_user, random_split, temporal_split
    from .store.listening import artist_play_counts, check_listening_schema, play_events_with_artists

    params = confidence_params(alpha, epsilon, scaling, skip_weight, half_life_days, stream_threshold_s)
    if data not in ("plays", "hetrec"):
        raise InputError(f"--data must be plays or hetrec, got {data!r}")
    with open_store(read_only=True) as store:
        check_listening_schema(store)
        if data == "hetrec":
            counts = artist_play_counts(store, "hetrec-lastfm")
            if counts.num_rows == 0:
                raise InputError(f"the store {store.path} has no HetRec play counts; ingest them with "
                                 "`tastemaker ingest hetrec FOLDER`")
            split = random_split(counts.column("user_id").to_numpy(), counts.column("artist_uri").to_pylist(),
                                 counts.column("plays").to_numpy(), holdout, min_train, seed)
        else:
            if level not in ("track", "artist"):
                raise InputError(f"--level must be track or artist, got {level!r}")
            events = play_events_with_artists(store)
            if events.num_rows == 0:
                raise InputError(f"the store {store.path} has no play events; ingest listening data first")
            split = temporal_split(events, holdout, min_train, level, params.stream_threshold_ms)
    specs = default_specs(ease_max_items)
    for spec in specs:
        if spec.model in ("als", "bpr"):
            spec.params.setdefault("factors", factors)
    result = evaluate_per_user(split, specs, k, params, settings.show_progress)

    table = Table(title=f"per-user evaluation ({split.kind} hold-out of {holdout}, {len(split.hidden)} users)")
    for column in ("configuration", "weighting", f"recall@{k}", f"NDCG@{k}", f"MAP@{k}", "fit s"):
        table.add_column(column, justify="left" if column in ("configuration", "weighting") else "right")
    for row in result.rows:
        table.add_row(row["label"], row["weighting"], f"{row['recall']:.4f}", f"{row['ndcg']:.4f}",
                      f"{row['map']:.4f}", f"{row['fit_seconds']:.1f}")
    console.print(table)
    comparison = result.compare("als-confidence", "als-raw")
    low, high = comparison["ci95"]
    console.print(f"ALS NDCG@{k}: confidence {comparison['ndcg']:.4f} vs raw play counts "
                  f"{comparison['baseline_ndcg']:.4f}, difference {comparison['difference']:+.4f} "
                  f"(95% paired bootstrap interval {low:+.4f} to {high:+.4f}, {comparison['users']} users)")
    out = out or settings.data_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    header = f"# Per-user evaluation\n\nSplit: {split.describe()}\n\nConfidence: {params.to_dict()}\n\n"
    (out / f"evaluate-users-{stamp}.md").write_text(header + result.to_markdown())
    (out / f"evaluate-users-{stamp}.json").write_text(json.dumps(
        {"split": split.describe(), "confidence": params.to_dict(), "rows": result.rows,
         "comparison": comparison}, indent=2))
    console.print(f"reports written: {out / f'evaluate-users-{stamp}.md'} and .json")


@app.command("train-skip")
def train_skip_command(
    sessions: Annotated[Optional[Path], typer.Option(
        help="Skip prediction challenge session log (CSV); without it, the stored play events are used.")] = None,
    scheme: Annotated[str, typer.Option(
        help="half: predict the second half of each session from the first (the challenge's scheme); "
             "previous: predict each play from all earlier ones.")] = "half",
    test_share: Annotated[float, typer.Option(help="Share of sessions held out for the evaluation.")] = 0.25,
    seed: Annotated[int, typer.Option(help="Seed of the session split and of LightGBM.")] = 0,
    gap_minutes: Annotated[float, typer.Option(help="Pause that starts a new session, in minutes.")] = 30.0,
) -> None:
    """Train the LightGBM skip model, score it against two baselines and save it for Radio."""
    from .models.skip import evaluate_skip_model, read_challenge_log, sessions_from_events
    from .store.listening import check_listening_schema, play_events, require_events

    if sessions is not None:
        skip_sessions = read_challenge_log(sessions)
        if skip_sessions.rejected:
            for line, field, value, reason in skip_sessions.rejected[:10]:
                errors.print(f"  {sessions}, line {line}, field {field!r}: {reason} (value: {value})", highlight=False)
            errors.print(f"[yellow]warning[/]: {len(skip_sessions.rejected)} rows were rejected and their sessions "
                         "left out", highlight=False)
        source = str(sessions)
    else:
        with open_store(read_only=True) as store:
            check_listening_schema(store)
            require_events(store)
            events = play_events(store, ("user_id", "ts", "track_uri", "ms_played", "skipped", "reason_start",
                                         "reason_end", "shuffle"))
        skip_sessions = sessions_from_events(events, gap_minutes)
        source = "stored play events"
    result, model = evaluate_skip_model(skip_sessions, scheme, test_share, seed)
    table = Table(title=f"skip prediction on {result['test_sessions']} held-out sessions ({source}, scheme {scheme})")
    for column in ("predictor", "mean average accuracy", "first-prediction accuracy"):
        table.add_column(column, justify="left" if column == "predictor" else "right")
    for label, key in (("LightGBM skip model", "model"), ("always not skipped", "not-skipped"),
                       ("skip-previous", "skip-previous")):
        table.add_row(label, f"{result[key][0]:.4f}", f"{result[key][1]:.4f}")
    console.print(table)
    folder = settings.data_dir / "skip-model"
    model.save(folder)
    (folder / "evaluation.json").write_text(json.dumps(result, indent=2))
    console.print(f"skip model written: {folder}")


# Recommend for a user


def print_user_recommendations(user: str, n: int, model: str | None) -> None:
    """Print `recommend --user NAME`: recommendations from the user's own listening history."""
    from .listening_recommend import recommend_for_user

    result = recommend_for_user(settings.data_dir, user, n, model)
    with open_store(read_only=True) as store:
        metadata = store.track_metadata(result.track_ids)
    console.print(f"user {user}: {result.history_tracks} distinct tracks in the listening history, "
                  f"{len(result.unknown_tracks)} of them unknown to the model")
    if result.fallback:
        errors.print(f"[yellow]fallback[/]: {result.fallback}", highlight=False)
    print_tracks(result, metadata, f"model {result.model}, {result.bundle}")
