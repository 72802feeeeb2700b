"""The feedback loop: recommend, let simulated users play, store the events, retrain, and measure each round.

Before round 1 every user has an organic history (``organic_history``), the
same for every policy of one seed. Each round the policy recommends a slate,
the choice model turns it into plays, and the plays go to the event sink.
The next round's policy is given the rewarded plays read back from the sink. The reward is
``stream`` (played at least 30 seconds) or ``completion`` (played to the end).

Random draws are split by purpose: the organic history, the users' choices
and the policy's own randomness each have a generator seeded from
(``seed``, purpose), so two policies with one seed see the same world and the
same history.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..audit.diversity import generalist_specialist, mean_pairwise_jaccard
from ..audit.exposure import artist_exposure, gini, long_tail_mask, long_tail_share, top_share, track_exposure
from ..errors import InputError
from ..store.simulation import REWARD_COLUMNS, reward_counts, start_run, write_events, write_round_metrics
from .choice import ChoiceModel, Plays
from .policies import LoopState, Policy
from .world import World, organic_history

log = logging.getLogger(__name__)

ORGANIC, CHOICES, POLICY, BOOSTED = range(4)


@dataclass(frozen=True)
class LoopSettings:
    """Rounds, slate size, reward and the measurement settings of a run.

    ``boosted_share`` is the share of artists the paid-boost policy promotes;
    the same artists are measured under every policy. ``head_share`` defines
    the long tail by appeal, as ``long_tail_mask`` does by popularity.
    """

    rounds: int = 20
    slate_size: int = 10
    reward: str = "stream"
    boosted_share: float = 0.01
    head_share: float = 0.8
    seed: int = 0

    def validate(self, world: World) -> None:
        for name in ("rounds", "slate_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if self.slate_size > world.n_tracks:
            raise InputError(f"slate_size ({self.slate_size}) must not exceed the world's {world.n_tracks} tracks")
        if self.reward not in REWARD_COLUMNS:
            raise InputError(f"reward must be one of {', '.join(REWARD_COLUMNS)}, got {self.reward!r}")
        if not 0 < self.boosted_share <= 1:
            raise InputError(f"boosted_share must be in (0, 1], got {self.boosted_share}")


class MemoryEvents:
    """Keeps a run's plays in memory; the reward matrix is rebuilt from them each round."""

    def __init__(self):
        self.batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def start(self, run_id: str, policy: str, seed: int, reward: str, params: dict) -> None:
        self.batches = []
        self.reward = reward

    def write(self, round_index: int, plays: Plays) -> None:
        rewarded = plays.streamed if self.reward == "stream" else plays.completed
        self.batches.append((plays.users[rewarded], plays.tracks[rewarded], np.ones(int(rewarded.sum()))))

    def write_metrics(self, round_index: int, metrics: dict) -> None:
        pass

    def rewards(self, shape: tuple[int, int]) -> sp.csr_matrix:
        users = np.concatenate([b[0] for b in self.batches]) if self.batches else np.zeros(0, dtype=np.int64)
        tracks = np.concatenate([b[1] for b in self.batches]) if self.batches else np.zeros(0, dtype=np.int64)
        counts = np.concatenate([b[2] for b in self.batches]) if self.batches else np.zeros(0)
        return _csr(users, tracks, counts, shape)


class StoreEvents:
    """Writes a run's plays and metrics to the store and reads the reward matrix back with SQL each round."""

    def __init__(self, store):
        self.store = store

    def start(self, run_id: str, policy: str, seed: int, reward: str, params: dict) -> None:
        self.run_id = run_id
        self.reward = reward
        start_run(self.store, run_id, policy, seed, reward, params)

    def write(self, round_index: int, plays: Plays) -> None:
        write_events(self.store, self.run_id, round_index, plays.users, plays.tracks, plays.positions,
                     plays.ms_played, plays.streamed, plays.completed)

    def write_metrics(self, round_index: int, metrics: dict) -> None:
        write_round_metrics(self.store, self.run_id, round_index, metrics)

    def rewards(self, shape: tuple[int, int]) -> sp.csr_matrix:
        users, tracks, counts = reward_counts(self.store, self.run_id, self.reward)
        return _csr(users, tracks, counts, shape)


@dataclass
class RunResult:
    """Per-round metrics of one policy on one seed, and where the time went."""

    run_id: str
    policy: str
    seed: int
    reward: str
    rows: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def boosted_artists(world: World, share: float, seed: int) -> np.ndarray:
    """Choose the paid artists: ``share`` of all artists (at least one), uniformly with the seed."""
    rng = np.random.default_rng([seed, BOOSTED])
    count = max(1, int(round(share * world.n_artists)))
    return np.sort(rng.choice(world.n_artists, size=count, replace=False))


def run_policy(world: World, choice: ChoiceModel, policy: Policy, settings: LoopSettings, sink=None,
               run_id: str | None = None, params: dict | None = None) -> RunResult:
    """Run ``policy`` for ``settings.rounds`` rounds and return its per-round metrics."""
    settings.validate(world)
    sink = sink or MemoryEvents()
    run_id = run_id or f"{policy.label}|seed={settings.seed}|reward={settings.reward}"
    shape = (world.n_users, world.n_tracks)
    paid = boosted_artists(world, settings.boosted_share, settings.seed)
    policy.start(world, np.random.default_rng([settings.seed, POLICY]), paid)
    choice_rng = np.random.default_rng([settings.seed, CHOICES])
    sink.start(run_id, policy.label, settings.seed, settings.reward, params or {})
    result = RunResult(run_id, policy.label, settings.seed, settings.reward)
    timing = {"policy": 0.0, "choice": 0.0, "events": 0.0, "metrics": 0.0}

    # Round 0: the organic history every policy starts from.
    users, tracks = organic_history(world, np.random.default_rng([settings.seed, ORGANIC]))
    organic = choice.listen(world, users, tracks, np.full(len(users), -1), choice_rng)
    sink.write(0, organic)
    seen = _csr(organic.users, organic.tracks, np.ones(len(organic)), shape)
    plays_all = seen.copy()
    consumed = sp.csr_matrix(shape, dtype=np.float64)
    rewards = sink.rewards(shape)
    tail = long_tail_mask(world.appeal, settings.head_share)
    paid_tracks = np.isin(world.track_artist, paid)

    for round_index in range(1, settings.rounds + 1):
        started = time.perf_counter()
        slates = policy.recommend(LoopState(round_index, rewards, _binary(seen)), settings.slate_size)
        chosen = time.perf_counter()
        plays = choice.respond(world, slates, choice_rng)
        played = time.perf_counter()
        sink.write(round_index, plays)
        rewards = sink.rewards(shape)
        stored = time.perf_counter()

        round_plays = _csr(plays.users, plays.tracks, np.ones(len(plays)), shape)
        seen = seen + round_plays
        plays_all = plays_all + round_plays
        consumed = consumed + round_plays
        metrics = round_metrics(world, slates, plays, consumed, plays_all, tail, paid_tracks)
        measured = time.perf_counter()
        metrics["seconds"] = measured - started
        sink.write_metrics(round_index, metrics)
        result.rows.append({"round": round_index, **metrics})
        for step, seconds in zip(timing, (chosen - started, played - chosen, stored - played, measured - stored)):
            timing[step] += seconds
        log.debug("%s seed %d round %d: %.2f s", policy.label, settings.seed, round_index, measured - started)
    result.seconds = timing
    return result


def round_metrics(world: World, slates: np.ndarray, plays: Plays, consumed: sp.csr_matrix,
                  plays_all: sp.csr_matrix, tail: np.ndarray, paid_tracks: np.ndarray) -> dict[str, float]:
    """Measure one round: homogenisation and diversity of consumption, exposure of this round's slates, utility."""
    exposure = track_exposure(slates, world.n_tracks, "log")
    artists = artist_exposure(exposure, world.track_artist, world.n_artists)
    shown = slates[slates >= 0]
    streamed = plays.streamed
    return {
        "jaccard": mean_pairwise_jaccard(consumed),
        "exposure_gini": gini(exposure),
        "artist_gini": gini(artists),
        "top1_artist_share": top_share(artists, 0.01),
        "tail_share": long_tail_share(slates, tail, "log"),
        "utility": float(world.utility(plays.users, plays.tracks).sum() / world.n_users) if len(plays) else 0.0,
        "gs_score": float(np.nanmean(generalist_specialist(plays_all, world.track_features))),
        "plays_per_user": len(plays) / world.n_users,
        "stream_rate": float(streamed.mean()) if len(plays) else float("nan"),
        "completion_rate": float(plays.completed.mean()) if len(plays) else float("nan"),
        "recommended_duration_s": float(world.durations_ms[shown].mean() / 1000) if len(shown) else float("nan"),
        "paid_exposure_share": float(exposure[paid_tracks].sum() / exposure.sum()) if exposure.sum() else 0.0,
    }


def _csr(users: np.ndarray, tracks: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    matrix = sp.csr_matrix((np.asarray(values, dtype=np.float32), (users, tracks)), shape=shape)
    matrix.sum_duplicates()
    return matrix


def _binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    binary = matrix.copy()
    binary.data[:] = 1.0
    return binary
