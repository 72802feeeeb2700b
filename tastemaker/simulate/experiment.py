"""Run many policies on several seeded worlds, plus the reward experiment, and summarise across seeds.

The reward experiment runs pure ALS twice on each world: once rewarded for
plays of at least 30 seconds (``stream``) and once for plays to the end
(``completion``), to show what each reward does to the durations
recommended.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .choice import ChoiceModel, ChoiceParams
from .fit import DEFAULT_CALIBRATION, Calibration, fit_rank_curve
from .loop import LoopSettings, MemoryEvents, RunResult, run_policy
from .policies import make_policy
from .world import WorldParams, generate_world, organic_history

log = logging.getLogger(__name__)

DEFAULT_POLICIES = ("popularity", "als", "als-explore:0.2", "als+calibration:0.5", "als+mmr:0.5",
                    "als+fairness:0.5", "als+popularity:0.5", "paid-boost:0.3", "oracle", "random")
EXPLOITATION = "als"
REWARDS = ("stream", "completion")
SUMMARY_METRICS = ("jaccard", "utility", "artist_gini", "exposure_gini", "top1_artist_share", "tail_share",
                   "gs_score", "paid_exposure_share", "stream_rate", "completion_rate", "recommended_duration_s",
                   "plays_per_user")


@dataclass(frozen=True)
class ExperimentSettings:
    """Policies and seeds of an experiment, and the world, choice and loop settings every run shares."""

    policies: tuple[str, ...] = DEFAULT_POLICIES
    seeds: tuple[int, ...] = (0, 1, 2)
    world: WorldParams = WorldParams()
    choice: ChoiceParams = ChoiceParams()
    loop: LoopSettings = LoopSettings()
    reward_experiment: bool = True


@dataclass
class SimulationResult:
    """Every run of an experiment, the calibration used and the check of the generated world against it."""

    settings: ExperimentSettings
    calibration: Calibration
    runs: list[RunResult] = field(default_factory=list)
    reward_runs: list[RunResult] = field(default_factory=list)
    fit_check: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def run_count(self) -> int:
        """Distinct runs, counting once a run shared by the policies and the reward experiment."""
        return len({id(run) for run in self.runs + self.reward_runs})

    def round_rows(self, runs: list[RunResult] | None = None) -> list[dict]:
        """Flatten runs into one row per policy, seed, reward and round."""
        return [{"policy": run.policy, "seed": run.seed, "reward": run.reward, **row}
                for run in (self.runs if runs is None else runs) for row in run.rows]

    def policies(self) -> list[str]:
        return list(dict.fromkeys(run.policy for run in self.runs))

    def series(self, metric: str, policy: str, runs: list[RunResult] | None = None,
               reward: str | None = None) -> np.ndarray:
        """Return (seeds, rounds) values of one metric for one policy."""
        chosen = [run for run in (self.runs if runs is None else runs)
                  if run.policy == policy and (reward is None or run.reward == reward)]
        return np.array([[row[metric] for row in run.rows] for run in chosen], dtype=np.float64)

    def summary(self) -> list[dict]:
        """Per policy, mean and standard deviation across seeds of the final round and of the totals.

        ``jaccard_rise`` is the final-round Jaccard less the first round's, and
        ``total_utility`` sums utility over rounds. ``utility_vs_als`` and
        ``jaccard_rise_vs_als`` are relative changes against pure ALS
        exploitation on the same seeds.
        """
        rows = []
        base_utility = self._per_seed(EXPLOITATION, "total_utility")
        base_rise = self._per_seed(EXPLOITATION, "jaccard_rise")
        for policy in self.policies():
            row: dict = {"policy": policy, "seeds": len(self.series("jaccard", policy))}
            for name in ("total_utility", "jaccard_rise", *SUMMARY_METRICS, "seconds_per_round"):
                values = self._per_seed(policy, name)
                row[name] = float(values.mean())
                row[f"{name}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            if len(base_utility) == row["seeds"] and len(base_utility):
                utility = self._per_seed(policy, "total_utility")
                rise = self._per_seed(policy, "jaccard_rise")
                row["utility_vs_als"] = float(np.mean(utility / base_utility - 1))
                row["jaccard_rise_vs_als"] = float(np.mean(rise / base_rise - 1))
            rows.append(row)
        return rows

    def _per_seed(self, policy: str, name: str) -> np.ndarray:
        if name == "total_utility":
            return self.series("utility", policy).sum(axis=1)
        if name == "jaccard_rise":
            jaccard = self.series("jaccard", policy)
            return jaccard[:, -1] - jaccard[:, 0]
        if name == "seconds_per_round":
            return self.series("seconds", policy).mean(axis=1)
        return self.series(name, policy)[:, -1]


def check_world(world, choice: ChoiceModel, seed: int) -> dict:
    """Compare the generated world's organic plays with the real-data calibration it was built from."""
    users, tracks = organic_history(world, np.random.default_rng(seed))
    plays = choice.listen(world, users, tracks, np.full(len(users), -1), np.random.default_rng(seed + 1))
    track_counts = np.bincount(tracks, minlength=world.n_tracks)
    generated_tracks = fit_rank_curve(track_counts)
    generated_artists = fit_rank_curve(np.bincount(world.track_artist[tracks], minlength=world.n_artists))
    calibration = world.calibration
    return {
        "real_track_curve": calibration.tracks, "generated_track_curve": generated_tracks,
        "real_artist_curve": calibration.artists, "generated_artist_curve": generated_artists,
        "real_tracks_per_artist": calibration.tracks_per_artist,
        "generated_tracks_per_artist": world.n_tracks / world.n_artists,
        "real_early_skip_rate": calibration.early_skip_rate,
        "generated_early_skip_rate": float((plays.ms_played < 30_000).mean()),
        "real_completion_rate": calibration.completion_rate,
        "generated_completion_rate": float(plays.completed.mean()),
        "real_median_duration_s": float(np.exp(calibration.duration_log_mean)),
        "generated_median_duration_s": float(np.median(world.durations_ms) / 1000),
        "early_skip_bias": choice.early_skip_bias, "late_hazard_per_s": choice.late_hazard,
        "generated_track_counts": np.sort(track_counts)[::-1],
    }


def run_experiment(settings: ExperimentSettings | None = None, calibration: Calibration = DEFAULT_CALIBRATION,
                   sink=None, progress=None) -> SimulationResult:
    """Run every policy on every seed (and the reward experiment); ``sink`` receives the events of each run.

    ``progress``, when given, is called with a description after each run.
    """
    settings = settings or ExperimentSettings()
    for spec in settings.policies:
        make_policy(spec)
    started = time.perf_counter()
    result = SimulationResult(settings, calibration)
    sink = sink or MemoryEvents()
    for seed in settings.seeds:
        world = generate_world(replace(settings.world, seed=seed), calibration)
        choice = ChoiceModel.calibrated(world, settings.choice, seed=seed)
        if not result.fit_check:
            result.fit_check = check_world(world, choice, seed)
        params = {"world": world.describe(), "choice": asdict(settings.choice),
                  "early_skip_bias": choice.early_skip_bias, "late_hazard": choice.late_hazard}
        for spec in settings.policies:
            loop = replace(settings.loop, seed=seed)
            run = run_policy(world, choice, make_policy(spec), loop, sink, params={**params, "loop": asdict(loop)})
            result.runs.append(run)
            log.info("%s seed %d: %.1f s", run.policy, seed, sum(run.seconds.values()))
            if progress:
                progress(f"{run.policy} seed {seed}")
        if settings.reward_experiment:
            for reward in REWARDS:
                reused = [r for r in result.runs if r.policy == EXPLOITATION and r.seed == seed and r.reward == reward]
                if reused:
                    result.reward_runs.append(reused[0])
                    continue
                loop = replace(settings.loop, seed=seed, reward=reward)
                run = run_policy(world, choice, make_policy(EXPLOITATION), loop, sink,
                                 params={**params, "loop": asdict(loop)})
                result.reward_runs.append(run)
                if progress:
                    progress(f"{EXPLOITATION} reward {reward} seed {seed}")
    result.seconds = time.perf_counter() - started
    return result
