"""The home page's candidate shelves and their cards, each card with an explanation.

Six shelves:

- ``made-for-you``: one card per Daily Mix;
- ``because-you-listened``: for the artist the listener played most lately
  (else most), a radio card and cards of similar artists they have not played;
- ``jump-back-in``: artists the listener played a lot but not in the last
  ``STALE_DAYS`` days (with play times), else their next most played artists;
- ``discover-weekly`` and ``release-radar``: one card each;
- ``popular-like-you``: tracks most common among the ``NEIGHBOURS`` stored
  listeners (or playlists) whose histories overlap the listener's most, by
  cosine over binary rows.

A card carries an id unique on its page, ``SHELF/N`` with N its rank among
the shelf's candidates. It also carries its tracks, an explanation, a
relevance in [0, 1] (1 for the shelf's best card by its own measure) and
the popularity percentile of its first track. Which shelves and cards are shown, and in what order, is the
bandit's choice (home.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from ..signals import IdMap
from ..store import Store
from ..store.products import streamed_pairs
from .daily_mix import daily_mixes
from .discover_weekly import discover_weekly
from .explain import artist_list
from .listener import Listener
from .radio import RadioSeed, RadioSession
from .release_radar import release_radar
from .space import TrackSpace

SHELVES = {
    "made-for-you": "Made for you",
    "because-you-listened": "Because you listened to {artist}",
    "jump-back-in": "Jump back in",
    "discover-weekly": "Discover Weekly",
    "release-radar": "Release Radar",
    "popular-like-you": "Popular with listeners like you",
}
SHELF_IDS = tuple(SHELVES)
CARD_KINDS = ("daily-mix", "discover-weekly", "release-radar", "radio", "artist", "track")
CARD_TRACKS = 10
CANDIDATE_CARDS = 8  # candidates per shelf that the card bandit chooses from
NEIGHBOURS = 50
STALE_DAYS = 14
RECENT_DAYS = 30


@dataclass
class Card:
    """One card of a shelf: what it plays and why it is there."""

    card_id: str
    kind: str
    title: str
    track_ids: list[str]
    explanation: str
    relevance: float
    popularity: float
    propensity: float = 1.0
    position: int = 0

    def features(self) -> np.ndarray:
        """Kind one-hot, relevance and popularity percentile."""
        one_hot = np.zeros(len(CARD_KINDS))
        one_hot[CARD_KINDS.index(self.kind)] = 1.0
        return np.concatenate([one_hot, [self.relevance, self.popularity]])

    def to_dict(self) -> dict:
        return {"card_id": self.card_id, "kind": self.kind, "title": self.title, "track_ids": self.track_ids,
                "explanation": self.explanation, "position": self.position, "propensity": self.propensity}


@dataclass
class Shelf:
    """One shelf with its candidate (before the bandit) or shown (after) cards."""

    shelf_id: str
    title: str
    explanation: str
    cards: list[Card] = field(default_factory=list)
    propensity: float = 1.0
    position: int = 0

    def features(self) -> np.ndarray:
        one_hot = np.zeros(len(SHELF_IDS))
        one_hot[SHELF_IDS.index(self.shelf_id)] = 1.0
        return one_hot

    def to_dict(self) -> dict:
        return {"shelf_id": self.shelf_id, "title": self.title, "explanation": self.explanation,
                "position": self.position, "propensity": self.propensity,
                "cards": [card.to_dict() for card in self.cards]}


CARD_FEATURES = len(CARD_KINDS) + 2


# The population "listeners like you" are drawn from


@dataclass
class Population:
    """Binary histories of every stored listener (or playlist) over a space's tracks, with their keys."""

    matrix: sp.csr_matrix
    keys: list[str]

    @classmethod
    def from_store(cls, store: Store, space: TrackSpace) -> "Population":
        """Playlists for a playlist space (keys ``playlist:PID``), streamed tracks of users for a listening one."""
        if space.kind == "playlist":
            owners, uris = store.playlist_track_pairs()
            prefix = "playlist:"
        else:
            pairs = streamed_pairs(store)
            owners = pairs.column("user_id").to_numpy()
            uris = np.asarray(pairs.column("track_uri").to_pylist(), dtype=object)
            prefix = "user:"
        return cls.from_pairs(space.tracks, owners, uris, prefix)

    @classmethod
    def from_pairs(cls, tracks: IdMap, owners: np.ndarray, uris, prefix: str) -> "Population":
        columns = np.fromiter((tracks.get(u) for u in uris), np.int64, count=len(uris))
        owner_ids, rows = np.unique(np.asarray(owners), return_inverse=True)
        keep = columns >= 0
        matrix = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], columns[keep])),
                               shape=(len(owner_ids), len(tracks)))
        matrix.data[:] = 1.0
        return cls(matrix, [f"{prefix}{o}" for o in owner_ids.tolist()])


def popular_like_you(space: TrackSpace, listener: Listener, population: Population, N: int,
                     neighbours: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray, int]:
    """Return unplayed tracks most common among the listener's nearest neighbours, with counts and the neighbour count."""
    mine = np.zeros(len(space), dtype=np.float32)
    mine[listener.history] = 1.0
    if mine.sum() == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), 0
    overlap = population.matrix @ mine
    sizes = np.asarray(population.matrix.sum(axis=1)).ravel()
    similarity = np.where(overlap > 0, overlap / np.sqrt(np.maximum(sizes, 1) * mine.sum()), 0.0)
    if listener.key in population.keys:
        similarity[population.keys.index(listener.key)] = 0.0
    candidates = np.flatnonzero(similarity > 0)
    chosen = candidates[np.lexsort((candidates, -similarity[candidates]))][:neighbours]
    if len(chosen) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), 0
    counts = np.asarray(population.matrix[chosen].sum(axis=0)).ravel()
    counts[listener.played] = 0
    tracks = np.flatnonzero(counts > 0)
    tracks = tracks[np.lexsort((tracks, -space.popularity[tracks], -counts[tracks]))][:N]
    return tracks.astype(np.int64), counts[tracks], len(chosen)


# Shelves


def candidate_shelves(space: TrackSpace, listener: Listener, catalogue: pa.Table | None = None,
                      population: Population | None = None, today: date | None = None,
                      seed: int = 0) -> list[Shelf]:
    """Build every shelf that has at least one card for this listener, with candidate cards in relevance order."""
    shelves = [
        _made_for_you(space, listener, seed),
        _because_you_listened(space, listener),
        _jump_back_in(space, listener),
        _single(space, "discover-weekly", discover_weekly(space, listener, today, seed=seed),
                "30 tracks new to you, drawn again every Monday"),
        _single(space, "release-radar", release_radar(space, listener, catalogue, today=today),
                "new tracks from the artists you play most"),
    ]
    if population is not None:
        shelves.append(_popular_like_you(space, listener, population))
    return [shelf for shelf in shelves if shelf is not None and shelf.cards]


def _card(space: TrackSpace, card_id: str, kind: str, title: str, tracks: list[str], explanation: str,
          rank: int, count: int) -> Card:
    first = space.tracks.get(tracks[0]) if tracks else -1
    popularity = float(space.popularity_percentile([first])[0]) if first >= 0 else 0.0
    relevance = 1.0 - rank / max(count, 1)
    return Card(card_id, kind, title, list(tracks), explanation, relevance, popularity)


def _made_for_you(space: TrackSpace, listener: Listener, seed: int) -> Shelf:
    shelf = Shelf("made-for-you", SHELVES["made-for-you"], "mixes of what you play, each with new tracks alike")
    mixes = [m for m in daily_mixes(space, listener, seed=seed) if len(m)]
    for rank, mix in enumerate(mixes):
        details = mix.details
        text = (f"{details['familiar']} tracks you know and {details['new']} new ones around "
                f"{artist_list(details['artists'])}")
        shelf.cards.append(_card(space, f"made-for-you/{rank + 1}", "daily-mix", mix.title,
                                 mix.track_ids, text, rank, len(mixes)))
    return shelf


def _anchor_artist(space: TrackSpace, listener: Listener) -> int:
    """Return the artist played most in the last RECENT_DAYS days of the history, else the most played one."""
    if listener.last_event is not None and len(listener.history):
        recent = listener.last_played >= listener.last_event - np.timedelta64(RECENT_DAYS, "D")
        artists = space.track_artist[listener.history[recent]]
        weights = listener.weights[recent]
        known = artists >= 0
        if known.any():
            sums = np.bincount(artists[known], weights=weights[known], minlength=len(space.artists))
            return int(np.argmax(sums))
    top = listener.top_artists(1)
    return int(top[0]) if len(top) else -1


def _because_you_listened(space: TrackSpace, listener: Listener) -> Shelf | None:
    anchor = _anchor_artist(space, listener)
    if anchor < 0:
        return None
    name = str(space.artist_names[anchor])
    shelf = Shelf("because-you-listened", SHELVES["because-you-listened"].format(artist=name),
                  f"{name} is the artist you played most lately")
    own = space.artist_tracks(anchor)
    own = own[space.has_vector[own]][:CARD_TRACKS]
    cards: list[tuple[str, str, list[str], str]] = []
    if len(own):
        station = RadioSession(space, RadioSeed(own, f"{name} (artist)", f"artist:{name}"))
        page = station.next_page()
        cards.append(("radio", f"{name} Radio", page.track_ids, f"a station that starts from {name}'s tracks"))
    vectors = space.artist_vectors()
    similarity = vectors @ vectors[anchor]
    similarity[anchor] = -np.inf
    similarity[listener.artist_plays > 0] = -np.inf
    similarity[~np.any(vectors != 0, axis=1)] = -np.inf
    for artist in np.argsort(-similarity, kind="stable")[:CANDIDATE_CARDS - len(cards)]:
        if not np.isfinite(similarity[artist]):
            break
        tracks = space.artist_tracks(int(artist))[:CARD_TRACKS]
        cards.append(("artist", str(space.artist_names[artist]), space.tracks.external(tracks),
                      f"sounds like {name} (cosine {similarity[artist]:.2f}); you have not played them"))
    for rank, (kind, title, tracks, text) in enumerate(cards):
        shelf.cards.append(_card(space, f"because-you-listened/{rank + 1}", kind, title, tracks, text, rank,
                                 len(cards)))
    return shelf


def _jump_back_in(space: TrackSpace, listener: Listener) -> Shelf:
    shelf = Shelf("jump-back-in", SHELVES["jump-back-in"], "artists you played a lot and not lately")
    unit = "tracks in the playlist" if listener.kind == "playlist" else "plays"
    chosen: list[tuple[int, str]] = []
    if listener.last_event is not None and len(listener.history):
        last = {}
        for track, moment in zip(listener.history.tolist(), listener.last_played):
            artist = int(space.track_artist[track])
            if artist >= 0 and not np.isnat(moment):
                last[artist] = max(last.get(artist, moment), moment)
        stale = []
        for artist, moment in last.items():
            days = int((listener.last_event - moment) / np.timedelta64(1, "D"))
            if days >= STALE_DAYS and listener.artist_plays[artist] >= 3:
                stale.append((np.log1p(listener.artist_plays[artist]) * np.log1p(days), artist, days))
        for _, artist, days in sorted(stale, reverse=True)[:CANDIDATE_CARDS]:
            chosen.append((artist, f"you played {space.artist_names[artist]} {listener.artist_plays[artist]:,.0f} "
                                   f"times, last {days} days before your latest play"))
    if not chosen:
        # Without play times: the most played artists after the first, which Because you listened covers.
        for artist in listener.top_artists(CANDIDATE_CARDS + 1)[1:]:
            chosen.append((int(artist), f"{listener.artist_plays[artist]:,.0f} {unit} by "
                                        f"{space.artist_names[artist]}"))
    for rank, (artist, text) in enumerate(chosen):
        history = listener.history[space.track_artist[listener.history] == artist]
        tracks = list(dict.fromkeys(np.concatenate([history, space.artist_tracks(artist)]).tolist()))[:CARD_TRACKS]
        shelf.cards.append(_card(space, f"jump-back-in/{rank + 1}", "artist",
                                 str(space.artist_names[artist]), space.tracks.external(tracks), text, rank,
                                 len(chosen)))
    return shelf


def _single(space: TrackSpace, shelf_id: str, result, explanation: str) -> Shelf:
    shelf = Shelf(shelf_id, SHELVES[shelf_id], explanation)
    if len(result):
        text = explanation if result.fallback is None else f"{explanation} ({result.fallback})"
        shelf.cards.append(_card(space, f"{shelf_id}/1", shelf_id, result.title, result.track_ids, text,
                                 0, 1))
    return shelf


def _popular_like_you(space: TrackSpace, listener: Listener, population: Population) -> Shelf:
    who = "playlists" if space.kind == "playlist" else "listeners"
    shelf = Shelf("popular-like-you", SHELVES["popular-like-you"],
                  f"what the {NEIGHBOURS} {who} whose histories overlap yours most play")
    tracks, counts, used = popular_like_you(space, listener, population, CANDIDATE_CARDS)
    for rank, (track, count) in enumerate(zip(tracks.tolist(), counts.tolist())):
        shelf.cards.append(_card(space, f"popular-like-you/{rank + 1}", "track",
                                 space.label(track), [space.tracks.ids[track]],
                                 f"in {count:.0f} of the {used} {who} most like you; new to you", rank, len(tracks)))
    return shelf
