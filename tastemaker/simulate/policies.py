"""Policies the feedback loop can run: what each recommends to every user each round.

Every policy returns a slate of K track indices per user and never
recommends a track the user has already played. Policies that learn refit
ALS on the rewarded plays stored so far, every round:

- ``popularity``: the tracks with the most rewarded plays;
- ``random``: uniform over unplayed tracks (a reference without feedback);
- ``oracle``: the tracks of highest true preference (a reference of utility);
- ``als``: pure exploitation of ALS scores;
- ``als-explore:EPSILON``: each slot replaced by a random unplayed track with probability epsilon;
- ``als+RERANKER:STRENGTH``: ALS candidates re-ranked by calibration (genres), mmr, fairness or popularity;
- ``paid-boost:BOOST``: ALS scores rescaled to [0, 1] per user, plus BOOST for tracks by paid artists.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..audit.calibration import one_hot_categories
from ..errors import InputError
from ..models import ALSRecommender
from ..models.base import top_n
from ..rerank import RERANKERS, RerankContext, build_reranker
from ..rerank.base import validate_strength
from .world import World

CANDIDATES = 100
DEFAULT_EPSILON = 0.2
DEFAULT_BOOST = 0.3
# Weight of log popularity added to ALS scores. Users without rewarded plays
# have all-zero factors, so without it they would get the lowest track
# indices instead of the most popular tracks. It is too small to reorder
# other users' lists.
POPULARITY_TIEBREAK = 1e-4


@dataclass
class LoopState:
    """Input of a policy before a round: the rewarded plays and every track each user has played."""

    round: int
    rewards: sp.csr_matrix
    seen: sp.csr_matrix

    @property
    def track_rewards(self) -> np.ndarray:
        return np.asarray(self.rewards.sum(axis=0)).ravel()


class Policy(ABC):
    """Base class of the loop's policies."""

    label: str = ""

    def start(self, world: World, rng: np.random.Generator, boosted_artists: np.ndarray) -> None:
        """Prepare for a new run on ``world``; called once before the first round."""
        self.world = world
        self.rng = rng
        self.boosted_artists = boosted_artists

    @abstractmethod
    def recommend(self, state: LoopState, K: int) -> np.ndarray:
        """Return (n_users, K) track indices, -1 where fewer than K tracks are left unplayed."""


class PopularityPolicy(Policy):
    label = "popularity"

    def recommend(self, state, K):
        scores = np.broadcast_to(state.track_rewards.astype(np.float32), state.seen.shape).copy()
        return _top_unseen(scores, state.seen, K)


class RandomPolicy(Policy):
    label = "random"

    def recommend(self, state, K):
        scores = self.rng.random(state.seen.shape, dtype=np.float32)
        return _top_unseen(scores, state.seen, K)


class OraclePolicy(Policy):
    label = "oracle"

    def recommend(self, state, K):
        return _top_unseen(self.world.utility_matrix().copy(), state.seen, K)


class ALSPolicy(Policy):
    """Refit ALS every round on the rewarded plays and recommend by its scores."""

    label = "als"

    def __init__(self, factors: int = 32, iterations: int = 10, regularization: float = 0.05, alpha: float = 10.0):
        # One thread: each round's fit is small, and the loop runs beside other work.
        self.model_params = {"factors": factors, "iterations": iterations, "regularization": regularization,
                             "alpha": alpha, "num_threads": 1}

    def scores(self, state: LoopState) -> tuple[np.ndarray, np.ndarray]:
        """Fit ALS and return (n_users, n_tracks) scores with played tracks at -inf, and the track factors."""
        model = ALSRecommender(**self.model_params, random_state=int(self.rng.integers(2**31)))
        model.fit(state.rewards)
        scores = model.user_factors_for(state.rewards) @ model.track_factors.T
        scores = scores + POPULARITY_TIEBREAK * np.log1p(state.track_rewards)[None, :]
        scores[state.seen.nonzero()] = -np.inf
        return scores.astype(np.float32), np.asarray(model.track_factors, dtype=np.float64)

    def recommend(self, state, K):
        scores, _ = self.scores(state)
        ids, _ = top_n(scores, K)
        return ids


class ExplorePolicy(ALSPolicy):
    """ALS with epsilon-greedy exploration: each slot is a random unplayed track with probability epsilon."""

    def __init__(self, epsilon: float = DEFAULT_EPSILON, **als):
        super().__init__(**als)
        validate_strength(epsilon)
        self.epsilon = epsilon
        self.label = f"als-explore:{epsilon:g}"

    def recommend(self, state, K):
        slates = super().recommend(state, K)
        n_tracks = state.seen.shape[1]
        for user, position in zip(*np.nonzero(self.rng.random(slates.shape) < self.epsilon)):
            played = set(state.seen.indices[state.seen.indptr[user]:state.seen.indptr[user + 1]].tolist())
            taken = set(slates[user].tolist())
            if len(played) + len(taken) >= n_tracks:
                continue
            while True:
                track = int(self.rng.integers(n_tracks))
                if track not in played and track not in taken:
                    slates[user, position] = track
                    break
        return slates


class RerankPolicy(ALSPolicy):
    """ALS candidates re-ranked; the fairness re-ranker keeps its artist exposure across rounds."""

    def __init__(self, reranker: str, strength: float, candidates: int = CANDIDATES, **als):
        super().__init__(**als)
        if reranker not in RERANKERS:
            raise InputError(f"unknown re-ranker {reranker!r}; choose one of: {', '.join(RERANKERS)}")
        validate_strength(strength)
        self.reranker_name = reranker
        self.strength = strength
        self.candidates = candidates
        self.label = f"als+{reranker}:{strength:g}"

    def start(self, world, rng, boosted_artists):
        super().start(world, rng, boosted_artists)
        self.genres = one_hot_categories(world.track_genre)
        self.fairness = build_reranker("fairness", RerankContext(track_artist=world.track_artist)) \
            if self.reranker_name == "fairness" else None

    def recommend(self, state, K):
        scores, factors = self.scores(state)
        ids, candidate_scores = top_n(scores, max(K, self.candidates))
        reranker = self.fairness or build_reranker(self.reranker_name, RerankContext(
            track_artist=self.world.track_artist, popularity=state.track_rewards, item_vectors=factors,
            item_categories=self.genres))
        return reranker.rerank_batch(ids, candidate_scores, K, self.strength, state.rewards)


class PaidBoostPolicy(ALSPolicy):
    """ALS whose scores, rescaled to [0, 1] per user, get ``boost`` added for every track by a paid artist."""

    def __init__(self, boost: float = DEFAULT_BOOST, **als):
        super().__init__(**als)
        if not boost >= 0:
            raise InputError(f"boost must be a non-negative number, got {boost}")
        self.boost = boost
        self.label = f"paid-boost:{boost:g}"

    def recommend(self, state, K):
        scores, _ = self.scores(state)
        finite = np.isfinite(scores)
        low = np.where(finite, scores, np.inf).min(axis=1, keepdims=True)
        high = np.where(finite, scores, -np.inf).max(axis=1, keepdims=True)
        span = np.where(high > low, high - low, 1.0)
        paid = np.isin(self.world.track_artist, self.boosted_artists)
        value = np.where(finite, (scores - low) / span + self.boost * paid[None, :], -np.inf)
        ids, _ = top_n(value.astype(np.float32), K)
        return ids


def make_policy(spec: str) -> Policy:
    """Build a policy from its spec, for example ``als``, ``als-explore:0.2``, ``als+mmr:0.5``, ``paid-boost:0.3``."""
    name, sep, raw = spec.partition(":")
    value = None
    if sep:
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"invalid policy {spec!r}: {raw!r} is not a number") from None
    if name in ("popularity", "random", "oracle", "als") and sep:
        raise InputError(f"invalid policy {spec!r}: {name} takes no parameter")
    simple = {"popularity": PopularityPolicy, "random": RandomPolicy, "oracle": OraclePolicy, "als": ALSPolicy}
    if name in simple:
        return simple[name]()
    if name == "als-explore":
        return ExplorePolicy(DEFAULT_EPSILON if value is None else value)
    if name == "paid-boost":
        return PaidBoostPolicy(DEFAULT_BOOST if value is None else value)
    if name.startswith("als+"):
        if value is None:
            raise InputError(f"invalid policy {spec!r}: give a strength, for example {name}:0.5")
        return RerankPolicy(name[len("als+"):], value)
    choices = "popularity, random, oracle, als, als-explore:EPSILON, als+RERANKER:STRENGTH, paid-boost:BOOST"
    raise InputError(f"invalid policy {spec!r}; choose from: {choices}")


def _top_unseen(scores: np.ndarray, seen: sp.csr_matrix, K: int) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float32)
    scores[seen.nonzero()] = -np.inf
    ids, _ = top_n(scores, K)
    return ids
