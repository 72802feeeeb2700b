"""Spark benchmark: ALS parity with implicit, and scaling of both with the data size.

``parity`` fits implicit's ALS (through tastemaker) and Spark MLlib's ALS
(through ``tastemaker.engines``) with the same parameters on the
foundation benchmark's split (1,000 test playlists with 10 seed tracks,
seed 0), folds the test playlists into each set of track factors the same
way and scores R-precision, NDCG and clicks.

``scaling`` replicates the sample 1, 2, 4 and 8 times with disjoint
playlist ids (the same tracks), and fits ALS on each copy with implicit and
with Spark in local mode, each fit in a fresh process. It reports wall time
(process start to exit, Spark's JVM start included, and the fit alone),
the CPU time and the peak resident memory of the whole process tree
(Spark's JVM included), and the growth exponent: the slope of log time
against log size. CPU time is the figure to compare on shared cores, where
wall time also counts the time other jobs held the cores.

Usage::

    .venv/bin/python benchmarks/bench_spark.py parity --data ../shared/data/mpd-sample
    .venv/bin/python benchmarks/bench_spark.py scaling --data ../shared/data/mpd-sample --scales 1,2,4,8
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Spark's local-mode JVM heap in the benchmark; the scaling runs stay within a 24 GiB machine.
os.environ.setdefault("TASTEMAKER_SPARK_DRIVER_MEMORY", "8g")
ALS_PARAMS = {"factors": 128, "regularization": 0.05, "alpha": 10.0, "iterations": 15, "random_state": 0}


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {mp.cpu_count()} cores, Python "
            f"{platform.python_version()}")


def ingest(data: Path, data_dir: Path) -> None:
    from tastemaker.ingest import ingest_mpd
    from tastemaker.ingest.files import find_source_files
    from tastemaker.store import Store

    with Store.open(data_dir) as store:
        ingest_mpd(store, find_source_files([data]))


def load_split(data_dir: Path, test_playlists: int, seeds: int):
    from tastemaker.evaluation import make_split, select_buckets
    from tastemaker.store import Store

    with Store.open(data_dir, read_only=True) as store:
        pids, uris = store.playlist_track_pairs()
        playlists = store.playlists()
    names = dict(zip(playlists.column("pid").to_pylist(), playlists.column("name").to_pylist()))
    return make_split(pids, uris, names, test_playlists, select_buckets(seed_counts=[seeds]), seed=0)


def score(model, tracks, split) -> dict:
    """Continue the split's test playlists with ``model`` over ``tracks`` and return the overall metrics."""
    import scipy.sparse as sp

    from tastemaker.evaluation.evaluate import score_lists
    from tastemaker.products.continuation import continue_rows, popularity_order

    indptr, indices = [0], []
    for test in split.test:
        known, _ = tracks.indices(test.seeds)
        indices.extend(np.unique(known).tolist())
        indptr.append(len(indices))
    rows = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                         shape=(len(split.test), len(tracks)))
    ids, _, _, _ = continue_rows(model, rows, 500, popularity_order(model.item_popularity_))
    recommended = tracks.ids[np.where(ids >= 0, ids, 0)]
    recommended[ids < 0] = None
    return score_lists(recommended, [set(t.hidden) for t in split.test], [t.bucket for t in split.test],
                       500)["overall"]


def write_pairs(path: Path, pids: np.ndarray, uris: np.ndarray, copies: int = 1) -> int:
    """Write (pid, track_uri) Parquet, the pairs repeated ``copies`` times with disjoint pids; return the rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.mkdir(parents=True, exist_ok=True)
    pids = np.asarray(pids, dtype=np.int64)
    offset = int(pids.max()) + 1
    uris = pa.array(np.asarray(uris, dtype=object).astype(str).tolist(), pa.string())
    for copy in range(copies):
        table = pa.table({"pid": pa.array(pids + copy * offset), "track_uri": uris})
        pq.write_table(table, path / f"part-{copy}.parquet")
    return len(pids) * copies


def parity(args) -> None:
    from tastemaker.engines.session import spark_session
    from tastemaker.engines.spark_training import MLLIB_REGULARIZATION, fit_als, index_pairs
    from tastemaker.models import ALSRecommender
    from tastemaker.signals import PlaylistTracks

    params = {**ALS_PARAMS, "factors": args.factors, "iterations": args.iterations}
    print(f"machine: {machine()}; data: {args.data}")
    print(f"command: {' '.join(sys.argv)}\n")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        ingest(args.data, work / "store")
        split = load_split(work / "store", args.test_playlists, args.seeds)
        print(f"split: {split.describe()}\n")
        data = PlaylistTracks.from_pairs(split.train_pids, split.train_uris)
        started = time.perf_counter()
        local = ALSRecommender(**params).fit(data.matrix)
        results = {"implicit": {**score(local, data.tracks, split), "fit_seconds": time.perf_counter() - started}}

        write_pairs(work / "pairs", split.train_pids, split.train_uris)
        mappings = args.regularization.split(",")
        with spark_session(args.master) as spark:
            started = time.perf_counter()
            spark_data = index_pairs(spark.read.parquet(str(work / "pairs")))
            index_seconds = time.perf_counter() - started
            if list(spark_data.tracks.ids) != list(data.tracks.ids):
                raise SystemExit("Spark's track id map differs from the local one")
            for mapping in mappings:
                if mapping not in MLLIB_REGULARIZATION:
                    raise SystemExit(f"unknown --regularization {mapping!r}")
                started = time.perf_counter()
                model, settings = fit_als(spark_data, params, mapping)
                seconds = time.perf_counter() - started
                results[f"spark ({mapping}, regParam {settings['regParam']:.3g})"] = {
                    **score(model, spark_data.tracks, split), "fit_seconds": seconds}
    print(f"ALS parameters {params}; Spark {args.master or 'local[*]'}, indexing took {index_seconds:.1f} s")
    print(f"  {'':<40}{'R-prec':>8}{'NDCG':>8}{'clicks':>8}{'fit s':>8}")
    for label, values in results.items():
        print(f"  {label:<40}{values['r_precision']:8.4f}{values['ndcg']:8.4f}{values['clicks']:8.2f}"
              f"{values['fit_seconds']:8.1f}")
    reference = results["implicit"]
    for label, values in list(results.items())[1:]:
        differences = ", ".join(f"{metric} {100 * (values[metric] / reference[metric] - 1):+.1f}%"
                                for metric in ("r_precision", "ndcg"))
        print(f"  {label}: {differences} against implicit (target within 10%)")


# Scaling


def fit_once(args) -> None:
    """Fit ALS once on a Parquet folder of pairs and print a JSON line; run in its own process by ``scaling``."""
    params = {**ALS_PARAMS, "factors": args.factors, "iterations": args.iterations}
    started = time.perf_counter()
    if args.engine == "implicit":
        import pyarrow.parquet as pq

        from tastemaker.models import ALSRecommender
        from tastemaker.signals import PlaylistTracks

        fit_started = time.perf_counter()
        table = pq.read_table(args.pairs)
        data = PlaylistTracks.from_pairs(table.column("pid").to_numpy(),
                                         np.asarray(table.column("track_uri").to_pylist(), dtype=object))
        ALSRecommender(**params).fit(data.matrix)
        entries = data.matrix.nnz
    else:
        from tastemaker.engines.session import spark_session
        from tastemaker.engines.spark_training import fit_als, index_pairs

        with spark_session(args.master) as spark:
            fit_started = time.perf_counter()
            spark_data = index_pairs(spark.read.parquet(args.pairs))
            fit_als(spark_data, params)
            entries = spark_data.n_entries
    now = time.perf_counter()
    print(json.dumps({"entries": entries, "fit_seconds": now - fit_started, "inner_seconds": now - started}))


def process_tree(root: int) -> list[int]:
    """Return ``root`` and the ids of all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


def sample_tree(root: int) -> tuple[int, dict[int, float]]:
    """Return the summed resident memory in bytes of the process tree, and each process's CPU seconds so far."""
    page, ticks = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK")
    rss, cpu = 0, {}
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/statm") as handle:
                rss += int(handle.read().split()[1]) * page
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Fields 14 and 15 of /proc/PID/stat (utime, stime) are the 12th and 13th after the command name.
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return rss, cpu


def measure(command: list[str], timeout: float) -> dict:
    """Run ``command``, sampling its process tree every 0.2 s; return its JSON line, wall and CPU time, peak memory.

    CPU time is the sum over the tree's processes of the last CPU time seen
    for each, so it leaves out the last 0.2 s of each process.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, cpu = 0, {}
    while process.poll() is None:
        rss, seen = sample_tree(process.pid)
        peak = max(peak, rss)
        cpu.update(seen)
        if time.perf_counter() - started > timeout:
            process.kill()
            process.wait()
            return {"error": f"timed out after {timeout:.0f} s"}
        time.sleep(0.2)
    wall = time.perf_counter() - started
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        return {"error": f"exit {process.returncode}: {stderr.strip().splitlines()[-1:] if stderr else ''}"}
    result = json.loads(stdout.strip().splitlines()[-1])
    return {**result, "wall_seconds": wall, "cpu_seconds": sum(cpu.values()), "peak_mib": peak / 2**20}


def growth_exponent(sizes: list[int], seconds: list[float]) -> float:
    """Return the least-squares slope of log(seconds) against log(size)."""
    if len(sizes) < 2:
        return float("nan")
    slope, _ = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(slope)


def scaling(args) -> None:
    from tastemaker.store import Store

    scales = [int(s) for s in args.scales.split(",")]
    print(f"machine: {machine()}; data: {args.data}; Spark JVM heap "
          f"{os.environ['TASTEMAKER_SPARK_DRIVER_MEMORY']}")
    print(f"command: {' '.join(sys.argv)}\n")
    rows = []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        ingest(args.data, work / "store")
        with Store.open(work / "store", read_only=True) as store:
            pids, uris = store.playlist_track_pairs()
        for scale in scales:
            folder = work / f"pairs-{scale}x"
            write_pairs(folder, pids, uris, scale)
            for engine in args.engines.split(","):
                command = [sys.executable, __file__, "fit-once", "--engine", engine, "--pairs", str(folder),
                           "--factors", str(args.factors), "--iterations", str(args.iterations)]
                if args.master:
                    command += ["--master", args.master]
                result = measure(command, args.timeout)
                rows.append({"scale": scale, "engine": engine, **result})
                print(json.dumps(rows[-1]), flush=True)
    params = {**ALS_PARAMS, "factors": args.factors, "iterations": args.iterations}
    print(f"\nALS {params}; wall = process start to exit; fit = reading the pairs to factors in memory")
    print(f"  {'engine':<10}{'scale':>6}{'entries':>10}{'wall s':>9}{'fit s':>9}{'CPU s':>9}{'peak MiB':>10}")
    for row in rows:
        if "error" in row:
            print(f"  {row['engine']:<10}{row['scale']:>5}x  {row['error']}")
            continue
        print(f"  {row['engine']:<10}{row['scale']:>5}x{row['entries']:>10}{row['wall_seconds']:9.1f}"
              f"{row['fit_seconds']:9.1f}{row['cpu_seconds']:9.1f}{row['peak_mib']:10.0f}")
    for engine in args.engines.split(","):
        done = [r for r in rows if r["engine"] == engine and "error" not in r]
        sizes = [r["entries"] for r in done]
        exponents = {key: growth_exponent(sizes, [r[f"{key}_seconds"] for r in done]) for key in ("wall", "fit", "cpu")}
        print(f"  {engine}: growth exponent {exponents['wall']:.2f} (wall), {exponents['fit']:.2f} (fit), "
              f"{exponents['cpu']:.2f} (CPU), over {len(done)} sizes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    parity_parser = commands.add_parser("parity", help="ALS quality on Spark against implicit")
    parity_parser.add_argument("--data", type=Path, default=Path("../shared/data/mpd-sample"))
    parity_parser.add_argument("--test-playlists", type=int, default=1000)
    parity_parser.add_argument("--seeds", type=int, default=10)
    parity_parser.add_argument("--master", default=None, help="Spark master; local mode by default")
    parity_parser.add_argument("--factors", type=int, default=ALS_PARAMS["factors"])
    parity_parser.add_argument("--iterations", type=int, default=ALS_PARAMS["iterations"])
    parity_parser.add_argument("--regularization", default="mean-row",
                               help="comma-separated regParam mappings to compare: mean-row, same")
    scaling_parser = commands.add_parser("scaling", help="ALS time and memory at 1x to 8x the data")
    scaling_parser.add_argument("--data", type=Path, default=Path("../shared/data/mpd-sample"))
    scaling_parser.add_argument("--scales", default="1,2,4,8")
    scaling_parser.add_argument("--engines", default="implicit,spark")
    scaling_parser.add_argument("--master", default=None)
    scaling_parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed for one fit")
    scaling_parser.add_argument("--factors", type=int, default=ALS_PARAMS["factors"])
    scaling_parser.add_argument("--iterations", type=int, default=ALS_PARAMS["iterations"])
    once = commands.add_parser("fit-once", help=argparse.SUPPRESS)
    once.add_argument("--engine", choices=("implicit", "spark"), required=True)
    once.add_argument("--pairs", required=True)
    once.add_argument("--master", default=None)
    once.add_argument("--factors", type=int, default=ALS_PARAMS["factors"])
    once.add_argument("--iterations", type=int, default=ALS_PARAMS["iterations"])
    args = parser.parse_args()
    {"parity": parity, "scaling": scaling, "fit-once": fit_once}[args.command](args)


if __name__ == "__main__":
    main()
