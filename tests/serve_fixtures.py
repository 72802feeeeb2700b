"""Helpers for the service tests: a test client on a data directory, and `tastemaker serve` as a real process.

The data directories are copies of conftest's ``trained_dir``: generated
playlists (not real data) with a bundle of popularity and a small ALS.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from fastapi.testclient import TestClient

from tastemaker.bundle import load_bundle
from tastemaker.serve import ServeSettings, create_app

API_KEY = "test-key-1234"
SERVER_START_SECONDS = 60


@contextmanager
def service_client(data_dir: Path, **settings):
    """Yield a TestClient of the app on ``data_dir``; the app starts (bundle loaded, log open) and stops around it."""
    settings.setdefault("poll_seconds", 0)
    app = create_app(ServeSettings(data_dir, **settings))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def playlist_uris(playlists: list[dict], pid: int) -> list[str]:
    return [t["track_uri"] for p in playlists if p["pid"] == pid for t in p["tracks"]]


def current_bundle_folder(data_dir: Path) -> Path:
    bundles = Path(data_dir) / "bundles"
    return bundles / (bundles / "current").read_text().strip()


def expected_als(data_dir: Path, weights: dict[str, float], n: int, bundle: Path | None = None) -> list[str]:
    """Fold a row of ``track URI -> weight`` into the bundle's ALS, as the tests' independent reference.

    Every track of the row is excluded, as the service excludes played tracks.
    """
    loaded = load_bundle(bundle or current_bundle_folder(data_dir))
    model = loaded.models["als"]
    columns = [loaded.tracks.index(uri) for uri in weights]
    row = sp.csr_matrix((np.asarray(list(weights.values()), dtype=np.float32), (np.zeros(len(columns)), columns)),
                        shape=(1, len(loaded.tracks)))
    ids, _ = model.recommend(row, N=n, filter_already_liked_items=True)
    return loaded.tracks.external(ids[0][ids[0] >= 0])


def popularity_counts(playlists: list[dict]) -> dict[str, int]:
    """Playlists containing each track, counted from the generated JSON."""
    counts: dict[str, int] = {}
    for playlist in playlists:
        for uri in {t["track_uri"] for t in playlist["tracks"]}:
            counts[uri] = counts.get(uri, 0) + 1
    return counts


# A real server process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """`tastemaker serve` on 127.0.0.1 in a subprocess, with its output in ``log_path``."""

    def __init__(self, data_dir: Path, log_path: Path, *extra: str, port: int | None = None,
                 env: dict | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.log_path = log_path
        self.extra = extra
        self.env = {**os.environ, **(env or {})}
        self.env.pop("TASTEMAKER_DATA_DIR", None)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServerProcess":
        handle = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tastemaker.cli import main; main()", "--data-dir", str(self.data_dir),
             "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.extra],
            stdout=handle, stderr=subprocess.STDOUT, env=self.env)
        handle.close()
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log_path}:\n"
                                   + self.log_path.read_text()[-3000:])
            try:
                status, _ = request(self.port, "GET", "/health", timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer /health within {SERVER_START_SECONDS} s; see {self.log_path}")

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would, and wait for it to end."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def request(port: int, method: str, path: str, body: dict | None = None, headers: dict | None = None,
            timeout: float = 10) -> tuple[int, dict]:
    """Send one HTTP request to 127.0.0.1 with the standard library; return the status and the JSON body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})} if data is not None else (headers or {})
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        payload = response.read()
        return response.status, json.loads(payload) if payload else {}
    finally:
        connection.close()
