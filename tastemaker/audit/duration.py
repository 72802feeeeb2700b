"""Duration bias: are the recommended tracks shorter or longer than the catalogue's?

A royalty-bearing stream counts after 30 seconds whatever the length, so a
recommender that optimises streams can drift toward short songs. Durations
are known only for some tracks: the full MPD schema and audio features carry
them, and the reduced MPD sample does not. NaN marks an unknown duration, and
every figure states the share of tracks it rests on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .exposure import _as_lists


@dataclass(frozen=True)
class DurationBias:
    """Mean durations in seconds of recommended slots and of catalogue tracks, where known."""

    recommended_mean_s: float
    catalogue_mean_s: float
    ratio: float
    recommended_known: float
    catalogue_known: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def duration_bias(lists: np.ndarray, durations_ms: np.ndarray) -> DurationBias:
    """Compare the mean duration of the recommended slots with the mean over the catalogue.

    ``durations_ms`` has one entry per catalogue track, NaN where unknown.
    ``ratio`` is recommended over catalogue mean, so below 1 shorter tracks
    are recommended. ``recommended_known`` and ``catalogue_known`` are the
    shares of slots and of tracks whose duration is known. Means are NaN when
    no duration is known.
    """
    lists = _as_lists(lists)
    durations = np.asarray(durations_ms, dtype=np.float64)
    slots = durations[lists[lists >= 0]]
    known_slots = slots[~np.isnan(slots)]
    known_catalogue = durations[~np.isnan(durations)]
    recommended = known_slots.mean() / 1000 if len(known_slots) else np.nan
    catalogue = known_catalogue.mean() / 1000 if len(known_catalogue) else np.nan
    return DurationBias(
        recommended_mean_s=float(recommended),
        catalogue_mean_s=float(catalogue),
        ratio=float(recommended / catalogue) if catalogue and not np.isnan(catalogue) else float("nan"),
        recommended_known=len(known_slots) / len(slots) if len(slots) else 0.0,
        catalogue_known=len(known_catalogue) / len(durations) if len(durations) else 0.0,
    )
