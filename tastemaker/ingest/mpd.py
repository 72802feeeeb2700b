"""Million Playlist Dataset slices and RecSys Challenge 2018 challenge sets.

Both the full original schema (tracks with ``pos``, artist and album URIs,
``duration_ms``) and reduced copies without those fields are read. Missing
optional fields are stored as NULL, and track order comes from ``pos`` when
every track has a distinct one, else from list order.

Files are validated in memory, then written in groups: each group is one
transaction, so a file is stored whole or not at all, and grouping keeps the
per-commit cost of DuckDB off the per-file path. A writer thread stores one
group while the next is parsed; DuckDB releases the GIL while it works.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import InputError
from ..store import IngestLogEntry, PlaylistBatch, Store, utc_now
from .files import find_source_files, parse_json_bytes, read_file_bytes
from .report import FileReport, IngestReport

log = logging.getLogger(__name__)

TRACK_URI = re.compile(r"spotify:track:[0-9A-Za-z]{22}")
MAX_WARNINGS = 20
FLUSH_ROWS = 200_000

ProgressCallback = Callable[[Path, FileReport], None]


def ingest_mpd(store: Store, paths: list[str | Path], progress: ProgressCallback | None = None) -> IngestReport:
    """Ingest MPD slice files or folders of them."""
    return MpdIngest(store, "mpd").run(find_source_files(paths), progress)


def ingest_challenge(store: Store, paths: list[str | Path], progress: ProgressCallback | None = None) -> IngestReport:
    """Ingest RecSys Challenge 2018 challenge sets: playlists to continue, with their seed tracks."""
    return MpdIngest(store, "challenge").run(find_source_files(paths), progress)


@dataclass
class ChallengePlaylist:
    pid: int
    name: str | None
    seeds: list[str]


def read_challenge(path: str | Path) -> tuple[list[ChallengePlaylist], FileReport]:
    """Validate a challenge set without storing it and return its playlists in file order.

    Invalid seed entries are left out and counted in the report. A playlist
    that cannot be continued at all (no valid pid) raises InputError, because
    a submission must cover every playlist.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; pass the challenge_set.json to continue")
    reader = MpdIngest(None, "challenge")
    report = reader.ingest_file(path)
    if report.status == "rejected":
        raise InputError(report.message)
    rejects = reader.pending.rejects
    for record, item, reason, value in zip(rejects["record_index"], rejects["item_index"], rejects["reason"],
                                           rejects["value"]):
        if item is None:
            raise InputError(f"{path}, playlist {record}: {reason} (value {value}); fix the record, "
                             "because every challenge playlist needs a continuation")
    seeds: dict[int, list[str]] = {}
    for pid, uri in zip(reader.pending.playlist_tracks["pid"], reader.pending.playlist_tracks["track_uri"]):
        seeds.setdefault(pid, []).append(uri)
    columns = reader.pending.playlists
    playlists = [ChallengePlaylist(pid, name, seeds.get(pid, [])) for pid, name in zip(columns["pid"], columns["name"])]
    return playlists, report


class MpdIngest:
    """One ingest command: validates each file and writes groups of files."""

    def __init__(self, store: Store | None, source: str, flush_rows: int = FLUSH_ROWS):
        self.store = store
        self.source = source
        self.flush_rows = flush_rows
        self.ingested = store.ingested_files() if store is not None else {}
        self.stored_pids = store.stored_pids() if store is not None else {}
        self.pending = PlaylistBatch()
        self.pending_entries: list[IngestLogEntry] = []
        # Track URIs queued in this run: within one run the first row of a
        # track is its metadata, and later runs fill only NULL fields.
        self.queued_tracks: set[str] = set()

    def run(self, files: list[Path], progress: ProgressCallback | None = None) -> IngestReport:
        report = IngestReport()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer:
            in_flight: Future | None = None
            for path in files:
                file_report = self.ingest_file(path)
                report.add(file_report)
                if self.pending.row_count >= self.flush_rows:
                    in_flight = self._flush(writer, in_flight)
                if progress is not None:
                    progress(path, file_report)
            in_flight = self._flush(writer, in_flight)
            if in_flight is not None:
                in_flight.result()
        return report

    def _flush(self, writer: ThreadPoolExecutor, in_flight: Future | None) -> Future | None:
        """Hand the pending group to the writer after the previous group is stored."""
        if in_flight is not None:
            in_flight.result()
        if not self.pending_entries:
            return None
        future = writer.submit(self.store.write_ingest, self.pending, self.pending_entries)
        self.pending = PlaylistBatch()
        self.pending_entries = []
        return future

    def ingest_file(self, path: Path) -> FileReport:
        """Validate one file and queue it for writing; the report's status is loaded, skipped or rejected."""
        started = time.perf_counter()
        report = FileReport(file=str(path), format=self.source)
        try:
            raw, sha256 = read_file_bytes(path)
        except InputError as exc:
            _reject_file(report, str(exc))
            return report

        previous = self.ingested.get(sha256)
        if previous is not None and previous.status == "rejected":
            # Still rejected: the same bytes cannot load now, so this run fails too.
            _reject_file(report, f"{path}: the same content was rejected before as {previous.file}; nothing "
                                 "changed. Its reason is in the store's rejects table; fix the file and ingest it again")
            return report
        if previous is not None:
            report.status = "skipped"
            report.message = f"same content already ingested as {previous.file} ({previous.status}); nothing changed"
            return report

        new_pids: dict[int, str] = {}
        try:
            document = parse_json_bytes(raw, path)
            playlists = _playlists_of(document, path)
        except InputError as exc:
            # A broken file is still logged under the hash of its bytes, so the
            # same ingest run again reports it as rejected before and changes nothing.
            _reject_file(report, str(exc))
            self.pending.add_reject(sha256, str(path), None, None, None, None, str(exc))
        else:
            # Nothing below raises for bad data, so rows go straight into the
            # pending group: a file is either rejected whole above or parsed whole.
            for index, playlist in enumerate(playlists):
                self._parse_playlist(playlist, index, path, sha256, report, new_pids)

        report.seconds = time.perf_counter() - started
        entry = _log_entry(report, sha256)
        self.pending_entries.append(entry)
        self.ingested[sha256] = entry
        self.stored_pids.update(new_pids)
        return report

    def _parse_playlist(self, playlist: object, index: int, path: Path, sha256: str,
                        report: FileReport, new_pids: dict[int, str]) -> None:
        batch = self.pending
        report.playlists_read += 1
        tracks = playlist.get("tracks") if isinstance(playlist, dict) else None
        track_count = len(tracks) if isinstance(tracks, list) else 0
        report.tracks_read += track_count

        problem = self._playlist_problem(playlist, new_pids)
        if problem is not None:
            field_name, value, reason = problem
            batch.add_reject(sha256, str(path), index, None, field_name, value, reason)
            report.playlists_rejected += 1
            report.tracks_rejected += track_count
            report.reasons[reason.split(":")[0]] += 1
            return

        pid = playlist["pid"]
        new_pids[pid] = path.name
        kept_uris, positions = _parse_tracks(tracks, index, path, sha256, batch, report, self.queued_tracks)
        columns = batch.playlist_tracks
        columns["pid"].extend([pid] * len(kept_uris))
        columns["pos"].extend(positions)
        columns["track_uri"].extend(kept_uris)
        report.tracks_loaded += len(kept_uris)

        name = playlist.get("name")
        if not isinstance(name, str):
            name = None
        if self.source == "challenge" and not kept_uris and not (name and name.strip()):
            _warn(report, f"{path}, playlist {index} (pid {pid}): no seed tracks and no name; "
                          "its continuation will come from the popularity fallback")
        _append_playlist(batch, playlist, pid, name, self.source, path)
        report.playlists_loaded += 1

    def _playlist_problem(self, playlist: object, new_pids: dict[int, str]) -> tuple[str | None, object, str] | None:
        """Return ``(field, value, reason)`` when the playlist must be rejected as a whole."""
        if not isinstance(playlist, dict):
            return None, playlist, f"playlist is not a JSON object: found {type(playlist).__name__}"
        pid = playlist.get("pid")
        if pid is None:
            return "pid", None, "missing pid: every playlist needs an integer 'pid'"
        if not _is_int(pid) or pid < 0 or pid >= 2**63:
            return "pid", pid, f"invalid pid: expected a non-negative integer, found {pid!r}"
        if pid in new_pids:
            return "pid", pid, f"duplicate pid: {pid} appears earlier in {new_pids[pid]}"
        if pid in self.stored_pids:
            return "pid", pid, f"duplicate pid: {pid} is already stored from {self.stored_pids[pid]}"
        tracks = playlist.get("tracks")
        if not isinstance(tracks, list):
            return "tracks", tracks, f"invalid tracks: expected an array of tracks, found {type(tracks).__name__}"
        count_field = "num_samples" if self.source == "challenge" else "num_tracks"
        declared = playlist.get(count_field)
        if declared is not None and declared != len(tracks):
            return count_field, declared, (
                f"{count_field} disagrees with the list: {count_field} is {declared!r} "
                f"but the playlist lists {len(tracks)} tracks"
            )
        return None


def _playlists_of(document: object, path: Path) -> list:
    if not isinstance(document, dict) or "playlists" not in document:
        found = f"keys {sorted(document)[:5]}" if isinstance(document, dict) else type(document).__name__
        raise InputError(
            f"{path}: expected a JSON object with a 'playlists' array, found {found}; "
            "is this an MPD slice or a challenge set?"
        )
    playlists = document["playlists"]
    if not isinstance(playlists, list):
        raise InputError(f"{path}: field 'playlists' must be an array, found {type(playlists).__name__}")
    return playlists


def _parse_tracks(tracks: list, index: int, path: Path, sha256: str, batch: PlaylistBatch,
                  report: FileReport, queued_tracks: set[str]) -> tuple[list[str], list[int]]:
    """Return the playlist's distinct valid track URIs and their positions, recording rejects."""
    try:
        uris = [track["track_uri"] for track in tracks]
        all_valid = all(map(TRACK_URI.fullmatch, uris))
    except (TypeError, KeyError):
        all_valid = False

    if all_valid:
        # Fast path: every entry is an object with a well-formed URI.
        kept = tracks
        item_indexes = range(len(tracks))
    else:
        kept, item_indexes, uris = [], [], []
        for item_index, track in enumerate(tracks):
            reason, field_name, value = _track_problem(track)
            if reason is not None:
                batch.add_reject(sha256, str(path), index, item_index, field_name, value, reason)
                report.tracks_rejected += 1
                report.reasons[reason] += 1
                continue
            kept.append(track)
            item_indexes.append(item_index)
            uris.append(track["track_uri"])

    # Reduced copies of the MPD have no 'pos' at all. Checking the first
    # track spares building a list of None for every track of those files.
    uses_pos = False
    if kept and "pos" in kept[0]:
        positions = [track.get("pos") for track in kept]
        uses_pos = all(map(_is_int, positions)) and len(set(positions)) == len(positions)
        if not uses_pos:
            _warn(report, f"{path}, playlist {index}: missing or repeated 'pos' values; list order used instead")
    if not uses_pos:
        positions = list(item_indexes)

    if len(set(uris)) != len(uris):
        seen: set[str] = set()
        first_uris, first_positions, first_tracks = [], [], []
        for uri, position, track in zip(uris, positions, kept):
            if uri in seen:
                report.tracks_merged += 1
                continue
            seen.add(uri)
            first_uris.append(uri)
            first_positions.append(position)
            first_tracks.append(track)
        uris, positions, kept = first_uris, first_positions, first_tracks

    catalogue = batch.tracks
    for uri, track in zip(uris, kept):
        if uri not in queued_tracks:
            queued_tracks.add(uri)
            get = track.get
            catalogue[uri] = (uri, get("track_name"), get("artist_name"), get("artist_uri"),
                              get("album_uri"), get("album_name"), get("duration_ms"))
    return uris, positions


def _track_problem(track: object) -> tuple[str | None, str | None, object]:
    if track is None:
        return "null track entry", None, None
    if not isinstance(track, dict):
        return "track entry is not a JSON object", None, track
    uri = track.get("track_uri")
    if uri is None:
        return "missing track_uri", "track_uri", None
    if not isinstance(uri, str) or not TRACK_URI.fullmatch(uri):
        return "malformed track URI", "track_uri", uri
    return None, None, None


def _append_playlist(batch: PlaylistBatch, playlist: dict, pid: int, name: str | None, source: str, path: Path) -> None:
    columns = batch.playlists
    modified_at = playlist.get("modified_at")
    collaborative = playlist.get("collaborative")
    if isinstance(collaborative, str):
        collaborative = {"true": True, "false": False}.get(collaborative.lower())
    columns["pid"].append(pid)
    columns["source"].append(source)
    columns["name"].append(name)
    columns["description"].append(playlist.get("description"))
    columns["collaborative"].append(collaborative)
    columns["modified_at"].append(
        datetime.fromtimestamp(modified_at, timezone.utc).replace(tzinfo=None)
        if _is_int(modified_at) and 0 <= modified_at < 2**33 else None
    )
    for key in ("num_tracks", "num_followers", "num_edits", "num_artists", "num_albums", "duration_ms",
                "num_samples", "num_holdouts"):
        columns[key].append(playlist.get(key))
    columns["file"].append(path.name)


def _log_entry(report: FileReport, sha256: str) -> IngestLogEntry:
    return IngestLogEntry(
        content_sha256=sha256, file=report.file, format=report.format, status=report.status,
        playlists_read=report.playlists_read, playlists_loaded=report.playlists_loaded,
        playlists_rejected=report.playlists_rejected, tracks_read=report.tracks_read,
        tracks_loaded=report.tracks_loaded, tracks_merged=report.tracks_merged,
        tracks_rejected=report.tracks_rejected, ingested_at=utc_now(), seconds=report.seconds,
    )


def _reject_file(report: FileReport, message: str) -> None:
    report.status, report.message = "rejected", message
    for name in ("playlists_read", "playlists_loaded", "playlists_rejected",
                 "tracks_read", "tracks_loaded", "tracks_merged", "tracks_rejected"):
        setattr(report, name, 0)
    report.reasons.clear()
    report.reasons["invalid file"] = 1


def _warn(report: FileReport, message: str) -> None:
    if len(report.warnings) < MAX_WARNINGS:
        report.warnings.append(message)
        log.warning(message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
