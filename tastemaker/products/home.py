"""The home page: shelves of cards, ordered and chosen by contextual bandits that learn from streams.

Two bandits share one method (rerank.bandit). The shelf bandit orders the
shelves; its candidate features are the shelf's one-hot. The card bandit
picks and orders up to ``cards_per_shelf`` cards within each shelf; a
card's features are its kind, relevance and popularity percentile. Both
cross those features with the context (segment, hour of day, platform) and
add the display position. Every shown shelf and card is logged with its
propensity, the probability the policy had of showing it at that position.

Both models are refitted from the log for every page: every logged row
whose reward is known, at its position. The default reward is a stream of
30 seconds or more from a card (store.bandit).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pyarrow as pa

from ..errors import InputError
from ..evaluation.ope import LoggedDecisions
from ..rerank.bandit import (
    CONTEXT_SIZE,
    PLATFORMS,
    SEGMENTS,
    BanditContext,
    BanditPolicy,
    LinearBandit,
    context_vectors,
    joint_features,
    position_probabilities,
    rank,
)
from ..store import utc_now
from .common import validate_count
from .listener import Listener
from .shelves import CARD_FEATURES, SHELF_IDS, Population, Shelf, candidate_shelves
from .space import TrackSpace

DEFAULT_CARDS_PER_SHELF = 6
SHELF_POSITIONS = len(SHELF_IDS)
CARD_POSITIONS = DEFAULT_CARDS_PER_SHELF
ACTIVE_ARTISTS = (10, 50)  # distinct artists that make a listener regular, then heavy
MAINSTREAM_SHARE = 0.25  # share of history in the top 1% of tracks that makes a listener mainstream


def shelf_feature_count() -> int:
    return CONTEXT_SIZE * len(SHELF_IDS) + SHELF_POSITIONS


def card_feature_count() -> int:
    return CONTEXT_SIZE * CARD_FEATURES + CARD_POSITIONS


@dataclass
class HomeModels:
    """The shelf and card bandits' models."""

    shelf: LinearBandit = field(default_factory=lambda: LinearBandit(shelf_feature_count()))
    card: LinearBandit = field(default_factory=lambda: LinearBandit(card_feature_count()))


@dataclass
class HomePage:
    """A shown home page: its id for feedback, the context, the policy and the shelves in display order."""

    page_id: str
    user_key: str
    context: BanditContext
    policy: str
    shown_at: datetime
    shelves: list[Shelf]

    def to_dict(self) -> dict:
        return {"page_id": self.page_id, "user_key": self.user_key, "policy": self.policy,
                "shown_at": self.shown_at.isoformat(timespec="seconds"),
                "context": {"segment": self.context.segment, "hour": self.context.hour,
                            "platform": self.context.platform},
                "shelves": [shelf.to_dict() for shelf in self.shelves]}


def listener_segment(space: TrackSpace, listener: Listener) -> str:
    """Return the listener's segment: activity by distinct artists, taste by the share of hit tracks."""
    artists = int((listener.artist_plays > 0).sum())
    activity = "heavy"
    if artists < ACTIVE_ARTISTS[0]:
        activity = "light"
    elif artists < ACTIVE_ARTISTS[1]:
        activity = "regular"
    history = listener.history[:200]
    share = float(np.mean(space.popularity_percentile(history) >= 0.99)) if len(history) else 0.0
    return f"{activity}-{'mainstream' if share >= MAINSTREAM_SHARE else 'niche'}"


def build_home(space: TrackSpace, listener: Listener, context: BanditContext, policy: BanditPolicy,
               models: HomeModels, rng: np.random.Generator, catalogue: pa.Table | None = None,
               population: Population | None = None, cards_per_shelf: int = DEFAULT_CARDS_PER_SHELF,
               today: date | None = None, seed: int = 0, shown_at: datetime | None = None) -> HomePage:
    """Build the listener's home page: candidate shelves, then the bandits' choice of cards and shelf order."""
    validate_count("cards_per_shelf", cards_per_shelf)
    if cards_per_shelf > CARD_POSITIONS:
        raise InputError(f"cards_per_shelf must be at most {CARD_POSITIONS}, got {cards_per_shelf}")
    shelves = candidate_shelves(space, listener, catalogue, population, today, seed)
    vector = context.vector()

    for shelf in shelves:
        features = joint_features(vector, np.array([c.features() for c in shelf.cards]), None, CARD_POSITIONS)
        relevance = np.array([c.relevance for c in shelf.cards])
        order = rank(models.card, features, policy, rng, relevance)
        shares = position_probabilities(models.card, features, policy, relevance, order, rng)
        shown = []
        for position, index in enumerate(order[:cards_per_shelf].tolist()):
            card = shelf.cards[index]
            card.position, card.propensity = position, float(shares[index, position])
            shown.append(card)
        shelf.cards = shown

    features = joint_features(vector, np.array([s.features() for s in shelves]), None, SHELF_POSITIONS) \
        if shelves else np.zeros((0, shelf_feature_count()))
    order = rank(models.shelf, features, policy, rng) if shelves else np.zeros(0, dtype=np.int64)
    shares = position_probabilities(models.shelf, features, policy, None, order, rng) if shelves else None
    ordered = []
    for position, index in enumerate(order.tolist()):
        shelf = shelves[index]
        shelf.position, shelf.propensity = position, float(shares[index, position])
        ordered.append(shelf)
    # The page id is random apart from the seed, so that pages of seeded runs never share an id.
    return HomePage(uuid.uuid4().hex, listener.key, context, policy.label, shown_at or utc_now(), ordered)


def impression_rows(page: HomePage) -> list[dict]:
    """Return the bandit-log rows of a page: one per shown shelf and one per shown card."""
    common = {"page_id": page.page_id, "user_key": page.user_key, "shown_at": page.shown_at, "policy": page.policy,
              "segment": page.context.segment, "hour": page.context.hour, "platform": page.context.platform}
    rows = []
    for shelf in page.shelves:
        tracks = list(dict.fromkeys(t for card in shelf.cards for t in card.track_ids))
        rows.append({**common, "decision": "shelf", "shelf": shelf.shelf_id, "action": shelf.shelf_id,
                     "kind": "shelf", "position": shelf.position, "propensity": shelf.propensity,
                     "features": shelf.features().tolist(), "track_uris": tracks})
        for card in shelf.cards:
            rows.append({**common, "decision": "card", "shelf": shelf.shelf_id, "action": card.card_id,
                         "kind": card.kind, "position": card.position, "propensity": card.propensity,
                         "features": card.features().tolist(), "track_uris": card.track_ids})
    return rows


# Learning from the log


def row_contexts(rows: pa.Table) -> np.ndarray:
    """Context vectors of log rows."""
    segments = [SEGMENTS.index(s) for s in rows.column("segment").to_pylist()]
    buckets = [h // 6 for h in rows.column("hour").to_pylist()]
    platforms = [PLATFORMS.index(p) for p in rows.column("platform").to_pylist()]
    return context_vectors(segments, buckets, platforms)


def row_features(rows: pa.Table, max_positions: int, at_first_position: bool = False) -> np.ndarray:
    """Joint feature rows of log rows, at their logged position or all at position 0."""
    import json

    contexts = row_contexts(rows)
    items = [np.asarray(json.loads(f), dtype=np.float64) for f in rows.column("features").to_pylist()]
    positions = rows.column("position").to_pylist()
    return np.array([joint_features(c, item[None, :], None if at_first_position else p, max_positions)[0]
                     for c, item, p in zip(contexts, items, positions)]).reshape(len(items), -1)


def fit_models(shelf_rows: pa.Table, card_rows: pa.Table) -> HomeModels:
    """Fit both bandits on logged rows with known rewards (from store.bandit.logged_rows)."""
    models = HomeModels()
    if shelf_rows.num_rows:
        models.shelf.update(row_features(shelf_rows, SHELF_POSITIONS),
                            np.asarray(shelf_rows.column("reward").to_pylist(), dtype=np.float64))
    if card_rows.num_rows:
        models.card.update(row_features(card_rows, CARD_POSITIONS),
                           np.asarray(card_rows.column("reward").to_pylist(), dtype=np.float64))
    return models


def shelf_decisions(shelf_rows: pa.Table) -> LoggedDecisions:
    """Turn logged shelf rows into one decision per page: which shelf went first, from all the page's shelves.

    Every non-empty shelf is shown, so the page's rows are the whole
    candidate set. Features are taken at position 0.
    """
    if shelf_rows.num_rows == 0:
        raise InputError("the bandit log has no shelf rows with a known reward; show home pages and record "
                         "streams first")
    features = row_features(shelf_rows, SHELF_POSITIONS, at_first_position=True)
    pages = shelf_rows.column("page_id").to_pylist()
    positions = shelf_rows.column("position").to_pylist()
    propensity = shelf_rows.column("propensity").to_pylist()
    rewards = shelf_rows.column("reward").to_pylist()
    actions = shelf_rows.column("action").to_pylist()
    segments, hours, platforms = (shelf_rows.column(c).to_pylist() for c in ("segment", "hour", "platform"))
    order: list[str] = []
    grouped: dict[str, list[int]] = {}
    for row, page in enumerate(pages):
        if page not in grouped:
            grouped[page] = []
            order.append(page)
        grouped[page].append(row)
    candidates, chosen, chosen_propensity, chosen_reward, names, contexts = [], [], [], [], [], []
    for page in order:
        rows = grouped[page]
        first = [r for r in rows if positions[r] == 0]
        if len(first) != 1:
            continue
        candidates.append(features[rows])
        chosen.append(rows.index(first[0]))
        chosen_propensity.append(propensity[first[0]])
        chosen_reward.append(rewards[first[0]])
        names.append([actions[r] for r in rows])
        contexts.append((segments[first[0]], hours[first[0]], platforms[first[0]]))
    if not candidates:
        raise InputError("no page of the bandit log has a known reward for its first shelf yet; a shown shelf "
                         "without a stream counts as reward 0 once 30 minutes have passed")
    return LoggedDecisions(candidates, np.array(chosen), np.array(chosen_propensity), np.array(chosen_reward),
                           np.array(contexts, dtype=object), names)


def request_context(space: TrackSpace, listener: Listener, hour: int | None = None, platform: str | None = None,
                    now: datetime | None = None) -> BanditContext:
    """Make the bandit context of a request: the listener's segment, the hour (default: now, UTC) and the platform.

    The platform defaults to the one the listener plays on most, else ``web``.
    """
    from ..rerank.bandit import platform_family

    now = now or utc_now()
    hour = now.hour if hour is None else hour
    family = platform if platform is not None else (platform_family(listener.platform) if listener.platform
                                                    else "web")
    return BanditContext(listener_segment(space, listener), hour, family)


__all__ = ["HomeModels", "HomePage", "build_home", "fit_models", "impression_rows",
           "listener_segment", "request_context", "shelf_decisions"]
