"""The choice and listening model: which recommended tracks a user plays, for how long, and whether they skip.

Choice follows the position-based click model. The user examines rank r
(from 1) with probability r^-position_decay, and plays an examined track with
probability sigmoid(play_bias + play_weight * u), where u is the user's true
preference for the track (``World.utility``).

Listening has two stages, because real plays are bimodal: many stop within
seconds, and most of the rest run to the end. A play is an early skip with
probability sigmoid(early_skip_bias - early_skip_weight * u) and then lasts a
uniform 1 to 30 seconds. Otherwise it runs past 30 seconds and stops after a
further exponential time with rate late_hazard * exp(-late_hazard_weight * u)
per second, or at the end of the track. Long tracks are therefore completed
less often than short ones, at equal preference, while the chance of
reaching 30 seconds does not depend on length.

``ChoiceModel.calibrated`` solves early_skip_bias and late_hazard so that the
plays of the world's organic histories match the real early-skip and
completion rates of the calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .fit import STREAM_SECONDS
from .world import World, organic_history


@dataclass(frozen=True)
class ChoiceParams:
    """Weights of the choice and listening model; the two calibrated constants are not among them."""

    position_decay: float = 1.0
    play_bias: float = -2.0
    play_weight: float = 4.0
    early_skip_weight: float = 3.0
    late_hazard_weight: float = 2.0


@dataclass
class Plays:
    """Parallel arrays of plays: user, track, 0-based slate position (-1 outside a slate) and ms played."""

    users: np.ndarray
    tracks: np.ndarray
    positions: np.ndarray
    ms_played: np.ndarray
    durations_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    @property
    def streamed(self) -> np.ndarray:
        """Plays of at least 30 seconds, the threshold of a counted stream."""
        return self.ms_played >= STREAM_SECONDS * 1000

    @property
    def completed(self) -> np.ndarray:
        """Plays that reached the end of the track."""
        return self.ms_played >= self.durations_ms

    @property
    def skipped(self) -> np.ndarray:
        """Plays stopped before the end of the track."""
        return ~self.completed


class ChoiceModel:
    """Simulate users' responses to slates of recommended tracks."""

    def __init__(self, params: ChoiceParams, early_skip_bias: float, late_hazard: float):
        self.params = params
        self.early_skip_bias = early_skip_bias
        self.late_hazard = late_hazard

    @classmethod
    def calibrated(cls, world: World, params: ChoiceParams | None = None, seed: int = 0) -> "ChoiceModel":
        """Solve the early-skip bias and the late hazard against the calibration's skip and completion rates."""
        params = params or ChoiceParams()
        target_early = world.calibration.early_skip_rate
        target_completed = world.calibration.completion_rate
        users, tracks = organic_history(world, np.random.default_rng(seed))
        preference = world.utility(users, tracks)
        late_seconds = np.maximum(world.durations_ms[tracks] / 1000 - STREAM_SECONDS, 0.0)

        bias = _bisect(lambda b: _sigmoid(b - params.early_skip_weight * preference).mean() - target_early, -30, 30)
        keep = 1 - _sigmoid(bias - params.early_skip_weight * preference)
        if target_completed > keep.mean():
            raise InputError(f"completion rate {target_completed:.3f} is above the share of plays that pass "
                             f"30 seconds ({keep.mean():.3f}); the calibration's skip rates are inconsistent")
        slowdown = np.exp(-params.late_hazard_weight * preference)

        def completion_gap(log_hazard: float) -> float:
            return float((keep * np.exp(-np.exp(log_hazard) * slowdown * late_seconds)).mean() - target_completed)

        log_hazard = _bisect(lambda h: -completion_gap(h), np.log(1e-9), np.log(10.0))
        return cls(params, float(bias), float(np.exp(log_hazard)))

    def examination(self, slate_size: int) -> np.ndarray:
        """Probability that each rank of a slate is examined."""
        return np.arange(1, slate_size + 1, dtype=np.float64) ** -self.params.position_decay

    def respond(self, world: World, slates: np.ndarray, rng: np.random.Generator) -> Plays:
        """Return the plays of every user (row) given their slate of track indices (-1 for an empty slot)."""
        slates = np.asarray(slates, dtype=np.int64)
        if slates.ndim != 2 or slates.shape[0] != world.n_users:
            raise InputError(f"slates must have one row per user ({world.n_users}), got shape {slates.shape}")
        valid = slates >= 0
        users = np.repeat(np.arange(world.n_users), slates.shape[1]).reshape(slates.shape)
        preference = world.utility_matrix()[users, np.where(valid, slates, 0)].astype(np.float64)
        examined = rng.random(slates.shape) < self.examination(slates.shape[1])[None, :]
        attracted = rng.random(slates.shape) < _sigmoid(self.params.play_bias + self.params.play_weight * preference)
        played = valid & examined & attracted
        rows, positions = np.nonzero(played)
        tracks = slates[rows, positions]
        return self.listen(world, rows, tracks, positions, rng)

    def listen(self, world: World, users: np.ndarray, tracks: np.ndarray, positions: np.ndarray,
               rng: np.random.Generator) -> Plays:
        """Draw how long each (user, track) play lasts."""
        preference = world.utility(users, tracks)
        durations = world.durations_ms[tracks]
        early = rng.random(len(users)) < _sigmoid(self.early_skip_bias - self.params.early_skip_weight * preference)
        early_ms = rng.uniform(1_000, STREAM_SECONDS * 1000, size=len(users))
        rate = self.late_hazard * np.exp(-self.params.late_hazard_weight * preference)
        late_ms = STREAM_SECONDS * 1000 + rng.exponential(1.0, size=len(users)) / rate * 1000
        ms_played = np.minimum(np.where(early, early_ms, late_ms), durations).round().astype(np.int64)
        return Plays(np.asarray(users, dtype=np.int64), np.asarray(tracks, dtype=np.int64),
                     np.asarray(positions, dtype=np.int64), ms_played, durations.astype(np.int64))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _bisect(function, low: float, high: float, steps: int = 80) -> float:
    """Root of an increasing function on [low, high]; the nearer end when there is none inside."""
    if function(low) >= 0:
        return low
    if function(high) <= 0:
        return high
    for _ in range(steps):
        middle = (low + high) / 2
        if function(middle) < 0:
            low = middle
        else:
            high = middle
    return (low + high) / 2
