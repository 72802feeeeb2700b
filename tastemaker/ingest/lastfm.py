"""The Last.fm 1K users listening log: about 19 million scrobbles of 992 users.

One scrobble per line, tab-separated, no header: user id, ISO 8601 UTC
timestamp, MusicBrainz artist id, artist name, MusicBrainz track id, track
name. MusicBrainz ids are often empty, so tracks are matched to the catalogue
by artist and track name. Scrobbles carry no duration, skip flag or reasons:
those columns stay NULL. A header line (as in some extracts) is skipped, and
a line that is not valid UTF-8 is read as Windows-1252 with a warning.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..store import Store
from ..store.listening import PLAY_TYPES, keyed_table
from .listening_base import (
    ListeningFileReport,
    ListeningIngest,
    ListeningIngestReport,
    ProgressCallback,
    SourceFile,
    decode_line,
    expand_sources,
    iter_line_chunks,
)
from .timeparse import UTC, implausible_reasons, micros_array, parse_times

# In a folder, only the listening logs: userid-profile.tsv contains profiles, not scrobbles.
LASTFM_1K_FILES = re.compile(r"^userid-timestamp.*\.tsv$", re.IGNORECASE)
FIELDS = 6
CHUNK_LINES = 200_000


def ingest_lastfm_1k(store: Store, paths: list[str | Path],
                     progress: ProgressCallback | None = None) -> ListeningIngestReport:
    """Ingest Last.fm 1K listening logs (``userid-timestamp-artid-artname-traid-traname.tsv``)."""
    sources = expand_sources(paths, LASTFM_1K_FILES, "Last.fm 1K (.tsv)")
    return LastFm1kIngest(store).run(sources, progress)


# NOTE: a file is read into memory whole before it is parsed in chunks, so the
# complete 2.4 GB log needs several GB of memory; the rows are written in groups.
class LastFm1kIngest(ListeningIngest):
    format = "lastfm-1k"
    user_source = "lastfm"
    expected_content = "tab-separated scrobbles"

    def parse_file(self, raw: bytes, source: SourceFile, sha256: str, file_key: int,
                   report: ListeningFileReport) -> None:
        latin1_lines = 0
        for start, lines in iter_line_chunks(raw, CHUNK_LINES):
            if start > 0:
                file_key = self.continue_file(source, sha256, report)
            latin1_lines += self._parse_chunk(start, lines, source, sha256, file_key, report)
        if latin1_lines:
            report.warn(f"{source.label}: {latin1_lines} lines were not valid UTF-8 and were read as "
                        "Windows-1252 (Latin-1); check their artist and track names")

    def _parse_chunk(self, start: int, lines: list[bytes], source: SourceFile, sha256: str, file_key: int,
                     report: ListeningFileReport) -> int:
        users, stamps, artists, tracks, line_numbers = [], [], [], [], []
        problems: dict[int, tuple[str | None, object, str]] = {}
        latin1_lines = 0
        for offset, raw_line in enumerate(lines):
            index = start + offset
            if not raw_line.strip():
                continue
            line, fell_back = decode_line(raw_line)
            latin1_lines += fell_back
            fields = line.split("\t")
            if index == 0 and fields[0].strip().lower() in ("user", "userid", "#id", "user_id"):
                report.notes.append("a header line was skipped")
                continue
            report.rows_read += 1
            if len(fields) != FIELDS:
                problems[index] = (None, line, f"wrong field count: expected {FIELDS} tab-separated fields, "
                                               f"found {len(fields)}")
                continue
            user, stamp, _artist_id, artist, _track_id, track = (f.strip() for f in fields)
            if not user:
                problems[index] = ("userid", None, "missing userid")
            elif not artist:
                problems[index] = ("artist", None, "missing artist name: a scrobble needs artist and track")
            elif not track:
                problems[index] = ("track", None, "missing track name: a scrobble needs artist and track")
            else:
                users.append(user)
                stamps.append(stamp or None)
                artists.append(artist)
                tracks.append(track)
                line_numbers.append(index)

        micros, valid, errors = parse_times(stamps, UTC, fast_format="%Y-%m-%dT%H:%M:%SZ")
        implausible = implausible_reasons(micros, valid, self.now)
        keep = np.ones(len(stamps), dtype=bool)
        for i in range(len(stamps)):
            reason = errors.get(i) or implausible.get(i)
            if reason is None and not valid[i]:
                reason = "missing timestamp"
            if reason is not None:
                problems[line_numbers[i]] = ("timestamp", stamps[i], reason)
                keep[i] = False
        if problems:
            self.reject_rows(problems, sha256, source, report)
        rows = np.flatnonzero(keep)
        if len(rows) == 0:
            return latin1_lines

        user_keys = np.array([self.user_key(users[i]) for i in rows], dtype=np.int32)
        uris, matched, new = self.resolve_named_tracks([artists[i] for i in rows], [tracks[i] for i in rows])
        report.rows_name_matched += matched
        report.rows_new_track += new
        count = len(rows)
        empty_bool, empty_text = pa.nulls(count, pa.bool_()), pa.nulls(count, pa.string())
        self.batch.plays.append(keyed_table(user_keys, file_key, {
            "ts": micros_array(micros[rows]), "track_uri": pa.array(uris, pa.string()),
            "ms_played": pa.nulls(count, pa.int64()), "skipped": empty_bool, "reason_start": empty_text,
            "reason_end": empty_text, "shuffle": empty_bool, "offline": empty_bool,
            "offline_ts": pa.nulls(count, pa.timestamp("us")), "incognito": empty_bool, "platform": empty_text,
            "conn_country": empty_text,
        }, PLAY_TYPES))
        return latin1_lines
