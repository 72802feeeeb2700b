"""HetRec 2011 Last.fm 2K: user-artist play counts, tags, tag assignments and friendships.

The release is a folder of tab-separated files with a header row:
``artists.dat`` (id, name, url, pictureURL), ``tags.dat`` (tagID,
tagValue), ``user_artists.dat`` (userID, artistID, weight: the play count),
``user_taggedartists.dat`` (userID, artistID, tagID, day, month, year) and
``user_friends.dat`` (userID, friendID). Names mix UTF-8 and Latin-1, so each
line falls back to Windows-1252 when it is not UTF-8, with a warning.

HetRec's integer artist ids are mapped to catalogue artists by normalised
name, and the mapping is stored, so two ids that spell one name become one
artist whose play counts add up. User ids are account names under the
``hetrec`` namespace; they are kept as text, so ids of any size stay distinct.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa

from ..errors import InputError
from ..store import Store
from ..store.listening import ARTIST_PLAY_TYPES, ARTIST_TAG_TYPES, keyed_table, source_artist_uris
from .listening_base import (
    ListeningFileReport,
    ListeningIngest,
    ListeningIngestReport,
    ProgressCallback,
    SourceFile,
    decode_line,
    iter_line_chunks,
)
from .names import synthetic_artist_uri
from .timeparse import MIN_PLAUSIBLE

SOURCE = "hetrec"
# Read in this order: artists and tags first, because the other files refer to them.
FILES = ("artists.dat", "tags.dat", "user_artists.dat", "user_taggedartists.dat", "user_friends.dat")
COLUMNS = {
    "artists.dat": ("id", "name", "url", "pictureURL"),
    "tags.dat": ("tagID", "tagValue"),
    "user_artists.dat": ("userID", "artistID", "weight"),
    "user_taggedartists.dat": ("userID", "artistID", "tagID", "day", "month", "year"),
    "user_friends.dat": ("userID", "friendID"),
}


def ingest_hetrec(store: Store, folder: str | Path, progress: ProgressCallback | None = None) -> ListeningIngestReport:
    """Ingest the HetRec 2011 Last.fm 2K folder; every one of its five files must be there."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; pass the unpacked hetrec2011-lastfm-2k folder")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise InputError(f"{folder}: missing {', '.join(missing)}; the HetRec Last.fm folder has {', '.join(FILES)}")
    sources = [SourceFile(str(folder / name), folder / name) for name in FILES]
    return HetRecIngest(store).run(sources, progress)


def _natural(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and text.isascii() else None


class HetRecIngest(ListeningIngest):
    format = "hetrec-lastfm"
    user_source = SOURCE
    expected_content = "tab-separated HetRec rows with a header"

    def __init__(self, store: Store, **kwargs):
        super().__init__(store, **kwargs)
        self.artist_uris = source_artist_uris(store, SOURCE)
        self.tags: dict[int, str] = {}

    def ingest_source(self, source: SourceFile, raw: bytes, sha256: str, read_error=None) -> ListeningFileReport:
        # Artists and tags are lookups for the other files, so they are read
        # even when their content was ingested before.
        if read_error is None and source.name in ("artists.dat", "tags.dat") and sha256 in self.ingested:
            self._read_rows(raw, source, ListeningFileReport(file=source.label, format=self.format), None, None)
        return super().ingest_source(source, raw, sha256, read_error)

    def parse_file(self, raw: bytes, source: SourceFile, sha256: str, file_key: int,
                   report: ListeningFileReport) -> None:
        self._read_rows(raw, source, report, sha256, file_key)

    def _read_rows(self, raw: bytes, source: SourceFile, report: ListeningFileReport, sha256: str | None,
                   file_key: int | None) -> None:
        name = source.name
        expected = COLUMNS[name]
        handler = getattr(self, "_" + name.removesuffix(".dat"))
        problems: dict[int, tuple[str | None, object, str]] = {}
        rows: list[tuple[int, list[str]]] = []
        latin1_lines = 0
        for start, lines in iter_line_chunks(raw, len(raw) + 1):
            for offset, raw_line in enumerate(lines):
                index = start + offset
                if not raw_line.strip():
                    continue
                line, fell_back = decode_line(raw_line)
                latin1_lines += fell_back
                fields = line.split("\t")
                if index == 0 and fields[0].strip() == expected[0]:
                    continue
                report.rows_read += 1
                if len(fields) != len(expected):
                    problems[index] = (None, line, f"wrong field count: expected {len(expected)} tab-separated "
                                                   f"fields ({', '.join(expected)}), found {len(fields)}")
                    continue
                rows.append((index, fields))
        if latin1_lines and sha256 is not None:
            report.warn(f"{source.label}: {latin1_lines} lines were not valid UTF-8 and were read as "
                        "Windows-1252 (Latin-1)")
        handler(rows, problems, report, file_key)
        if sha256 is not None and problems:
            self.reject_rows(problems, sha256, source, report)

    def _artists(self, rows, problems, report: ListeningFileReport, file_key: int | None) -> None:
        for index, (artist_id, name, _url, _picture) in rows:
            if _natural(artist_id) is None:
                problems[index] = ("id", artist_id, "invalid artist id: expected a non-negative integer")
                continue
            if not name.strip():
                problems[index] = ("name", name, "missing artist name")
                continue
            uri = synthetic_artist_uri(name)
            key = str(_natural(artist_id))
            self.artist_uris.setdefault(key, uri)
            if file_key is not None:
                self.batch.artists.setdefault(uri, name.strip())
                self.batch.source_artists.setdefault((SOURCE, key), self.artist_uris[key])
                report.rows_loaded += 1

    def _tags(self, rows, problems, report: ListeningFileReport, file_key: int | None) -> None:
        for index, (tag_id, value) in rows:
            if _natural(tag_id) is None:
                problems[index] = ("tagID", tag_id, "invalid tagID: expected a non-negative integer")
            elif not value.strip():
                problems[index] = ("tagValue", value, "missing tagValue")
            else:
                self.tags[_natural(tag_id)] = value.strip()
                if file_key is not None:
                    report.rows_loaded += 1

    def _user_artists(self, rows, problems, report: ListeningFileReport, file_key: int) -> None:
        users, artists, plays = [], [], []
        for index, (user_id, artist_id, weight) in rows:
            artist = self._artist(index, artist_id, problems)
            if self._user(index, user_id, "userID", problems) is None or artist is None:
                continue
            count = _natural(weight)
            if count is None:
                reason = "negative" if weight.strip().startswith("-") else "non-numeric"
                problems[index] = ("weight", weight, f"invalid weight: {reason} play count, expected an integer >= 0")
                continue
            users.append(self.user_key(str(int(user_id))))
            artists.append(artist)
            plays.append(count)
        if users:
            self.batch.artist_plays.append(keyed_table(users, file_key, {"artist_uri": artists, "plays": plays},
                                                       ARTIST_PLAY_TYPES))

    def _user_taggedartists(self, rows, problems, report: ListeningFileReport, file_key: int) -> None:
        users, artists, tags, dates = [], [], [], []
        today = self.now.date()
        for index, (user_id, artist_id, tag_id, day, month, year) in rows:
            artist = self._artist(index, artist_id, problems)
            if self._user(index, user_id, "userID", problems) is None or artist is None:
                continue
            tag = self.tags.get(_natural(tag_id)) if _natural(tag_id) is not None else None
            if tag is None:
                problems[index] = ("tagID", tag_id, "unknown tagID: not in tags.dat")
                continue
            try:
                tagged_on = date(int(year), int(month), int(day))
            except ValueError:
                problems[index] = ("day", f"{year}-{month}-{day}", "invalid date: day, month and year do not form a date")
                continue
            if tagged_on < MIN_PLAUSIBLE.date() or tagged_on > today:
                side = "before 2000" if tagged_on < MIN_PLAUSIBLE.date() else "in the future"
                problems[index] = ("year", tagged_on.isoformat(), f"implausible time: {tagged_on} is {side}")
                continue
            users.append(self.user_key(str(int(user_id))))
            artists.append(artist)
            tags.append(tag)
            dates.append(tagged_on)
        if users:
            self.batch.artist_tags.append(keyed_table(users, file_key, {
                "artist_uri": artists, "tag": tags, "tagged_on": dates}, ARTIST_TAG_TYPES))

    def _user_friends(self, rows, problems, report: ListeningFileReport, file_key: int) -> None:
        users, friends = [], []
        for index, (user_id, friend_id) in rows:
            if self._user(index, user_id, "userID", problems) is None:
                continue
            if self._user(index, friend_id, "friendID", problems) is None:
                continue
            users.append(self.user_key(str(int(user_id))))
            friends.append(self.user_key(str(int(friend_id))))
        if users:
            self.batch.friends.append(pa.table({
                "user_key": pa.array(users, pa.int32()), "file_key": pa.array([file_key] * len(users), pa.int32()),
                "friend_key": pa.array(friends, pa.int32()),
            }))

    def _user(self, index: int, value: str, field_name: str, problems) -> int | None:
        number = _natural(value)
        if number is None:
            problems[index] = (field_name, value, f"invalid {field_name}: expected a non-negative integer")
        return number

    def _artist(self, index: int, value: str, problems) -> str | None:
        number = _natural(value)
        if number is None:
            problems[index] = ("artistID", value, "invalid artistID: expected a non-negative integer")
            return None
        uri = self.artist_uris.get(str(number))
        if uri is None:
            problems[index] = ("artistID", value, "unknown artistID: not in artists.dat")
        return uri
