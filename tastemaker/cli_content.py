"""Cold-start commands: ``ingest audio``, ``train-content``, ``onboard`` and ``cold-start``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .cli import app, console, errors, ingest_app, open_store, settings
from .errors import InputError


@ingest_app.command("audio")
def ingest_audio_command(
    paths: Annotated[list[Path], typer.Argument(help="Audio files (wav, flac, ogg, mp3) or folders, searched recursively.")],
    workers: Annotated[Optional[int], typer.Option(min=1, help="Processes that decode and analyse; default: one per core.")] = None,
    max_seconds: Annotated[float, typer.Option(min=1.0, help="Seconds of audio analysed per file, from its start.")] = 600.0,
) -> None:
    """Compute content features of audio files and match them to catalogue tracks, or add them as new tracks."""
    from .ingest.audio_files import find_audio_files, ingest_audio_files

    total = len(find_audio_files(paths))
    with open_store() as store, Progress(
        TextColumn("[bold]audio[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=errors, disable=not settings.show_progress,
    ) as progress:
        task = progress.add_task("", total=total)

        def advance(path: Path, _loaded: bool) -> None:
            progress.update(task, advance=1, description=path.name)

        report = ingest_audio_files(store, paths, workers, max_seconds, advance)
    matched = ", ".join(f"{report.matched[kind]} by {kind}" for kind in ("spotify id", "tags", "file name")
                        if report.matched[kind])
    console.print(f"audio files: {report.files_found} found, {report.loaded} loaded ({matched or 'none matched'}; "
                  f"{report.matched['new track']} as new tracks), {report.already_ingested} already ingested, "
                  f"{report.duplicates} duplicates, {report.rejected} rejected")
    if report.loaded:
        console.print(f"analysed {report.audio_seconds:.0f} s of audio in {report.analysis_seconds:.1f} s with "
                      f"{report.workers} worker processes ({report.audio_per_wall_second:.1f} s of audio per second, "
                      f"{report.parallelism:.1f} workers busy on average)")
    for path, reason in report.rejected_files:
        errors.print(f"[red]rejected[/] {path}: {reason.removeprefix(path + ': ')}", highlight=False)
    if report.rejected:
        errors.print(f"[red]error[/]: {report.rejected} file(s) could not be analysed and were skipped; the others "
                     "were loaded. Re-encode or replace the files listed above and ingest them again.", highlight=False)
        raise typer.Exit(1)


@app.command("train-content")
def train_content_command(
    factors: Annotated[int, typer.Option(min=2, help="ALS factors.")] = 128,
    iterations: Annotated[int, typer.Option(min=1, help="ALS iterations.")] = 15,
    mapper: Annotated[str, typer.Option(help="Content-to-factor model: lightgbm, ridge or knn.")] = "lightgbm",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Fit ALS and the content mapping, and index played and unplayed tracks together, for onboarding."""
    from .content.model import fit_content_model, write_content_model

    with open_store(read_only=True) as store:
        model = fit_content_model(store, factors=factors, iterations=iterations, mapper=mapper, seed=seed,
                                  show_progress=settings.show_progress)
    path = write_content_model(settings.data_dir, model)
    manifest = model.manifest
    for source, report in manifest["sources"].items():
        console.print(f"{source}: mapping learned from {report['played_tracks']} played tracks, "
                      f"{report['mapped_tracks']} unplayed tracks given factors")
    if not manifest["sources"]:
        console.print("no content features in the store: only played tracks are indexed; ingest audio features "
                      "or audio files to reach unplayed tracks")
    console.print(f"artists with HetRec tags: {manifest['tagged_artists']} of {manifest['artists']}")
    console.print(f"content model written: {path}")


@app.command("onboard")
def onboard_command(
    artist: Annotated[Optional[list[str]], typer.Option("--artist", help="A liked artist's name; repeatable.")] = None,
    track: Annotated[Optional[list[str]], typer.Option("--track", help="A liked track's URI; repeatable.")] = None,
    n: Annotated[int, typer.Option("-n", min=1, help="Number of tracks to recommend.")] = 20,
    discover: Annotated[bool, typer.Option(help="Leave out tracks by the liked artists.")] = False,
) -> None:
    """Recommend tracks for a new listener from a few liked artists or tracks, without retraining."""
    from .content.model import load_content_model
    from .content.onboarding import Onboarder

    if not artist and not track:
        raise InputError("give at least one --artist NAME or --track URI")
    model = load_content_model(settings.data_dir)
    result = Onboarder(model).recommend(artist, track, n, exclude_picked_artists=discover)
    for line in result.resolved:
        console.print(f"pick: {line}", highlight=False)
    for pick in result.unknown:
        errors.print(f"[yellow]warning[/]: {pick} was not found and is ignored", highlight=False)
    uris = [r.track_uri for r in result.recommendations]
    with open_store(read_only=True) as store:
        metadata = store.track_metadata(uris)
    table = Table(title=f"onboarding picks for {', '.join([*(artist or []), *(track or [])])}")
    for column, justify in (("#", "right"), ("artist", "left"), ("track", "left"), ("score", "right"),
                            ("why", "left"), ("uri", "left")):
        table.add_column(column, justify=justify)
    for rank, item in enumerate(result.recommendations, start=1):
        name, artist_name = metadata.get(item.track_uri, (None, None))
        table.add_row(str(rank), artist_name or "?", name or "?", f"{item.score:.4f}", item.explanation,
                      item.track_uri)
    console.print(table)


@app.command("cold-start")
def cold_start_command(
    cold_share: Annotated[float, typer.Option(help="Share of the tracks with audio features made cold.")] = 0.1,
    test_playlists: Annotated[int, typer.Option(min=1, help="Test playlists that contain a cold track.")] = 1000,
    seeds: Annotated[int, typer.Option(min=1, help="Non-cold seed tracks per test playlist.")] = 10,
    n: Annotated[int, typer.Option("-n", min=1, help="Places per recommendation list.")] = 500,
    mapper: Annotated[Optional[list[str]], typer.Option(
        "--mapper", help="Content mapper to compare (lightgbm, ridge, knn); repeatable; default all.")] = None,
    factors: Annotated[int, typer.Option(min=2, help="ALS factors.")] = 64,
    iterations: Annotated[int, typer.Option(min=1, help="ALS iterations.")] = 15,
    warm_reference: Annotated[bool, typer.Option(help="Also fit ALS with the cold tracks kept, as a ceiling.")] = True,
    exact_search: Annotated[bool, typer.Option(help="Score warm tracks exactly instead of through Voyager.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed of the cold tracks, the test playlists and the models.")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the Markdown and CSV reports.")] = None,
) -> None:
    """Measure how well content features recover tracks that no training playlist contains."""
    from .content.coldstart import ColdStartSettings, run_cold_start
    from .content.mapping import MAPPERS
    from .store.audio import read_audio_features

    config = ColdStartSettings(cold_share=cold_share, test_playlists=test_playlists, seeds=seeds, n=n, seed=seed,
                               factors=factors, iterations=iterations, mappers=tuple(mapper or MAPPERS),
                               warm_reference=warm_reference, exact_search=exact_search)
    with open_store(read_only=True) as store:
        if not store.has_table("audio_features") or store.connection.execute(
                "SELECT count(*) FROM audio_features").fetchall()[0][0] == 0:
            raise InputError(f"the store {store.path} has no audio features; ingest a table first with "
                             "`tastemaker ingest audio-features FILE.csv`")
        pids, uris = store.playlist_track_pairs(source="mpd")
        audio = read_audio_features(store)
    if len(pids) == 0:
        raise InputError("the store has no MPD playlists; ingest some with `tastemaker ingest mpd PATH`")
    result = run_cold_start(pids, uris, audio, config)
    table = Table(title=f"cold-track recall@{n}")
    for column in ("method", f"cold recall@{n}", "x random (expected)", "cold places per list", f"warm recall@{n}"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for row in result.rows:
        warm = "-" if row.warm_recall is None else f"{row.warm_recall:.4f}"
        table.add_row(row.method, f"{row.cold_recall:.4f}", f"{result.ratio_to_random(row.method):.1f}",
                      f"{row.cold_places:.2f}", warm)
    console.print(table)
    out = out or settings.data_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"cold-start-{stamp}.md").write_text("# Cold-track protocol\n\n" + result.to_markdown())
    (out / f"cold-start-{stamp}.csv").write_text(result.to_csv())
    console.print(f"reports written: {out / f'cold-start-{stamp}.md'} and .csv")
