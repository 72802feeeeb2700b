"""A user's history in the service: what the store has for them, with their feedback events folded in.

A user is named as the products take it: ``playlist:PID``, ``hetrec:2``,
``spotify:NAME`` or a name unique across sources. A name the store does
not know is an API user, whose history is their feedback alone. Without
feedback they are a cold listener, and every product gives its flagged
fallback.

Feedback becomes play events: a ``play`` is a play of ``ms_played``
milliseconds (a stream at 30 seconds or more, a skip below; no duration
counts as a stream), a ``skip`` is a skip, and a ``like`` or an
``add_to_playlist`` counts as one stream. For a user with stored plays,
these events join the stored ones, so the confidence weighting treats them
alike. For a playlist or a HetRec user, the feedback's row is added to the
stored history's row. Either way the model folds the new row into the
user's factors at request time; nothing is retrained.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from ..errors import InputError
from ..listening_recommend import USER_SOURCES
from ..products.listener import (
    Listener,
    artist_plays_listener,
    is_playlist_reference,
    playlist_id,
    playlist_listener,
    plays_listener,
)
from ..products.space import TrackSpace
from ..store import Store
from ..store.listening import find_user
from ..store.products import user_artist_counts, user_events
from .feedback import StoredEvent

EVENT_SCHEMA = pa.schema([
    ("user_id", pa.int64()), ("ts", pa.timestamp("us")), ("track_uri", pa.string()), ("ms_played", pa.int64()),
    ("skipped", pa.bool_()), ("reason_end", pa.string()), ("platform", pa.string()),
])
MAX_USER_LENGTH = 200


@dataclass(frozen=True)
class StoredHistory:
    """The stored history of one user.

    ``kind`` is ``plays``, ``artist-plays``, ``playlist`` or ``unknown`` (a
    name the store does not know). ``key`` identifies the user in weekly
    draws and is never an account name.
    """

    reference: str
    kind: str
    key: str
    label: str
    events: pa.Table | None = None
    playlist_tracks: tuple[str, ...] = ()
    artist_counts: pa.Table | None = None

    @property
    def is_unknown(self) -> bool:
        return self.kind == "unknown"


def validate_user(reference: str) -> str:
    """Return the user reference stripped, or raise InputError when it is empty, too long or malformed."""
    if not isinstance(reference, str) or not reference.strip():
        raise InputError("field 'user' is empty: give playlist:PID, SOURCE:NAME (hetrec:2, spotify:alice) or a name")
    reference = reference.strip()
    if len(reference) > MAX_USER_LENGTH:
        raise InputError(f"field 'user' is {len(reference)} characters long; at most {MAX_USER_LENGTH} are allowed")
    if any(ord(c) < 32 for c in reference):
        raise InputError(f"field 'user' value {reference!r} contains control characters")
    if is_playlist_reference(reference):
        playlist_id(reference)
    return reference


def read_stored_history(store: Store, reference: str) -> StoredHistory:
    """Read a user's stored history; a user the store does not know gives kind ``unknown``.

    Raises InputError for a malformed reference or a name that exists in several sources.
    """
    reference = validate_user(reference)
    if is_playlist_reference(reference):
        pid = playlist_id(reference)
        if store.connection.execute("SELECT count(*) FROM playlists WHERE pid = ?", [pid]).fetchall()[0][0] == 0:
            return _unknown(reference)
        name, uris = store.playlist(pid)
        return StoredHistory(reference, "playlist", f"playlist:{pid}", name or f"playlist {pid}",
                             playlist_tracks=tuple(uris))
    if not store.has_table("play_events"):
        return _unknown(reference)
    source, separator, name = reference.partition(":")
    sources = (source,) if separator and source in USER_SOURCES else USER_SOURCES
    name = name if separator and source in USER_SOURCES else reference
    found = find_user(store, name.strip(), sources)
    if not found:
        return _unknown(reference)
    if len(found) > 1:
        choices = ", ".join(f"{s}:{name}" for s, _ in found)
        raise InputError(f"field 'user' value {reference!r} exists in several sources; name one of: {choices}")
    _, user_id = found[0]
    events = user_events(store, user_id)
    if events.num_rows:
        return StoredHistory(reference, "plays", f"user:{user_id}", reference, events=events)
    counts = user_artist_counts(store, user_id)
    if counts.num_rows:
        return StoredHistory(reference, "artist-plays", f"user:{user_id}", reference, artist_counts=counts)
    return _unknown(reference)


def _unknown(reference: str) -> StoredHistory:
    # The key hashes the name, so weekly draws of an API user are stable and the key never shows the name.
    digest = hashlib.sha256(reference.encode("utf-8")).hexdigest()[:16]
    return StoredHistory(reference, "unknown", f"api:{digest}", reference)


def feedback_table(events: tuple[StoredEvent, ...], before: datetime | None = None) -> pa.Table:
    """Turn feedback events into play-event rows (see the module docstring); ``before`` (UTC) drops later ones."""
    rows: dict[str, list] = {name: [] for name in EVENT_SCHEMA.names}
    for event in events:
        moment = datetime.fromisoformat(event.received_at)
        if before is not None and moment >= before:
            continue
        rows["user_id"].append(0)
        rows["ts"].append(moment.replace(tzinfo=None))
        rows["track_uri"].append(event.track_id)
        rows["ms_played"].append(event.ms_played if event.type in ("play", "skip") else None)
        rows["skipped"].append(event.type == "skip")
        rows["reason_end"].append("fwdbtn" if event.type == "skip" else None)
        rows["platform"].append(None)
    return pa.table(rows, schema=EVENT_SCHEMA)


def build_listener(space: TrackSpace, stored: StoredHistory, feedback: tuple[StoredEvent, ...] = (),
                   before: datetime | None = None) -> Listener:
    """Make the listener of a stored history with its feedback folded in; ``before`` drops later plays."""
    extra = feedback_table(feedback, before)
    if stored.kind == "plays":
        events = stored.events
        if before is not None:
            ts = events.column("ts").to_numpy(zero_copy_only=False).astype("datetime64[us]")
            events = events.filter(pa.array(ts < np.datetime64(before.replace(tzinfo=None), "us")))
        events = events.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
        extra = extra.set_column(0, "user_id", pa.array(np.full(extra.num_rows, _first_user(events)), pa.int64()))
        combined = pa.concat_tables([events, extra]).sort_by([("ts", "ascending"), ("track_uri", "ascending")])
        return plays_listener(space, combined, stored.key, stored.label)
    if stored.kind == "unknown":
        return plays_listener(space, extra, stored.key, stored.label)
    if stored.kind == "playlist":
        base = playlist_listener(space, list(stored.playlist_tracks), stored.key, stored.label)
    else:
        counts = stored.artist_counts
        base = artist_plays_listener(space, counts.column("artist_uri").to_pylist(), counts.column("name").to_pylist(),
                                     counts.column("plays").to_numpy(), stored.key, stored.label)
    if extra.num_rows == 0:
        return base
    return merge_listeners(space, base, plays_listener(space, extra, stored.key, stored.label))


def _first_user(events: pa.Table) -> int:
    return int(events.column("user_id")[0].as_py()) if events.num_rows else 0


def merge_listeners(space: TrackSpace, base: Listener, added: Listener) -> Listener:
    """Add the row of ``added`` (feedback) to the row of ``base`` (a stored history) and rebuild the derived fields.

    A track whose summed value is positive is history, weighted by that value.
    A track either listener played stays played.
    """
    row = (base.row + added.row).tocsr()
    row.sum_duplicates()
    positive = row.data > 0
    history = row.indices[positive].astype(np.int64)
    weights = row.data[positive].astype(np.float64)
    order = np.lexsort((history, -weights))
    history, weights = history[order], weights[order]
    last = {int(t): moment for t, moment in zip(base.history.tolist(), base.last_played)}
    for track, moment in zip(added.history.tolist(), added.last_played):
        if not np.isnat(moment):
            last[int(track)] = moment
    last_played = np.array([last.get(int(t), np.datetime64("NaT")) for t in history], dtype="datetime64[us]")
    return Listener(
        key=base.key, kind=base.kind, label=base.label, row=sp.csr_matrix(row), history=history, weights=weights,
        played=base.played | added.played, artist_plays=base.artist_plays + added.artist_plays,
        last_played=last_played, platform=base.platform, unknown=list(dict.fromkeys(base.unknown + added.unknown)),
        played_uris=base.played_uris | added.played_uris, last_event=added.last_event,
    )
