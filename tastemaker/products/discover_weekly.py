"""Discover Weekly: 30 tracks the listener has never played, at most two per artist, new every ISO week.

The model's best unplayed tracks form a pool (500 by default). The week's
list is a weighted draw from the pool without replacement: the track at
model rank r gets weight ``exp(-r / rank_decay)`` and the draw uses Gumbel
keys from a generator seeded by the listener and the ISO week. So the list
is the same on every day of a week and different the next week, and better
ranked tracks are likelier. The drawn order then passes the artist cap, and
the kept tracks are listed in model order.

The list depends on the history it is given. ``week_start`` gives the moment
a week's list is made from (Monday 00:00 UTC), so that plays during the week
do not change it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import numpy as np

from ..errors import InputError
from .common import apply_rerank, cap_artists, model_candidates, seeded_rng, validate_count
from .explain import because
from .listener import Listener
from .result import ProductResult
from .space import TrackSpace

PRODUCT = "discover-weekly"
DEFAULT_N = 30
DEFAULT_ARTIST_CAP = 2
DEFAULT_POOL = 500
DEFAULT_RANK_DECAY = 100.0
WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{2})$")


def iso_week(when: date | datetime | str | tuple[int, int] | None = None) -> tuple[int, int]:
    """Return (ISO year, ISO week) of a day, a ``YYYY-Www`` string, a (year, week) pair, or today (UTC)."""
    if when is None:
        when = datetime.now(timezone.utc).date()
    if isinstance(when, tuple):
        year, week = when
        week_start(year, week)  # validates
        return int(year), int(week)
    if isinstance(when, str):
        match = WEEK_PATTERN.match(when.strip())
        if not match:
            raise InputError(f"invalid week {when!r}: expected an ISO week as YYYY-Www, for example 2024-W05")
        year, week = int(match.group(1)), int(match.group(2))
        week_start(year, week)
        return year, week
    calendar = when.isocalendar()
    return calendar[0], calendar[1]


def week_start(year: int, week: int) -> datetime:
    """Return Monday 00:00 UTC of an ISO week."""
    try:
        monday = date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise InputError(f"invalid ISO week {year}-W{week:02d}: year {year} has no week {week}") from None
    return datetime(monday.year, monday.month, monday.day, tzinfo=timezone.utc)


def week_label(year: int, week: int) -> str:
    return f"{year}-W{week:02d}"


def discover_weekly(space: TrackSpace, listener: Listener, week: date | datetime | str | tuple[int, int] | None = None,
                    N: int = DEFAULT_N, artist_cap: int | None = DEFAULT_ARTIST_CAP, pool: int = DEFAULT_POOL,
                    rank_decay: float = DEFAULT_RANK_DECAY, rerank: str | None = None,
                    seed: int = 0) -> ProductResult:
    """Make the listener's Discover Weekly for the ISO week containing ``week`` (default: this week).

    ``rerank`` (``NAME:STRENGTH``) re-orders the drawn tracks before the artist cap applies.
    """
    validate_count("N", N)
    validate_count("pool", pool)
    if not rank_decay > 0:
        raise InputError(f"rank_decay must be a positive number, got {rank_decay!r}")
    year, number = iso_week(week)
    ids, scores, fallback = model_candidates(space, listener, max(pool, N))

    # A weighted draw without replacement: sorting by log-weight plus Gumbel noise.
    rng = seeded_rng(PRODUCT, listener.key, year, number, seed)
    keys = -np.arange(len(ids)) / rank_decay + rng.gumbel(size=len(ids))
    drawn = ids[np.argsort(-keys, kind="stable")]
    drawn = apply_rerank(space, drawn, np.zeros(len(drawn)), N, rerank, listener)
    chosen = cap_artists(drawn, space.track_artist, N, artist_cap)
    if rerank is None:
        rank = {int(item): r for r, item in enumerate(ids.tolist())}
        chosen = np.array(sorted(chosen.tolist(), key=rank.__getitem__), dtype=np.int64)

    label = week_label(year, number)
    result = ProductResult(PRODUCT, f"Discover Weekly {label}", fallback=fallback, details={
        "week": label, "artist_cap": artist_cap, "pool": len(ids), "rerank": rerank})
    score_of = dict(zip(ids.tolist(), scores.tolist()))
    for item, text in zip(chosen.tolist(), because(space, listener, chosen, "new to you")):
        result.append(space.tracks.ids[item], score_of[item], "model" if fallback is None else "popularity", text)
    return result


def days_of_week(year: int, week: int) -> list[datetime]:
    """Return the seven days (00:00 UTC) of an ISO week, Monday first."""
    start = week_start(year, week)
    return [start + timedelta(days=d) for d in range(7)]
