"""Listening-history benchmark: confidence against raw play counts, ingest throughput, skip prediction.

Prints, each with the command and the machine:

* NDCG@10 (and recall@10, MAP@10) of ALS on HetRec 2011 Last.fm play counts
  weighted by tastemaker's confidence against the raw counts, on the same
  seeded per-user hold-out in the same run, with a paired bootstrap
  interval of the difference;
* ingest time of a generated Extended Streaming History export of about one
  million plays against a bare ``json.load`` of the same files (best of
  ``--repeats`` runs each, GC at its default for json.load);
* the skip model's mean average accuracy against the always-not-skipped and
  skip-previous baselines, on generated sessions and on the real 11-session
  challenge sample. The sample is too small to rank predictors and is shown
  for completeness.

Usage::

    .venv/bin/python benchmarks/bench_listening.py --data ../shared/data

The generated export is written to a temporary folder, or kept in
``--export-dir`` for later runs. It takes about 700 MB of disk.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{platform.system()} {platform.machine()}, {model}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, load average at start {load} (other work shares the cores)")


def hetrec_comparison(data: Path, seed: int, factors: int) -> None:
    from tastemaker.evaluation.per_user import ModelSpec, evaluate_per_user, random_split
    from tastemaker.ingest.hetrec import ingest_hetrec
    from tastemaker.signals.confidence import ConfidenceParams
    from tastemaker.store import Store
    from tastemaker.store.listening import artist_play_counts

    folder = data / "lastfm-hetrec2011-2k"
    if not folder.is_dir():
        print(f"HetRec: skipped, {folder} not found")
        return
    with tempfile.TemporaryDirectory() as temporary, Store.open(Path(temporary) / "data") as store:
        ingest_hetrec(store, folder)
        counts = artist_play_counts(store, "hetrec-lastfm")
    split = random_split(counts.column("user_id").to_numpy(), counts.column("artist_uri").to_pylist(),
                         counts.column("plays").to_numpy(), holdout=10, min_train=5, seed=seed)
    base = {"factors": factors, "iterations": 15, "regularization": 0.05, "random_state": 0}
    params = ConfidenceParams()
    specs = [
        ModelSpec("als-confidence", "als", {**base, "alpha": 1.0}, "confidence"),
        ModelSpec("als-raw (alpha 1)", "als", {**base, "alpha": 1.0}, "raw"),
        ModelSpec("als-raw (alpha 10)", "als", {**base, "alpha": 10.0}, "raw"),
        ModelSpec("als-binary (alpha 10)", "als", {**base, "alpha": 10.0}, "binary"),
        ModelSpec("popularity", "popularity"),
    ]
    result = evaluate_per_user(split, specs, k=10, params=params)
    print(f"\n## HetRec 2011 Last.fm: ALS on confidence against raw play counts\n")
    print(f"Split: {split.describe()}; confidence {params.to_dict()}; ALS {base}\n")
    print(result.to_markdown())
    for baseline in ("als-raw (alpha 1)", "als-raw (alpha 10)", "als-binary (alpha 10)"):
        c = result.compare("als-confidence", baseline)
        print(f"NDCG@10 confidence {c['ndcg']:.4f} vs {baseline} {c['baseline_ndcg']:.4f}: "
              f"{c['difference']:+.4f} ({100 * c['relative']:+.1f}%), paired bootstrap 95% interval "
              f"{c['ci95'][0]:+.4f} to {c['ci95'][1]:+.4f} over {c['users']} users")


def ingest_throughput(export_dir: Path | None, rows: int, repeats: int) -> None:
    from tastemaker.generate_listening import generate_listening, write_extended_history
    from tastemaker.ingest.spotify import ingest_spotify_extended
    from tastemaker.store import Store

    temporary = None
    if export_dir is None:
        temporary = tempfile.mkdtemp(prefix="tastemaker-bench-")
        export_dir = Path(temporary) / "export"
    try:
        files = sorted(glob.glob(str(export_dir / "Streaming_History_Audio_*.json")))
        if not files:
            started = time.perf_counter()
            # One listener over 13 years: about 12 plays per session, sessions at least 31 minutes apart.
            data = generate_listening(n_users=1, n_tracks=8000, n_artists=800, sessions_per_user=rows // 12,
                                      days=365 * 13, start=datetime(2010, 1, 1), seed=0)
            write_extended_history(data, export_dir, rows_per_file=15_000)
            files = sorted(glob.glob(str(export_dir / "Streaming_History_Audio_*.json")))
            print(f"(generated {data.n_plays} plays in {len(files)} files in {time.perf_counter() - started:.0f} s)")
        size = sum(Path(f).stat().st_size for f in files)

        def bare() -> tuple[float, int]:
            started = time.perf_counter()
            count = 0
            for path in files:
                with open(path, "rb") as handle:
                    count += len(json.load(handle))
            return time.perf_counter() - started, count

        def ours() -> tuple[float, int]:
            with tempfile.TemporaryDirectory(dir=export_dir.parent) as store_dir, Store.open(store_dir) as store:
                started = time.perf_counter()
                report = ingest_spotify_extended(store, [export_dir])
                seconds = time.perf_counter() - started
            return seconds, report.total("rows_read")

        bare_runs = [bare() for _ in range(repeats)]
        our_runs = [ours() for _ in range(repeats)]
        best_bare = min(r[0] for r in bare_runs)
        best_ours = min(r[0] for r in our_runs)
        count = our_runs[0][1]
        print(f"\n## Ingest throughput: {count:,} rows in {len(files)} files, {size / 1e6:.0f} MB\n")
        print("| step | runs (s) | best (s) | rows/s |")
        print("|---|---|---:|---:|")
        print(f"| bare json.load | {', '.join(f'{r[0]:.1f}' for r in bare_runs)} | {best_bare:.1f} | "
              f"{count / best_bare:,.0f} |")
        print(f"| tastemaker ingest spotify-extended | {', '.join(f'{r[0]:.1f}' for r in our_runs)} | "
              f"{best_ours:.1f} | {count / best_ours:,.0f} |")
        print(f"\nratio (best of each): {best_ours / best_bare:.2f}x the bare json.load time (target: at most 2x)")
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def skip_prediction(data: Path) -> None:
    from tastemaker.generate_listening import generate_listening
    from tastemaker.models.skip import evaluate_skip_model, read_challenge_log, sessions_from_events

    generated = generate_listening(n_users=300, n_tracks=3000, n_artists=300, sessions_per_user=40, seed=0)
    sessions = sessions_from_events(generated.events_table())
    print(f"\n## Skip prediction: mean average accuracy (first-prediction accuracy)\n")
    print("| data | scheme | test sessions | predictions | skip share | LightGBM | always not skipped | "
          "skip-previous |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    runs = [("generated, 300 users", sessions)]
    sample = data / "spotify-skip-sample" / "very_small.csv"
    if sample.is_file():
        runs.append(("challenge sample, 11 sessions", read_challenge_log(sample)))
    for label, skip_sessions in runs:
        for scheme in ("half", "previous"):
            result, _ = evaluate_skip_model(skip_sessions, scheme=scheme, test_share=0.25, seed=0)
            cells = " | ".join(f"{result[k][0]:.4f} ({result[k][1]:.3f})"
                               for k in ("model", "not-skipped", "skip-previous"))
            print(f"| {label} | {scheme} | {result['test_sessions']} | {result['predictions']} | "
                  f"{result['skip_share']:.3f} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data",
                        help="folder with lastfm-hetrec2011-2k/ and spotify-skip-sample/")
    parser.add_argument("--export-dir", type=Path, help="keep the generated 1M-row export here for later runs")
    parser.add_argument("--rows", type=int, default=1_000_000, help="approximate plays in the generated export")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each ingest measurement")
    parser.add_argument("--seed", type=int, default=0, help="seed of the HetRec hold-out")
    parser.add_argument("--factors", type=int, default=64, help="ALS factors for HetRec")
    parser.add_argument("--skip", choices=["hetrec", "ingest", "skip-model"], action="append", default=[],
                        help="leave out a part; repeatable")
    args = parser.parse_args()
    print(f"# Listening benchmark\n\ncommand: {' '.join([sys.executable, *sys.argv])}\nmachine: {machine()}\n"
          f"date: {datetime.now().isoformat(timespec='seconds')}")
    if "hetrec" not in args.skip:
        hetrec_comparison(args.data, args.seed, args.factors)
    if "ingest" not in args.skip:
        ingest_throughput(args.export_dir, args.rows, args.repeats)
    if "skip-model" not in args.skip:
        skip_prediction(args.data)


if __name__ == "__main__":
    main()
