"""Spotify's personal data exports: Extended Streaming History and account data.

Extended Streaming History (``Streaming_History_Audio_*.json``, formerly
``endsong_*.json``) is a JSON array of plays with ``ts`` (UTC, when the play
ended), ``ms_played``, the track's URI and names, the reasons playback
started and ended, and shuffle, skip, offline and incognito flags. Podcast
episodes (``spotify_episode_uri``) and audiobook chapters (``audiobook_*``)
are counted and set aside. IP addresses, user agents and the account name
are read and dropped; the account name is stored only as a salted hash.

The account-data export (``StreamingHistory_music_N.json``, formerly
``StreamingHistoryN.json``) has ``endTime`` as local time to the minute,
``artistName``, ``trackName`` and ``msPlayed``, and no URI, so tracks are
matched to the catalogue by name. The zone of ``endTime`` is not in the file
and must be given. ``StreamingHistory_podcast_N.json`` rows are set aside.

An extended file whose plays are all well-formed is read by DuckDB's JSON
reader straight into Arrow, which is faster than building Python objects.
Any other file, and every account-data file, goes through ``json.loads``
and checks each value, so that every rejected row gets its exact reason.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..store import Store
from ..store.listening import PLAY_TYPES, SET_ASIDE_TYPES, JsonArrayReader, keyed_table
from .files import UTF8_BOM
from .listening_base import (
    ListeningFileReport,
    ListeningIngest,
    ListeningIngestReport,
    MissingOptionError,
    ProgressCallback,
    SourceFile,
    bool_column,
    decode_utf8,
    expand_sources,
    gc_paused,
    ms_column,
    present_mask,
    string_column,
    uri_mask,
)
from .timeparse import UTC, implausible_reasons, micros_array, parse_times, resolve_zone

EXTENDED_FILES = re.compile(r"^(Streaming_History_Audio_.*|endsong_\d+)\.json$", re.IGNORECASE)
ACCOUNT_MUSIC_FILES = re.compile(r"^StreamingHistory(_music_)?\d+\.json$", re.IGNORECASE)
ACCOUNT_PODCAST_FILES = re.compile(r"^StreamingHistory_podcast_\d+\.json$", re.IGNORECASE)
ACCOUNT_FILES = re.compile(r"^StreamingHistory(_music_|_podcast_)?\d+\.json$", re.IGNORECASE)
ANY_HISTORY_FILES = re.compile(
    r"^(Streaming_History_Audio_.*|endsong_\d+|StreamingHistory(_music_|_podcast_)?\d+)\.json$", re.IGNORECASE)

EXTENDED_FIELDS = (
    "ts", "ms_played", "platform", "conn_country", "master_metadata_track_name",
    "master_metadata_album_artist_name", "master_metadata_album_album_name", "spotify_track_uri",
    "reason_start", "reason_end", "shuffle", "skipped", "offline", "offline_timestamp", "incognito_mode",
    "spotify_episode_uri", "episode_name", "audiobook_uri", "audiobook_chapter_uri", "audiobook_title", "username",
)
ACCOUNT_FIELDS = ("endTime", "artistName", "trackName", "msPlayed", "podcastName", "episodeName")

# Coarse platform families; the device strings in exports can identify a person's hardware.
_PLATFORMS = (
    ("android", "android"), ("ios", "ios"), ("iphone", "ios"), ("ipad", "ios"), ("windows", "windows"),
    ("os x", "macos"), ("osx", "macos"), ("macos", "macos"), ("mac os", "macos"), ("linux", "linux"),
    ("webos", "tv"), ("cast", "cast"), ("web", "web"), ("browser", "web"), ("playstation", "console"), ("ps4", "console"),
    ("ps5", "console"), ("xbox", "console"), ("tv", "tv"), ("tizen", "tv"), ("roku", "tv"),
    ("sonos", "speaker"), ("alexa", "speaker"), ("echo", "speaker"), ("speaker", "speaker"),
    ("car", "car"), ("auto", "car"), ("wear", "watch"), ("watch", "watch"),
)


def platform_family(text: str | None) -> str | None:
    """Reduce a platform or device string to a family such as android, ios, windows or web."""
    if text is None:
        return None
    lowered = text.lower()
    for needle, family in _PLATFORMS:
        if needle in lowered:
            return family
    return "other"


def ingest_spotify_extended(store: Store, paths: list[str | Path], user: str | None = None,
                            progress: ProgressCallback | None = None) -> ListeningIngestReport:
    """Ingest Extended Streaming History files, folders of them or the export's .zip."""
    sources = expand_sources(paths, EXTENDED_FILES, "Extended Streaming History (Streaming_History_Audio_*.json)")
    return ExtendedHistoryIngest(store, user).run(sources, progress)


def ingest_spotify_account(store: Store, paths: list[str | Path], timezone: str | None, user: str | None = None,
                           progress: ProgressCallback | None = None) -> ListeningIngestReport:
    """Ingest account-data StreamingHistory files; ``timezone`` is the zone of their local endTime values.

    NOTE: a play in both an account-data and an extended export is stored
    twice, because the two record its time at different precision and are
    not matched against each other. ``import-spotify`` reads only one of them.
    """
    if timezone is None:
        raise InputError(
            "account-data files record endTime in local time without a zone: pass --timezone with the "
            "account's zone, for example --timezone Europe/Berlin, or --timezone UTC"
        )
    sources = expand_sources(paths, ACCOUNT_FILES, "account-data StreamingHistory (StreamingHistory_music_*.json)")
    return AccountHistoryIngest(store, user, resolve_zone(timezone)).run(sources, progress)


def read_json_array(raw: bytes, source: SourceFile, report: ListeningFileReport, record_keys: tuple[str, ...],
                    format_name: str) -> list:
    """Parse a file that should be a JSON array of play records.

    A single JSON object that looks like one record (it has one of
    ``record_keys``) is read as an array of one, with a note.
    """
    text = decode_utf8(raw, source.label, report, format_name)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        byte_offset = len(text[: exc.pos].encode("utf-8"))
        # An unterminated string runs to the end of the text, as in a cut-off file.
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        hint = "the file is truncated" if truncated else "the file is not valid JSON"
        raise InputError(
            f"{source.label}: invalid JSON at byte {byte_offset} (line {exc.lineno}, column {exc.colno}): "
            f"{exc.msg}; {hint}, take the file from the export again"
        ) from exc
    if isinstance(document, dict):
        if any(key in document for key in record_keys):
            report.warn(f"{source.label}: the file holds one JSON object instead of an array; "
                        "it was read as a single play")
            return [document]
        raise InputError(
            f"{source.label}: expected a JSON array of plays, found an object with keys {sorted(document)[:5]}; "
            f"is this a {format_name} file?"
        )
    if not isinstance(document, list):
        raise InputError(f"{source.label}: expected a JSON array of plays, found {type(document).__name__}")
    return document


def record_columns(records: list, fields: tuple[str, ...],
                   struct_type: pa.StructType | None = None) -> tuple[dict[str, pa.Array | list], list[int]]:
    """Return one column per field and the indices of records that are not JSON objects.

    When every record fits ``struct_type`` (the documented types, missing
    fields allowed), Arrow converts all of them in one pass and the columns
    are Arrow arrays. Otherwise the columns are Python lists of the values as
    parsed, None for missing fields and non-object records, and the callers
    validate each value.
    """
    if struct_type is not None:
        try:
            array = pa.array(records, type=struct_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
        else:
            not_objects = np.flatnonzero(np.asarray(array.is_null(), dtype=bool)).tolist()
            children = array.flatten()
            return {f.name: child for f, child in zip(struct_type, children)}, not_objects

    n = len(records)
    columns: dict[str, list] = {name: [None] * n for name in fields}
    not_objects: list[int] = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            not_objects.append(i)
            continue
        get = record.get
        for name in fields:
            columns[name][i] = get(name)
    return columns, not_objects


_TEXT, _FLAG, _INTEGER = pa.string(), pa.bool_(), pa.int64()
# The fields every play needs, converted in one pass. Names and the episode
# and audiobook fields are read from the records only for rows that need them.
EXTENDED_PLAY_FIELDS = [
    ("ts", _TEXT), ("ms_played", _INTEGER), ("platform", _TEXT), ("conn_country", _TEXT),
    ("spotify_track_uri", _TEXT), ("reason_start", _TEXT), ("reason_end", _TEXT), ("shuffle", _FLAG),
    ("skipped", _FLAG), ("offline", _FLAG), ("offline_timestamp", _INTEGER), ("incognito_mode", _FLAG),
]
ACCOUNT_STRUCT = pa.struct([
    ("endTime", _TEXT), ("artistName", _TEXT), ("trackName", _TEXT), ("msPlayed", _INTEGER),
    ("podcastName", _TEXT), ("episodeName", _TEXT),
])
TRACK_NAME, ARTIST_NAME, ALBUM_NAME = (
    "master_metadata_track_name", "master_metadata_album_artist_name", "master_metadata_album_album_name")
EPISODE_FIELDS = ("spotify_episode_uri", "episode_name")
AUDIOBOOK_FIELDS = ("audiobook_uri", "audiobook_chapter_uri", "audiobook_title")


def _all_match(values: pa.Array, pattern: str) -> bool:
    """Return whether every non-NULL text value matches ``pattern``."""
    return pc.all(pc.match_substring_regex(values, pattern)).as_py() in (True, None)


def _value(column: pa.Array | list, index: int) -> object:
    return column[index].as_py() if isinstance(column, pa.Array) else column[index]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class ExtendedHistoryIngest(ListeningIngest):
    format = "spotify-extended"
    user_source = "spotify"
    expected_content = "a JSON array of plays"
    _json_reader: JsonArrayReader | None = None

    def parse_file(self, raw: bytes, source: SourceFile, sha256: str, file_key: int,
                   report: ListeningFileReport) -> None:
        columns = self._clean_columns(raw, source)
        if columns is not None:
            if raw.startswith(UTF8_BOM):
                report.notes.append("a UTF-8 byte-order mark was skipped")
            report.rows_read = len(columns["ts"])
            if report.rows_read == 0:
                report.warn(f"{source.label}: the array is empty; no plays in this file")
                return
            self._parse_columns(None, columns, [], source, sha256, file_key, report)
            return

        fast_fields = EXTENDED_PLAY_FIELDS + ([] if self.user_name is not None else [("username", _TEXT)])
        with gc_paused():
            records = read_json_array(raw, source, report, ("ts", "ms_played", "spotify_track_uri"),
                                      "Spotify Extended Streaming History")
            report.rows_read = len(records)
            if not records:
                report.warn(f"{source.label}: the array is empty; no plays in this file")
                return
            columns, not_objects = record_columns(records, EXTENDED_FIELDS, pa.struct(fast_fields))
            self._parse_columns(records, columns, not_objects, source, sha256, file_key, report)
            del records

    def _clean_columns(self, raw: bytes, source: SourceFile) -> dict[str, pa.Array] | None:
        """Read a file whose every play is well-formed through DuckDB's JSON reader, without Python objects.

        Returns None for a file with a value to reject or warn about, or one
        that DuckDB cannot read (such as a single object instead of an
        array), so that the Python path reports it precisely.
        """
        if self._json_reader is None:
            self._json_reader = JsonArrayReader()
        table = self._json_reader.read(raw, source.path if source.member is None else None, EXTENDED_FIELDS)
        if table is None:
            return None
        columns = {name: table.column(name).combine_chunks() for name in EXTENDED_FIELDS}
        ts = columns["ts"]
        if ts.null_count or not _all_match(ts, r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"):
            return None
        for name in ("ms_played", "offline_timestamp"):
            values = columns[name]
            if (name == "ms_played" and values.null_count) or not _all_match(values, r"^\d{1,15}$"):
                return None
            columns[name] = values.cast(pa.int64())
        for name in ("shuffle", "skipped", "offline", "incognito_mode"):
            values = columns[name]
            if not _all_match(values, "^(true|false)$"):
                return None
            columns[name] = pc.equal(values, "true")
        return columns

    def _parse_columns(self, records: list | None, columns: dict[str, pa.Array | list], not_objects: list[int],
                       source: SourceFile, sha256: str, file_key: int, report: ListeningFileReport) -> None:
        n = len(columns["ts"])

        def field_values(name: str, rows: np.ndarray) -> list:
            column = columns.get(name)
            if isinstance(column, list):
                return [column[i] for i in rows]
            if isinstance(column, pa.Array):
                return column.take(pa.array(rows, pa.int64())).to_pylist()
            return [records[i].get(name) if isinstance(records[i], dict) else None for i in rows]

        problems: dict[int, tuple[str | None, object, str]] = {}
        for i in not_objects:
            problems[i] = (None, None, "record is not a JSON object")

        micros, ts_valid, ts_errors = parse_times(columns["ts"], UTC, fast_format="%Y-%m-%dT%H:%M:%SZ")
        for i, reason in ts_errors.items():
            problems.setdefault(i, ("ts", _value(columns["ts"], i), reason))
        for i in np.flatnonzero(~ts_valid):
            problems.setdefault(int(i), ("ts", None, "missing ts: every play needs its end time"))
        for i, reason in implausible_reasons(micros, ts_valid, self.now).items():
            problems.setdefault(i, ("ts", _value(columns["ts"], i), reason))

        ms, ms_present, ms_errors = ms_column(columns["ms_played"])
        for i, reason in ms_errors.items():
            problems.setdefault(i, ("ms_played", _value(columns["ms_played"], i), reason))
        for i in np.flatnonzero(~ms_present):
            problems.setdefault(int(i), ("ms_played", None, "missing ms_played"))

        if self.user_name is None and not present_mask(columns["username"]).any():
            raise MissingOptionError(f"{source.label}: the plays carry no 'username'; pass --user NAME to say whose "
                                     "listening history this is")
        users, has_user = self.user_keys(columns["username"] if self.user_name is None else [None] * n)
        for i in np.flatnonzero(~has_user):
            problems.setdefault(int(i), ("username", _value(columns["username"], i),
                                         "missing username: pass --user NAME to name the account"))

        # Rows without a track URI are episodes, audiobook chapters, or tracks
        # known by name (local files carry spotify:local: URIs or none).
        track_uris, _ = string_column(columns["spotify_track_uri"])
        uri_present = ~np.asarray(track_uris.is_null(), dtype=bool)
        local = uri_present & np.asarray(pc.fill_null(pc.starts_with(track_uris, "spotify:local:"), False), bool)
        uri_present &= ~local
        uri_valid = uri_mask(track_uris)
        for i in np.flatnonzero(uri_present & ~uri_valid):
            problems.setdefault(int(i), ("spotify_track_uri", _value(columns["spotify_track_uri"], int(i)),
                                         "malformed spotify_track_uri: expected spotify:track: and 22 letters "
                                         "or digits"))
        other_rows = np.flatnonzero(~uri_present)
        episode = np.zeros(n, dtype=bool)
        audiobook = np.zeros(n, dtype=bool)
        named = np.zeros(n, dtype=bool)
        names: dict[int, tuple] = {}
        if len(other_rows):
            episode[other_rows] = _any_present(field_values, EPISODE_FIELDS, other_rows)
            audiobook[other_rows] = _any_present(field_values, AUDIOBOOK_FIELDS, other_rows)
            described = zip(field_values(TRACK_NAME, other_rows), field_values(ARTIST_NAME, other_rows),
                            field_values(ALBUM_NAME, other_rows))
            for i, (track, artist, album) in zip(other_rows.tolist(), described):
                if isinstance(track, str) and isinstance(artist, str):
                    named[i] = True
                    names[i] = (track, artist, _text(album))
        named &= ~episode & ~audiobook
        for i in np.flatnonzero(~uri_present & ~episode & ~audiobook & ~named):
            problems.setdefault(int(i), ("spotify_track_uri", None,
                                         "no track, episode or audiobook: the URIs and names are all missing"))

        ok = np.ones(n, dtype=bool)
        if problems:
            ok[list(problems)] = False
            self.reject_rows(problems, sha256, source, report)

        self._set_aside(field_values, ok & episode, "episode", users, micros, ms, file_key, report,
                        ("spotify_episode_uri",))
        self._set_aside(field_values, ok & ~episode & audiobook, "audiobook", users, micros, ms, file_key, report,
                        ("audiobook_chapter_uri", "audiobook_uri"))

        music_uri = ok & uri_present
        named &= ok
        rows = np.flatnonzero(music_uri | named)
        if len(rows) == 0:
            return
        every_row = len(rows) == n
        take = pa.array(rows)

        def pick(column: pa.Array) -> pa.Array:
            return column if every_row else column.take(take)

        # Catalogue entries for new URIs, described by their first row.
        uri_rows = np.flatnonzero(music_uri)
        first_rows = self.new_uris(track_uris if len(uri_rows) == n else track_uris.take(pa.array(uri_rows)))
        if first_rows:
            positions = uri_rows[[row for _, row in first_rows]]
            described = zip(field_values(TRACK_NAME, positions), field_values(ARTIST_NAME, positions),
                            field_values(ALBUM_NAME, positions))
            for (uri, _), (track, artist, album) in zip(first_rows, described):
                self.add_track(uri, _text(track), _text(artist), _text(album))
        play_uris = pick(track_uris)
        named_rows = np.flatnonzero(named)
        if len(named_rows):
            resolved, matched, new = self.resolve_named_tracks(
                [names[i][1] for i in named_rows], [names[i][0] for i in named_rows],
                [names[i][2] for i in named_rows])
            final_uris = np.asarray(track_uris.to_pylist(), dtype=object)
            final_uris[named_rows] = resolved
            play_uris = pa.array(final_uris[rows].tolist(), pa.string())
            report.rows_name_matched += matched
            report.rows_new_track += new

        offline_us, offline_valid, _ = parse_times(columns["offline_timestamp"], UTC, epoch_unit="auto")
        offline_valid[list(implausible_reasons(offline_us, offline_valid, self.now))] = False
        skipped, bad_skipped = bool_column(columns["skipped"])
        shuffle, bad_shuffle = bool_column(columns["shuffle"])
        offline, bad_offline = bool_column(columns["offline"])
        incognito, bad_incognito = bool_column(columns["incognito_mode"])
        if bad_skipped or bad_shuffle or bad_offline or bad_incognito:
            count = len(bad_skipped) + len(bad_shuffle) + len(bad_offline) + len(bad_incognito)
            report.warn(f"{source.label}: {count} skipped, shuffle, offline or incognito_mode values are not "
                        "true or false; stored as unknown")
        reason_start, _ = string_column(columns["reason_start"])
        reason_end, _ = string_column(columns["reason_end"])
        platforms, _ = string_column(columns["platform"])
        countries, _ = string_column(columns["conn_country"])

        table = keyed_table(users[rows], file_key, {
            "ts": micros_array(micros[rows]),
            "track_uri": play_uris,
            "ms_played": pa.array(ms[rows], pa.int64()),
            "skipped": pick(skipped),
            "reason_start": pick(reason_start),
            "reason_end": pick(reason_end),
            "shuffle": pick(shuffle),
            "offline": pick(offline),
            "offline_ts": micros_array(offline_us[rows], offline_valid[rows]),
            "incognito": pick(incognito),
            "platform": _platform_families(pick(platforms)),
            "conn_country": _country_codes(pick(countries)),
        }, PLAY_TYPES)
        self.batch.plays.append(table)

    def _set_aside(self, field_values, mask: np.ndarray, kind: str, users: np.ndarray, micros: np.ndarray,
                   ms: np.ndarray, file_key: int, report: ListeningFileReport, uri_fields: tuple[str, ...]) -> None:
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return
        candidates = [field_values(name, rows) for name in uri_fields]
        uris = [next((_text(v) for v in values if isinstance(v, str)), None) for values in zip(*candidates)]
        self.batch.set_aside.append(keyed_table(users[rows], file_key, {
            "ts": micros_array(micros[rows]), "kind": [kind] * len(rows), "uri": uris,
            "ms_played": pa.array(ms[rows], pa.int64()),
        }, SET_ASIDE_TYPES))
        report.set_aside[kind] += len(rows)
        report.rows_set_aside += len(rows)


def _any_present(field_values, fields: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
    present = np.zeros(len(rows), dtype=bool)
    for name in fields:
        present |= np.fromiter((v is not None for v in field_values(name, rows)), dtype=bool, count=len(rows))
    return present


class AccountHistoryIngest(ListeningIngest):
    format = "spotify-account"
    user_source = "spotify"
    expected_content = "a JSON array of plays"

    def __init__(self, store: Store, user_name: str | None, zone: str, **kwargs):
        if user_name is None:
            raise InputError("account-data exports do not name the account: pass --user NAME")
        super().__init__(store, user_name, **kwargs)
        self.zone = zone

    def parse_file(self, raw: bytes, source: SourceFile, sha256: str, file_key: int,
                   report: ListeningFileReport) -> None:
        report.notes.append(f"endTime values were read as local time in {self.zone}")
        with gc_paused():
            records = read_json_array(raw, source, report, ("endTime", "msPlayed", "trackName"),
                                      "Spotify account-data StreamingHistory")
            n = len(records)
            report.rows_read = n
            if n == 0:
                report.warn(f"{source.label}: the array is empty; no plays in this file")
                return
            columns, not_objects = record_columns(records, ACCOUNT_FIELDS, ACCOUNT_STRUCT)
            del records

        problems: dict[int, tuple[str | None, object, str]] = {i: (None, None, "record is not a JSON object")
                                                               for i in not_objects}
        micros, ts_valid, ts_errors = parse_times(columns["endTime"], self.zone, fast_format="%Y-%m-%d %H:%M")
        for i, reason in ts_errors.items():
            problems.setdefault(i, ("endTime", _value(columns["endTime"], i), reason))
        for i in np.flatnonzero(~ts_valid):
            problems.setdefault(int(i), ("endTime", None, "missing endTime: every play needs its end time"))
        for i, reason in implausible_reasons(micros, ts_valid, self.now).items():
            problems.setdefault(i, ("endTime", _value(columns["endTime"], i), reason))
        ms, ms_present, ms_errors = ms_column(columns["msPlayed"])
        for i, reason in ms_errors.items():
            problems.setdefault(i, ("msPlayed", _value(columns["msPlayed"], i), reason.replace("ms_played", "msPlayed")))
        for i in np.flatnonzero(~ms_present):
            problems.setdefault(int(i), ("msPlayed", None, "missing msPlayed"))

        podcast_file = bool(ACCOUNT_PODCAST_FILES.match(source.name))
        episode = present_mask(columns["podcastName"]) | present_mask(columns["episodeName"]) | podcast_file
        artists, _ = string_column(columns["artistName"])
        track_names, _ = string_column(columns["trackName"])
        has_names = ~np.asarray(artists.is_null(), bool) & ~np.asarray(track_names.is_null(), bool)
        for i in np.flatnonzero(~episode & ~has_names):
            field_name = "artistName" if artists[int(i)].as_py() is None else "trackName"
            problems.setdefault(int(i), (field_name, None, f"missing {field_name}: a play needs artist and track"))

        ok = np.ones(n, dtype=bool)
        if problems:
            ok[list(problems)] = False
            self.reject_rows(problems, sha256, source, report)
        user = self.user_key(self.user_name)

        episode_rows = np.flatnonzero(ok & episode)
        if len(episode_rows):
            self.batch.set_aside.append(keyed_table(user, file_key, {
                "ts": micros_array(micros[episode_rows]), "kind": ["episode"] * len(episode_rows),
                "uri": [None] * len(episode_rows), "ms_played": pa.array(ms[episode_rows], pa.int64()),
            }, SET_ASIDE_TYPES))
            report.set_aside["episode"] += len(episode_rows)
            report.rows_set_aside += len(episode_rows)

        rows = np.flatnonzero(ok & ~episode)
        if len(rows) == 0:
            return
        artist_list, track_list = artists.to_pylist(), track_names.to_pylist()
        uris, matched, new = self.resolve_named_tracks([artist_list[i] for i in rows], [track_list[i] for i in rows])
        report.rows_name_matched += matched
        report.rows_new_track += new
        empty_bool = pa.nulls(len(rows), pa.bool_())
        empty_text = pa.nulls(len(rows), pa.string())
        self.batch.plays.append(keyed_table(user, file_key, {
            "ts": micros_array(micros[rows]), "track_uri": pa.array(uris, pa.string()),
            "ms_played": pa.array(ms[rows], pa.int64()), "skipped": empty_bool, "reason_start": empty_text,
            "reason_end": empty_text, "shuffle": empty_bool, "offline": empty_bool,
            "offline_ts": pa.nulls(len(rows), pa.timestamp("us")), "incognito": empty_bool,
            "platform": empty_text, "conn_country": empty_text,
        }, PLAY_TYPES))


def _platform_families(platforms: pa.Array) -> pa.Array:
    encoded = pc.dictionary_encode(platforms)
    families = [platform_family(text) for text in encoded.dictionary.to_pylist()]
    return pa.array(families, pa.string()).take(encoded.indices)


def _country_codes(countries: pa.Array) -> pa.Array:
    valid = pc.fill_null(pc.match_substring_regex(countries, "^[A-Za-z]{2}$"), False)
    return pc.if_else(valid, pc.utf8_upper(countries), pa.scalar(None, pa.string()))
