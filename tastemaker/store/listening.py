"""Reads and writes of the listening tables (see listening_schema.py).

Ingest fills a ListeningBatch per group of files, and ``write_listening``
stores it in one transaction. Plays, set-aside plays, artist play counts and
friend pairs are deduplicated against the store and within the batch. The
duplicates dropped come back as per-file counts, which ingest reports list as
merged rows.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import tempfile
from dataclasses import astuple, dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ..errors import InputError, StoreError
from .batches import REJECT_COLUMNS, _REJECT_TYPES, _short_repr
from .store import Store, _arrow, utc_now

SALT_KEY = "user_name_salt"

PLAY_TYPES = {
    "ts": pa.timestamp("us"), "track_uri": pa.string(), "ms_played": pa.int64(), "skipped": pa.bool_(),
    "reason_start": pa.string(), "reason_end": pa.string(), "shuffle": pa.bool_(), "offline": pa.bool_(),
    "offline_ts": pa.timestamp("us"), "incognito": pa.bool_(), "platform": pa.string(),
    "conn_country": pa.string(),
}
SET_ASIDE_TYPES = {"ts": pa.timestamp("us"), "kind": pa.string(), "uri": pa.string(), "ms_played": pa.int64()}
ARTIST_PLAY_TYPES = {"artist_uri": pa.string(), "plays": pa.int64()}
ARTIST_TAG_TYPES = {"artist_uri": pa.string(), "tag": pa.string(), "tagged_on": pa.date32()}
TRACK_FIELDS = ("track_uri", "name", "artist_name", "album_name", "duration_ms")


@dataclass
class ListeningLogEntry:
    """One row of the listening ingest log; loaded and merged counts are set when the batch is written."""

    content_sha256: str
    file: str
    format: str
    status: str
    rows_read: int
    rows_loaded: int
    rows_merged: int
    rows_rejected: int
    rows_set_aside: int
    rows_name_matched: int
    rows_new_track: int
    ingested_at: datetime
    seconds: float


@dataclass
class ListeningBatch:
    """Rows of one group of listening files, as Arrow tables keyed by small per-batch indices.

    ``user_key`` and ``file_key`` columns index ``users`` and ``files``, so a
    million plays of one export do not repeat the user hash and file name.
    Tables follow PLAY_TYPES, SET_ASIDE_TYPES, ARTIST_PLAY_TYPES and
    ARTIST_TAG_TYPES, each with ``user_key`` and ``file_key`` in front.
    """

    users: list[tuple[str, str]] = field(default_factory=list)
    files: list[ListeningLogEntry] = field(default_factory=list)
    plays: list[pa.Table] = field(default_factory=list)
    set_aside: list[pa.Table] = field(default_factory=list)
    artist_plays: list[pa.Table] = field(default_factory=list)
    artist_tags: list[pa.Table] = field(default_factory=list)
    friends: list[pa.Table] = field(default_factory=list)
    tracks: dict[str, tuple] = field(default_factory=dict)
    artists: dict[str, str] = field(default_factory=dict)
    source_artists: dict[tuple[str, str], str] = field(default_factory=dict)
    rejects: dict[str, list] = field(default_factory=lambda: {c: [] for c in REJECT_COLUMNS})
    _user_index: dict[tuple[str, str], int] = field(default_factory=dict)

    def user_key(self, source: str, name_hash: str) -> int:
        key = (source, name_hash)
        index = self._user_index.get(key)
        if index is None:
            index = self._user_index[key] = len(self.users)
            self.users.append(key)
        return index

    def add_file(self, entry: ListeningLogEntry) -> int:
        self.files.append(entry)
        return len(self.files) - 1

    @property
    def row_count(self) -> int:
        tables = self.plays + self.set_aside + self.artist_plays + self.artist_tags + self.friends
        return sum(t.num_rows for t in tables) + len(self.rejects["reason"])

    def add_reject(self, content_sha256: str, file: str, record_index: int | None, field_name: str | None,
                   value: object, reason: str) -> None:
        row = (content_sha256, file, record_index, None, field_name,
               None if value is None else _short_repr(value), reason)
        for column, item in zip(REJECT_COLUMNS, row):
            self.rejects[column].append(item)


def keyed_table(user_keys: np.ndarray | int, file_key: int, columns: dict[str, pa.Array | list],
                types: dict[str, pa.DataType]) -> pa.Table:
    """Build a batch table: ``user_key`` and ``file_key`` columns, then ``columns`` in ``types`` order."""
    n = len(next(iter(columns.values())))
    users = np.full(n, user_keys, dtype=np.int32) if np.isscalar(user_keys) else np.asarray(user_keys, np.int32)
    arrays = {"user_key": pa.array(users, pa.int32()), "file_key": pa.array(np.full(n, file_key, np.int32))}
    for name, arrow_type in types.items():
        values = columns[name]
        arrays[name] = values if isinstance(values, pa.Array) else pa.array(values, type=arrow_type)
    return pa.table(arrays)


# Users


def user_salt(store: Store, create: bool = True) -> bytes | None:
    """Return the store's salt for user names, creating it on first use when ``create`` is true."""
    rows = store.connection.execute("SELECT value FROM meta WHERE key = ?", [SALT_KEY]).fetchall()
    if rows:
        return bytes.fromhex(rows[0][0])
    if not create:
        return None
    store.connection.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO NOTHING", [SALT_KEY, secrets.token_hex(32)]
    )
    return user_salt(store, create=False)


def user_name_hash(salt: bytes, source: str, name: str) -> str:
    """Return the stored form of an account name: HMAC-SHA256 under the store's salt, in hex."""
    return hmac.new(salt, f"{source}\x1f{name}".encode("utf-8"), hashlib.sha256).hexdigest()


def find_user(store: Store, name: str, sources: tuple[str, ...]) -> list[tuple[str, int]]:
    """Return ``(source, user_id)`` of every stored user called ``name`` in one of ``sources``."""
    salt = user_salt(store, create=False)
    if salt is None:
        return []
    found = []
    for source in sources:
        rows = store.connection.execute(
            "SELECT user_id FROM users WHERE source = ? AND name_hash = ?", [source, user_name_hash(salt, source, name)]
        ).fetchall()
        found.extend((source, row[0]) for row in rows)
    return found


# Ingest log


def ingested_listening_files(store: Store) -> dict[str, ListeningLogEntry]:
    """Return the listening ingest log keyed by content hash."""
    rows = store.connection.execute("SELECT * FROM listening_ingest_log").fetchall()
    return {row[0]: ListeningLogEntry(*row) for row in rows}


def catalogue_names(store: Store) -> list[tuple[str, str, str]]:
    """Return ``(track_uri, artist_name, name)`` of every catalogue track that has both names."""
    return store.connection.execute(
        "SELECT track_uri, artist_name, name FROM tracks WHERE artist_name IS NOT NULL AND name IS NOT NULL"
    ).fetchall()


def source_artist_uris(store: Store, source: str) -> dict[str, str]:
    return dict(store.connection.execute(
        "SELECT source_id, artist_uri FROM source_artists WHERE source = ?", [source]
    ).fetchall())


# Writing


def write_listening(store: Store, batch: ListeningBatch) -> dict[int, tuple[int, int]]:
    """Store a batch in one transaction and return ``file_key -> (rows loaded, rows merged)``.

    Rows merged are duplicates: of a row already stored, or of an earlier row
    of the batch (an earlier file, else an earlier row of the same file). The
    counts are added to the files' log entries, and every entry except those
    with status "partial" (a file that continues in the next batch) is logged.
    """
    connection = store.connection
    now = utc_now()
    counts: dict[int, list[int]] = {key: [0, 0] for key in range(len(batch.files))}
    registered: list[str] = []

    def register(name: str, table: pa.Table) -> None:
        connection.register(name, table)
        registered.append(name)

    connection.execute("BEGIN TRANSACTION")
    try:
        register("batch_files", pa.table({
            "file_key": pa.array(range(len(batch.files)), pa.int32()),
            "file": pa.array([e.file for e in batch.files], pa.string()),
            "format": pa.array([e.format for e in batch.files], pa.string()),
        }))
        _write_users(connection, batch, now, register)
        _write_catalogue(connection, batch, now, register)
        # Set-aside rows are counted as set aside whether or not they repeat a
        # stored row, so they add nothing to the loaded and merged counts.
        for name, tables, writer, counted in (
            ("batch_plays", batch.plays, _write_plays, True),
            ("batch_set_aside", batch.set_aside, _write_set_aside, False),
            ("batch_artist_plays", batch.artist_plays, _write_artist_plays, True),
            ("batch_artist_tags", batch.artist_tags, _write_artist_tags, True),
            ("batch_friends", batch.friends, _write_friends, True),
        ):
            if not tables:
                continue
            table = pa.concat_tables(tables)
            table = table.append_column("row_index", pa.array(np.arange(table.num_rows, dtype=np.int64)))
            register(name, table)
            candidates = _count_by_file(connection, f"SELECT file_key FROM {name}")
            loaded = writer(connection)
            if not counted:
                continue
            for key, count in candidates.items():
                counts[key][0] += loaded.get(key, 0)
                counts[key][1] += count - loaded.get(key, 0)
        if batch.rejects["reason"]:
            register("batch_rejects", pa.table(
                {c: pa.array(batch.rejects[c], type=_REJECT_TYPES[c]) for c in REJECT_COLUMNS}))
            connection.execute(f"INSERT INTO rejects ({', '.join(REJECT_COLUMNS)}) SELECT * FROM batch_rejects")
        for key, entry in enumerate(batch.files):
            entry.rows_loaded += counts[key][0]
            entry.rows_merged += counts[key][1]
        logged = [list(astuple(entry)) for entry in batch.files if entry.status != "partial"]
        if logged:
            connection.executemany(
                "INSERT INTO listening_ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (content_sha256) DO NOTHING",
                logged,
            )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        for name in registered:
            connection.unregister(name)
        connection.execute("DROP TABLE IF EXISTS batch_user_ids")
    return {key: (loaded, merged) for key, (loaded, merged) in counts.items()}


def _write_users(connection, batch: ListeningBatch, now: datetime, register) -> None:
    register("batch_users", pa.table({
        "user_key": pa.array(range(len(batch.users)), pa.int32()),
        "source": pa.array([u[0] for u in batch.users], pa.string()),
        "name_hash": pa.array([u[1] for u in batch.users], pa.string()),
    }))
    connection.execute(
        """
        INSERT INTO users (user_id, source, name_hash, first_seen)
        SELECT (SELECT coalesce(max(user_id), 0) FROM users) + row_number() OVER (ORDER BY b.user_key),
               b.source, b.name_hash, ?
        FROM batch_users b ANTI JOIN users u ON u.source = b.source AND u.name_hash = b.name_hash
        """,
        [now],
    )
    connection.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_user_ids AS
        SELECT b.user_key, u.user_id FROM batch_users b
        JOIN users u ON u.source = b.source AND u.name_hash = b.name_hash
        """
    )


def _write_catalogue(connection, batch: ListeningBatch, now: datetime, register) -> None:
    if batch.tracks:
        rows = list(batch.tracks.values())
        columns = list(zip(*rows))
        register("batch_tracks", pa.table({
            "track_uri": pa.array(columns[0], pa.string()), "name": pa.array(columns[1], pa.string()),
            "artist_name": pa.array(columns[2], pa.string()), "album_name": pa.array(columns[3], pa.string()),
            "duration_ms": pa.array(columns[4], pa.int64()),
        }))
        connection.execute(
            """
            INSERT INTO tracks (track_uri, name, artist_name, album_name, duration_ms, first_seen)
            SELECT b.track_uri, b.name, b.artist_name, b.album_name, b.duration_ms, ?
            FROM batch_tracks b ANTI JOIN tracks t ON t.track_uri = b.track_uri
            """,
            [now],
        )
        # A stored track gains names, album or duration that an earlier source lacked.
        connection.execute(
            """
            UPDATE tracks SET
                name = COALESCE(tracks.name, b.name),
                artist_name = COALESCE(tracks.artist_name, b.artist_name),
                album_name = COALESCE(tracks.album_name, b.album_name),
                duration_ms = COALESCE(tracks.duration_ms, b.duration_ms)
            FROM batch_tracks b
            WHERE tracks.track_uri = b.track_uri
              AND ((tracks.name IS NULL AND b.name IS NOT NULL)
                OR (tracks.artist_name IS NULL AND b.artist_name IS NOT NULL)
                OR (tracks.album_name IS NULL AND b.album_name IS NOT NULL)
                OR (tracks.duration_ms IS NULL AND b.duration_ms IS NOT NULL))
            """
        )
    if batch.artists:
        register("batch_artists", pa.table({
            "artist_uri": pa.array(list(batch.artists), pa.string()),
            "name": pa.array(list(batch.artists.values()), pa.string()),
        }))
        connection.execute(
            "INSERT INTO artists (artist_uri, name) SELECT artist_uri, name FROM batch_artists "
            "ON CONFLICT (artist_uri) DO NOTHING"
        )
    if batch.source_artists:
        keys = list(batch.source_artists)
        register("batch_source_artists", pa.table({
            "source": pa.array([k[0] for k in keys], pa.string()),
            "source_id": pa.array([k[1] for k in keys], pa.string()),
            "artist_uri": pa.array(list(batch.source_artists.values()), pa.string()),
        }))
        connection.execute(
            "INSERT INTO source_artists SELECT * FROM batch_source_artists ON CONFLICT (source, source_id) DO NOTHING"
        )


def _count_by_file(connection, query: str) -> dict[int, int]:
    return dict(connection.execute(f"SELECT file_key, count(*) FROM ({query}) GROUP BY file_key").fetchall())


def _write_plays(connection) -> dict[int, int]:
    # Most batches repeat nothing, so the duplicates are found first, as row
    # indices, and the batch is inserted straight from Arrow. The play key
    # treats NULL ms_played (Last.fm, ListenBrainz) as equal to NULL, through
    # -1, which a stored duration never is.
    duplicates: list[int] = []
    distinct = connection.execute(
        "SELECT count(*) FROM (SELECT DISTINCT user_key, ts, track_uri, ms_played FROM batch_plays)"
    ).fetchall()[0][0]
    rows = connection.execute("SELECT count(*) FROM batch_plays").fetchall()[0][0]
    if distinct < rows:
        duplicates += [r[0] for r in connection.execute(
            """
            SELECT row_index FROM batch_plays
            QUALIFY row_number() OVER (PARTITION BY user_key, ts, track_uri, coalesce(ms_played, -1)
                                       ORDER BY row_index) > 1
            """
        ).fetchall()]
    stored = connection.execute(
        "SELECT count(*) FROM play_events WHERE user_id IN (SELECT user_id FROM batch_user_ids)"
    ).fetchall()[0][0]
    if stored:
        duplicates += [r[0] for r in connection.execute(
            """
            SELECT p.row_index FROM batch_plays p
            JOIN batch_user_ids m ON m.user_key = p.user_key
            SEMI JOIN (SELECT * FROM play_events WHERE user_id IN (SELECT user_id FROM batch_user_ids)) e
                ON e.user_id = m.user_id AND e.ts = p.ts AND e.track_uri = p.track_uri
               AND coalesce(e.ms_played, -1) = coalesce(p.ms_played, -1)
            """
        ).fetchall()]

    select = """
        SELECT m.user_id, p.ts, p.track_uri, p.ms_played, p.skipped, p.reason_start, p.reason_end, p.shuffle,
               p.offline, p.offline_ts, p.incognito, p.platform, p.conn_country, f.format, f.file
        FROM batch_plays p
        JOIN batch_user_ids m ON m.user_key = p.user_key
        JOIN batch_files f ON f.file_key = p.file_key
    """
    columns = ("user_id, ts, track_uri, ms_played, skipped, reason_start, reason_end, shuffle, offline, offline_ts, "
               "incognito, platform, conn_country, source, file")
    if not duplicates:
        connection.execute(f"INSERT INTO play_events ({columns}) {select}")
        return _count_by_file(connection, "SELECT file_key FROM batch_plays")
    connection.register("batch_duplicates", pa.table({"row_index": pa.array(sorted(set(duplicates)), pa.int64())}))
    try:
        connection.execute(f"INSERT INTO play_events ({columns}) {select} "
                           "ANTI JOIN batch_duplicates d ON d.row_index = p.row_index")
        return _count_by_file(connection, "SELECT file_key FROM batch_plays ANTI JOIN batch_duplicates USING (row_index)")
    finally:
        connection.unregister("batch_duplicates")


def _write_set_aside(connection) -> dict[int, int]:
    connection.execute(
        """
        CREATE OR REPLACE TEMP TABLE fresh_rows AS
        SELECT m.user_id, p.ts, p.kind, p.uri, p.ms_played, f.format AS source, f.file, p.file_key
        FROM batch_set_aside p
        JOIN batch_user_ids m ON m.user_key = p.user_key
        JOIN batch_files f ON f.file_key = p.file_key
        ANTI JOIN set_aside_plays e
            ON e.user_id = m.user_id AND e.ts = p.ts AND e.kind = p.kind
           AND coalesce(e.uri, '') = coalesce(p.uri, '') AND coalesce(e.ms_played, -1) = coalesce(p.ms_played, -1)
        QUALIFY row_number() OVER (PARTITION BY m.user_id, p.ts, p.kind, coalesce(p.uri, ''),
                                   coalesce(p.ms_played, -1) ORDER BY p.row_index) = 1
        """
    )
    return _insert_fresh(connection, "set_aside_plays", "user_id, ts, kind, uri, ms_played, source, file")


def _write_artist_plays(connection) -> dict[int, int]:
    # Two source ids that normalise to the same artist (two spellings of one
    # name) are one artist, so their plays are summed. A (user, artist) row
    # that is already stored is a duplicate.
    connection.execute(
        """
        CREATE OR REPLACE TEMP TABLE fresh_rows AS
        SELECT m.user_id, p.artist_uri, p.plays, f.format AS source, f.file, p.file_key, p.row_index
        FROM batch_artist_plays p
        JOIN batch_user_ids m ON m.user_key = p.user_key
        JOIN batch_files f ON f.file_key = p.file_key
        ANTI JOIN user_artist_plays e
            ON e.user_id = m.user_id AND e.artist_uri = p.artist_uri AND e.source = f.format
        """
    )

    # Each summed row counts as loaded for the file of its first row; the rows
    # summed into it count as merged.
    connection.execute(
        """
        CREATE OR REPLACE TEMP TABLE summed_rows AS
        SELECT user_id, artist_uri, sum(plays)::BIGINT AS plays, arg_min(source, row_index) AS source,
               arg_min(file, row_index) AS file, arg_min(file_key, row_index) AS file_key
        FROM fresh_rows GROUP BY user_id, artist_uri
        """
    )
    loaded = _count_by_file(connection, "SELECT file_key FROM summed_rows")
    connection.execute(
        "INSERT INTO user_artist_plays (user_id, artist_uri, plays, source, file) "
        "SELECT user_id, artist_uri, plays, source, file FROM summed_rows"
    )
    connection.execute("DROP TABLE fresh_rows")
    connection.execute("DROP TABLE summed_rows")
    return loaded


def _write_artist_tags(connection) -> dict[int, int]:
    connection.execute(
        """
        CREATE OR REPLACE TEMP TABLE fresh_rows AS
        SELECT m.user_id, p.artist_uri, p.tag, p.tagged_on, f.format AS source, f.file, p.file_key
        FROM batch_artist_tags p
        JOIN batch_user_ids m ON m.user_key = p.user_key
        JOIN batch_files f ON f.file_key = p.file_key
        ANTI JOIN artist_tags e
            ON e.user_id = m.user_id AND e.artist_uri = p.artist_uri AND e.tag = p.tag
           AND coalesce(e.tagged_on, DATE '1900-01-01') = coalesce(p.tagged_on, DATE '1900-01-01')
        QUALIFY row_number() OVER (PARTITION BY m.user_id, p.artist_uri, p.tag, p.tagged_on
                                   ORDER BY p.row_index) = 1
        """
    )
    return _insert_fresh(connection, "artist_tags", "user_id, artist_uri, tag, tagged_on, source, file")


def _write_friends(connection) -> dict[int, int]:
    # friend_key is a user key of the same batch, like user_key.
    connection.execute(
        """
        CREATE OR REPLACE TEMP TABLE fresh_rows AS
        SELECT m.user_id, n.user_id AS friend_id, f.format AS source, p.file_key
        FROM batch_friends p
        JOIN batch_user_ids m ON m.user_key = p.user_key
        JOIN batch_user_ids n ON n.user_key = p.friend_key
        JOIN batch_files f ON f.file_key = p.file_key
        ANTI JOIN user_friends e ON e.user_id = m.user_id AND e.friend_id = n.user_id
        QUALIFY row_number() OVER (PARTITION BY m.user_id, n.user_id ORDER BY p.row_index) = 1
        """
    )
    return _insert_fresh(connection, "user_friends", "user_id, friend_id, source")


def _insert_fresh(connection, target: str, columns: str) -> dict[int, int]:
    loaded = _count_by_file(connection, "SELECT file_key FROM fresh_rows")
    # The target and column names are fixed strings of this module, never input.
    connection.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM fresh_rows")
    connection.execute("DROP TABLE fresh_rows")
    return loaded


# Reading source files


class JsonArrayReader:
    """Reads a JSON array of objects into Arrow with DuckDB's JSON reader, every requested field as text.

    Text keeps the values as written (``true``, ``2000.5``) for the caller to
    validate, because DuckDB's typed reading converts silently ("yes" to true,
    2000.5 to 2000). The reader has its own in-memory connection, apart from
    the store's connection, which a writer thread may be using. DuckDB reads
    files, so bytes without a file are written to a temporary one first.
    """

    def __init__(self):
        self.connection = duckdb.connect()

    def read(self, raw: bytes, path: Path | None, fields: tuple[str, ...]) -> pa.Table | None:
        """Return the fields of every record, or None when DuckDB cannot read the bytes as such an array."""
        columns = {name: "VARCHAR" for name in fields}
        query = "SELECT * FROM read_json(?, format = 'array', columns = ?, maximum_object_size = 134217728)"
        if path is not None:
            return self._read(query, str(path), columns)
        with tempfile.NamedTemporaryFile(suffix=".json") as handle:
            handle.write(raw)
            handle.flush()
            return self._read(query, handle.name, columns)

    def _read(self, query: str, path: str, columns: dict[str, str]) -> pa.Table | None:
        try:
            return _arrow(self.connection.sql(query, params=[path, columns]))
        except duckdb.Error:
            return None


# Reads

EVENT_COLUMNS = ("user_id", "ts", "track_uri", "ms_played", "skipped", "reason_start", "reason_end", "shuffle",
                 "offline", "platform", "conn_country", "source")


def play_events(store: Store, columns: tuple[str, ...] = EVENT_COLUMNS, user_ids: list[int] | None = None,
                sources: tuple[str, ...] | None = None) -> pa.Table:
    """Return play events ordered by user and time, optionally of some users or sources only."""
    unknown = [c for c in columns if c not in PLAY_TYPES and c not in ("user_id", "source", "file")]
    if unknown:
        raise ValueError(f"unknown play_events column {unknown[0]!r}")
    # Column names are checked against the fixed list above; values go in as parameters.
    query = f"SELECT {', '.join(columns)} FROM play_events WHERE true"
    parameters: list = []
    if user_ids is not None:
        query += " AND list_contains(?, user_id)"
        parameters.append([int(u) for u in user_ids])
    if sources is not None:
        query += " AND list_contains(?, source)"
        parameters.append(list(sources))
    return _arrow(store.connection.sql(query + " ORDER BY user_id, ts, track_uri", params=parameters))


def play_events_with_artists(store: Store, user_ids: list[int] | None = None) -> pa.Table:
    """Return user_id, ts, track_uri, ms_played, skipped, reason_end and the track's artist name, by user and time."""
    query = """
        SELECT e.user_id, e.ts, e.track_uri, e.ms_played, e.skipped, e.reason_end, t.artist_name
        FROM play_events e LEFT JOIN tracks t USING (track_uri)
    """
    parameters: list = []
    if user_ids is not None:
        query += " WHERE list_contains(?, e.user_id)"
        parameters.append([int(u) for u in user_ids])
    return _arrow(store.connection.sql(query + " ORDER BY e.user_id, e.ts, e.track_uri", params=parameters))


def artist_play_counts(store: Store, source: str | None = None) -> pa.Table:
    """Return user_id, artist_uri and plays of the stored play counts, ordered by user and artist."""
    query = "SELECT user_id, artist_uri, plays FROM user_artist_plays"
    parameters: list = []
    if source is not None:
        query += " WHERE source = ?"
        parameters.append(source)
    return _arrow(store.connection.sql(query + " ORDER BY user_id, artist_uri", params=parameters))


def artist_names(store: Store, artist_uris: list[str]) -> dict[str, str | None]:
    if not artist_uris:
        return {}
    rows = store.connection.execute(
        "SELECT artist_uri, name FROM artists WHERE list_contains(?, artist_uri)", [list(artist_uris)]
    ).fetchall()
    return dict(rows)


def listening_counts(store: Store) -> dict[str, int]:
    tables = ["users", "play_events", "set_aside_plays", "user_artist_plays", "artist_tags", "user_friends",
              "listening_ingest_log"]
    # Table names come from the fixed list above, never from input.
    return {t: store.connection.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}


def rejects_of(store: Store, content_hashes: list[str], limit: int = 10) -> list[tuple]:
    """Return file, record_index, field, value and reason of rejects from the given files."""
    if not content_hashes:
        return []
    return store.connection.execute(
        "SELECT file, record_index, field, value, reason FROM rejects WHERE list_contains(?, content_sha256) "
        "ORDER BY file, record_index NULLS FIRST LIMIT ?",
        [list(content_hashes), limit],
    ).fetchall()


def require_events(store: Store) -> None:
    """Raise InputError when the store contains no play events."""
    if store.connection.execute("SELECT count(*) FROM play_events").fetchall()[0][0] == 0:
        raise InputError(
            f"the store {store.path} has no play events; ingest listening data first, for example "
            "`tastemaker import-spotify EXPORT --user NAME` or `tastemaker ingest lastfm-1k PATH`"
        )


def check_listening_schema(store: Store) -> None:
    """Raise StoreError when the store predates the listening tables (a read-only open cannot add them)."""
    rows = store.connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'play_events'"
    ).fetchall()
    if rows[0][0] == 0:
        raise StoreError(
            f"the store {store.path} has no listening tables; open it once for writing, for example with "
            "`tastemaker ingest ...`, to add them"
        )
