"""Contextual bandits that order shelves and cards: Thompson sampling, epsilon-greedy, greedy and random.

Every candidate (a shelf, a card) is described by a feature row that crosses
the context (user segment, hour of day, platform) with the candidate's own
features, plus the display position. A Bayesian linear model learns the
expected reward of a row: prior ``theta ~ N(0, prior_variance * I)`` and
Gaussian noise of ``noise_variance``, so its posterior is Gaussian with
precision ``A = I / prior_variance + X'X / noise_variance`` and mean
``A^-1 X'r / noise_variance`` (ridge regression).

A policy ranks candidates by a score per candidate:

- ``thompson``: scores from one draw of theta from the posterior;
- ``epsilon-greedy:E``: posterior mean scores, but with probability E a
  uniformly random order;
- ``greedy``: posterior mean scores, no exploration;
- ``random``: a uniformly random order.

Ties go to the candidate with the higher ``tie_break`` value (its relevance),
then the earlier one. ``position_probabilities`` returns P(candidate i at
position k) under the policy, exact except for Thompson sampling, where it
is a Monte Carlo estimate whose draws include the order actually shown, so
a shown order never gets probability 0. Logged with each impression, these
are the propensities off-policy evaluation divides by.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from ..errors import InputError

POLICY_NAMES = ("thompson", "epsilon-greedy", "greedy", "random")
DEFAULT_EPSILON = 0.1
DEFAULT_SAMPLES = 500
# About the variance of a 0/1 reward earned 10% of the time, the base rate of
# the generated worlds of simulate.bandit_world. At 0.25, the largest
# variance a 0/1 reward can have, Thompson sampling explored more and had a
# higher mean regret than greedy on those worlds. NOTE: real shelves' stream
# rates are not measured yet, so this value is not fitted to real data.
DEFAULT_NOISE_VARIANCE = 0.1

SEGMENTS = ("light-mainstream", "light-niche", "regular-mainstream", "regular-niche", "heavy-mainstream",
            "heavy-niche")
HOUR_BUCKETS = ("night", "morning", "afternoon", "evening")  # from 0, 6, 12 and 18 h
PLATFORMS = ("android", "ios", "desktop", "web", "other")
DESKTOP_FAMILIES = ("windows", "osx", "macos", "mac", "linux", "desktop")
WEB_FAMILIES = ("web", "web_player", "webplayer", "browser")


@dataclass(frozen=True)
class BanditPolicy:
    """A policy name and, for epsilon-greedy, its exploration rate."""

    name: str
    epsilon: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in POLICY_NAMES:
            raise InputError(f"unknown bandit policy {self.name!r}; choose one of: thompson, epsilon-greedy:E, "
                             "greedy, random")
        if not 0 <= self.epsilon <= 1:
            raise InputError(f"epsilon must be a number from 0 to 1, got {self.epsilon!r}")

    @classmethod
    def parse(cls, spec: str) -> "BanditPolicy":
        """Read ``thompson``, ``greedy``, ``random`` or ``epsilon-greedy[:E]`` (E defaults to 0.1)."""
        name, separator, raw = spec.strip().partition(":")
        if name != "epsilon-greedy":
            if separator:
                raise InputError(f"invalid bandit policy {spec!r}: {name} takes no parameter")
            return cls(name)
        if not separator:
            return cls(name, DEFAULT_EPSILON)
        try:
            epsilon = float(raw)
        except ValueError:
            raise InputError(f"invalid bandit policy {spec!r}: epsilon {raw!r} is not a number from 0 to 1") from None
        return cls(name, epsilon)

    @property
    def label(self) -> str:
        return f"epsilon-greedy:{self.epsilon:g}" if self.name == "epsilon-greedy" else self.name


# Context


@dataclass(frozen=True)
class BanditContext:
    """The context of a request: the listener's segment, the hour of day (UTC) and the platform."""

    segment: str
    hour: int
    platform: str

    def __post_init__(self) -> None:
        if self.segment not in SEGMENTS:
            raise InputError(f"segment must be one of {', '.join(SEGMENTS)}, got {self.segment!r}")
        if isinstance(self.hour, bool) or not isinstance(self.hour, (int, np.integer)) or not 0 <= self.hour <= 23:
            raise InputError(f"hour must be an integer from 0 to 23, got {self.hour!r}")
        if self.platform not in PLATFORMS:
            raise InputError(f"platform must be one of {', '.join(PLATFORMS)}, got {self.platform!r}")

    @property
    def hour_bucket(self) -> str:
        return HOUR_BUCKETS[self.hour // 6]

    def vector(self) -> np.ndarray:
        """One-hot segment, hour bucket and platform, after a constant 1."""
        parts = [np.ones(1)]
        for value, choices in ((self.segment, SEGMENTS), (self.hour_bucket, HOUR_BUCKETS),
                               (self.platform, PLATFORMS)):
            one_hot = np.zeros(len(choices))
            one_hot[choices.index(value)] = 1.0
            parts.append(one_hot)
        return np.concatenate(parts)


CONTEXT_SIZE = 1 + len(SEGMENTS) + len(HOUR_BUCKETS) + len(PLATFORMS)


def context_vectors(segments: np.ndarray, hour_buckets: np.ndarray, platforms: np.ndarray) -> np.ndarray:
    """Return the context vectors of many requests given as indices into SEGMENTS, HOUR_BUCKETS and PLATFORMS."""
    segments, hour_buckets, platforms = (np.asarray(a, dtype=np.int64) for a in (segments, hour_buckets, platforms))
    vectors = np.zeros((len(segments), CONTEXT_SIZE))
    vectors[:, 0] = 1.0
    rows = np.arange(len(segments))
    vectors[rows, 1 + segments] = 1.0
    vectors[rows, 1 + len(SEGMENTS) + hour_buckets] = 1.0
    vectors[rows, 1 + len(SEGMENTS) + len(HOUR_BUCKETS) + platforms] = 1.0
    return vectors


def platform_family(raw: str | None) -> str:
    """Map a stored platform (android, ios, windows, web_player, ...) to one of PLATFORMS."""
    value = (raw or "").strip().lower()
    if value in ("android", "ios"):
        return value
    if value in DESKTOP_FAMILIES:
        return "desktop"
    if value in WEB_FAMILIES:
        return "web"
    return "other"


def joint_features(context: np.ndarray, items: np.ndarray, positions: np.ndarray | int | None,
                   max_positions: int) -> np.ndarray:
    """Cross a context vector with each candidate's features and append the position one-hot.

    Returns shape (n_items, len(context) * item_features + max_positions).
    Positions past ``max_positions - 1`` share the last column; None means
    position 0, which scores every candidate as if shown first. With
    ``max_positions`` 0 no position columns are added, so each action's
    features are disjoint from the others'.
    """
    items = np.atleast_2d(np.asarray(items, dtype=np.float64))
    crossed = np.einsum("c,nm->ncm", np.asarray(context, dtype=np.float64), items).reshape(len(items), -1)
    if max_positions == 0:
        return crossed
    position = np.zeros((len(items), max_positions))
    index = np.zeros(len(items), dtype=np.int64) if positions is None else \
        np.broadcast_to(np.asarray(positions, dtype=np.int64), (len(items),))
    position[np.arange(len(items)), np.minimum(index, max_positions - 1)] = 1.0
    return np.hstack([crossed, position])


# The model


class LinearBandit:
    """Bayesian linear regression of reward on feature rows, with posterior draws for Thompson sampling."""

    def __init__(self, n_features: int, prior_variance: float = 1.0, noise_variance: float = DEFAULT_NOISE_VARIANCE):
        if n_features < 1:
            raise InputError(f"n_features must be a positive integer, got {n_features!r}")
        if not prior_variance > 0 or not noise_variance > 0:
            raise InputError(f"prior_variance and noise_variance must be > 0, got {prior_variance!r} and "
                             f"{noise_variance!r}")
        self.n_features = n_features
        self.prior_variance = prior_variance
        self.noise_variance = noise_variance
        self.precision_ = np.eye(n_features) / prior_variance
        self.target_ = np.zeros(n_features)
        self.observations_ = 0
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def update(self, features: np.ndarray, rewards: np.ndarray) -> "LinearBandit":
        """Add observed rewards of feature rows to the posterior."""
        features = np.atleast_2d(np.asarray(features, dtype=np.float64))
        rewards = np.atleast_1d(np.asarray(rewards, dtype=np.float64))
        if features.shape != (len(rewards), self.n_features):
            raise InputError(f"features must have shape ({len(rewards)}, {self.n_features}) for {len(rewards)} "
                             f"rewards, got {features.shape}")
        if not np.all(np.isfinite(rewards)):
            raise InputError("rewards must be finite numbers")
        self.precision_ += features.T @ features / self.noise_variance
        self.target_ += features.T @ rewards / self.noise_variance
        self.observations_ += len(rewards)
        self._cache = None
        return self

    def _posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the posterior mean and the lower Cholesky factor L of the precision (A = L L')."""
        if self._cache is None:
            factor = np.linalg.cholesky(self.precision_)
            half = solve_triangular(factor, self.target_, lower=True)
            self._cache = (solve_triangular(factor.T, half, lower=False), factor)
        return self._cache

    @property
    def mean(self) -> np.ndarray:
        return self._posterior()[0]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Expected reward of each feature row under the posterior mean."""
        return np.atleast_2d(features) @ self.mean

    def sample(self, rng: np.random.Generator, draws: int = 1) -> np.ndarray:
        """Draw parameter vectors from the posterior, shape (draws, n_features).

        With A = L L', theta = mean + L'^-1 z has covariance A^-1 for standard normal z.
        """
        mean, factor = self._posterior()
        noise = rng.standard_normal((self.n_features, draws))
        return mean[None, :] + solve_triangular(factor.T, noise, lower=False).T


def rank(model: LinearBandit, features: np.ndarray, policy: BanditPolicy, rng: np.random.Generator,
         tie_break: np.ndarray | None = None) -> np.ndarray:
    """Return the order (candidate indices, first shown first) the policy chooses for these feature rows."""
    n = len(features)
    tie_break = np.zeros(n) if tie_break is None else np.asarray(tie_break, dtype=np.float64)
    if policy.name == "random":
        return rng.permutation(n)
    if policy.name == "thompson":
        scores = features @ model.sample(rng)[0]
    else:
        scores = model.predict(features)
        if policy.name == "epsilon-greedy" and rng.random() < policy.epsilon:
            return rng.permutation(n)
    return _order(scores, tie_break)


def position_probabilities(model: LinearBandit, features: np.ndarray, policy: BanditPolicy,
                           tie_break: np.ndarray | None = None, shown: np.ndarray | None = None,
                           rng: np.random.Generator | None = None, samples: int = DEFAULT_SAMPLES) -> np.ndarray:
    """Return P[i, k], the probability that the policy shows candidate i at position k.

    For Thompson sampling this is estimated from ``samples`` posterior draws
    plus the ``shown`` order, so the shown order has a probability above 0.
    """
    n = len(features)
    tie_break = np.zeros(n) if tie_break is None else np.asarray(tie_break, dtype=np.float64)
    if policy.name == "random":
        return np.full((n, n), 1.0 / n)
    if policy.name in ("greedy", "epsilon-greedy"):
        greedy = np.zeros((n, n))
        greedy[_order(model.predict(features), tie_break), np.arange(n)] = 1.0
        epsilon = policy.epsilon if policy.name == "epsilon-greedy" else 0.0
        return (1 - epsilon) * greedy + epsilon / n
    rng = rng or np.random.default_rng(0)
    counts = np.zeros((n, n))
    scores = features @ model.sample(rng, samples).T
    # Column s of ``orders`` is the order draw s gives, ties broken as in _order.
    shape = scores.shape
    orders = np.lexsort((np.broadcast_to(np.arange(n)[:, None], shape), np.broadcast_to(-tie_break[:, None], shape),
                         -np.round(scores, 12)), axis=0)
    np.add.at(counts, (orders, np.broadcast_to(np.arange(n)[:, None], shape)), 1)
    total = samples
    if shown is not None:
        counts[np.asarray(shown, dtype=np.int64), np.arange(n)] += 1
        total += 1
    return counts / total


def first_choice_probabilities(model: LinearBandit, features: np.ndarray, policy: BanditPolicy,
                               tie_break: np.ndarray | None = None, rng: np.random.Generator | None = None,
                               samples: int = DEFAULT_SAMPLES) -> np.ndarray:
    """Return the probability that each candidate is shown first; a shorthand for column 0 of position_probabilities."""
    return position_probabilities(model, features, policy, tie_break, None, rng, samples)[:, 0]


def _order(scores: np.ndarray, tie_break: np.ndarray) -> np.ndarray:
    return np.lexsort((np.arange(len(scores)), -tie_break, -np.round(scores, 12)))
