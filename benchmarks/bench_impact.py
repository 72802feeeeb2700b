"""Impact benchmark: the audit table and frontier on real playlists, the world's fit, and simulation timing.

Prints, in one run:

* the fit of the generated world to the MPD sample (popularity curves of
  tracks and artists, durations from audio features, skip rates from the
  skip-challenge sample);
* the audit of several models on 1,000 held-out MPD playlists, and the
  accuracy against artist-exposure Gini frontier of each re-ranker;
* the time per round of a 1,000-user, 5,000-track, 20-round simulation of
  ALS, with events written to and read back from the DuckDB store, and kept
  in memory;
* optionally (``--experiment``) every policy on several seeds, the run whose
  report contains the homogenisation and reward figures.

Real-data parts are skipped, with the reason, when the data folder is absent.
Reports (Markdown, HTML, CSV, PNG) go to ``--out``.

Usage::

    .venv/bin/python benchmarks/bench_impact.py --data ../shared/data --out /tmp/impact
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def ingest(data: Path, data_dir: Path) -> bool:
    """Ingest the MPD sample and audio features into a fresh store; False when the sample is absent."""
    from tastemaker.ingest import ingest_mpd
    from tastemaker.ingest.audio_features import ingest_audio_features
    from tastemaker.store import Store

    mpd = data / "mpd-sample"
    if not mpd.is_dir():
        print(f"skipped the audit and the fit: {mpd} not found")
        return False
    started = time.perf_counter()
    with Store.open(data_dir) as store:
        ingest_mpd(store, [mpd])
        audio = data / "audio-features" / "audio_features_union.csv"
        if audio.is_file():
            ingest_audio_features(store, audio)
        else:
            print(f"note: {audio} not found; durations will be unknown")
        counts = store.counts()
    print(f"ingest: {counts['playlists']} playlists, {counts['tracks']} tracks in {time.perf_counter() - started:.1f} s")
    return True


def fit_report(data: Path, data_dir: Path):
    from tastemaker.simulate.fit import calibrate_from_store
    from tastemaker.store import Store

    skip_log = data / "spotify-skip-sample" / "very_small.csv"
    with Store.open(data_dir, read_only=True) as store:
        calibration = calibrate_from_store(store, skip_log if skip_log.is_file() else None)
    print("\nfit of the generated world (Zipf-Mandelbrot rows(rank) = C / (rank + q)^s, least squares on log rows)")
    for name, curve in (("tracks", calibration.tracks), ("artists", calibration.artists)):
        print(f"  {name:<8} s={curve.s:.4f} q={curve.q:.2f} C={curve.C:.4g} n={curve.n} R2(log)={curve.r2_log:.4f}")
    print(f"  tracks per artist {calibration.tracks_per_artist:.4f}; log duration (s) mean "
          f"{calibration.duration_log_mean:.4f} sd {calibration.duration_log_sd:.4f} "
          f"(median {np.exp(calibration.duration_log_mean):.0f} s)")
    print(f"  early-skip rate {calibration.early_skip_rate:.4f}, completion rate {calibration.completion_rate:.4f}"
          f"{'' if skip_log.is_file() else ' (built-in: skip sample not found)'}")
    return calibration


def audit(data_dir: Path, models: list[str], frontier: list[str], test_playlists: int, out: Path) -> None:
    from tastemaker.audit.data import playlist_audit_data
    from tastemaker.audit.report import frontier_sentence, write_audit_report
    from tastemaker.audit.run import AuditSettings, run_audit
    from tastemaker.pipeline import parse_model_params
    from tastemaker.store import Store

    with Store.open(data_dir, read_only=True) as store:
        data = playlist_audit_data(store, test_playlists=test_playlists, seed=0)
    print(f"\naudit: {data.description}")
    started = time.perf_counter()
    result = run_audit(data, parse_model_params(models, []), AuditSettings(N=100, candidates=500),
                       frontier_models=frontier)
    print(f"audit done in {time.perf_counter() - started:.0f} s; timings {result.timings}")
    files = write_audit_report(result, out / "audit")
    print((out / "audit" / "audit.md").read_text())
    for model in frontier:
        print(f"frontier of {model}: {frontier_sentence(result, model)}")
    print(f"audit reports: {sorted(p.name for p in files.values())} in {out / 'audit'}")


def simulation_timing(calibration, users: int, tracks: int, rounds: int) -> None:
    from tastemaker.simulate.choice import ChoiceModel
    from tastemaker.simulate.loop import LoopSettings, MemoryEvents, StoreEvents, run_policy
    from tastemaker.simulate.policies import make_policy
    from tastemaker.simulate.world import WorldParams, generate_world
    from tastemaker.store import Store

    print(f"\nsimulation timing: {users} users x {tracks} tracks x {rounds} rounds, policy als, slates of 10")
    started = time.perf_counter()
    world = generate_world(WorldParams(n_users=users, n_tracks=tracks), calibration)
    choice = ChoiceModel.calibrated(world)
    print(f"  world and choice calibration: {time.perf_counter() - started:.2f} s")
    with tempfile.TemporaryDirectory() as folder, Store.open(folder) as store:
        for label, sink in (("store events", StoreEvents(store)), ("memory events", MemoryEvents())):
            started = time.perf_counter()
            result = run_policy(world, choice, make_policy("als"), LoopSettings(rounds=rounds), sink)
            total = time.perf_counter() - started
            steps = ", ".join(f"{k} {v / rounds:.3f}" for k, v in result.seconds.items())
            print(f"  {label:<14} total {total:6.1f} s, {total / rounds:.3f} s per round ({steps} s per round); "
                  f"Jaccard {result.rows[0]['jaccard']:.4f} -> {result.rows[-1]['jaccard']:.4f}")
    print("  target: the whole run within 600 s")


def experiment(calibration, users: int, tracks: int, rounds: int, seeds: int, out: Path) -> None:
    from tastemaker.audit.simulation_report import homogenisation_sentence, write_simulation_report
    from tastemaker.simulate.experiment import ExperimentSettings, run_experiment
    from tastemaker.simulate.loop import LoopSettings
    from tastemaker.simulate.world import WorldParams

    settings = ExperimentSettings(seeds=tuple(range(seeds)), world=WorldParams(n_users=users, n_tracks=tracks),
                                  loop=LoopSettings(rounds=rounds))
    result = run_experiment(settings, calibration)
    files = write_simulation_report(result, out / "simulation")
    print(f"\nsimulation experiment: {result.run_count} runs in {result.seconds:.0f} s")
    print((out / "simulation" / "simulation.md").read_text())
    print(homogenisation_sentence(result))
    print(f"simulation reports: {sorted(p.name for p in files.values())} in {out / 'simulation'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"),
                        help="folder with mpd-sample/, audio-features/ and spotify-skip-sample/")
    parser.add_argument("--out", type=Path, default=None, help="folder for the reports (default: a new temp folder)")
    parser.add_argument("--models", default="popularity,als,itemknn")
    parser.add_argument("--frontier", default="als", help="comma-separated models whose frontier is traced")
    parser.add_argument("--test-playlists", type=int, default=1000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--tracks", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--experiment", action="store_true", help="also run every policy on --seeds seeds")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-audit", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from tastemaker.simulate.fit import DEFAULT_CALIBRATION

    out = args.out or Path(tempfile.mkdtemp(prefix="tastemaker-impact-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.processor() or platform.machine()}, {mp.cpu_count()} cores, "
          f"Python {platform.python_version()}; data: {args.data}; reports: {out}")
    print(f"command: {' '.join(sys.argv)}\n")

    calibration = DEFAULT_CALIBRATION
    with tempfile.TemporaryDirectory() as data_dir:
        if ingest(args.data, Path(data_dir)):
            calibration = fit_report(args.data, Path(data_dir))
            if not args.skip_audit:
                audit(Path(data_dir), args.models.split(","), [m for m in args.frontier.split(",") if m],
                      args.test_playlists, out)
    simulation_timing(calibration, args.users, args.tracks, args.rounds)
    if args.experiment:
        experiment(calibration, args.users, args.tracks, args.rounds, args.seeds, out)


if __name__ == "__main__":
    main()
