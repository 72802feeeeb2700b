"""The DuckDB store: one file, ``tastemaker.duckdb``, in the data directory.

All SQL of the package lives in this sub-package. Values always go in as
parameters or as registered Arrow tables, never by string formatting.
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ..errors import InputError, StoreError
from .batches import PlaylistBatch
from .schema import SCHEMA_VERSION, STATEMENTS

log = logging.getLogger(__name__)

STORE_FILE = "tastemaker.duckdb"


@dataclass(frozen=True)
class IngestLogEntry:
    """One row of the ingest log: a source file and what its ingest did."""

    content_sha256: str
    file: str
    format: str
    status: str
    playlists_read: int
    playlists_loaded: int
    playlists_rejected: int
    tracks_read: int
    tracks_loaded: int
    tracks_merged: int
    tracks_rejected: int
    ingested_at: datetime
    seconds: float


class Store:
    """Reads and writes the tables of one data directory."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: Path):
        self.connection = connection
        self.path = path

    @classmethod
    def open(cls, data_dir: str | os.PathLike, read_only: bool = False) -> "Store":
        """Open the store in ``data_dir``, creating the folder and schema when writable."""
        data_dir = Path(data_dir)
        path = data_dir / STORE_FILE
        if read_only:
            if not path.exists():
                raise StoreError(
                    f"no store found at {path}: ingest data first, for example "
                    f"`tastemaker --data-dir {data_dir} ingest mpd PATH`"
                )
        else:
            _ensure_writable_dir(data_dir)
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from exc
        store = cls(connection, path)
        if not read_only:
            store._create_schema()
        return store

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _create_schema(self) -> None:
        for statement in STATEMENTS:
            self.connection.execute(statement)
        self.connection.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING", [str(SCHEMA_VERSION)]
        )

    # Ingest

    def ingested_files(self) -> dict[str, IngestLogEntry]:
        """Return the ingest log keyed by content hash."""
        rows = self.connection.execute("SELECT * FROM ingest_log").fetchall()
        return {row[0]: IngestLogEntry(*row) for row in rows}

    def stored_pids(self) -> dict[int, str]:
        """Return ``pid -> source file name`` of every stored playlist."""
        return dict(self.connection.execute("SELECT pid, file FROM playlists").fetchall())

    def write_ingest(self, batch: PlaylistBatch, entries: list[IngestLogEntry]) -> None:
        """Write the batch and the log entries of the files it came from in one transaction.

        Either every file of the batch is stored whole, or none of it is.
        """
        ingested_at = entries[0].ingested_at if entries else utc_now()
        connection = self.connection
        connection.execute("BEGIN TRANSACTION")
        try:
            if batch.tracks:
                tracks = batch.tracks_table()
                connection.register("batch_tracks", tracks)
                connection.execute(
                    """
                    INSERT INTO tracks
                    SELECT b.track_uri, b.name, b.artist_name, b.artist_uri, b.album_uri, b.album_name,
                           b.duration_ms, ?
                    FROM batch_tracks b ANTI JOIN tracks t ON t.track_uri = b.track_uri
                    """,
                    [ingested_at],
                )
                if _has_values(tracks, "artist_uri", "album_uri", "album_name", "duration_ms"):
                    # A stored track gains fields that an earlier, reduced source lacked.
                    connection.execute(
                        """
                        UPDATE tracks SET
                            name = COALESCE(tracks.name, b.name),
                            artist_name = COALESCE(tracks.artist_name, b.artist_name),
                            artist_uri = COALESCE(tracks.artist_uri, b.artist_uri),
                            album_uri = COALESCE(tracks.album_uri, b.album_uri),
                            album_name = COALESCE(tracks.album_name, b.album_name),
                            duration_ms = COALESCE(tracks.duration_ms, b.duration_ms)
                        FROM batch_tracks b
                        WHERE tracks.track_uri = b.track_uri
                          AND ((tracks.artist_uri IS NULL AND b.artist_uri IS NOT NULL)
                            OR (tracks.album_uri IS NULL AND b.album_uri IS NOT NULL)
                            OR (tracks.album_name IS NULL AND b.album_name IS NOT NULL)
                            OR (tracks.duration_ms IS NULL AND b.duration_ms IS NOT NULL))
                        """
                    )
                if _has_values(tracks, "artist_uri"):
                    connection.execute(
                        """
                        INSERT INTO artists
                        SELECT artist_uri, arg_min(artist_name, track_uri) FROM batch_tracks
                        WHERE artist_uri IS NOT NULL GROUP BY artist_uri
                        ON CONFLICT (artist_uri) DO NOTHING
                        """
                    )
                if _has_values(tracks, "album_uri"):
                    connection.execute(
                        """
                        INSERT INTO albums
                        SELECT album_uri, arg_min(album_name, track_uri), arg_min(artist_uri, track_uri)
                        FROM batch_tracks WHERE album_uri IS NOT NULL GROUP BY album_uri
                        ON CONFLICT (album_uri) DO NOTHING
                        """
                    )
                connection.unregister("batch_tracks")
            if batch.playlists["pid"]:
                connection.register("batch_playlists", batch.playlists_table())
                connection.execute("INSERT INTO playlists SELECT * FROM batch_playlists")
                connection.unregister("batch_playlists")
                connection.register("batch_playlist_tracks", batch.playlist_tracks_table())
                connection.execute("INSERT INTO playlist_tracks SELECT * FROM batch_playlist_tracks")
                connection.unregister("batch_playlist_tracks")
            if batch.rejects["reason"]:
                connection.register("batch_rejects", batch.rejects_table())
                connection.execute("INSERT INTO rejects SELECT * FROM batch_rejects")
                connection.unregister("batch_rejects")
            connection.executemany(
                "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [list(astuple(entry)) for entry in entries],
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    # Reads

    def playlist_track_pairs(self, source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(pids, track_uris)`` of every stored playlist row, ordered by pid and position."""
        query = "SELECT pt.pid, pt.track_uri FROM playlist_tracks pt"
        parameters: list = []
        if source is not None:
            query += " JOIN playlists p ON p.pid = pt.pid WHERE p.source = ?"
            parameters.append(source)
        query += " ORDER BY pt.pid, pt.pos"
        table = _arrow(self.connection.sql(query, params=parameters))
        pids = table.column("pid").to_numpy()
        uris = np.asarray(table.column("track_uri").to_pylist(), dtype=object)
        return pids, uris

    def playlists(self, source: str | None = None) -> pa.Table:
        """Return pid, source, name and num_tracks of stored playlists, ordered by pid."""
        query = "SELECT pid, source, name, num_tracks FROM playlists"
        parameters: list = []
        if source is not None:
            query += " WHERE source = ?"
            parameters.append(source)
        return _arrow(self.connection.sql(query + " ORDER BY pid", params=parameters))

    def playlist(self, pid: int) -> tuple[str | None, list[str]]:
        """Return the name and ordered track URIs of one playlist."""
        row = self._one("SELECT name FROM playlists WHERE pid = ?", [pid])
        if row is None:
            count = self._one("SELECT count(*) FROM playlists")[0]
            raise InputError(
                f"playlist {pid} not found in the store {self.path} ({count} playlists stored); "
                "check the pid or ingest the file that contains it"
            )
        tracks = self.connection.execute(
            "SELECT track_uri FROM playlist_tracks WHERE pid = ? ORDER BY pos", [pid]
        ).fetchall()
        return row[0], [t[0] for t in tracks]

    def track_metadata(self, track_uris: list[str]) -> dict[str, tuple[str | None, str | None]]:
        """Return ``track_uri -> (track name, artist name)`` for the URIs that are stored."""
        if not track_uris:
            return {}
        self.connection.register("wanted_tracks", pa.table({"track_uri": pa.array(list(track_uris), pa.string())}))
        try:
            rows = self.connection.execute(
                "SELECT t.track_uri, t.name, t.artist_name FROM tracks t JOIN wanted_tracks w USING (track_uri)"
            ).fetchall()
        finally:
            self.connection.unregister("wanted_tracks")
        return {uri: (name, artist) for uri, name, artist in rows}

    def track_artists(self) -> pa.Table:
        """Return track_uri, an artist key (URI, else name) and an album key (URI, else artist and name) per track."""
        return _arrow(self.connection.sql(
            "SELECT track_uri, COALESCE(artist_uri, 'name:' || artist_name) AS artist, "
            "COALESCE(album_uri, 'name:' || COALESCE(artist_uri, artist_name) || '/' || album_name) AS album "
            "FROM tracks"
        ))

    def _one(self, query: str, parameters: list | None = None) -> tuple | None:
        # fetchall, not fetchone: DuckDB 2 keeps a partly fetched result open
        # and rejects the next statement on the connection.
        rows = self.connection.execute(query, parameters or []).fetchall()
        return rows[0] if rows else None

    def has_table(self, name: str) -> bool:
        return self._one("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])[0] > 0

    def counts(self) -> dict[str, int]:
        tables = ["tracks", "artists", "albums", "playlists", "playlist_tracks", "rejects", "ingest_log"]
        # Table names come from the fixed list above, never from input.
        return {t: self._one(f"SELECT count(*) FROM {t}")[0] for t in tables}

    def snapshot(self) -> dict:
        """Describe the data a model is trained on, for a bundle's manifest."""
        counts = self.counts()
        row = self._one(
            "SELECT max(ingested_at), count(*), "
            "coalesce(sha256(string_agg(content_sha256, ',' ORDER BY content_sha256)), '') FROM ingest_log"
        )
        return {
            "store": str(self.path),
            "last_ingest": row[0].isoformat() if row[0] else None,
            "files": row[1],
            "ingest_log_sha256": row[2],
            "counts": counts,
        }

    def rejects(self, limit: int = 20) -> list[tuple]:
        return self.connection.execute(
            "SELECT file, record_index, item_index, field, value, reason FROM rejects "
            "ORDER BY file, record_index NULLS FIRST, item_index NULLS FIRST LIMIT ?",
            [limit],
        ).fetchall()


def _arrow(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    # DuckDB 2 renamed fetch_arrow_table to to_arrow_table.
    fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return fetch()


def _has_values(table: pa.Table, *columns: str) -> bool:
    return any(table.column(c).null_count < table.num_rows for c in columns)


def utc_now() -> datetime:
    """Return the current time as a naive UTC datetime, the store's convention."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _ensure_writable_dir(data_dir: Path) -> None:
    if data_dir.exists() and not data_dir.is_dir():
        raise StoreError(f"the data directory {data_dir} exists but is not a directory; choose another with --data-dir")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the data directory {data_dir}: {exc.strerror or exc}; "
            "choose another with --data-dir or TASTEMAKER_DATA_DIR"
        ) from exc
    probe = data_dir / ".write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = "permission denied" if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else exc.strerror
        raise StoreError(
            f"the data directory {data_dir} is not writable ({reason}); "
            "fix its permissions or choose another with --data-dir or TASTEMAKER_DATA_DIR"
        ) from exc
