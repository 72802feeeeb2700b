"""The service's shared state and the steps routes have in common: users, limits, track names and errors.

``Service`` contains the settings, the model registry, the feedback log, the
metrics and the compute slots. Routes take the served bundle once per
request (``registry.current()``) and pass it down, so every step of a
request uses the same bundle.
"""

from __future__ import annotations

import hmac
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from ..products.listener import Listener
from .feedback import FeedbackLog, StoredEvent
from .history import StoredHistory, build_listener, read_stored_history, validate_user
from .metrics import Metrics
from .registry import ModelRegistry, Served
from .settings import ServeSettings


class ApiError(Exception):
    """An error with its HTTP status, a short reason and a message stating what to do next."""

    def __init__(self, status: int, error: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}


def invalid_field(location: str, field: str, value, message: str) -> ApiError:
    """Return a 422 naming where the field is (query or body), the field, its value and what is expected."""
    return ApiError(422, "invalid request", f"{location} field {field!r} = {value!r}: {message}")


@dataclass
class UserView:
    """A user's listener for one request, with what the service knew about them."""

    reference: str
    stored: StoredHistory
    feedback: tuple[StoredEvent, ...]
    listener: Listener

    @property
    def is_unknown(self) -> bool:
        """True when the user is neither in the store nor in the feedback log."""
        return self.stored.is_unknown and not self.feedback

    @property
    def unknown_ids(self) -> list[str]:
        return [self.reference] if self.is_unknown else []


class Service:
    """Settings, registry, feedback log, metrics and the compute slots of one running app."""

    def __init__(self, settings: ServeSettings, registry: ModelRegistry | None = None,
                 feedback: FeedbackLog | None = None):
        self.settings = settings
        self.registry = registry or ModelRegistry(settings)
        self.feedback = feedback or FeedbackLog(settings.feedback_path)
        self.metrics = Metrics()
        self._slots = threading.BoundedSemaphore(settings.compute_slots)

    # Limits and keys

    def check_n(self, n: int, served: Served, location: str = "query", field: str = "n") -> int:
        if n > self.settings.max_n:
            raise invalid_field(location, field, n, f"must be at most {self.settings.max_n}")
        if n > len(served.space):
            raise invalid_field(location, field, n, f"must be at most the {len(served.space)} tracks of bundle "
                                                    f"{served.name}")
        return n

    def check_api_key(self, authorization: str | None, api_key: str | None) -> None:
        """Raise 401 when a key is configured and none was sent, 403 when the one sent is wrong."""
        expected = self.settings.api_key
        if expected is None:
            return
        given = api_key
        if given is None and authorization:
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                given = credentials.strip()
        if not given:
            raise ApiError(401, "unauthorized", "this endpoint writes and needs the API key: send it as "
                                                "'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                           {"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            raise ApiError(403, "forbidden", "the API key is not valid; send the key the service was started with")

    @contextmanager
    def compute(self):
        """Hold one compute slot while a model runs, so that concurrent requests do not oversubscribe the cores."""
        with self._slots:
            yield

    # Users

    def user_view(self, served: Served, reference: str, before: datetime | None = None) -> UserView:
        """Return the user's listener in the served bundle, with their feedback folded in; cached per version."""
        reference = validate_user(reference)
        feedback = self.feedback.events_for(reference)
        key = (reference, len(feedback), before)
        cached = served.listeners.get(key)
        if cached is not None:
            return cached
        stored = served.histories.get(reference)
        if stored is None:
            with self.registry.read_store() as store:
                stored = read_stored_history(store, reference)
            served.histories.put(reference, stored)
        view = UserView(reference, stored, feedback, build_listener(served.space, stored, feedback, before))
        served.listeners.put(key, view)
        return view

    # Tracks

    def track(self, served: Served, uri: str) -> dict:
        """Return the track's id with its name and artist where the bundle's catalogue has them."""
        item = served.space.tracks.get(uri)
        return {"track_id": uri, **self.names(served, item)}

    @staticmethod
    def names(served: Served, item: int) -> dict:
        if item < 0:
            return {"name": None, "artist": None}
        space = served.space
        artist = int(space.track_artist[item])
        name = space.track_names[item]
        return {"name": str(name) if name else None,
                "artist": str(space.artist_names[artist]) if artist >= 0 else None}

    def items(self, served: Served, track_ids: list[str], scores: list[float], sources: list[str],
              explanations: list[str | None]) -> list[dict]:
        """Return response items; NaN and infinite scores become null."""
        items = []
        for uri, score, source, why in zip(track_ids, scores, sources, explanations):
            score = float(score)
            items.append({**self.track(served, uri), "score": score if math.isfinite(score) else None,
                          "source": source, "explanation": why})
        return items

    def product_items(self, served: Served, result) -> list[dict]:
        return self.items(served, result.track_ids, result.scores, result.sources, result.explanations)
