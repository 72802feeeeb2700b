"""Fit the generated world to real data: popularity curves, durations and skip rates.

Popularity in MPD is not a pure power law: the rank-frequency curve flattens
at the top. The fit is therefore Zipf-Mandelbrot, rows(rank) = C / (rank + q)^s,
by least squares on log rows at ranks spaced evenly in log rank, so the few
head tracks and the long flat tail weigh alike. A world with fewer tracks
samples the curve at the same quantiles (rank times catalogue ratio).

The constants below were measured with
``python benchmarks/bench_impact.py --data ../shared/data`` on the MPD sample
(5,853 playlists, 176,202 tracks, 38,367 artists). Durations are those of the
sample's tracks that have Spotify audio features, and skip rates come from
the Spotify skip-challenge sample (201 plays). A world built without a store
uses these constants.
"""

from __future__ import annotations

import csv
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from ..errors import InputError

log = logging.getLogger(__name__)

# Seconds below which a stop counts as an early skip, and the threshold of a
# royalty-bearing stream on Spotify.
STREAM_SECONDS = 30.0
FIT_POINTS = 200


@dataclass(frozen=True)
class CurveFit:
    """A Zipf-Mandelbrot fit rows(rank) = C / (rank + q)^s over ``n`` ranked entities."""

    s: float
    q: float
    C: float
    n: int
    r2_log: float

    def weights(self, n: int) -> np.ndarray:
        """Popularity weights of n entities at the fitted curve's quantiles, most popular first, summing to 1."""
        ranks = (np.arange(n) + 0.5) * (self.n / n) + 0.5
        weights = (ranks + self.q) ** -self.s
        return weights / weights.sum()


@dataclass(frozen=True)
class Calibration:
    """Real-data parameters of the generated world.

    ``duration_log_mean`` and ``duration_log_sd`` describe log seconds.
    ``early_skip_rate`` is the share of plays stopped within the first
    seconds (the skip sample's ``skip_2``), and ``completion_rate`` is the
    share played to the end (``not_skipped``). ``tracks_per_artist`` is a mean.
    """

    tracks: CurveFit
    artists: CurveFit
    tracks_per_artist: float
    duration_log_mean: float
    duration_log_sd: float
    early_skip_rate: float
    completion_rate: float
    source: str

    def as_dict(self) -> dict:
        return asdict(self)


# Measured on the MPD sample, its audio features and the skip sample with the command in the module docstring.
DEFAULT_CALIBRATION = Calibration(
    tracks=CurveFit(s=0.9343, q=316.88, C=4.8993e4, n=176202, r2_log=0.9945),
    artists=CurveFit(s=1.3424, q=123.24, C=1.1648e6, n=38367, r2_log=0.9934),
    tracks_per_artist=4.5925,
    duration_log_mean=5.4464,
    duration_log_sd=0.2549,
    early_skip_rate=0.4080,
    completion_rate=0.4478,
    source="built-in constants measured on the MPD sample, audio features and skip sample",
)


def fit_rank_curve(counts: np.ndarray) -> CurveFit:
    """Fit Zipf-Mandelbrot to positive counts (any order); raises InputError with fewer than 10 entities."""
    counts = np.sort(np.asarray(counts, dtype=np.float64))[::-1]
    counts = counts[counts > 0]
    if len(counts) < 10:
        raise InputError(f"a popularity curve needs at least 10 entities with counts, got {len(counts)}")
    ranks = np.unique(np.geomspace(1, len(counts), FIT_POINTS).astype(np.int64))
    log_counts = np.log(counts[ranks - 1])

    def model(rank, log_c, s, log_q):
        return log_c - s * np.log(rank + np.exp(log_q))

    start = (np.log(counts[0]) + np.log(10.0), 1.0, np.log(10.0))
    bounds = ([-np.inf, 0.0, np.log(1e-3)], [np.inf, 10.0, np.log(len(counts))])
    with warnings.catch_warnings():
        # The covariance of the parameters is not used, so its estimation warning is noise here.
        warnings.simplefilter("ignore", OptimizeWarning)
        (log_c, s, log_q), _ = curve_fit(model, ranks.astype(np.float64), log_counts, p0=start, bounds=bounds,
                                         maxfev=20_000)
    residual = log_counts - model(ranks, log_c, s, log_q)
    total = np.sum((log_counts - log_counts.mean()) ** 2)
    r2 = 1 - np.sum(residual ** 2) / total if total > 0 else 1.0
    return CurveFit(s=float(s), q=float(np.exp(log_q)), C=float(np.exp(log_c)), n=len(counts), r2_log=float(r2))


def fit_log_durations(durations_ms: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of log seconds of the known durations (one-second minimum)."""
    durations = np.asarray(durations_ms, dtype=np.float64)
    durations = durations[np.isfinite(durations) & (durations > 0)]
    if len(durations) < 10:
        raise InputError(f"a duration fit needs at least 10 known durations, got {len(durations)}")
    logs = np.log(np.maximum(durations / 1000, 1.0))
    return float(logs.mean()), float(logs.std())


def skip_rates(path: Path) -> tuple[float, float]:
    """Read a Spotify skip-challenge log (CSV with skip_2 and not_skipped) and return its early-skip and completion rates."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise InputError(f"cannot read the skip log {path}: {exc.strerror or exc}") from exc
    if not rows or not {"skip_2", "not_skipped"} <= set(rows[0]):
        raise InputError(f"{path} is not a skip-challenge log: expected columns skip_2 and not_skipped")
    early = np.mean([row["skip_2"] == "True" for row in rows])
    completed = np.mean([row["not_skipped"] == "True" for row in rows])
    return float(early), float(completed)


def calibrate(track_counts: np.ndarray, artist_counts: np.ndarray, tracks_per_artist: np.ndarray,
              durations_ms: np.ndarray | None = None, skip_log: Path | None = None, source: str = "store"
              ) -> Calibration:
    """Fit a calibration from real counts; durations and skip rates fall back to the defaults when absent."""
    tracks = fit_rank_curve(track_counts)
    artists = fit_rank_curve(artist_counts)
    duration_mean, duration_sd = DEFAULT_CALIBRATION.duration_log_mean, DEFAULT_CALIBRATION.duration_log_sd
    if durations_ms is not None and np.isfinite(np.asarray(durations_ms, dtype=np.float64)).sum() >= 10:
        duration_mean, duration_sd = fit_log_durations(durations_ms)
    else:
        log.info("fewer than 10 known durations: using the built-in duration fit")
    early, completed = DEFAULT_CALIBRATION.early_skip_rate, DEFAULT_CALIBRATION.completion_rate
    if skip_log is not None:
        early, completed = skip_rates(skip_log)
    return Calibration(tracks, artists, float(np.mean(tracks_per_artist)), duration_mean, duration_sd, early,
                       completed, source)


def calibrate_from_store(store, skip_log: Path | None = None) -> Calibration:
    """Fit the calibration to the playlists, artists and durations in a store."""
    from ..store.impact import occurrence_counts, track_durations

    counts = occurrence_counts(store)
    if counts["tracks"].num_rows < 10:
        raise InputError(f"the store {store.path} has too few playlist tracks to fit a popularity curve; "
                         "ingest MPD data or run without --calibrate-store")
    durations = track_durations(store).column("duration_ms").to_numpy().astype(np.float64)
    return calibrate(counts["tracks"].column("rows").to_numpy(), counts["artists"].column("rows").to_numpy(),
                     counts["tracks_per_artist"].column("tracks").to_numpy(), durations, skip_log,
                     source=f"fitted to the store {store.path}")
