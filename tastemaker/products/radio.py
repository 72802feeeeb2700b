"""Radio: an endless station from a seed track, artist or playlist, served in pages, that adapts within the session.

The station keeps a taste vector. It starts as the unit mean of the seed
tracks' vectors, plus ``taste_weight`` times the listener's own taste when a
listener is given. Every full listen adds ``listen_weight`` times the
track's vector, and every skip subtracts ``skip_weight`` times it. A
candidate's score is its cosine to the normalised taste minus
``skip_model_weight`` times its skip probability. The skip model (saved by
``tastemaker train-skip``) predicts that probability from the session so
far, once the session has at least one played track with an outcome. A page
lists the best ``page_size`` tracks that are neither seeds nor served
before, so a track never repeats within a session.

Because a skip subtracts the skipped track's vector, every track's cosine
drops in proportion to its cosine with the skipped track. So the skipped
track's nearest neighbours fall behind the tracks they were ahead of, and
their ranks on the next page get worse.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError
from ..models.skip import SkipModel, SkipSessions, skip_features
from ..store import Store
from .common import validate_count
from .explain import artist_list
from .listener import Listener, is_playlist_reference, playlist_id
from .result import ProductResult
from .space import TrackSpace

PRODUCT = "radio"
ARTIST_PREFIX = "artist:"
SEED_TRACKS_PER_ARTIST = 10
OUTCOMES = ("skip", "listen")


@dataclass(frozen=True)
class RadioSettings:
    """Ranking and adaptation settings of a station; the module docstring gives the formula."""

    page_size: int = 10
    listen_weight: float = 0.5
    skip_weight: float = 0.7
    skip_model_weight: float = 0.3
    taste_weight: float = 0.25
    candidate_pool: int = 300

    def __post_init__(self) -> None:
        validate_count("page_size", self.page_size)
        validate_count("candidate_pool", self.candidate_pool)
        for name in ("listen_weight", "skip_weight", "skip_model_weight", "taste_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise InputError(f"radio setting {name} must be a number >= 0, got {value!r}")


@dataclass
class RadioSeed:
    """The tracks a station starts from and how to name them."""

    tracks: np.ndarray
    label: str
    reference: str


def resolve_seed(space: TrackSpace, reference: str, store: Store | None = None) -> RadioSeed:
    """Turn ``reference`` into seed tracks: a track URI, ``artist:NAME`` or ``playlist:PID`` (needs the store)."""
    reference = reference.strip()
    if reference.startswith(ARTIST_PREFIX):
        from ..ingest.names import synthetic_artist_uri

        name = reference[len(ARTIST_PREFIX):].strip()
        artist = space.artists.get(synthetic_artist_uri(name)) if name else -1
        if artist < 0:
            raise InputError(f"seed artist {name!r} is not in the model's catalogue ({space.bundle}); check the "
                             "spelling, or seed the station with a track URI")
        tracks = space.artist_tracks(artist)
        tracks = tracks[space.has_vector[tracks]][:SEED_TRACKS_PER_ARTIST]
        return RadioSeed(tracks, f"{space.artist_names[artist]} (artist)", reference)
    if is_playlist_reference(reference):
        if store is None:
            raise InputError("a playlist seed needs the store; pass store=")
        name, uris = store.playlist(playlist_id(reference))
        known, _ = space.tracks.indices(uris)
        known = np.unique(known)
        known = known[space.has_vector[known]]
        if len(known) == 0:
            raise InputError(f"none of the {len(uris)} tracks of {reference} is in the model's catalogue "
                             f"({space.bundle}); seed the station with another playlist or a track")
        return RadioSeed(known, f"{name or reference} (playlist)", reference)
    item = space.tracks.get(reference)
    if item < 0:
        raise InputError(f"seed {reference!r} is not a track of the model's catalogue ({space.bundle}); give a "
                         "track URI such as spotify:track:..., artist:NAME or playlist:PID")
    if not space.has_vector[item]:
        raise InputError(f"seed track {reference} has no vector in {space.bundle}; seed the station with another "
                         "track")
    return RadioSeed(np.array([item], dtype=np.int64), space.label(item), reference)


def skip_probabilities(model: SkipModel, history: list[str], history_skipped: list[bool],
                       candidates: list[str], hour: int | None = None) -> np.ndarray:
    """Predict the chance each candidate is skipped if played next, after ``history`` (at least one play).

    Each candidate becomes the last play of its own copy of the session, and
    the model predicts that play from all plays before it (the "previous"
    observation scheme).
    """
    if not history:
        raise InputError("skip probabilities need at least one played track with an outcome")
    n, length = len(candidates), len(history) + 1
    tracks = np.empty(n * length, dtype=object)
    for s, candidate in enumerate(candidates):
        tracks[s * length:(s + 1) * length] = [*history, candidate]
    skipped = np.tile(np.array([*history_skipped, False]), n)
    reasons = np.array([("fwdbtn" if s else "trackdone") for s in history_skipped] + [None], dtype=object)
    sessions = SkipSessions(
        session=np.repeat(np.arange(n), length), position=np.tile(np.arange(1, length + 1), n),
        length=np.full(n * length, length), track=tracks, skipped=skipped,
        context_type=np.full(n * length, "radio", dtype=object), reason_start=np.full(n * length, None, dtype=object),
        reason_end=np.tile(reasons, n), shuffle=np.zeros(n * length), premium=np.full(n * length, np.nan),
        hour=np.full(n * length, np.nan if hour is None else float(hour)),
        pause_before=np.full(n * length, "none", dtype=object),
    )
    X, rows = skip_features(sessions, model.stats_, "previous", model.vocabulary_)
    last = sessions.position[rows] == length
    probabilities = np.zeros(n)
    probabilities[sessions.session[rows[last]]] = model.booster_.predict(X[last])
    return probabilities


@dataclass
class RadioSession:
    """A listening session of a station: the tracks served and the listener's feedback on them."""

    space: TrackSpace
    seed: RadioSeed
    listener: Listener | None = None
    skip_model: SkipModel | None = None
    settings: RadioSettings = field(default_factory=RadioSettings)
    hour: int | None = None
    served: list[int] = field(default_factory=list)
    feedback: list[tuple[int, str]] = field(default_factory=list)

    # Taste and ranking

    def taste(self) -> np.ndarray:
        """Return the station's taste vector now (not normalised)."""
        vectors = self.space.vectors
        # NOTE: a seed whose tracks have no vector gives a zero taste, and the first
        # page comes back empty with the "served every track" fallback message.
        taste = _unit(vectors[self.seed.tracks].sum(axis=0))
        if self.listener is not None and self.settings.taste_weight > 0 and len(self.listener.history):
            history, weights = self.listener.history, self.listener.weights
            taste = taste + self.settings.taste_weight * _unit((vectors[history] * weights[:, None]).sum(axis=0))
        for item, outcome in self.feedback:
            weight = self.settings.listen_weight if outcome == "listen" else -self.settings.skip_weight
            taste = taste + weight * vectors[item]
        return taste

    def excluded(self) -> np.ndarray:
        mask = np.zeros(len(self.space), dtype=bool)
        mask[self.seed.tracks] = True
        mask[np.asarray(self.served, dtype=np.int64)] = True
        return mask

    def ranking(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rank the station's next candidates: ids, scores, cosines and skip probabilities, best first."""
        ids, cosines = self.space.nearest(self.taste(), self.settings.candidate_pool, self.excluded())
        skip = np.zeros(len(ids))
        observed = [(item, outcome) for item, outcome in self.feedback]
        if self.skip_model is not None and observed and len(ids):
            uris = self.space.tracks.ids
            skip = skip_probabilities(self.skip_model, [uris[i] for i, _ in observed],
                                      [o == "skip" for _, o in observed], [uris[i] for i in ids], self.hour)
        scores = cosines - self.settings.skip_model_weight * skip
        order = np.lexsort((ids, -scores))
        return ids[order], scores[order], cosines[order], skip[order]

    def next_page(self) -> ProductResult:
        """Serve the next page and return it."""
        ids, scores, cosines, skip = self.ranking()
        page = slice(0, self.settings.page_size)
        number = len(self.served) // self.settings.page_size + 1
        fallback = None if len(ids) >= self.settings.page_size else \
            "the station has served every track with a vector near its taste; this page is short"
        result = ProductResult(PRODUCT, f"{self.seed.label} Radio", fallback=fallback, details={
            "seed": self.seed.reference, "page": number, "served_before": len(self.served),
            "skips": sum(o == "skip" for _, o in self.feedback),
            "listens": sum(o == "listen" for _, o in self.feedback),
            "skip_model": self.skip_model is not None})
        for item, score, cosine, chance in zip(ids[page], scores[page], cosines[page], skip[page]):
            result.append(self.space.tracks.ids[int(item)], float(score), "radio",
                          self._explain(int(item), float(cosine), float(chance)))
        self.served.extend(int(i) for i in ids[page])
        return result

    def _explain(self, item: int, cosine: float, chance: float) -> str:
        text = f"close to the station's taste (cosine {cosine:.2f}), seeded by {self.seed.label}"
        listened = [i for i, o in self.feedback if o == "listen"]
        skipped = [i for i, o in self.feedback if o == "skip"]
        vectors = self.space.vectors
        if listened:
            nearest = max(listened, key=lambda i: float(vectors[i] @ vectors[item]))
            text += f"; like {self.space.label(nearest)}, which you listened to in full"
        if skipped:
            names = artist_list([self.space.label(i) for i in skipped], limit=2)
            text += f"; steered away from {names}, which you skipped"
        if self.skip_model is not None and self.feedback:
            text += f"; predicted skip chance {chance:.0%}"
        return text

    # Feedback

    def record(self, track: str | int, outcome: str) -> None:
        """Record a skip or a full listen of a served track, given by URI or by 1-based position in the session."""
        if outcome not in OUTCOMES:
            raise InputError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        item = self._served_item(track)
        self.feedback.append((item, outcome))

    def skip(self, track: str | int) -> None:
        self.record(track, "skip")

    def listen(self, track: str | int) -> None:
        self.record(track, "listen")

    def _served_item(self, track: str | int) -> int:
        if isinstance(track, (int, np.integer)) or (isinstance(track, str) and track.strip().isdigit()):
            position = int(track)
            if not 1 <= position <= len(self.served):
                raise InputError(f"position {position} is not a served track: the session has served "
                                 f"{len(self.served)} tracks, numbered from 1")
            return self.served[position - 1]
        item = self.space.tracks.get(track)
        if item < 0 or item not in self.served:
            raise InputError(f"track {track!r} was not served in this session; give the URI or the position of a "
                             f"served track (1 to {len(self.served)})")
        return item

    # State for clients that keep a session between requests

    def to_dict(self) -> dict:
        uris = self.space.tracks.ids
        return {"seed": self.seed.reference, "served": [uris[i] for i in self.served],
                "feedback": [[uris[i], o] for i, o in self.feedback], "settings": asdict(self.settings),
                "hour": self.hour}

    @classmethod
    def from_dict(cls, space: TrackSpace, state: dict, store: Store | None = None, listener: Listener | None = None,
                  skip_model: SkipModel | None = None) -> "RadioSession":
        """Rebuild a session from ``to_dict`` output; every track must still be in the space."""
        try:
            seed = resolve_seed(space, state["seed"], store)
            settings = RadioSettings(**state.get("settings", {}))
            session = cls(space, seed, listener, skip_model, settings, state.get("hour"))
            for uri in state.get("served", []):
                item = space.tracks.get(uri)
                if item < 0:
                    raise InputError(f"served track {uri!r} of the saved session is not in {space.bundle}")
                session.served.append(item)
            for uri, outcome in state.get("feedback", []):
                session.record(uri, outcome)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"invalid radio session state: {exc!r}; expected the output of to_dict()") from None
        return session


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
