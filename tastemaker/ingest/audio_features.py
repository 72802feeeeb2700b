"""Spotify audio features from CSV files, keyed by track id or track URI.

The key column contains a 22-character Spotify track id (the part after
``spotify:track:``) or a full ``spotify:track:`` URI. The columns named in
AUDIO_FEATURE_COLUMNS must all be present and numeric; other columns, such
as track and artist names, are ignored. A plain or gzipped UTF-8 file with a
header row is expected.

Each data row is loaded, merged or rejected. A row is merged when an earlier
valid row of the file, or an earlier ingest, already gave features for the
same track: the first valid row wins and stored features never change. A
rejected row is kept in the store's rejects table with its reason.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ..errors import InputError
from ..store import PlaylistBatch, Store, utc_now
from ..store.audio import (AUDIO_FEATURE_COLUMNS, INTEGER_FEATURES, AudioCoverage, audio_coverage,
                           write_audio_features)
from .files import GZIP_MAGIC, read_file_bytes

log = logging.getLogger(__name__)

KEY_COLUMNS = ("track_id", "id", "track_uri", "uri", "spotify_id")
TRACK_KEY = re.compile(r"(?:spotify:track:)?([0-9A-Za-z]{22})")
DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
MAX_EXAMPLES = 20

# Inclusive bounds per column, as loose sanity checks; None leaves that side
# open. time_signature (beats per bar) allows 0 and 1 because real exports
# contain them.
UNIT_INTERVAL = (0.0, 1.0)
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "danceability": UNIT_INTERVAL, "energy": UNIT_INTERVAL, "speechiness": UNIT_INTERVAL,
    "acousticness": UNIT_INTERVAL, "instrumentalness": UNIT_INTERVAL, "liveness": UNIT_INTERVAL,
    "valence": UNIT_INTERVAL, "key": (-1, 11), "mode": (0, 1), "loudness": (None, None),
    "tempo": (0.0, None), "duration_ms": (1, None), "time_signature": (0, 7),
}


@dataclass
class AudioIngestReport:
    """Counts for one audio-feature file: ``rows_read = rows_loaded + rows_merged + rows_rejected``.

    ``merged_already_stored`` is the part of ``rows_merged`` whose track had
    features from an earlier ingest; the rest repeat a track earlier in the
    file. ``coverage`` is measured against the store after the ingest.
    """

    file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_merged: int = 0
    merged_already_stored: int = 0
    rows_rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    coverage: AudioCoverage | None = None
    seconds: float = 0.0

    def check_totals(self) -> None:
        """Raise AssertionError when the counts do not add up; a bug, never bad input."""
        assert self.rows_read == self.rows_loaded + self.rows_merged + self.rows_rejected, self
        assert self.rows_rejected == sum(self.reasons.values()), self
        assert 0 <= self.merged_already_stored <= self.rows_merged, self


def ingest_audio_features(store: Store, path: str | Path, key_column: str | None = None) -> AudioIngestReport:
    """Load a CSV of audio features into the store and report what happened to each row.

    Parameters
    ----------
    store : Store
        A store opened writable.
    path : str or Path
        The CSV file, plain or gzipped.
    key_column : str, optional
        Name of the column with track ids or URIs; by default the first of
        KEY_COLUMNS in the header. Header names match case-insensitively.

    Raises
    ------
    InputError
        When the file cannot be read or decoded, or its header lacks the key
        column or a feature column. Bad rows are rejected and counted instead.
    """
    started = time.perf_counter()
    path = Path(path)
    raw, sha256 = read_file_bytes(path)
    rows = csv.reader(io.StringIO(_decode(raw, path), newline=""))
    header = next((row for row in rows if row), None)
    if header is None:
        raise InputError(f"{path}: the file is empty; expected a CSV header with a track id column and "
                         f"the columns {', '.join(AUDIO_FEATURE_COLUMNS)}")
    key_position, positions = _header_positions(header, key_column, path)

    report = AudioIngestReport(file=str(path))
    features: dict[str, list] = {name: [] for name in ("track_uri", *AUDIO_FEATURE_COLUMNS)}
    rejects = PlaylistBatch()  # only its rejects columns are used
    seen: set[str] = set()
    for row in _records(rows, path):
        report.rows_read += 1
        problem, uri, values = _parse_row(row, len(header), key_position, positions)
        if problem is not None:
            field_name, value, reason = problem
            # record_index counts data rows from 0, as the MPD ingest counts playlists.
            rejects.add_reject(sha256, str(path), report.rows_read - 1, None, field_name, value, reason)
            report.rows_rejected += 1
            report.reasons[reason.split(":")[0]] += 1
            if len(report.examples) < MAX_EXAMPLES:
                value_start = str(value)[:60]
                report.examples.append(
                    f"{path}, line {rows.line_num}, field {field_name!r}: {reason} (value {value_start!r})")
        elif uri in seen:
            report.rows_merged += 1
        else:
            seen.add(uri)
            features["track_uri"].append(uri)
            for name, value in zip(AUDIO_FEATURE_COLUMNS, values):
                features[name].append(value)

    already_stored = write_audio_features(store, _features_table(features), rejects.rejects_table(),
                                          sha256, str(path), utc_now())
    report.rows_loaded = len(seen) - already_stored
    report.rows_merged += already_stored
    report.merged_already_stored = already_stored
    report.coverage = audio_coverage(store)
    report.seconds = time.perf_counter() - started
    report.check_totals()
    log.info("%s: %d rows read, %d loaded, %d merged, %d rejected", path, report.rows_read, report.rows_loaded,
             report.rows_merged, report.rows_rejected)
    return report


def _records(rows, path: Path) -> Iterator[list[str]]:
    """Yield the non-blank rows of a csv reader; a CSV syntax error raises InputError with its line."""
    try:
        for row in rows:
            if row:
                yield row
    except csv.Error as exc:
        raise InputError(f"{path}, line {rows.line_num}: invalid CSV ({exc}); fix the file and ingest it again") from exc


def _decode(raw: bytes, path: Path) -> str:
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(f"{path}: invalid gzip data ({exc}); the file may be truncated") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: invalid UTF-8 at byte {exc.start}; save the CSV as UTF-8") from exc


def _header_positions(header: list[str], key_column: str | None, path: Path) -> tuple[int, list[int]]:
    """Return the position of the key column and of each feature column, in AUDIO_FEATURE_COLUMNS order."""
    names = [name.strip().lower() for name in header]
    if key_column is not None:
        key_name = key_column.strip().lower()
        if key_name not in names:
            raise InputError(f"{path}: key column {key_column!r} not found in the header; columns: {', '.join(header)}")
    else:
        key_name = next((name for name in KEY_COLUMNS if name in names), None)
        if key_name is None:
            raise InputError(f"{path}: no track id column found; name it one of {', '.join(KEY_COLUMNS)} "
                             "or pass its name as key_column")
    missing = [name for name in AUDIO_FEATURE_COLUMNS if name not in names]
    if missing:
        raise InputError(f"{path}: missing feature columns {', '.join(missing)}; "
                         f"the header has: {', '.join(header)}")
    return names.index(key_name), [names.index(name) for name in AUDIO_FEATURE_COLUMNS]


def _parse_row(row: list[str], width: int, key_position: int, positions: list[int]
               ) -> tuple[tuple[str | None, object, str] | None, str | None, list]:
    """Return ``(problem, track URI, values)``; problem is ``(field, value, reason)`` or None."""
    if len(row) != width:
        return (None, ",".join(row), f"wrong number of fields: expected {width}, found {len(row)}"), None, []
    key = row[key_position].strip()
    match = TRACK_KEY.fullmatch(key)
    if match is None:
        return ("track_id", key, "malformed track id"), None, []
    values = []
    for name, position in zip(AUDIO_FEATURE_COLUMNS, positions):
        text = row[position].strip()
        if not text:
            return (name, text, "missing value"), None, []
        if DECIMAL.fullmatch(text) is None:
            return (name, text, "non-numeric value"), None, []
        value = float(text)
        if name in INTEGER_FEATURES:
            if not value.is_integer():
                return (name, text, "non-integer value"), None, []
            value = int(value)
        low, high = BOUNDS[name]
        if (low is not None and value < low) or (high is not None and value > high):
            return (name, text, "value out of range"), None, []
        values.append(value)
    return None, f"spotify:track:{match.group(1)}", values


def _features_table(features: dict[str, list]) -> pa.Table:
    types = {name: pa.int64() if name in INTEGER_FEATURES else pa.float64() for name in AUDIO_FEATURE_COLUMNS}
    return pa.table({"track_uri": pa.array(features["track_uri"], type=pa.string()),
                     **{name: pa.array(features[name], type=types[name]) for name in AUDIO_FEATURE_COLUMNS}})
