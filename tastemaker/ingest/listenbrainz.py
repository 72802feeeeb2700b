"""ListenBrainz listens: JSON lines (one listen per line), or a JSON array of listens.

Each listen has ``listened_at`` (Unix seconds, UTC) and ``track_metadata``
with ``artist_name``, ``track_name``, ``release_name`` and
``additional_info``. A ``spotify_id`` there (an open.spotify.com track link)
gives the track's Spotify URI; other listens are matched to the catalogue by
name. ``duration_ms`` is the track's length, not the time played, so it goes
to the catalogue and ``ms_played`` stays NULL. The account is ``user_name``
on each listen, or ``--user``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import InputError
from ..store import Store
from ..store.listening import PLAY_TYPES, keyed_table
from .listening_base import (
    TRACK_URI,
    ListeningFileReport,
    ListeningIngest,
    ListeningIngestReport,
    MissingOptionError,
    ProgressCallback,
    SourceFile,
    decode_utf8,
    expand_sources,
    gc_paused,
    iter_line_chunks,
)
from .timeparse import UTC, implausible_reasons, micros_array, parse_times

LISTENBRAINZ_FILES = re.compile(r"\.(jsonl|json|ndjson)$", re.IGNORECASE)
SPOTIFY_LINK = re.compile(r"(?:https?://open\.spotify\.com/track/|spotify:track:)([0-9A-Za-z]{22})")
CHUNK_LINES = 200_000


def ingest_listenbrainz(store: Store, paths: list[str | Path], user: str | None = None,
                        progress: ProgressCallback | None = None) -> ListeningIngestReport:
    """Ingest ListenBrainz listens exported as JSON lines or a JSON array."""
    sources = expand_sources(paths, LISTENBRAINZ_FILES, "ListenBrainz (.jsonl or .json)")
    return ListenBrainzIngest(store, user).run(sources, progress)


class ListenBrainzIngest(ListeningIngest):
    format = "listenbrainz"
    user_source = "listenbrainz"
    expected_content = "ListenBrainz listens as JSON lines"

    def parse_file(self, raw: bytes, source: SourceFile, sha256: str, file_key: int,
                   report: ListeningFileReport) -> None:
        text_start = raw.lstrip()[:1]
        if raw.startswith(b"\xef\xbb\xbf"):
            text_start = raw[3:].lstrip()[:1]
        if text_start == b"[":
            text = decode_utf8(raw, source.label, report, "ListenBrainz")
            try:
                with gc_paused():
                    listens = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"{source.label}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                                 f"{exc.msg}; the file may be truncated") from exc
            self._parse_listens(0, [(i, listen, None) for i, listen in enumerate(listens)], source, sha256,
                                file_key, report)
            return
        for start, lines in iter_line_chunks(raw, CHUNK_LINES):
            if start > 0:
                file_key = self.continue_file(source, sha256, report)
            parsed = []
            for offset, line in enumerate(lines):
                if start + offset == 0 and line.startswith(b"\xef\xbb\xbf"):
                    line = line[3:]
                    report.notes.append("a UTF-8 byte-order mark was skipped")
                if not line.strip():
                    continue
                try:
                    parsed.append((start + offset, json.loads(line), None))
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    parsed.append((start + offset, None, f"invalid JSON: {exc}"))
            self._parse_listens(start, parsed, source, sha256, file_key, report)

    def _parse_listens(self, start: int, parsed: list[tuple[int, object, str | None]], source: SourceFile,
                       sha256: str, file_key: int, report: ListeningFileReport) -> None:
        problems: dict[int, tuple[str | None, object, str]] = {}
        any_user = self.user_name is not None or any(
            isinstance(listen, dict) and listen.get("user_name") for _, listen, _ in parsed)
        kept: list[tuple[int, object, str, str, str, str | None, int | None, object]] = []
        for index, listen, error in parsed:
            report.rows_read += 1
            if error is not None:
                problems[index] = (None, None, error)
                continue
            if not isinstance(listen, dict):
                problems[index] = (None, listen, "listen is not a JSON object")
                continue
            metadata = listen.get("track_metadata")
            if not isinstance(metadata, dict):
                problems[index] = ("track_metadata", metadata, "missing track_metadata")
                continue
            artist, track = metadata.get("artist_name"), metadata.get("track_name")
            if not isinstance(artist, str) or not artist.strip():
                problems[index] = ("artist_name", artist, "missing artist_name: a listen needs artist and track")
                continue
            if not isinstance(track, str) or not track.strip():
                problems[index] = ("track_name", track, "missing track_name: a listen needs artist and track")
                continue
            user = self.user_name or listen.get("user_name")
            if not isinstance(user, str) or not user.strip():
                if not any_user:
                    raise MissingOptionError(f"{source.label}: the listens carry no 'user_name'; "
                                             "pass --user NAME to say whose listens these are")
                problems[index] = ("user_name", user, "missing user_name: pass --user NAME to name the account")
                continue
            info = metadata.get("additional_info")
            info = info if isinstance(info, dict) else {}
            uri = _spotify_uri(info.get("spotify_id"))
            duration = info.get("duration_ms")
            if not isinstance(duration, int) or isinstance(duration, bool) or duration <= 0:
                duration = None
            release = metadata.get("release_name")
            kept.append((index, listen.get("listened_at"), user.strip(), artist.strip(), track.strip(),
                         release if isinstance(release, str) else None, duration, uri))

        micros, valid, errors = parse_times([k[1] for k in kept], UTC)
        implausible = implausible_reasons(micros, valid, self.now)
        keep = np.ones(len(kept), dtype=bool)
        for i, row in enumerate(kept):
            reason = errors.get(i) or implausible.get(i)
            if reason is None and not valid[i]:
                reason = "missing listened_at"
            if reason is not None:
                problems[row[0]] = ("listened_at", row[1], reason)
                keep[i] = False
        if problems:
            self.reject_rows(problems, sha256, source, report)
        rows = np.flatnonzero(keep)
        if len(rows) == 0:
            return

        uris: list[str] = []
        named = [i for i in rows if kept[i][7] is None]
        resolved, matched, new = self.resolve_named_tracks([kept[i][3] for i in named], [kept[i][4] for i in named],
                                                           [kept[i][5] for i in named], [kept[i][6] for i in named])
        by_row = dict(zip(named, resolved))
        for i in rows:
            uri = kept[i][7]
            if uri is not None:
                self.add_track(uri, kept[i][4], kept[i][3], kept[i][5], kept[i][6])
                uris.append(uri)
            else:
                uris.append(by_row[i])
        report.rows_name_matched += matched
        report.rows_new_track += new
        count = len(rows)
        empty_bool, empty_text = pa.nulls(count, pa.bool_()), pa.nulls(count, pa.string())
        user_keys = np.array([self.user_key(kept[i][2]) for i in rows], np.int32)
        self.batch.plays.append(keyed_table(user_keys, file_key, {
            "ts": micros_array(micros[rows]), "track_uri": pa.array(uris, pa.string()),
            "ms_played": pa.nulls(count, pa.int64()), "skipped": empty_bool, "reason_start": empty_text,
            "reason_end": empty_text, "shuffle": empty_bool, "offline": empty_bool,
            "offline_ts": pa.nulls(count, pa.timestamp("us")), "incognito": empty_bool, "platform": empty_text,
            "conn_country": empty_text,
        }, PLAY_TYPES))


def _spotify_uri(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    match = SPOTIFY_LINK.search(value)
    if match is None:
        return None
    uri = "spotify:track:" + match.group(1)
    return uri if TRACK_URI.fullmatch(uri) else None
