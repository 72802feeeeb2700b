"""Model bundles: the only thing serving reads.

A bundle is a folder under ``<data dir>/bundles/``::

    manifest.json        format version, creation time, data snapshot,
                         parameters, file list with SHA-256 hashes
    tracks.txt           the track id map, one URI per line
    models/<name>/       params.json and .npy arrays of each model

It is written to a temporary folder and renamed into place, then the file
``bundles/current`` is replaced atomically with the new bundle's name. No
file is a pickle, so loading a bundle from an untrusted source runs no code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .errors import BundleError, InputError
from .models import Recommender, model_class
from .signals import IdMap

log = logging.getLogger(__name__)

FORMAT = "tastemaker-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TRACKS_FILE = "tracks.txt"
CURRENT = "current"


@dataclass
class Bundle:
    """A loaded bundle: its folder, manifest, track id map and models."""

    path: Path
    manifest: dict
    tracks: IdMap
    models: dict[str, Recommender]

    @property
    def default_model(self) -> str:
        return self.manifest["default_model"]

    def model(self, name: str | None = None) -> Recommender:
        name = name or self.default_model
        if name not in self.models:
            model_class(name)  # An unregistered name raises InputError, which lists the registered models.
            raise InputError(
                f"model {name!r} is not in the bundle {self.path.name}; it has: {', '.join(self.models)}. "
                f"Train it with `tastemaker train --model {name}`"
            )
        return self.models[name]


def bundles_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "bundles"


def write_bundle(data_dir: Path, tracks: IdMap, models: dict[str, Recommender], default_model: str,
                 data_snapshot: dict, extra: dict | None = None) -> Path:
    """Write a bundle atomically, point ``current`` at it and return its folder."""
    root = bundles_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    created = datetime.now(timezone.utc)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        tracks.save(staging / TRACKS_FILE)
        for name, model in models.items():
            model.save(staging / "models" / name)
        files = {
            str(path.relative_to(staging)): {"sha256": file_sha256(path), "bytes": path.stat().st_size}
            for path in sorted(staging.rglob("*")) if path.is_file()
        }
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "tastemaker_version": __version__,
            "created_at": created.isoformat(timespec="seconds"),
            "data_snapshot": data_snapshot,
            "n_tracks": len(tracks),
            "default_model": default_model,
            "models": {name: {"class": model.name, "params": model.params} for name, model in models.items()},
            "files": files,
            **(extra or {}),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        name = created.strftime("%Y%m%dT%H%M%SZ") + "-" + text_sha256(json.dumps(files, sort_keys=True))[:8]
        final = root / name
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    set_current(data_dir, name)
    log.info("bundle %s written with models %s", final, ", ".join(models))
    return final


def set_current(data_dir: Path, name: str) -> None:
    root = bundles_dir(data_dir)
    if not (root / name / MANIFEST).is_file():
        raise BundleError(f"cannot make {name} current: {root / name / MANIFEST} does not exist")
    pointer = root / f".{CURRENT}.tmp"
    pointer.write_text(name + "\n")
    os.replace(pointer, root / CURRENT)


def current_bundle_path(data_dir: Path) -> Path:
    pointer = bundles_dir(data_dir) / CURRENT
    if not pointer.is_file():
        raise BundleError(
            f"no trained model in {data_dir}: {pointer} does not exist; run `tastemaker train` first"
        )
    return bundles_dir(data_dir) / pointer.read_text().strip()


def load_bundle(path: Path, verify_hashes: bool = True) -> Bundle:
    """Load and check a bundle; every inconsistency raises BundleError naming the file and the fix."""
    path = Path(path)
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{manifest_path} not found; {path} is not a tastemaker bundle") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read {manifest_path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{manifest_path}: not a tastemaker bundle manifest (format {manifest.get('format')!r})"
                          if isinstance(manifest, dict) else f"{manifest_path}: expected a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"{manifest_path}: bundle format version {version!r} is not supported by tastemaker {__version__} "
            f"(expects {FORMAT_VERSION}); retrain with `tastemaker train`"
        )
    for relative, expected in manifest.get("files", {}).items():
        file = path / relative
        if not file.is_file():
            raise BundleError(f"{path}: file {relative} listed in the manifest is missing; the bundle is incomplete")
        if file.stat().st_size != expected["bytes"]:
            raise BundleError(
                f"{path}: {relative} has {file.stat().st_size} bytes but the manifest lists {expected['bytes']}; "
                "the bundle was modified or truncated, retrain with `tastemaker train`"
            )
        if verify_hashes and file_sha256(file) != expected["sha256"]:
            raise BundleError(
                f"{path}: {relative} does not match its SHA-256 in the manifest; "
                "the bundle was modified, retrain with `tastemaker train`"
            )
    tracks = IdMap.load(path / TRACKS_FILE)
    if len(tracks) != manifest.get("n_tracks"):
        raise BundleError(
            f"{path}: {TRACKS_FILE} lists {len(tracks)} tracks but the manifest lists {manifest.get('n_tracks')}; "
            "the bundle is inconsistent, retrain with `tastemaker train`"
        )
    models = {}
    for name, spec in manifest.get("models", {}).items():
        cls = model_class(spec["class"])
        models[name] = cls.load(path / "models" / name, len(tracks))
    return Bundle(path, manifest, tracks, models)


def file_sha256(path: Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_sha256(text: str) -> str:
    """Return the SHA-256 hex digest of a string's UTF-8 bytes."""
    return hashlib.sha256(text.encode()).hexdigest()
