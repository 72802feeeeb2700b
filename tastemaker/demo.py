"""The main job end to end: ingest, evaluate, train, and show example continuations."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from .evaluation import BUCKETS
from .generate import generate_mpd
from .ingest import ingest_mpd
from .pipeline import continue_seed_lists, load_current_bundle, parse_model_params, run_evaluation, timed, train
from .store import Store

log = logging.getLogger(__name__)

# The demo leaves out BPR and EASE, the slowest of the single models, to keep
# its run short; `tastemaker evaluate` compares every model.
DEMO_MODELS = ("two_stage", "popularity", "als", "itemknn", "item2vec", "cooc", "playlist_knn")
EXAMPLE_SEEDS = 5
EXAMPLE_TRACKS = 10


def run_demo(data_dir: Path, mpd: Path | None, test_playlists: int, examples: int, show_progress: bool,
             console: Console) -> None:
    from .cli import print_evaluation, print_ingest_report

    data_dir = Path(data_dir)
    if mpd is None:
        source = data_dir / "generated-mpd"
        with timed("generate demo playlists"):
            generate_mpd(source, n_playlists=3000, seed=0)
        console.print(f"[bold]Data:[/] 3,000 GENERATED playlists in MPD format ({source}). They are not real; "
                      "run `make demo DATA=path/to/mpd` for real data.")
    else:
        source = mpd
        console.print(f"[bold]Data:[/] MPD slices from {source}")

    store = Store.open(data_dir)
    try:
        with timed("ingest"):
            started = time.perf_counter()
            report = ingest_mpd(store, [source])
            print_ingest_report(report, time.perf_counter() - started)

        models = parse_model_params(list(DEMO_MODELS), [])
        buckets = [b.name for b in BUCKETS]
        result, split = run_evaluation(store, models, test_playlists, buckets, None, 0, 5, 500, show_progress)
        console.print(f"[bold]Evaluation[/] on {split['test_playlists']} held-out playlists "
                      f"(per bucket: {split['per_bucket']}), 500 recommendations each:")
        print_evaluation(result)
        reports = data_dir / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        result.write_csv(reports / "demo-evaluation.csv")
        (reports / "demo-evaluation.md").write_text(f"# Demo evaluation\n\nSplit: {split}\n\n" + result.to_markdown())
        console.print(f"reports written to {reports}")

        bundle_path = train(store, data_dir, models, None, show_progress)
        console.print(f"bundle written: {bundle_path}")
        show_examples(store, data_dir, examples, console)
    finally:
        store.close()


def show_examples(store: Store, data_dir: Path, examples: int, console: Console) -> None:
    """Print continuations of a few stored playlists from their first tracks."""
    bundle = load_current_bundle(data_dir)
    playlists = store.playlists("mpd")
    pids = np.asarray(playlists.column("pid"))
    lengths = np.asarray(playlists.column("num_tracks").fill_null(0))
    candidates = pids[lengths >= 2 * EXAMPLE_SEEDS]
    rng = np.random.default_rng(1)
    for pid in rng.choice(candidates, size=min(examples, len(candidates)), replace=False):
        name, tracks = store.playlist(int(pid))
        seeds = tracks[:EXAMPLE_SEEDS]
        result = continue_seed_lists(bundle, [seeds], EXAMPLE_TRACKS)[0]
        metadata = store.track_metadata(seeds + result.track_ids)
        hidden = set(tracks[EXAMPLE_SEEDS:])
        console.print(f"\n[bold]Playlist {pid}[/] {name!r}: first {len(seeds)} of {len(tracks)} tracks as seeds")
        for uri in seeds:
            console.print(f"   seed  {_describe(metadata, uri)}")
        for rank, uri in enumerate(result.track_ids, start=1):
            mark = "[green]in playlist[/]" if uri in hidden else ""
            console.print(f"   {rank:>4}  {_describe(metadata, uri)} {mark}")


def _describe(metadata: dict, uri: str) -> str:
    track, artist = metadata.get(uri, (None, None))
    return f"{artist or '?'} - {track or '?'}"
