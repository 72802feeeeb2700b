"""Measure `tastemaker serve` on 127.0.0.1: latency under load, feedback through a crash, and a bundle swap.

Every mode starts `tastemaker serve` as a subprocess on a free port of
127.0.0.1 and sends requests to nothing else. Each is bounded in requests and
in time.

- ``load``: median, p95 and p99 latency and the throughput of
  ``GET /v1/recommendations`` at each concurrency (default 1, 16 and 64),
  beside ``GET /v1/bare``, an endpoint of the same app and middleware that
  returns a constant list. The recommendation endpoint is measured twice:
  ``computed`` sends ``Cache-Control: no-cache`` so that the model runs for
  every request, and ``cached`` repeats users whose responses are cached. Each
  user is requested once before measuring, so that their stored history is
  read. Clients keep their HTTP/1.1 connections open. Any 5xx is counted.
- ``feedback-crash``: ``--writers`` threads post feedback events for
  ``--seconds`` seconds. Each retries an event with the same id until it is
  acknowledged. The server is killed with SIGKILL at ``--kill-at`` seconds
  and started again. At the end the script checks that every acknowledged
  event is in the log exactly once and that no event id is in it twice, and
  reports ``passed``.
- ``swap``: load on the recommendation endpoint while a copy of the current
  bundle (hard links, under a new name) is published; counts failed
  requests and which bundle each response came from.

The load generator runs in this process, on the same cores as the server.

Usage:
    python benchmarks/bench_serve.py load --data-dir D [--out results.json]
    python benchmarks/bench_serve.py feedback-crash --data-dir D [--writers 32 --seconds 30 --kill-at 15]
    python benchmarks/bench_serve.py swap --data-dir D
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

API_KEY = "bench-key"
START_SECONDS = 600


# The server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`tastemaker serve` in a subprocess on 127.0.0.1, logging to a file."""

    def __init__(self, data_dir: Path, log_path: Path, *extra: str, port: int | None = None):
        self.data_dir, self.log_path, self.extra = Path(data_dir), Path(log_path), extra
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Start the server and return the seconds until /health returned 200."""
        env = {**os.environ, "TASTEMAKER_API_KEY": API_KEY}
        env.pop("TASTEMAKER_DATA_DIR", None)
        handle = self.log_path.open("ab")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tastemaker.cli import main; main()", "--data-dir", str(self.data_dir),
             "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.extra],
            stdout=handle, stderr=subprocess.STDOUT, env=env)
        handle.close()
        while time.perf_counter() - started < START_SECONDS:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {self.log_path}")
            try:
                if get(self.port, "/health", timeout=5)[0] == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"server did not respond to /health within {START_SECONDS} s; see {self.log_path}")

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


def get(port: int, path: str, headers: dict | None = None, timeout: float = 30) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def post(port: int, path: str, body: dict, timeout: float = 30) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, body=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json", "X-API-Key": API_KEY})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


# The load generator: HTTP/1.1 with keep-alive over asyncio streams, light enough to share the cores.


async def fetch(reader, writer, path: str, extra_headers: str) -> tuple[int, bytes]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra_headers}\r\n".encode())
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def run_level(port: int, paths: list[str], concurrency: int, max_requests: int, max_seconds: float,
                    extra_headers: str = "", keep_bodies: bool = False) -> dict:
    """Send up to ``max_requests`` requests from ``concurrency`` connections, for at most ``max_seconds``."""
    latencies: list[float] = []
    statuses: Counter = Counter()
    bodies: list[bytes] = []
    next_index = 0
    deadline = time.perf_counter() + max_seconds

    async def client() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_index < max_requests and time.perf_counter() < deadline:
                path = paths[next_index % len(paths)]
                next_index += 1
                started = time.perf_counter()
                try:
                    status, body = await fetch(reader, writer, path, extra_headers)
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                    statuses["connection error"] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
                if keep_bodies:
                    bodies.append(body)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    values = np.array(latencies) * 1000
    result = {
        "concurrency": concurrency, "requests": len(latencies), "seconds": round(elapsed, 2),
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "median_ms": round(float(np.median(values)), 2) if len(values) else None,
        "p95_ms": round(float(np.percentile(values, 95)), 2) if len(values) else None,
        "p99_ms": round(float(np.percentile(values, 99)), 2) if len(values) else None,
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "server_errors": sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500),
        "failed": sum(v for k, v in statuses.items() if not (isinstance(k, int) and k < 400)),
    }
    if keep_bodies:
        result["bodies"] = bodies
    return result


def user_paths(data_dir: Path, count: int, n: int) -> list[str]:
    """Recommendation paths for ``count`` stored playlists, spread evenly over the store's pids."""
    from tastemaker.store import Store

    with Store.open(data_dir, read_only=True) as store:
        pids = store.playlists().column("pid").to_pylist()
    chosen = [pids[i] for i in np.linspace(0, len(pids) - 1, min(count, len(pids))).astype(int)]
    return [f"/v1/recommendations?user=playlist:{pid}&n={n}" for pid in chosen]


# Modes


def load_mode(args) -> dict:
    server = Server(args.data_dir, args.work / "server-load.log", "--bare-endpoint", "--poll-seconds", "0")
    startup = server.start()
    try:
        health = get(server.port, "/health")[1]
        paths = user_paths(args.data_dir, args.users, args.n)
        warm_started = time.perf_counter()
        warm = asyncio.run(run_level(server.port, paths, 2, len(paths), args.seconds * 10))
        warm_seconds = time.perf_counter() - warm_started
        levels = []
        for concurrency in args.concurrency:
            for endpoint, level_paths, headers in (
                ("bare", [f"/v1/bare?n={args.n}"], ""),
                ("recommendations, computed", paths, "Cache-Control: no-cache\r\n"),
                ("recommendations, cached", paths, ""),
            ):
                result = asyncio.run(run_level(server.port, level_paths, concurrency, args.requests, args.seconds,
                                               headers))
                result["endpoint"] = endpoint
                levels.append(result)
                print(json.dumps(result), flush=True)
    finally:
        server.stop()
    return {"mode": "load", "bundle": health["bundle"], "model": health["model"], "n_tracks": health["n_tracks"],
            "n": args.n, "users": args.users, "startup_seconds": round(startup, 1),
            "warm_up": {"requests": warm["requests"], "seconds": round(warm_seconds, 1),
                        "failed": warm["failed"]}, "levels": levels}


def feedback_crash_mode(args) -> dict:
    """Writers post events through a SIGKILL and a restart; then the log is checked against the acknowledgements."""
    log_path = args.data_dir / "feedback" / "events.jsonl"
    before = set(_log_ids(log_path)) if log_path.exists() else set()
    server = Server(args.data_dir, args.work / "server-crash.log", "--poll-seconds", "0")
    server.start()
    port = server.port
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + args.seconds
    counts = Counter()
    prefix = f"crash-{int(time.time())}"

    def writer(number: int) -> None:
        sequence = 0
        while time.monotonic() < stop_at:
            event_id = f"{prefix}-w{number}-{sequence}"
            body = {"event_id": event_id, "user": f"writer-{number}", "track_id": f"spotify:track:bench{sequence}",
                    "type": ("play", "skip", "like", "add_to_playlist")[sequence % 4]}
            # Retry the same event, as a client must, until the service acknowledges it.
            while True:
                try:
                    status, _ = post(port, "/v1/feedback", body, timeout=30)
                except OSError:
                    with lock:
                        counts["connection errors"] += 1
                    time.sleep(0.05)
                    continue
                with lock:
                    counts[status] += 1
                if status in (200, 201):
                    with lock:
                        acknowledged.append(event_id)
                    break
                time.sleep(0.05)
            sequence += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(args.writers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, started + args.kill_at - time.monotonic()))
    with lock:
        acknowledged_at_kill = len(acknowledged)
    server.kill()
    killed_at = time.monotonic() - started
    restart_seconds = server.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    server.stop()

    ids = [i for i in _log_ids(log_path) if i not in before]
    in_log = Counter(ids)
    missing = [i for i in acknowledged if in_log[i] != 1]
    repeated = [i for i, c in in_log.items() if c > 1]
    result = {
        "mode": "feedback-crash", "writers": args.writers, "seconds": round(elapsed, 1),
        "killed_at_seconds": round(killed_at, 1), "restart_seconds": round(restart_seconds, 1),
        "acknowledged": len(acknowledged), "acknowledged_before_kill": acknowledged_at_kill,
        "events_in_log": len(ids), "acknowledged_missing_or_repeated": len(missing),
        "ids_in_log_twice": len(repeated),
        "responses": {str(k): v for k, v in sorted(counts.items(), key=str)},
        "passed": not missing and not repeated,
    }
    if args.acknowledged_out:
        Path(args.acknowledged_out).write_text(json.dumps(acknowledged))
    return result


def _log_ids(path: Path) -> list[str]:
    ids = []
    with path.open("rb") as handle:
        for line in handle:
            if line.endswith(b"\n"):
                ids.append(json.loads(line)["event_id"])
    return ids


def swap_mode(args) -> dict:
    """Publish a hard-linked copy of the current bundle while clients load the recommendation endpoint."""
    from tastemaker.bundle import bundles_dir, current_bundle_path, set_current

    server = Server(args.data_dir, args.work / "server-swap.log", "--poll-seconds", "1")
    server.start()
    old = current_bundle_path(args.data_dir)
    new_name = old.name.split("-")[0] + "-swapcopy"
    new = bundles_dir(args.data_dir) / new_name
    if new.exists():
        shutil.rmtree(new)
    shutil.copytree(old, new, copy_function=os.link)
    paths = user_paths(args.data_dir, args.users, args.n)
    asyncio.run(run_level(server.port, paths, 2, len(paths), args.seconds * 10))
    published = {}

    def publish() -> None:
        time.sleep(2)
        published["at"] = time.perf_counter()
        set_current(args.data_dir, new_name)

    thread = threading.Thread(target=publish)
    try:
        thread.start()
        result = asyncio.run(run_level(server.port, paths, args.swap_concurrency, args.requests, args.seconds,
                                       "Cache-Control: no-cache\r\n", keep_bodies=True))
        thread.join()
        served_after = get(server.port, "/health")[1]["bundle"]
    finally:
        server.stop()
        set_current(args.data_dir, old.name)
        shutil.rmtree(new, ignore_errors=True)
    bundles = Counter(json.loads(body)["bundle"] for body in result.pop("bodies"))
    return {"mode": "swap", "concurrency": args.swap_concurrency, **result, "bundles": dict(bundles),
            "served_after": served_after, "swapped": served_after == new_name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("load", "feedback-crash", "swap"))
    parser.add_argument("--data-dir", type=Path, required=True, help="Data directory with a trained bundle")
    parser.add_argument("--work", type=Path, default=None, help="Folder for server logs (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=None, help="Write the result as JSON here too")
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64])
    parser.add_argument("--requests", type=int, default=5000, help="Maximum requests per level")
    parser.add_argument("--seconds", type=float, default=30,
                        help="Maximum seconds per level; for feedback-crash, the length of the run")
    parser.add_argument("--users", type=int, default=200, help="Stored playlists used as users")
    parser.add_argument("-n", type=int, default=10, help="Tracks per recommendation")
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--kill-at", type=float, default=15)
    parser.add_argument("--swap-concurrency", type=int, default=16)
    parser.add_argument("--acknowledged-out", type=Path, default=None,
                        help="feedback-crash: write the acknowledged event ids here as a JSON list")
    args = parser.parse_args()
    if args.work is None:
        import tempfile

        args.work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    args.work.mkdir(parents=True, exist_ok=True)
    modes = {"load": load_mode, "feedback-crash": feedback_crash_mode, "swap": swap_mode}
    result = modes[args.mode](args)
    result["machine"] = {"platform": platform.platform(), "python": platform.python_version(),
                         "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
