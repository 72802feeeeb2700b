"""Listeners as the products see them: a history folded into a track space, from any kind of user.

Three kinds of user become a ``Listener``:

- ``plays``: a user with play events (a Spotify export, Last.fm or
  ListenBrainz). The row contains the signed confidence of their plays
  for a listening bundle, and +1 or -1 per track for a playlist bundle.
- ``artist-plays``: a HetRec user, who has play counts per artist but no
  tracks. Each played artist contributes its ``TRACKS_PER_ARTIST`` most
  popular tracks, weighted by ``log1p(plays)`` relative to the user's most
  played artist. Every track of a played artist counts as played, because
  which ones they heard is unknown, so "new to you" means a new artist.
- ``playlist``: a stored MPD playlist treated as a user: its tracks are the
  history, each with weight 1.

A user is named ``playlist:PID`` or as ``tastemaker recommend --user`` takes
it (``hetrec:2``, ``spotify:alice``, or a name unique across sources).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from ..errors import InputError
from ..listening_recommend import resolve_user
from ..models import ALSRecommender
from ..signals.confidence import ConfidenceParams, classify_plays, user_row
from ..store import Store
from ..store.listening import check_listening_schema
from ..store.products import user_artist_counts, user_events
from .space import TrackSpace

TRACKS_PER_ARTIST = 5
PLAYLIST_PREFIX = "playlist:"
LISTENER_KINDS = ("plays", "artist-plays", "playlist")


@dataclass
class Listener:
    """One listener's history, aligned to a track space.

    Attributes
    ----------
    key : str
        ``user:ID`` (the store's user id) or ``playlist:PID``: seeds weekly draws and keys the bandit
        log, and is never an account name.
    label : str
        How the listener was named on request, for display only.
    kind : str
        ``plays``, ``artist-plays`` or ``playlist``.
    row : scipy.sparse.csr_matrix, shape (1, n_tracks)
        What the space's model folds in.
    history : ndarray of int64
        Tracks with positive weight, heaviest first.
    weights : ndarray of float
        Weight of each history track.
    played : ndarray of bool, shape (n_tracks,)
        Tracks no product may offer as new.
    artist_plays : ndarray of float, shape (n_artists,)
        Streams (or plays, or playlist tracks) per artist of the space.
    last_played : ndarray of datetime64[us]
        When each history track was last played; NaT where unknown.
    platform : str or None
        The platform family the listener plays on most.
    unknown : list of str
        Tracks or artists of the history that the space does not contain.
    """

    key: str
    kind: str
    label: str
    row: sp.csr_matrix
    history: np.ndarray
    weights: np.ndarray
    played: np.ndarray
    artist_plays: np.ndarray
    last_played: np.ndarray
    platform: str | None = None
    unknown: list[str] = field(default_factory=list)
    played_uris: frozenset[str] = frozenset()
    last_event: np.datetime64 | None = None

    @property
    def is_cold(self) -> bool:
        """True when nothing of the history is known to the space's model."""
        return len(self.history) == 0

    def top_artists(self, count: int) -> np.ndarray:
        """Artist indices by decreasing plays, at most ``count``, only artists with plays."""
        order = np.lexsort((np.arange(len(self.artist_plays)), -self.artist_plays))
        order = order[self.artist_plays[order] > 0]
        return order[:count]


def is_playlist_reference(reference: str) -> bool:
    return reference.startswith(PLAYLIST_PREFIX)


def playlist_id(reference: str) -> int:
    raw = reference[len(PLAYLIST_PREFIX):]
    if not raw.strip().isdigit():
        raise InputError(f"invalid user {reference!r}: expected playlist:PID with a numeric pid, for example "
                         "playlist:1234")
    return int(raw)


def listener_kind(store: Store, reference: str) -> tuple[str, int | None]:
    """Return the kind of user ``reference`` names and their store id (the pid for a playlist)."""
    if is_playlist_reference(reference):
        return "playlist", playlist_id(reference)
    check_listening_schema(store)
    _, user_id = resolve_user(store, reference)
    has_events = store.connection.execute("SELECT count(*) FROM play_events WHERE user_id = ?",
                                          [user_id]).fetchall()[0][0]
    if has_events:
        return "plays", user_id
    has_counts = store.connection.execute("SELECT count(*) FROM user_artist_plays WHERE user_id = ?",
                                          [user_id]).fetchall()[0][0]
    if has_counts:
        return "artist-plays", user_id
    raise InputError(f"user {reference!r} has neither play events nor artist play counts in {store.path}; "
                     "import their listening history first")


def load_listener(store: Store, space: TrackSpace, reference: str, before: datetime | None = None) -> Listener:
    """Load the user ``reference`` names into ``space``; plays from ``before`` on (UTC) are left out."""
    kind, user_id = listener_kind(store, reference)
    if kind == "playlist":
        name, uris = store.playlist(user_id)
        return playlist_listener(space, uris, f"playlist:{user_id}", name or f"playlist {user_id}")
    if kind == "artist-plays":
        counts = user_artist_counts(store, user_id)
        return artist_plays_listener(space, counts.column("artist_uri").to_pylist(),
                                     counts.column("name").to_pylist(), counts.column("plays").to_numpy(),
                                     f"user:{user_id}", reference)
    events = user_events(store, user_id)
    if before is not None:
        ts = events.column("ts").to_numpy(zero_copy_only=False).astype("datetime64[us]")
        events = events.filter(pa.array(ts < np.datetime64(before.replace(tzinfo=None), "us")))
    return plays_listener(space, events, f"user:{user_id}", reference)


def playlist_listener(space: TrackSpace, track_uris: list[str], key: str, label: str) -> Listener:
    """Make a listener of a playlist's tracks, each with weight 1."""
    known, unknown = space.tracks.indices(track_uris)
    history = np.unique(known)
    # Keep the playlist's order among tracks of equal weight.
    first = {int(t): i for i, t in reversed(list(enumerate(known.tolist())))}
    history = np.array(sorted(history.tolist(), key=first.__getitem__), dtype=np.int64)
    weights = np.ones(len(history))
    row = _row(space, history, weights)
    artist_plays = _artist_sums(space, history, weights)
    played = np.zeros(len(space), dtype=bool)
    played[history] = True
    return Listener(key, "playlist", label, row, history, weights, played, artist_plays,
                    np.full(len(history), np.datetime64("NaT"), "datetime64[us]"), None, unknown,
                    frozenset(track_uris))


def artist_plays_listener(space: TrackSpace, artist_uris: list[str], artist_names: list[str | None],
                          plays: np.ndarray, key: str, label: str | None = None) -> Listener:
    """Make a listener of play counts per artist (HetRec): each artist is represented by its most popular tracks."""
    plays = np.asarray(plays, dtype=np.float64)
    artist_plays = np.zeros(len(space.artists))
    unknown: list[str] = []
    for uri, name, count in zip(artist_uris, artist_names, plays):
        artist = space.artists.get(uri)
        if artist < 0:
            unknown.append(name or uri)
            continue
        artist_plays[artist] += count
    played_artists = np.flatnonzero(artist_plays > 0)
    top = float(np.log1p(artist_plays.max())) if len(played_artists) else 1.0
    tracks, weights = [], []
    played = np.zeros(len(space), dtype=bool)
    for artist in played_artists:
        own = space.artist_tracks(int(artist))
        played[own] = True
        chosen = own[:TRACKS_PER_ARTIST]
        tracks.append(chosen)
        weights.append(np.full(len(chosen), np.log1p(artist_plays[artist]) / top))
    history = np.concatenate(tracks) if tracks else np.zeros(0, dtype=np.int64)
    weights_array = np.concatenate(weights) if weights else np.zeros(0)
    order = np.lexsort((history, -weights_array))
    history, weights_array = history[order], weights_array[order]
    row = _row(space, history, weights_array)
    return Listener(key, "artist-plays", label or key, row, history, weights_array, played, artist_plays,
                    np.full(len(history), np.datetime64("NaT"), "datetime64[us]"), None, unknown)


def plays_listener(space: TrackSpace, events: pa.Table, key: str, label: str | None = None) -> Listener:
    """Make a listener of play events (ordered by time) with user_id, ts, track_uri, ms_played, skipped, reason_end."""
    params = space.confidence or ConfidenceParams()
    uris = np.asarray(events.column("track_uri").to_pylist(), dtype=object)
    known, unknown = space.tracks.indices(dict.fromkeys(uris.tolist()))
    row, _ = user_row(events, space.tracks, params) if events.num_rows else (
        sp.csr_matrix((1, len(space)), dtype=np.float32), [])
    row = row.tocsr()
    if space.kind == "playlist":
        # A playlist bundle learnt from binary rows: keep only the direction of the evidence.
        row.data = np.sign(row.data)
    if not isinstance(space.model, ALSRecommender):
        row = row.copy()
        row.data = (row.data > 0).astype(np.float32)
    positive = row.data > 0
    history, weights = row.indices[positive].astype(np.int64), row.data[positive].astype(np.float64)
    order = np.lexsort((history, -weights))
    history, weights = history[order], weights[order]

    played = np.zeros(len(space), dtype=bool)
    played[known] = True
    index = np.fromiter((space.tracks.get(u) for u in uris), np.int64, count=len(uris))
    ms = events.column("ms_played")
    stream, _ = classify_plays(np.asarray(ms.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64),
                               ~np.asarray(ms.is_null(), dtype=bool),
                               np.asarray(events.column("skipped").fill_null(False).to_numpy(zero_copy_only=False)),
                               np.asarray(events.column("reason_end").to_pylist(), dtype=object),
                               params.stream_threshold_ms)
    streamed = index[(index >= 0) & stream]
    artist_plays = _artist_sums(space, streamed, np.ones(len(streamed)))

    ts = events.column("ts").to_numpy(zero_copy_only=False).astype("datetime64[us]")
    last = {}
    for track, moment in zip(index.tolist(), ts):
        if track >= 0:
            last[track] = moment
    last_played = np.array([last.get(int(t), np.datetime64("NaT")) for t in history], dtype="datetime64[us]")
    platforms = [p for p in events.column("platform").to_pylist() if p] if "platform" in events.column_names else []
    platform = Counter(platforms).most_common(1)[0][0] if platforms else None
    return Listener(key, "plays", label or key, row, history, weights, played, artist_plays, last_played, platform,
                    unknown, frozenset(uris.tolist()), ts.max() if len(ts) else None)


def _row(space: TrackSpace, history: np.ndarray, weights: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix((np.asarray(weights, dtype=np.float32), (np.zeros(len(history), dtype=np.int64), history)),
                         shape=(1, len(space)))


def _artist_sums(space: TrackSpace, tracks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    artists = space.track_artist[np.asarray(tracks, dtype=np.int64)]
    known = artists >= 0
    return np.bincount(artists[known], weights=np.asarray(weights)[known], minlength=len(space.artists)).astype(float)
