"""Test playlists in the style of the RecSys Challenge 2018.

Each test playlist falls into one bucket: its title only, or its title with
the first or a random k tracks as seeds. The other tracks are hidden and left
out of training; the seeds stay in training, as the challenge set's seeds do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Bucket:
    name: str
    seeds: int
    random: bool


BUCKETS = (
    Bucket("title", 0, False),
    Bucket("first-1", 1, False),
    Bucket("first-5", 5, False),
    Bucket("random-5", 5, True),
    Bucket("first-10", 10, False),
    Bucket("random-10", 10, True),
    Bucket("first-25", 25, False),
    Bucket("random-25", 25, True),
    Bucket("first-100", 100, False),
    Bucket("random-100", 100, True),
)
BUCKETS_BY_NAME = {b.name: b for b in BUCKETS}


@dataclass
class TestPlaylist:
    pid: int
    name: str | None
    bucket: str
    seeds: list[str]
    hidden: list[str]


@dataclass
class Split:
    """Test playlists and the training pairs that remain once their hidden tracks are removed."""

    test: list[TestPlaylist]
    train_pids: np.ndarray
    train_uris: np.ndarray
    seed: int
    buckets: tuple[str, ...]
    min_hidden: int
    skipped_buckets: dict[str, str] = field(default_factory=dict)
    names: dict[int, str | None] = field(default_factory=dict)

    def describe(self) -> dict:
        counts: dict[str, int] = {}
        for playlist in self.test:
            counts[playlist.bucket] = counts.get(playlist.bucket, 0) + 1
        return {"seed": self.seed, "min_hidden": self.min_hidden, "test_playlists": len(self.test),
                "per_bucket": counts, "train_rows": int(len(self.train_pids))}


def select_buckets(names: list[str] | None = None, seed_counts: list[int] | None = None) -> tuple[Bucket, ...]:
    """Resolve bucket names or seed counts; neither means all buckets."""
    if names:
        unknown = [n for n in names if n not in BUCKETS_BY_NAME]
        if unknown:
            raise InputError(f"unknown bucket {unknown[0]!r}; choose from: {', '.join(BUCKETS_BY_NAME)}")
        return tuple(BUCKETS_BY_NAME[n] for n in names)
    if seed_counts:
        allowed = sorted({b.seeds for b in BUCKETS})
        bad = [k for k in seed_counts if k not in allowed]
        if bad:
            raise InputError(f"invalid seed count {bad[0]}; choose from: {', '.join(map(str, allowed))}")
        return tuple(b for b in BUCKETS if b.seeds in seed_counts)
    return BUCKETS


def make_split(pids: np.ndarray, uris: np.ndarray, names: dict[int, str | None], test_playlists: int,
               buckets: tuple[Bucket, ...] = BUCKETS, seed: int = 0, min_hidden: int = 5,
               candidate_pids: set[int] | None = None) -> Split:
    """Choose test playlists per bucket and hide their non-seed tracks.

    ``pids`` and ``uris`` are parallel arrays ordered by pid and position.
    Buckets needing more seeds pick first, so long playlists go where they
    are needed. A playlist is eligible for a bucket with k seeds when it has
    at least ``k + min_hidden`` tracks.
    """
    if test_playlists < len(buckets):
        raise InputError(f"test playlists must be at least the number of buckets ({len(buckets)}), got {test_playlists}")
    rng = np.random.default_rng(seed)
    boundaries = np.flatnonzero(np.diff(pids)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(pids)]])
    playlist_ids = pids[starts] if len(pids) else np.array([], dtype=np.int64)
    lengths = ends - starts

    eligible_order = rng.permutation(len(playlist_ids))
    if candidate_pids is not None:
        eligible_order = np.array([i for i in eligible_order if int(playlist_ids[i]) in candidate_pids], dtype=np.int64)
    quota = {b.name: test_playlists // len(buckets) + (1 if i < test_playlists % len(buckets) else 0)
             for i, b in enumerate(buckets)}
    taken = np.zeros(len(playlist_ids), dtype=bool)
    test: list[TestPlaylist] = []
    hidden_rows = np.zeros(len(pids), dtype=bool)
    skipped: dict[str, str] = {}
    for bucket in sorted(buckets, key=lambda b: -b.seeds):
        chosen = [i for i in eligible_order if not taken[i] and lengths[i] >= bucket.seeds + min_hidden]
        chosen = chosen[: quota[bucket.name]]
        if len(chosen) < quota[bucket.name]:
            skipped[bucket.name] = f"only {len(chosen)} of {quota[bucket.name]} playlists are long enough"
        for i in chosen:
            taken[i] = True
            rows = np.arange(starts[i], ends[i])
            if bucket.random:
                seed_rows = np.sort(rng.choice(rows, size=bucket.seeds, replace=False))
            else:
                seed_rows = rows[: bucket.seeds]
            hidden_mask = np.ones(len(rows), dtype=bool)
            hidden_mask[seed_rows - starts[i]] = False
            hidden_rows[rows[hidden_mask]] = True
            pid = int(playlist_ids[i])
            test.append(TestPlaylist(pid, names.get(pid), bucket.name, uris[seed_rows].tolist(),
                                     uris[rows[hidden_mask]].tolist()))
    order = {b.name: i for i, b in enumerate(buckets)}
    test.sort(key=lambda t: (order[t.bucket], t.pid))
    return Split(test, pids[~hidden_rows], uris[~hidden_rows], seed, tuple(b.name for b in buckets),
                 min_hidden, skipped, names)
