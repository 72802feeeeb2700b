"""Request and response bodies of the HTTP API as pydantic models; ``/openapi.json`` describes them.

Request bodies reject fields they do not define, so a misspelt field gets a
422 that names it instead of being ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .feedback import EVENT_TYPES

ID_PATTERN = r"^[A-Za-z0-9._:\-]+$"
MAX_ID = 200
MAX_SEEDS = 1000
MAX_DAY_MS = 86_400_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _no_control_characters(value: str | None, field: str) -> str | None:
    if value is not None and any(ord(c) < 32 for c in value):
        raise ValueError(f"{field} must not contain control characters")
    return value


# Requests


class FeedbackRequest(Strict):
    """One listener event. ``event_id`` is the client's; a retry with the same id and content is stored once."""

    event_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN,
                          description="Client-chosen id, unique per event: letters, digits and . _ : -")
    user: str = Field(min_length=1, max_length=MAX_ID, description="playlist:PID, SOURCE:NAME or any name")
    track_id: str = Field(min_length=1, max_length=MAX_ID, pattern=r"^\S+$", description="Track URI")
    type: Literal[EVENT_TYPES]
    ms_played: int | None = Field(default=None, ge=0, le=MAX_DAY_MS,
                                  description="Milliseconds played, for play and skip events")
    client_time: datetime | None = Field(default=None, description="When it happened on the client (ISO 8601)")
    context: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$",
                                description="Where it happened, for example radio or home")

    @field_validator("user")
    @classmethod
    def _user_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("user must not be blank")
        return _no_control_characters(value, "user")

    @model_validator(mode="after")
    def _duration_only_for_plays(self) -> "FeedbackRequest":
        if self.ms_played is not None and self.type not in ("play", "skip"):
            raise ValueError(f"ms_played is only allowed for play and skip events, not {self.type}")
        return self


class ContinuationRequest(Strict):
    """A playlist to continue: its seed tracks, best known first, and an optional title."""

    seeds: list[str] = Field(default_factory=list, max_length=MAX_SEEDS)
    title: str | None = Field(default=None, max_length=200)
    n: int = Field(default=10, ge=1)
    rerank: str | None = Field(default=None, max_length=64)

    @field_validator("seeds")
    @classmethod
    def _seed_ids(cls, seeds: list[str]) -> list[str]:
        for position, seed in enumerate(seeds):
            if not seed or len(seed) > MAX_ID or any(c.isspace() for c in seed):
                raise ValueError(f"seed {position} ({seed[:MAX_ID]!r}) must be a track URI of 1 to {MAX_ID} "
                                 "characters without spaces")
        return seeds

    @field_validator("title")
    @classmethod
    def _title_text(cls, value: str | None) -> str | None:
        return _no_control_characters(value, "title")


class RadioFeedback(Strict):
    track_id: str = Field(min_length=1, max_length=MAX_ID)
    outcome: Literal["skip", "listen"]


class RadioState(Strict):
    """A station's state as the previous page returned it; the client sends it back unchanged."""

    bundle: str = Field(max_length=MAX_ID)
    seed: str = Field(min_length=1, max_length=MAX_ID)
    served: list[str] = Field(default_factory=list, max_length=5000)
    feedback: list[tuple[str, Literal["skip", "listen"]]] = Field(default_factory=list, max_length=5000)
    settings: dict = Field(default_factory=dict)
    hour: int | None = Field(default=None, ge=0, le=23)
    fallback: str | None = None


class RadioRequest(Strict):
    """Start a station from ``seed``, or continue ``state`` after applying ``feedback`` on its served tracks."""

    seed: str | None = Field(default=None, min_length=1, max_length=MAX_ID,
                             description="Track URI, artist:NAME or playlist:PID; for a new station")
    user: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    state: RadioState | None = None
    feedback: list[RadioFeedback] = Field(default_factory=list, max_length=100)
    page_size: int = Field(default=10, ge=1, le=50)

    @model_validator(mode="after")
    def _seed_or_state(self) -> "RadioRequest":
        if (self.seed is None) == (self.state is None):
            raise ValueError("give either seed (a new station) or state (the next page of a station), not both")
        if self.feedback and self.state is None:
            raise ValueError("feedback needs the state of the station whose tracks it is about")
        return self


class SmartShuffleRequest(Strict):
    track_ids: list[str] = Field(min_length=1, max_length=MAX_SEEDS)
    title: str | None = Field(default=None, max_length=200)
    every: int = Field(default=3, ge=2, le=20)


# Responses


class Track(BaseModel):
    track_id: str
    name: str | None = None
    artist: str | None = None


class Item(Track):
    score: float | None = Field(description="The product's score; null where none applies (a fallback)")
    source: str
    explanation: str | None = None


class ListResponse(BaseModel):
    """A list of tracks from one bundle, with the reason for any fallback and the unknown ids of the request."""

    request_id: str
    bundle: str
    model: str
    product: str
    title: str
    user: str | None = None
    fallback: str | None = Field(default=None, description="Why the list is not the product's usual one")
    unknown: list[str] = Field(default_factory=list, description="Ids in the request that the bundle does not know")
    details: dict = Field(default_factory=dict)
    items: list[Item]


class RadioResponse(ListResponse):
    state: RadioState


class DailyMixResponse(BaseModel):
    request_id: str
    bundle: str
    model: str
    user: str
    unknown: list[str]
    mixes: list[ListResponse]


class Card(BaseModel):
    card_id: str
    kind: str
    title: str
    explanation: str
    position: int
    propensity: float
    track_ids: list[str]
    tracks: list[Track] = Field(description="The first tracks with their names")


class Shelf(BaseModel):
    shelf_id: str
    title: str
    explanation: str
    position: int
    propensity: float
    cards: list[Card]


class HomeResponse(BaseModel):
    request_id: str
    bundle: str
    model: str
    user: str
    unknown: list[str]
    fallback: str | None = None
    page_id: str
    policy: str
    context: dict
    shelves: list[Shelf]


class FeedbackResponse(BaseModel):
    request_id: str
    event_id: str
    status: Literal["accepted", "duplicate"]
    sequence: int = Field(description="The event's number in the feedback log, 1 for the first")
    received_at: str
    user_events: int = Field(description="Feedback events of this user in the log")
    folded_in: bool = Field(description="Whether the track is known to the served bundle, so it changes the "
                                        "user's next recommendations")
    unknown: list[str]


class LoadFailureOut(BaseModel):
    bundle: str
    error: str
    at: str


class HealthResponse(BaseModel):
    status: Literal["ok", "no-bundle"]
    bundle: str | None
    model: str | None
    kind: str
    n_tracks: int | None
    loaded_at: str | None
    feedback_events: int
    feedback_log: str
    last_load_failure: LoadFailureOut | None


class ReloadResponse(BaseModel):
    request_id: str
    swapped: bool
    bundle: str | None
    last_load_failure: LoadFailureOut | None


class Report(BaseModel):
    name: str
    title: str
    plots: list[str] = Field(description="URLs of the report's PNG plots")
    files: list[str] = Field(description="URLs of every file of the report")


class ReportsResponse(BaseModel):
    reports: list[Report]


class UsersResponse(BaseModel):
    bundle: str
    kind: str
    users: list[str] = Field(description="Stored users to try; listening users are stored hashed and not listed")


class ErrorResponse(BaseModel):
    error: str = Field(description="The HTTP reason, for example 'invalid request'")
    message: str = Field(description="What was wrong, naming the field and value, and what to do")
    request_id: str
    details: list[dict] = Field(default_factory=list)
