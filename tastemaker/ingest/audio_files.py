"""Audio files (wav, flac, ogg, mp3): content features, matched to catalogue tracks or added as new ones.

Files are found recursively under the given folders and analysed in a
process pool, one process per core by default, because decoding and
feature extraction are CPU-bound. Each file is matched to a track, in this
order:

1. ``spotify id``: the file name contains a Spotify track id, alone or as a
   ``spotify:track:`` (or ``spotify_track_``) URI;
2. ``tags``: the artist and title tags match a catalogue track by
   normalised names (see :mod:`tastemaker.ingest.names`);
3. ``file name``: a name of the form ``Artist - Title`` (an optional
   leading track number is ignored) matches the same way;
4. ``new track``: otherwise the file becomes a new catalogue track, named
   from its tags or file name. Its id is the Spotify URI from the file name
   when there is one, else a synthetic id from the artist and title, else
   one from the file's content hash.

A file that cannot be decoded, is silent or is too short is rejected. The
report names it with the reason, the rejects table keeps it, and the other
files are still loaded. A file whose content was ingested before is skipped, so
ingesting a folder again changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..bundle import file_sha256
from ..content.features import (AUDIO_FILE_SUFFIXES, DEFAULT_MAX_SECONDS, FEATURE_VERSION, AudioContentError,
                                AudioTags)
from ..errors import InputError
from ..store import PlaylistBatch, Store, utc_now
from ..store.content import (CONTENT_TYPES, NEW_TRACK_TYPES, catalogue_track_names, ingested_content_hashes,
                             write_audio_content)
from .names import SYNTHETIC_TRACK_PREFIX, synthetic_track_uri, track_key

log = logging.getLogger(__name__)

SPOTIFY_ID_IN_NAME = re.compile(r"(?:^|[^0-9A-Za-z])(?:spotify[:_]track[:_])?([0-9A-Za-z]{22})(?:$|[^0-9A-Za-z])")
TRACK_NUMBER = re.compile(r"^\s*\d{1,3}\s*(?:[-.)_]\s*|\s+)")
MATCH_KINDS = ("spotify id", "tags", "file name", "new track")

ProgressCallback = Callable[[Path, bool], None]
# librosa loads its submodules lazily, on first use; these are the ones feature extraction needs.
WORKER_PRELOAD = ("tastemaker.ingest.audio_files", "librosa.core.audio", "librosa.beat", "librosa.feature",
                  "librosa.onset")


@dataclass
class AnalysedFile:
    """Result of analysing one file: its features, or the reason it was rejected."""

    path: str
    sha256: str
    features: np.ndarray | None = None
    duration_s: float = 0.0
    sample_rate: int = 0
    tags: AudioTags = field(default_factory=AudioTags)
    error: str | None = None
    worker_pid: int = 0
    seconds: float = 0.0  # wall time the worker spent on the file


@dataclass
class AudioFolderReport:
    """Counts of one audio ingest: ``files_found = loaded + duplicates + already_ingested + rejected``.

    ``duplicates`` are files whose bytes equal an earlier file of this
    ingest. ``audio_seconds`` is the length of the analysed audio and
    ``analysis_seconds`` the wall time of decoding and analysis.
    """

    files_found: int = 0
    loaded: int = 0
    duplicates: int = 0
    already_ingested: int = 0
    rejected: int = 0
    matched: Counter = field(default_factory=Counter)
    new_tracks: int = 0
    rejected_files: list[tuple[str, str]] = field(default_factory=list)
    workers: int = 1
    worker_pids: set[int] = field(default_factory=set)  # processes that analysed files
    audio_seconds: float = 0.0
    analysis_seconds: float = 0.0
    busy_seconds: float = 0.0  # wall time the workers spent on files, added up

    @property
    def parallelism(self) -> float:
        """Return the mean number of workers busy during the analysis; at most ``workers``."""
        return self.busy_seconds / self.analysis_seconds if self.analysis_seconds > 0 else 0.0

    @property
    def audio_per_wall_second(self) -> float:
        return self.audio_seconds / self.analysis_seconds if self.analysis_seconds > 0 else 0.0

    def check_totals(self) -> None:
        """Raise AssertionError when the counts do not add up; a bug, never bad input."""
        assert self.files_found == self.loaded + self.duplicates + self.already_ingested + self.rejected, self
        assert self.loaded == sum(self.matched.values()), self
        assert self.rejected == len(self.rejected_files), self


def find_audio_files(paths: list[str | Path]) -> list[Path]:
    """Expand files and folders (searched recursively) into a sorted list of wav, flac, ogg and mp3 files."""
    if not paths:
        raise InputError("no input path given: name at least one audio file or folder")
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"{path}: no such file or folder; check the path")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_FILE_SUFFIXES)
            if not files:
                raise InputError(f"{path}: the folder contains no {', '.join(AUDIO_FILE_SUFFIXES)} files")
            found.extend(files)
        elif path.suffix.lower() in AUDIO_FILE_SUFFIXES:
            found.append(path)
        else:
            raise InputError(f"{path}: not an audio file tastemaker reads; expected one of "
                             f"{', '.join(AUDIO_FILE_SUFFIXES)}")
    return list(dict.fromkeys(found))


def ingest_audio_files(store: Store, paths: list[str | Path], workers: int | None = None,
                       max_seconds: float = DEFAULT_MAX_SECONDS,
                       progress: ProgressCallback | None = None) -> AudioFolderReport:
    """Analyse audio files, match them to tracks and store their content features.

    Parameters
    ----------
    store : Store
        A store opened writable.
    paths : list of str or Path
        Audio files and folders.
    workers : int, optional
        Processes that decode and analyse; by default one per core. 1 runs
        everything in this process.
    max_seconds : float
        Audio analysed per file, from its start.
    progress : callable, optional
        Called with each file's path and whether it was loaded, as files finish.
    """
    files = find_audio_files(paths)
    report = AudioFolderReport(files_found=len(files))
    stored = ingested_content_hashes(store)
    pending: list[tuple[Path, str]] = []
    unreadable: list[AnalysedFile] = []
    seen: set[str] = set()
    for path in files:
        try:
            sha256 = file_sha256(path)
        except OSError as exc:
            # The rejects table needs a key; an unreadable file is keyed by its path.
            key = "unreadable:" + hashlib.sha256(str(path).encode()).hexdigest()
            unreadable.append(AnalysedFile(str(path), key, error=f"{path}: cannot read the file "
                                           f"({exc.strerror or exc}); check its permissions"))
            _notify(progress, path, False)
            continue
        if sha256 in stored:
            report.already_ingested += 1
            _notify(progress, path, False)
        elif sha256 in seen:
            report.duplicates += 1
            _notify(progress, path, False)
        else:
            seen.add(sha256)
            pending.append((path, sha256))

    workers = max(1, min(workers or os.cpu_count() or 1, len(pending) or 1))
    report.workers = workers
    started = time.perf_counter()
    analysed = _analyse_all(pending, workers, max_seconds, progress) + unreadable
    report.analysis_seconds = time.perf_counter() - started

    matcher = CatalogueMatcher(catalogue_track_names(store))
    content: dict[str, list] = {name: [] for name in CONTENT_TYPES}
    new_tracks: dict[str, list] = {name: [] for name in NEW_TRACK_TYPES}
    rejects = PlaylistBatch()  # only its rejects columns are used
    for result in sorted(analysed, key=lambda r: r.path):
        if result.worker_pid:
            report.worker_pids.add(result.worker_pid)
        report.busy_seconds += result.seconds
        if result.error is not None:
            report.rejected += 1
            report.rejected_files.append((result.path, result.error))
            rejects.add_reject(result.sha256, result.path, None, None, None, None, result.error)
            continue
        match = matcher.match(Path(result.path), result.tags, result.sha256)
        if match.kind == "new track" and match.track_uri not in matcher.known:
            matcher.add(match.track_uri, match.artist, match.title)
            report.new_tracks += 1
            for name, value in (("track_uri", match.track_uri), ("name", match.title), ("artist_name", match.artist),
                                ("duration_ms", int(round(result.duration_s * 1000)))):
                new_tracks[name].append(value)
        report.loaded += 1
        report.matched[match.kind] += 1
        report.audio_seconds += min(result.duration_s, max_seconds)
        for name, value in (("content_sha256", result.sha256), ("track_uri", match.track_uri),
                            ("file", result.path), ("matched_by", match.kind), ("feature_version", FEATURE_VERSION),
                            ("features", result.features.tolist()), ("duration_s", result.duration_s),
                            ("sample_rate", result.sample_rate)):
            content[name].append(value)

    write_audio_content(
        store,
        pa.table({name: pa.array(values, type=CONTENT_TYPES[name]) for name, values in content.items()}),
        pa.table({name: pa.array(values, type=NEW_TRACK_TYPES[name]) for name, values in new_tracks.items()}),
        rejects.rejects_table(), utc_now())
    report.check_totals()
    log.info("audio: %d files, %d loaded, %d rejected, %.0f s of audio in %.1f s with %d workers",
             report.files_found, report.loaded, report.rejected, report.audio_seconds, report.analysis_seconds,
             workers)
    return report


@dataclass
class Match:
    kind: str
    track_uri: str
    artist: str | None
    title: str | None


class CatalogueMatcher:
    """Finds the catalogue track of an audio file by Spotify id, tags or file name."""

    def __init__(self, tracks: list[tuple[str, str | None, str | None]]):
        self.known: set[str] = set()
        self.by_key: dict[str, str] = {}
        for uri, artist, name in sorted(tracks, key=lambda row: row[0]):
            self.add(uri, artist, name)

    def add(self, uri: str, artist: str | None, title: str | None) -> None:
        self.known.add(uri)
        if artist and title:
            self.by_key.setdefault(track_key(artist, title), uri)

    def match(self, path: Path, tags: AudioTags, sha256: str) -> Match:
        spotify_id = SPOTIFY_ID_IN_NAME.search(path.stem)
        spotify_uri = f"spotify:track:{spotify_id.group(1)}" if spotify_id else None
        name_artist, name_title = split_file_name(path.stem)
        artist = tags.artist or name_artist
        title = tags.title or name_title
        if spotify_uri is not None and spotify_uri in self.known:
            return Match("spotify id", spotify_uri, artist, title)
        if tags.artist and tags.title:
            uri = self.by_key.get(track_key(tags.artist, tags.title))
            if uri is not None:
                return Match("tags", uri, tags.artist, tags.title)
        if name_artist and name_title:
            uri = self.by_key.get(track_key(name_artist, name_title))
            if uri is not None:
                return Match("file name", uri, name_artist, name_title)
        if spotify_uri is not None:
            uri = spotify_uri
        elif artist and title:
            uri = synthetic_track_uri(artist, title)
        else:
            uri = SYNTHETIC_TRACK_PREFIX + "file-" + sha256[:32]
        return Match("new track", uri, artist, title or path.stem)


def split_file_name(stem: str) -> tuple[str | None, str | None]:
    """Return (artist, title) from a file name of the form ``[NN - ]Artist - Title``, else (None, None)."""
    text = TRACK_NUMBER.sub("", stem.replace("_", " "), count=1) if " - " in stem.replace("_", " ") else stem
    artist, separator, title = text.partition(" - ")
    if not separator or not artist.strip() or not title.strip():
        return None, None
    return artist.strip(), title.strip()


def analyse_file(path: str, sha256: str, max_seconds: float) -> AnalysedFile:
    """Decode and analyse one file; a content problem becomes the result's ``error``, never an exception."""
    from ..content.features import extract_file

    started = time.perf_counter()
    try:
        features = extract_file(path, max_seconds)
    except AudioContentError as exc:
        return AnalysedFile(path, sha256, error=str(exc), worker_pid=os.getpid(),
                            seconds=time.perf_counter() - started)
    return AnalysedFile(path, sha256, features.values, features.duration_s, features.sample_rate, features.tags,
                        worker_pid=os.getpid(), seconds=time.perf_counter() - started)


def _analyse_all(pending: list[tuple[Path, str]], workers: int, max_seconds: float,
                 progress: ProgressCallback | None) -> list[AnalysedFile]:
    results: list[AnalysedFile] = []
    if workers == 1:
        for path, sha256 in pending:
            results.append(analyse_file(str(path), sha256, max_seconds))
            _notify(progress, path, results[-1].error is None)
        return results
    # Workers fork from a fresh forkserver process, not from this one, whose
    # DuckDB threads and locks a fork would copy. The server imports librosa
    # once, which takes seconds, so each worker starts with it loaded.
    context = get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_PRELOAD))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_limit_worker_threads) as pool:
        futures = {pool.submit(analyse_file, str(path), sha256, max_seconds): path for path, sha256 in pending}
        for future in as_completed(futures):
            results.append(future.result())
            _notify(progress, futures[future], results[-1].error is None)
    return results


def _limit_worker_threads() -> None:
    # Each worker already has a core to itself; native thread pools on top
    # would oversubscribe the cores.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = "1"


def _notify(progress: ProgressCallback | None, path: Path, loaded: bool) -> None:
    if progress is not None:
        progress(path, loaded)
