"""Export the store as Parquet for Spark: playlists, their tracks, the catalogue and play events.

Layout of an export folder::

    export.json                     format, version, store snapshot, row counts, buckets
    playlists/part-0.parquet        pid, source, name, description, num_tracks, ...
    playlist_tracks/pid_bucket=K/   pid, pos, track_uri; K = pid mod the bucket count; when there are any
    tracks/part-0.parquet           track_uri, name, artist_name, artist_uri, album_uri, album_name, duration_ms
    audio_features/part-0.parquet   when the store has audio features
    users/part-0.parquet            user_id, source, name_hash; when the store has listening data
    play_events/user_bucket=K/      user_id, ts, track_uri, ms_played, skipped, ...; K = user_id mod buckets

Rows of one playlist (or one user) always share a bucket, because training
and recommend-all group by playlist and by user, and each bucket contains about
``ROWS_PER_BUCKET`` rows. DuckDB writes the files straight from the store, so
the export streams and never keeps a table in Python.

The folder is written beside its destination and renamed into place, so a
reader never sees a half-written export.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..errors import InputError
from ..store import Store

log = logging.getLogger(__name__)

FORMAT = "tastemaker-parquet"
FORMAT_VERSION = 1
MANIFEST = "export.json"
ROWS_PER_BUCKET = 2_000_000
PLAYLIST_COLUMNS = ("pid", "source", "name", "description", "collaborative", "modified_at", "num_tracks",
                    "num_followers", "num_edits", "num_artists", "num_albums", "duration_ms", "num_samples",
                    "num_holdouts")
TRACK_COLUMNS = ("track_uri", "name", "artist_name", "artist_uri", "album_uri", "album_name", "duration_ms")
EVENT_COLUMNS = ("user_id", "ts", "track_uri", "ms_played", "skipped", "reason_start", "reason_end", "shuffle",
                 "offline", "platform", "conn_country", "source")


@dataclass
class ExportReport:
    """Summary of an export: its folder, rows and bucket count per table, and the seconds it took."""

    path: Path
    rows: dict[str, int] = field(default_factory=dict)
    buckets: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def bucket_count(rows: int, rows_per_bucket: int = ROWS_PER_BUCKET) -> int:
    """Return how many buckets split ``rows`` rows into about ``rows_per_bucket`` each (at least 1)."""
    return max(1, math.ceil(rows / rows_per_bucket))


def export_parquet(store: Store, out: Path, buckets: int | None = None) -> ExportReport:
    """Write the store's tables as Parquet under ``out``, replacing an earlier export there.

    ``buckets`` fixes the bucket count of playlist tracks and play events;
    by default it follows from their row counts.
    """
    out = Path(out)
    if buckets is not None and buckets < 1:
        raise InputError(f"--buckets must be a positive integer, got {buckets}")
    if out.exists() and not (out / MANIFEST).is_file():
        if not out.is_dir():
            raise InputError(f"cannot export to {out}: it is a file; choose a folder with --out")
        if any(out.iterdir()):
            raise InputError(f"cannot export to {out}: the folder is not empty and contains no {MANIFEST}, so it is "
                             "not an earlier export; choose an empty or new folder with --out")
    connection = store.connection
    playlist_rows = _count(connection, "playlist_tracks")
    if playlist_rows == 0 and not _has_rows(connection, "play_events"):
        raise InputError(f"the store {store.path} has no playlist tracks or play events to export; ingest data "
                         "first, for example with `tastemaker ingest mpd PATH`")
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.incoming-", dir=out.parent))
    report = ExportReport(out)
    try:
        _write_table(connection, "playlists", PLAYLIST_COLUMNS, staging, report)
        _write_table(connection, "tracks", TRACK_COLUMNS, staging, report)
        if _has_rows(connection, "audio_features"):
            columns = tuple(c for c in _columns(connection, "audio_features")
                            if c not in ("content_sha256", "file", "ingested_at"))
            _write_table(connection, "audio_features", columns, staging, report)
        if playlist_rows:
            _write_bucketed(connection, "playlist_tracks", ("pid", "pos", "track_uri"), "pid", "pid_bucket",
                            buckets or bucket_count(playlist_rows), staging, report)
        if _has_rows(connection, "play_events"):
            _write_table(connection, "users", ("user_id", "source", "name_hash"), staging, report)
            count = buckets or bucket_count(_count(connection, "play_events"))
            _write_bucketed(connection, "play_events", EVENT_COLUMNS, "user_id", "user_bucket", count, staging,
                            report)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "tastemaker_version": __version__,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "data_snapshot": store.snapshot(),
            "tables": {name: {"rows": count, "buckets": report.buckets.get(name)} for name, count in
                       report.rows.items()},
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        _replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.seconds = time.perf_counter() - started
    log.info("exported %s to %s in %.1f s", ", ".join(f"{n} {t}" for t, n in report.rows.items()), out,
             report.seconds)
    return report


def read_export_manifest(path: Path) -> dict:
    """Read and check an export's ``export.json``; raise InputError naming the folder and the fix."""
    manifest_path = Path(path) / MANIFEST
    fix = "write one with `tastemaker export parquet --out FOLDER`"
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path} is not a tastemaker Parquet export: {manifest_path} not found; {fix}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {manifest_path}: {exc}; {fix}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{manifest_path}: not a tastemaker Parquet export manifest; {fix}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{manifest_path}: export format version {manifest.get('format_version')!r} is not "
                         f"supported (expected {FORMAT_VERSION}); export again with this tastemaker")
    return manifest


# Table names and column lists below are fixed in this module, never taken from input.


def _count(connection, table: str) -> int:
    return connection.table(table).aggregate("count(*)").fetchall()[0][0]


def _has_rows(connection, table: str) -> bool:
    tables = {row[0] for row in connection.sql("SELECT table_name FROM information_schema.tables").fetchall()}
    return table in tables and _count(connection, table) > 0


def _columns(connection, table: str) -> list[str]:
    return connection.table(table).columns


def _write_table(connection, table: str, columns: tuple[str, ...], staging: Path, report: ExportReport) -> None:
    relation = connection.table(table).project(", ".join(columns))
    folder = staging / table
    folder.mkdir()
    relation.write_parquet(str(folder / "part-0.parquet"), compression="zstd")
    report.rows[table] = _count(connection, table)


def _write_bucketed(connection, table: str, columns: tuple[str, ...], key: str, bucket_column: str, buckets: int,
                    staging: Path, report: ExportReport) -> None:
    # The rows of a bucket are ordered by key, so a playlist's or a user's rows are contiguous.
    order = "pid, pos" if table == "playlist_tracks" else "user_id, ts, track_uri"
    relation = (connection.table(table)
                .project(f"{', '.join(columns)}, CAST((({key} % {buckets}) + {buckets}) % {buckets} AS INTEGER) "
                         f"AS {bucket_column}")
                .order(order))
    relation.write_parquet(str(staging / table), compression="zstd", partition_by=[bucket_column])
    report.rows[table] = _count(connection, table)
    report.buckets[table] = buckets


def _replace(staging: Path, out: Path) -> None:
    """Move ``staging`` to ``out``; an earlier export there is renamed aside first, then deleted."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
