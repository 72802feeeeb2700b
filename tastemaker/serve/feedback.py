"""Feedback intake: an append-only event log, written by one thread, that stores each event id once.

Events are play, skip, like and add-to-playlist, each with an id chosen by
the client. ``FeedbackLog.submit`` hands an event to the writer thread and
returns a future. The writer takes every waiting event as one batch, drops
ids it has already stored, appends one JSON line per new event to the log
file, calls ``fsync`` and only then resolves the futures. So an event is on
disk before the caller can acknowledge it, and a retry of an acknowledged
event finds its id and is not stored twice. A retry with the same id but
different content is a conflict.

On start the log is read back to rebuild the id index and each user's
events. A last line without its newline is the remains of a write that a
crash interrupted. No client received an acknowledgement for it, so it is
cut off and the cut is logged.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import StoreError

log = logging.getLogger(__name__)

EVENT_TYPES = ("play", "skip", "like", "add_to_playlist")
RECORD_VERSION = 1
MAX_BATCH = 512
ACCEPTED, DUPLICATE, CONFLICT = "accepted", "duplicate", "conflict"


@dataclass(frozen=True)
class NewEvent:
    """An event as a client sent it; ``content`` is what a retry must repeat exactly."""

    event_id: str
    user: str
    track_id: str
    type: str
    ms_played: int | None = None
    client_time: str | None = None
    context: str | None = None

    def content(self) -> tuple:
        return (self.user, self.track_id, self.type, self.ms_played, self.client_time, self.context)


@dataclass(frozen=True)
class StoredEvent:
    """An event in the log: the client's fields, when it arrived (UTC) and its sequence number.

    The sequence number counts the log's valid records, from 1.
    """

    event_id: str
    user: str
    track_id: str
    type: str
    ms_played: int | None
    client_time: str | None
    context: str | None
    sequence: int
    received_at: str

    def content(self) -> tuple:
        return (self.user, self.track_id, self.type, self.ms_played, self.client_time, self.context)

    def to_line(self) -> bytes:
        record = {"v": RECORD_VERSION, **asdict(self)}
        return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")

    @classmethod
    def from_record(cls, record: dict) -> "StoredEvent":
        if record.get("v") != RECORD_VERSION:
            raise ValueError(f"record version {record.get('v')!r} is not {RECORD_VERSION}")
        fields = {name: record[name] for name in cls.__dataclass_fields__}
        if fields["type"] not in EVENT_TYPES:
            raise ValueError(f"type {fields['type']!r} is not one of {', '.join(EVENT_TYPES)}")
        return cls(**fields)


@dataclass(frozen=True)
class Outcome:
    """The result of a submitted event: ``accepted``, ``duplicate`` or ``conflict``, and the stored event."""

    status: str
    event: StoredEvent


class FeedbackLog:
    """The event log file and its in-memory indexes: by event id, and each user's events in log order."""

    def __init__(self, path: Path, max_batch: int = MAX_BATCH):
        self.path = Path(path)
        self.max_batch = max_batch
        self._by_id: dict[str, StoredEvent] = {}
        self._by_user: dict[str, list[StoredEvent]] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._failure: str | None = None
        self.recovered_bytes_cut = 0
        self.invalid_lines = 0
        self.fsyncs = 0

    # Start and stop

    def open(self) -> "FeedbackLog":
        """Read the log back, cut off an interrupted last line, and start the writer thread."""
        created = not self.path.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._recover()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if created:
                _fsync_directory(self.path.parent)
        except OSError as exc:
            raise StoreError(f"cannot open the feedback log {self.path}: {exc}; check that the data directory is "
                             "writable") from exc
        self._thread = threading.Thread(target=self._write_loop, name="feedback-writer", daemon=True)
        self._thread.start()
        log.info("feedback log %s: %d events of %d users", self.path, len(self._by_id), len(self._by_user))
        return self

    def close(self) -> None:
        """Write what is queued, stop the writer thread and close the file."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # Reading

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_id)

    @property
    def failure(self) -> str | None:
        """Why the log stopped accepting events, or None while it works."""
        return self._failure

    def events_for(self, user: str) -> tuple[StoredEvent, ...]:
        """Return the user's stored events in log order; the tuple's length is their feedback version."""
        with self._lock:
            return tuple(self._by_user.get(user, ()))

    def version(self, user: str) -> int:
        """Return how many events the user has in the log, which changes whenever their feedback does."""
        with self._lock:
            return len(self._by_user.get(user, ()))

    def user_count(self) -> int:
        with self._lock:
            return len(self._by_user)

    # Writing

    def submit(self, event: NewEvent) -> Future:
        """Queue an event for the writer; the future resolves to an ``Outcome`` once the event is durable."""
        future: Future = Future()
        if self._thread is None:
            future.set_exception(StoreError(f"the feedback log {self.path} is not open"))
        elif self._failure is not None:
            future.set_exception(StoreError(self._failure))
        else:
            self._queue.put((event, future))
        return future

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    extra = self._queue.get_nowait()
                except queue.Empty:
                    break
                if extra is None:
                    stop = True
                    break
                batch.append(extra)
            self._write_batch(batch)
            if stop:
                return

    def _write_batch(self, batch: list[tuple[NewEvent, Future]]) -> None:
        received_at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        pending: dict[str, StoredEvent] = {}
        answers: list[tuple[Future, str, StoredEvent]] = []
        with self._lock:
            sequence = len(self._by_id)
        for event, future in batch:
            stored = self._by_id.get(event.event_id) or pending.get(event.event_id)
            if stored is not None:
                status = DUPLICATE if stored.content() == event.content() else CONFLICT
                answers.append((future, status, stored))
                continue
            sequence += 1
            stored = StoredEvent(event.event_id, event.user, event.track_id, event.type, event.ms_played,
                                 event.client_time, event.context, sequence, received_at)
            pending[event.event_id] = stored
            answers.append((future, ACCEPTED, stored))
        if pending:
            try:
                self._append(b"".join(stored.to_line() for stored in pending.values()))
            except OSError as exc:
                for future, _, _ in answers:
                    future.set_exception(StoreError(f"cannot write the feedback log {self.path}: {exc}"))
                return
            with self._lock:
                for stored in pending.values():
                    self._by_id[stored.event_id] = stored
                    self._by_user.setdefault(stored.user, []).append(stored)
        for future, status, stored in answers:
            future.set_result(Outcome(status, stored))

    def _append(self, data: bytes) -> None:
        """Append ``data`` and fsync it; on failure, cut the file back so that no partial line stays."""
        size = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
            self.fsyncs += 1
        except OSError as exc:
            log.error("feedback log %s: write of %d bytes failed: %s", self.path, len(data), exc)
            try:
                os.ftruncate(self._fd, size)
            except OSError as truncate_error:
                self._failure = (f"the feedback log {self.path} may end in a partial line after a failed write "
                                 f"({truncate_error}); restart the service, which cuts it off")
                log.error("%s", self._failure)
            raise

    # Recovery

    def _recover(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            self.recovered_bytes_cut = len(data) - end
            log.warning("feedback log %s: cutting off %d bytes after the last complete line (offset %d), left by a "
                        "write that was interrupted before it was acknowledged", self.path,
                        self.recovered_bytes_cut, end)
            with self.path.open("r+b") as handle:
                handle.truncate(end)
                handle.flush()
                os.fsync(handle.fileno())
        for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
            try:
                stored = StoredEvent.from_record(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                self.invalid_lines += 1
                log.error("feedback log %s, line %d: invalid record, left out of the index (%s)", self.path,
                          number, exc)
                continue
            if stored.event_id in self._by_id:
                self.invalid_lines += 1
                log.error("feedback log %s, line %d: event id %r is stored twice; the first is kept", self.path,
                          number, stored.event_id)
                continue
            self._by_id[stored.event_id] = stored
            self._by_user.setdefault(stored.user, []).append(stored)


def _fsync_directory(folder: Path) -> None:
    """Make a newly created file's directory entry durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
