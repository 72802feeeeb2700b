"""Ranking metrics against values worked out by hand, and the test-playlist split."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tastemaker.errors import InputError
from tastemaker.evaluation import BUCKETS, make_split, select_buckets
from tastemaker.evaluation.metrics import clicks, ndcg, r_precision, recall_at

# Metrics


def test_r_precision_partial():
    # R is 3 hidden tracks, and the first 3 recommendations contain a and c.
    assert r_precision(["a", "b", "c", "d"], {"a", "c", "x"}) == pytest.approx(2 / 3)


def test_r_precision_ignores_later_hits():
    # d is a hit but sits at rank 4, past R = 2.
    assert r_precision(["b", "c", "a", "d"], {"a", "d"}) == 0.0


def test_r_precision_perfect():
    assert r_precision(["a", "b", "c"], {"a", "b"}) == 1.0


def test_r_precision_unknown_hidden():
    # A hidden track the model never saw still counts in R.
    assert r_precision(["a"], {"a", "never-seen"}) == 0.5


def test_ndcg_hand_computed():
    # DCG is 1/log2(2) + 1/log2(4) = 1.5, and the ideal DCG is 1/log2(2) + 1/log2(3).
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg(["a", "b", "c"], {"a", "c"}) == pytest.approx(expected)


def test_ndcg_perfect():
    assert ndcg(["a", "b", "c", "d"], {"a", "b"}) == pytest.approx(1.0)


def test_ndcg_no_hit():
    assert ndcg(["a", "b"], {"z"}) == 0.0


def test_ndcg_more_hidden_than_list():
    # Ideal DCG is capped at the list length: both ranks hit, so NDCG is 1.
    assert ndcg(["a", "b"], {"a", "b", "c", "d"}) == pytest.approx(1.0)


@pytest.mark.parametrize(("rank", "expected"), [(0, 0), (9, 0), (10, 1), (25, 2), (499, 49)])
def test_clicks_first_hit(rank, expected):
    recommended = [f"t{i}" for i in range(500)]
    assert clicks(recommended, {f"t{rank}", "elsewhere"}) == expected


def test_clicks_no_hit_500():
    recommended = [f"t{i}" for i in range(500)]
    assert clicks(recommended, {"missing"}) == 51


def test_recall_at_k():
    recommended = ["a", "b", "c", "d", "e"]
    hidden = {"b", "e", "x", "y"}
    assert recall_at(recommended, hidden, 2) == 0.25
    assert recall_at(recommended, hidden, 5) == 0.5


@pytest.mark.parametrize("metric", [r_precision, ndcg, lambda r, h: recall_at(r, h, 10)],
                         ids=["r_precision", "ndcg", "recall"])
def test_metric_empty_hidden(metric):
    with pytest.raises(ValueError, match="hidden must not be empty"):
        metric(["a"], set())


# Split

PLAYLISTS = 300


def playlist_pairs(n_playlists: int = PLAYLISTS) -> tuple[np.ndarray, np.ndarray, dict[int, list[str]]]:
    """Parallel pid and URI arrays ordered by pid and position, with lengths 6 to 130.

    Track t{j} appears in many playlists, so tracks are shared as in real data.
    """
    rng = np.random.default_rng(7)
    tracks: dict[int, list[str]] = {}
    for pid in range(n_playlists):
        length = 6 + pid % 125
        tracks[pid] = [f"t{j}" for j in rng.choice(400, size=length, replace=False)]
    pids = np.concatenate([[pid] * len(uris) for pid, uris in tracks.items()]).astype(np.int64)
    uris = np.asarray([uri for uris in tracks.values() for uri in uris], dtype=object)
    return pids, uris, tracks


@pytest.fixture(scope="module")
def pairs():
    return playlist_pairs()


@pytest.fixture(scope="module")
def split(pairs):
    pids, uris, _ = pairs
    return make_split(pids, uris, {}, 100, BUCKETS, seed=3, min_hidden=5)


def test_split_same_seed_same_split(pairs, split):
    pids, uris, _ = pairs
    again = make_split(pids, uris, {}, 100, BUCKETS, seed=3, min_hidden=5)
    assert again.test == split.test
    assert np.array_equal(again.train_pids, split.train_pids)
    assert np.array_equal(again.train_uris, split.train_uris)


def test_split_other_seed_differs(pairs, split):
    pids, uris, _ = pairs
    other = make_split(pids, uris, {}, 100, BUCKETS, seed=4, min_hidden=5)
    assert [t.pid for t in other.test] != [t.pid for t in split.test]


def test_split_test_disjoint(split):
    test_pids = [t.pid for t in split.test]
    assert len(test_pids) == len(set(test_pids))


def test_split_test_count(split):
    assert len(split.test) == 100
    assert split.skipped_buckets == {}


def test_split_bucket_quota(split):
    counts = {b.name: 0 for b in BUCKETS}
    for playlist in split.test:
        counts[playlist.bucket] += 1
    assert counts == {b.name: 10 for b in BUCKETS}


def test_split_bucket_seed_counts(split):
    expected = {b.name: b.seeds for b in BUCKETS}
    for playlist in split.test:
        assert len(playlist.seeds) == expected[playlist.bucket], f"pid {playlist.pid} in {playlist.bucket}"


def test_split_seeds_and_hidden_cover_playlist(pairs, split):
    _, _, tracks = pairs
    for playlist in split.test:
        assert sorted(playlist.seeds + playlist.hidden) == sorted(tracks[playlist.pid]), f"pid {playlist.pid}"


def test_split_min_hidden(split):
    for playlist in split.test:
        assert len(playlist.hidden) >= 5, f"pid {playlist.pid}"


def test_split_hidden_not_in_training(split):
    train = set(zip(split.train_pids.tolist(), split.train_uris.tolist()))
    for playlist in split.test:
        leaked = [uri for uri in playlist.hidden if (playlist.pid, uri) in train]
        assert not leaked, f"pid {playlist.pid}: hidden tracks in training: {leaked[:3]}"


def test_split_seeds_in_training(split):
    train = set(zip(split.train_pids.tolist(), split.train_uris.tolist()))
    for playlist in split.test:
        missing = [uri for uri in playlist.seeds if (playlist.pid, uri) not in train]
        assert not missing, f"pid {playlist.pid}: seeds missing from training: {missing[:3]}"


def test_split_other_playlists_whole(pairs, split):
    pids, _, tracks = pairs
    test_pids = {t.pid for t in split.test}
    train_rows = {pid: int((split.train_pids == pid).sum()) for pid in tracks if pid not in test_pids}
    assert train_rows == {pid: len(tracks[pid]) for pid in tracks if pid not in test_pids}
    assert len(split.train_pids) == len(pids) - sum(len(t.hidden) for t in split.test)


def test_split_first_k_seeds(pairs, split):
    _, _, tracks = pairs
    first = [t for t in split.test if t.bucket.startswith("first-")]
    assert first
    for playlist in first:
        k = len(playlist.seeds)
        assert playlist.seeds == tracks[playlist.pid][:k], f"pid {playlist.pid}"


def test_split_random_k_seeds(pairs, split):
    _, _, tracks = pairs
    random_k = [t for t in split.test if t.bucket.startswith("random-")]
    assert random_k
    not_prefix = 0
    for playlist in random_k:
        order = tracks[playlist.pid]
        positions = [order.index(uri) for uri in playlist.seeds]
        assert positions == sorted(positions), f"pid {playlist.pid}: seeds out of playlist order"
        not_prefix += playlist.seeds != order[: len(playlist.seeds)]
    # A random draw of k seeds is rarely the first k tracks, so at most one of the 40 may be.
    assert not_prefix >= len(random_k) - 1


def test_split_title_bucket(split):
    titles = [t for t in split.test if t.bucket == "title"]
    assert len(titles) == 10
    for playlist in titles:
        assert playlist.seeds == []


def test_split_names(pairs):
    pids, uris, _ = pairs
    names = {pid: f"list {pid}" for pid in range(PLAYLISTS)}
    split = make_split(pids, uris, names, 10, BUCKETS, seed=0)
    for playlist in split.test:
        assert playlist.name == f"list {playlist.pid}"


def test_split_candidate_pids(pairs):
    pids, uris, _ = pairs
    candidates = set(range(150, 300))
    split = make_split(pids, uris, {}, 20, BUCKETS, seed=0, candidate_pids=candidates)
    assert {t.pid for t in split.test} <= candidates


def test_split_short_playlists_skipped():
    # Every playlist has 12 tracks: too short for 10 seeds + 5 hidden and beyond.
    pids = np.repeat(np.arange(50), 12)
    uris = np.asarray([f"t{i}" for i in range(len(pids))], dtype=object)
    split = make_split(pids, uris, {}, 10, BUCKETS, seed=0, min_hidden=5)
    assert set(split.skipped_buckets) == {"first-10", "random-10", "first-25", "random-25", "first-100",
                                          "random-100"}
    assert "only 0 of 1 playlists are long enough" in split.skipped_buckets["first-100"]
    assert {t.bucket for t in split.test} == {"title", "first-1", "first-5", "random-5"}


def test_split_too_few_test_playlists(pairs):
    pids, uris, _ = pairs
    with pytest.raises(InputError, match="at least the number of buckets \\(10\\), got 3"):
        make_split(pids, uris, {}, 3, BUCKETS)


def test_select_buckets_by_seeds():
    assert [b.name for b in select_buckets(None, [10])] == ["first-10", "random-10"]


def test_select_buckets_unknown_name():
    with pytest.raises(InputError, match="unknown bucket 'first-7'; choose from: title, first-1"):
        select_buckets(["first-7"])


def test_select_buckets_bad_seed_count():
    with pytest.raises(InputError, match="invalid seed count 7; choose from: 0, 1, 5, 10, 25, 100"):
        select_buckets(None, [7])
