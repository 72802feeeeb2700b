"""Property tests of the products on an ALS space fitted to generated listening histories."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from products_fixtures import N_USERS, generated, plays_user, space, user_events
from tastemaker.errors import InputError
from tastemaker.products.discover_weekly import days_of_week, discover_weekly, week_start
from tastemaker.products.radio import RadioSeed, RadioSession, RadioSettings
from tastemaker.products.smart_shuffle import smart_shuffle

PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def artist_of(uri: str) -> str:
    """The generator's artist name of a track, looked up without the space."""
    data = generated()
    index = data.track_uris.tolist().index(uri)
    return str(data.artist_names[data.track_artist[index]])


def weeks():
    return st.tuples(st.integers(min_value=2019, max_value=2030), st.integers(min_value=1, max_value=52))


# Discover Weekly


@PROPERTY_SETTINGS
@given(user=st.integers(min_value=0, max_value=N_USERS - 1), week=weeks(), cap=st.integers(min_value=1, max_value=3),
       n=st.integers(min_value=5, max_value=40), seed=st.integers(min_value=0, max_value=3))
def test_discover_weekly_never_played_and_capped(user, week, cap, n, seed):
    result = discover_weekly(space(), plays_user(user), week, N=n, artist_cap=cap, seed=seed)
    played = set(user_events(user).column("track_uri").to_pylist())
    artists = [artist_of(uri) for uri in result.track_ids]
    assert not played & set(result.track_ids)
    assert len(set(result.track_ids)) == len(result.track_ids)
    assert len(result) == n
    assert max(artists.count(a) for a in set(artists)) <= cap
    assert all(result.explanations)


@PROPERTY_SETTINGS
@given(user=st.integers(min_value=0, max_value=N_USERS - 1), week=weeks())
def test_discover_weekly_stable_within_week_new_next(user, week):
    listener = plays_user(user)
    lists = [discover_weekly(space(), listener, day).track_ids for day in days_of_week(*week)]
    following = discover_weekly(space(), listener, (week_start(*week) + timedelta(days=7)).date())
    assert all(tracks == lists[0] for tracks in lists)
    assert discover_weekly(space(), listener, f"{week[0]}-W{week[1]:02d}").track_ids == lists[0]
    assert following.track_ids != lists[0]


def test_discover_weekly_rejects_bad_week():
    with pytest.raises(InputError, match="expected an ISO week as YYYY-Www"):
        discover_weekly(space(), plays_user(0), "2024-5")
    with pytest.raises(InputError, match="year 2021 has no week 53"):
        discover_weekly(space(), plays_user(0), "2021-W53")


# Radio


def station(seed_track: int, **settings_) -> RadioSession:
    # A seed track without a vector gives the station no taste to start from,
    # so the properties are checked on seeds that have one.
    with_vector = np.flatnonzero(space().has_vector)
    seed_track = int(with_vector[seed_track % len(with_vector)])
    return RadioSession(space(), RadioSeed(np.array([seed_track]), "seed", space().tracks.ids[seed_track]),
                        settings=RadioSettings(**settings_))


@PROPERTY_SETTINGS
@given(seed_track=st.integers(min_value=0, max_value=599), pages=st.integers(min_value=1, max_value=6),
       feedback=st.lists(st.tuples(st.integers(min_value=1, max_value=10), st.sampled_from(["skip", "listen"])),
                         max_size=8))
def test_radio_never_repeats_in_session(seed_track, pages, feedback):
    session = station(seed_track)
    served: list[str] = []
    for page in range(pages):
        result = session.next_page()
        served += result.track_ids
        for position, outcome in feedback:
            session.record(page * 10 + position, outcome)
    assert len(served) == len(set(served))
    assert space().tracks.ids[int(session.seed.tracks[0])] not in served
    assert len(served) == 10 * pages


def neighbour_ranks(seed_track: int, skipped_position: int, k: int = 5) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Ranks of the skipped track's k nearest neighbours on the next page's ranking, without and with the skip.

    Also returns how many of them the next page (10 tracks) lists without and with the skip.
    """
    plain = station(seed_track, candidate_pool=600)
    plain.next_page()
    skipping = station(seed_track, candidate_pool=600)
    skipping.next_page()
    skipped = skipping.served[skipped_position - 1]
    skipping.skip(skipped_position)
    neighbours = space().neighbours(skipped, k, plain.excluded())
    ranks = []
    for session in (plain, skipping):
        order = session.ranking()[0].tolist()
        ranks.append(np.array([order.index(n) if n in order else len(order) for n in neighbours]))
    return ranks[0], ranks[1], int((ranks[0] < 10).sum()), int((ranks[1] < 10).sum())


@PROPERTY_SETTINGS
@given(seed_track=st.integers(min_value=0, max_value=599), position=st.integers(min_value=1, max_value=10))
def test_skip_never_raises_neighbours(seed_track, position):
    without, with_skip, _, _ = neighbour_ranks(seed_track, position)
    assert with_skip.sum() >= without.sum()


def test_skip_lowers_neighbours_measured():
    # 40 stations, each skipping one track of its first page: the skipped
    # track's 5 nearest neighbours fall on the next page's ranking.
    rng = np.random.default_rng(0)
    changes, on_page = [], [0, 0]
    for seed_track in rng.choice(len(space()), size=40, replace=False):
        without, with_skip, shown_without, shown_with = neighbour_ranks(int(seed_track), int(rng.integers(1, 11)))
        changes.append(with_skip.mean() - without.mean())
        on_page[0] += shown_without
        on_page[1] += shown_with
    assert np.mean(changes) > 5
    assert np.mean(np.array(changes) > 0) > 0.9
    assert on_page[1] < on_page[0]


def test_listen_raises_neighbours_measured():
    rng = np.random.default_rng(1)
    changes = []
    for seed_track in rng.choice(len(space()), size=20, replace=False):
        plain, listening = station(int(seed_track), candidate_pool=600), station(int(seed_track), candidate_pool=600)
        plain.next_page()
        listening.next_page()
        heard = listening.served[4]
        listening.listen(5)
        neighbours = space().neighbours(heard, 5, plain.excluded())
        orders = [s.ranking()[0].tolist() for s in (plain, listening)]
        changes.append(np.mean([orders[1].index(n) - orders[0].index(n) for n in neighbours]))
    assert np.mean(changes) < 0


def test_radio_feedback_needs_served_track():
    session = station(0)
    session.next_page()
    with pytest.raises(InputError, match="position 11 is not a served track"):
        session.skip(11)
    with pytest.raises(InputError, match="was not served in this session"):
        session.listen(space().tracks.ids[0])


def test_radio_state_round_trip():
    session = station(3)
    session.next_page()
    session.skip(2)
    session.listen(4)
    restored = RadioSession.from_dict(space(), session.to_dict())
    assert restored.next_page().track_ids == session.next_page().track_ids


# Smart Shuffle


@PROPERTY_SETTINGS
@given(picks=st.lists(st.integers(min_value=0, max_value=599), min_size=0, max_size=40),
       unknown=st.integers(min_value=0, max_value=3), every=st.integers(min_value=2, max_value=5))
def test_smart_shuffle_keeps_originals_in_order(picks, unknown, every):
    originals = [space().tracks.ids[i % len(space())] for i in picks]
    originals += [f"spotify:track:unknown{i:014d}" for i in range(unknown)]
    result = smart_shuffle(space(), originals, every=every)
    kept = [t for t, s in zip(result.track_ids, result.sources) if s == "playlist"]
    added = [t for t, s in zip(result.track_ids, result.sources) if s == "recommended"]
    assert kept == originals
    assert len(added) == len(set(added))
    assert not set(added) & set(originals)
    if picks:
        assert len(added) == len(originals) // (every - 1)
        for index, source in enumerate(result.sources):
            if source == "recommended":
                assert result.sources[index - every + 1:index] == ["playlist"] * (every - 1)
