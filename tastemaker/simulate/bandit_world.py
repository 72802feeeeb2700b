"""A generated contextual bandit world where the true reward of every action in every context is known.

Contexts are the home page's: a user segment, an hour of day (as one of
four six-hour buckets) and a platform, drawn independently (segments and
platforms with random shares, hour buckets uniformly). The actions are shelves, described by one-hot features. The
chance that a shown action earns a reward (a stream of 30 s or more) is
``sigmoid(base[a] + segment[s, a] + hour[h, a] + platform[p, a])``, with
effects drawn once per world. Because every chance is known, a policy's
true value and every round's regret are exact, which is what checking
off-policy estimates and comparing exploration needs.

The world is not fitted to any real data: its rates only have a plausible
size (about 15% by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..evaluation.ope import LoggedDecisions
from ..rerank.bandit import (
    HOUR_BUCKETS,
    PLATFORMS,
    SEGMENTS,
    BanditPolicy,
    LinearBandit,
    context_vectors,
    first_choice_probabilities,
    joint_features,
    position_probabilities,
    rank,
)


@dataclass
class BanditWorld:
    """Context shares and the true reward chance of every (segment, hour bucket, platform, action)."""

    n_actions: int
    segment_share: np.ndarray
    platform_share: np.ndarray
    logits: np.ndarray  # (segments, hour buckets, platforms, actions)
    shared_intercept: bool = False
    hour_share: np.ndarray | None = None  # per hour bucket; None means uniform over the day

    @property
    def n_features(self) -> int:
        return len(context_vectors([0], [0], [0])[0]) * self.n_actions + int(self.shared_intercept)

    def cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return every context cell as (segment, hour bucket, platform) indices, with its probability."""
        s, h, p = np.meshgrid(np.arange(len(SEGMENTS)), np.arange(len(HOUR_BUCKETS)), np.arange(len(PLATFORMS)),
                              indexing="ij")
        s, h, p = s.ravel(), h.ravel(), p.ravel()
        probability = self.segment_share[s] * self._hour_share()[h] * self.platform_share[p]
        return s, h, p, probability

    def _hour_share(self) -> np.ndarray:
        return np.full(len(HOUR_BUCKETS), 1 / len(HOUR_BUCKETS)) if self.hour_share is None else self.hour_share

    def reward_probability(self, segments: np.ndarray, buckets: np.ndarray, platforms: np.ndarray) -> np.ndarray:
        """True reward chance of every action, shape (n, n_actions)."""
        return 1.0 / (1.0 + np.exp(-self.logits[segments, buckets, platforms]))

    def draw_contexts(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        segments = rng.choice(len(SEGMENTS), size=n, p=self.segment_share)
        buckets = rng.choice(len(HOUR_BUCKETS), size=n, p=self._hour_share())
        platforms = rng.choice(len(PLATFORMS), size=n, p=self.platform_share)
        return segments, buckets, platforms

    def features(self, segments: np.ndarray, buckets: np.ndarray, platforms: np.ndarray) -> np.ndarray:
        """Candidate feature rows of every action for each context at position 0, shape (n, n_actions, d)."""
        contexts = context_vectors(segments, buckets, platforms)
        actions = np.eye(self.n_actions)
        positions = 1 if self.shared_intercept else 0
        return np.stack([joint_features(c, actions, None, positions) for c in contexts])

    def choice_shares(self, model: LinearBandit, policy: BanditPolicy, samples: int = 4000,
                      seed: int = 0) -> np.ndarray:
        """Return each cell's (see ``cells``) probability of each action being chosen first, (n_cells, n_actions).

        Thompson sampling's shares are estimated from ``samples`` posterior
        draws, one set for every cell; the other policies' are exact.
        """
        s, h, p, _ = self.cells()
        features = self.features(s, h, p)
        if policy.name != "thompson":
            return np.stack([first_choice_probabilities(model, f, policy) for f in features])
        draws = model.sample(np.random.default_rng(seed), samples)
        chosen = np.argmax(np.round(features @ draws.T, 12), axis=1)
        return np.stack([np.bincount(row, minlength=self.n_actions) / samples for row in chosen])

    def cell_index(self, segments: np.ndarray, buckets: np.ndarray, platforms: np.ndarray) -> np.ndarray:
        """Index in ``cells`` of each context."""
        return (np.asarray(segments) * len(HOUR_BUCKETS) + np.asarray(buckets)) * len(PLATFORMS) + np.asarray(platforms)

    def policy_value(self, model: LinearBandit, policy: BanditPolicy, samples: int = 4000, seed: int = 0,
                     shares: np.ndarray | None = None) -> float:
        """Exact expected reward of a fixed policy's first choice, given its choice shares (else computed)."""
        s, h, p, probability = self.cells()
        shares = self.choice_shares(model, policy, samples, seed) if shares is None else shares
        return float(probability @ np.sum(shares * self.reward_probability(s, h, p), axis=1))

    def best_value(self) -> float:
        s, h, p, probability = self.cells()
        return float(probability @ self.reward_probability(s, h, p).max(axis=1))


def generate_bandit_world(n_actions: int = 6, base_rate: float = 0.1, spread: float = 0.5, seed: int = 0,
                          shared_intercept: bool = False) -> BanditWorld:
    """Draw a world: action rates around ``base_rate`` and context effects of standard deviation ``spread``.

    Each action's features are the context crossed with its one-hot, so every
    action has its own linear model. ``shared_intercept`` adds one feature
    common to all actions, as the home page's position column is.
    """
    if isinstance(n_actions, bool) or not isinstance(n_actions, (int, np.integer)) or n_actions < 2:
        raise InputError(f"n_actions must be an integer of at least 2, got {n_actions!r}")
    if not 0 < base_rate < 1:
        raise InputError(f"base_rate must be between 0 and 1, got {base_rate!r}")
    if not spread >= 0:
        raise InputError(f"spread must be >= 0, got {spread!r}")
    rng = np.random.default_rng(seed)
    shape = (len(SEGMENTS), len(HOUR_BUCKETS), len(PLATFORMS), n_actions)
    base = np.log(base_rate / (1 - base_rate)) + 0.5 * rng.normal(size=n_actions)
    logits = (base[None, None, None, :]
              + spread * rng.normal(size=(shape[0], 1, 1, n_actions))
              + spread * rng.normal(size=(1, shape[1], 1, n_actions))
              + spread * rng.normal(size=(1, 1, shape[2], n_actions)))
    return BanditWorld(n_actions, rng.dirichlet(np.full(len(SEGMENTS), 5.0)),
                       rng.dirichlet(np.full(len(PLATFORMS), 5.0)), logits, shared_intercept)


def new_model(world: BanditWorld) -> LinearBandit:
    return LinearBandit(world.n_features)


def run_online(world: BanditWorld, policy: BanditPolicy, rounds: int, seed: int = 0,
               model: LinearBandit | None = None) -> np.ndarray:
    """Run a learning policy for ``rounds`` rounds, one action shown per round; returns each round's expected regret."""
    rng = np.random.default_rng(seed)
    model = model or new_model(world)
    segments, buckets, platforms = world.draw_contexts(rng, rounds)
    features = world.features(segments, buckets, platforms)
    truth = world.reward_probability(segments, buckets, platforms)
    regret = np.zeros(rounds)
    for t in range(rounds):
        chosen = int(rank(model, features[t], policy, rng)[0])
        reward = float(rng.random() < truth[t, chosen])
        model.update(features[t][chosen][None, :], np.array([reward]))
        regret[t] = truth[t].max() - truth[t, chosen]
    return regret


def log_decisions(world: BanditWorld, model: LinearBandit, policy: BanditPolicy, n: int,
                  rng: np.random.Generator) -> LoggedDecisions:
    """Log ``n`` decisions of a fixed policy (it does not learn while logging), with exact propensities.

    Thompson sampling's propensities are Monte Carlo estimates (see rerank.bandit).
    """
    segments, buckets, platforms = world.draw_contexts(rng, n)
    features = world.features(segments, buckets, platforms)
    truth = world.reward_probability(segments, buckets, platforms)
    chosen = np.zeros(n, dtype=np.int64)
    propensity = np.zeros(n)
    for i in range(n):
        order = rank(model, features[i], policy, rng)
        chosen[i] = int(order[0])
        shares = position_probabilities(model, features[i], policy, None, order, rng)
        propensity[i] = shares[chosen[i], 0]
    rewards = (rng.random(n) < truth[np.arange(n), chosen]).astype(np.float64)
    return LoggedDecisions(list(features), chosen, propensity, rewards,
                           contexts=np.stack([segments, buckets, platforms], axis=1))
