"""Shared fixtures: the real data folder, generated MPD slices, a trained data directory and CLI runners.

Real data is looked up in ``shared/data`` beside the repository checkout, or in
the folder that the environment variable TASTEMAKER_SHARED_DATA names. Tests
that need it skip, naming the missing path, when it is absent.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tastemaker.cli import app
from tastemaker.generate import generate_mpd
from tastemaker.ingest import ingest_mpd
from tastemaker.pipeline import parse_model_params, train
from tastemaker.store import Store

SHARED_DATA_ENV = "TASTEMAKER_SHARED_DATA"
# Wide enough that Rich never wraps a message or a table row in captured output.
CLI_ENV = {"COLUMNS": "500", "LINES": "50"}
GENERATED_PLAYLISTS = 300
# Small ALS so that the shared bundle trains in well under a second.
FIXTURE_MODELS = ["popularity", "als"]
FIXTURE_PARAMS = ["als.factors=8", "als.iterations=5"]


# Real data


def shared_data_dir() -> Path:
    override = os.environ.get(SHARED_DATA_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def require_shared(name: str) -> Path:
    """Return the real data folder ``name``, or skip the test when it is absent."""
    path = shared_data_dir() / name
    if not path.is_dir():
        pytest.skip(f"real data folder {path} not found; set {SHARED_DATA_ENV} to the folder that contains {name}/")
    return path


def read_slice(path: Path) -> dict:
    """Parse a plain or gzipped MPD slice with the standard library, independently of tastemaker's reader."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


# Synthetic input


def track_uri(key: str | int) -> str:
    """Return a well-formed Spotify track URI whose 22-character id is derived from ``key``."""
    return "spotify:track:" + str(key).rjust(22, "0")[-22:]


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# Generated data and a trained data directory


@pytest.fixture(scope="session")
def generated_mpd(tmp_path_factory) -> Path:
    """A folder with GENERATED_PLAYLISTS generated playlists in MPD slice format."""
    folder = tmp_path_factory.mktemp("generated-mpd")
    generate_mpd(folder, n_playlists=GENERATED_PLAYLISTS, seed=0)
    return folder


@pytest.fixture(scope="session")
def generated_playlists(generated_mpd) -> list[dict]:
    """The generated playlists as parsed JSON, in pid order."""
    playlists = []
    for path in sorted(generated_mpd.glob("*.json.gz")):
        playlists.extend(read_slice(path)["playlists"])
    return sorted(playlists, key=lambda p: p["pid"])


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory, generated_mpd) -> Path:
    """A data directory with the generated playlists and a bundle of popularity and a small ALS.

    Many tests share it, so none may change it. Tests that edit it use ``trained_copy``.
    """
    data_dir = tmp_path_factory.mktemp("trained") / "data"
    with Store.open(data_dir) as store:
        ingest_mpd(store, [generated_mpd])
        train(store, data_dir, parse_model_params(FIXTURE_MODELS, FIXTURE_PARAMS), default_model="als")
    return data_dir


@pytest.fixture
def trained_copy(trained_dir, tmp_path) -> Path:
    """A private copy of ``trained_dir`` that a test may modify."""
    return Path(shutil.copytree(trained_dir, tmp_path / "data"))


@pytest.fixture(scope="session")
def catalogue_size(generated_playlists) -> int:
    """Number of distinct tracks in the generated playlists, counted from the JSON."""
    return len({t["track_uri"] for p in generated_playlists for t in p["tracks"]})


# Running the CLI


@dataclass
class CliResult:
    exit_code: int
    output: str  # stdout and stderr with every run of whitespace collapsed to one space
    raw: str
    exception: BaseException | None = None


def collapse(text: str) -> str:
    return " ".join(text.split())


def run_tastemaker(*args: str | Path, cwd: Path) -> CliResult:
    """Run the installed entry point ``tastemaker.cli:main`` in a subprocess, as a user's shell would."""
    env = {k: v for k, v in os.environ.items() if k != "TASTEMAKER_DATA_DIR"}
    env.update(CLI_ENV)
    completed = subprocess.run(
        [sys.executable, "-c", "from tastemaker.cli import main; main()", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )
    raw = completed.stdout + completed.stderr
    return CliResult(completed.returncode, collapse(raw), raw)


def invoke_tastemaker(*args: str | Path) -> CliResult:
    """Run the Typer app in this process. A TastemakerError is returned as ``exception`` instead of printed.

    The app's callback reconfigures the root logger, so the handlers are restored afterwards.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        result = CliRunner().invoke(app, [str(a) for a in args], env=CLI_ENV)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    exception = None if isinstance(result.exception, SystemExit) else result.exception
    return CliResult(result.exit_code, collapse(result.output), result.output, exception)


# Bundles


def current_bundle(data_dir: Path) -> Path:
    """Return the folder that ``bundles/current`` names, read without tastemaker's loader."""
    bundles = data_dir / "bundles"
    return bundles / (bundles / "current").read_text().strip()


def refresh_manifest(bundle: Path, *relative: str, n_tracks: int | None = None) -> None:
    """Record the present size and SHA-256 of edited files in the manifest, so only deeper checks can fail."""
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for name in relative:
        content = (bundle / name).read_bytes()
        manifest["files"][name] = {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
    if n_tracks is not None:
        manifest["n_tracks"] = n_tracks
    manifest_path.write_text(json.dumps(manifest, indent=2))
