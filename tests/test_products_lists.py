"""Daily Mix, Release Radar and the listener kinds, on an ALS space fitted to generated listening histories."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from products_fixtures import generated, playlist_user, plays_user, space, user_events
from tastemaker.errors import InputError
from tastemaker.products.common import cap_artists, model_candidates
from tastemaker.products.daily_mix import choose_clusters, daily_mixes, silhouette
from tastemaker.products.discover_weekly import discover_weekly
from tastemaker.products.listener import artist_plays_listener
from tastemaker.products.release_radar import release_radar
from tastemaker.ingest.names import synthetic_artist_uri


# Daily Mix


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3]
    vectors = np.repeat(centres, 20, axis=0) + 0.05 * rng.normal(size=(60, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels, centroids, tried = choose_clusters(vectors, 6, np.random.default_rng(1))
    assert len(centroids) == 3
    assert set(tried) == {2, 3, 4, 5, 6}
    for block in range(3):
        assert len(set(labels[block * 20:(block + 1) * 20].tolist())) == 1
    assert silhouette(vectors, labels) > 0.8


def test_kmeans_one_cluster_for_uniform_noise():
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(40, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels, centroids, _ = choose_clusters(vectors, 6, np.random.default_rng(3))
    assert len(centroids) == 1
    assert set(labels.tolist()) == {0}


@pytest.mark.parametrize("share", [0.0, 0.3, 0.5, 1.0])
def test_daily_mixes_blend_and_partition(share):
    listener = plays_user(5)
    mixes = daily_mixes(space(), listener, max_mixes=6, N=20, familiar_share=share)
    history = set(space().tracks.external(listener.history))
    played = set(user_events(5).column("track_uri").to_pylist())
    new_everywhere = []
    assert 1 <= len(mixes) <= 6
    for mix in mixes:
        familiar = [t for t, s in zip(mix.track_ids, mix.sources) if s == "familiar"]
        new = [t for t, s in zip(mix.track_ids, mix.sources) if s == "new"]
        assert len(mix) <= 20
        assert set(familiar) <= history
        assert not set(new) & played
        assert mix.title.startswith(f"Daily Mix {mix.details['mix']}: ")
        assert all(mix.explanations)
        want = round(20 * share)
        if mix.details["history_tracks"] >= want and mix.details["new_candidates"] >= 20 - want:
            assert len(familiar) == want
            assert len(new) == 20 - want
        else:
            assert len(mix) == min(20, mix.details["history_tracks"] + mix.details["new_candidates"])
        new_everywhere += new
    assert len(new_everywhere) == len(set(new_everywhere))


def test_daily_mix_named_after_leading_artists():
    listener = plays_user(7)
    mix = daily_mixes(space(), listener, max_mixes=1, N=30, familiar_share=1.0)[0]
    counts: dict[str, int] = {}
    for uri in mix.track_ids:
        data = generated()
        name = str(data.artist_names[data.track_artist[data.track_uris.tolist().index(uri)]])
        counts[name] = counts.get(name, 0) + 1
    leader = max(counts, key=counts.get)
    assert leader in mix.details["artists"]
    assert leader in mix.title


def test_daily_mix_without_history_falls_back():
    cold = playlist_user(["spotify:track:" + "0" * 22])
    mixes = daily_mixes(space(), cold)
    assert len(mixes) == 1
    assert len(mixes[0]) == 0
    assert "no history tracks" in mixes[0].fallback


# Release Radar


def catalogue(extra: list[tuple[str, str, str, str]] = ()) -> pa.Table:
    """The space's tracks as a store catalogue, plus ``extra`` (uri, name, artist, first-seen day) rows."""
    sp_ = space()
    uris = list(sp_.tracks.ids) + [e[0] for e in extra]
    names = list(sp_.track_names) + [e[1] for e in extra]
    artists = [sp_.artist_name(i) for i in range(len(sp_))] + [e[2] for e in extra]
    seen = list(sp_.first_seen) + [np.datetime64(e[3], "us") for e in extra]
    return pa.table({"track_uri": uris, "name": names, "artist_name": artists,
                     "first_seen": pa.array(np.array(seen, dtype="datetime64[us]"))})


def test_release_radar_new_tracks_of_top_artists():
    listener = plays_user(2)
    top = listener.top_artists(3)
    names = [str(space().artist_names[a]) for a in top]
    extra = [("spotify:track:new0000000000000000001", "Fresh One", names[0], "2024-03-01"),
             ("spotify:track:new0000000000000000002", "Fresh Two", names[1], "2024-02-28"),
             ("spotify:track:new0000000000000000003", "Not Followed", "Nobody Known", "2024-03-01")]
    result = release_radar(space(), listener, catalogue(extra), N=10, top_artists=3, per_artist=2, window_days=7,
                           today=date(2024, 3, 2))
    played = set(user_events(2).column("track_uri").to_pylist())
    assert result.fallback is None
    assert result.track_ids[0] == "spotify:track:new0000000000000000001"
    assert "spotify:track:new0000000000000000003" not in result.track_ids
    assert not played & set(result.track_ids)
    ages = [-score for score in result.scores]
    assert ages == sorted(ages)
    assert all(age <= 7 for age in ages)
    assert f"your number 1 artist" in result.explanations[0]
    assert "first seen in the store on 2024-03-01" in result.explanations[0]


def test_release_radar_release_dates_and_cap():
    listener = plays_user(2)
    artist = int(listener.top_artists(1)[0])
    tracks = space().tracks.external(space().artist_tracks(artist))
    unplayed = [t for t in tracks if t not in set(user_events(2).column("track_uri").to_pylist())]
    dates = {uri: date(2024, 5, 1 + i) for i, uri in enumerate(unplayed)}
    result = release_radar(space(), listener, catalogue(), N=30, top_artists=1, per_artist=2, window_days=400,
                           release_dates=dates, today=date(2024, 6, 1))
    assert len(result) == min(2, len(unplayed))
    assert result.track_ids[0] == max(dates, key=dates.get)
    assert "released 2024-05" in result.explanations[0]


def test_release_radar_falls_back_to_newest():
    listener = plays_user(2)
    result = release_radar(space(), listener, catalogue(), N=5, window_days=3, today=date(2030, 1, 1))
    assert "no track of your top artists is dated within the last 3 days" in result.fallback
    assert len(result) == 5


# Listener kinds and shared steps


def test_artist_plays_listener_counts_artist_tracks_as_played():
    data = generated()
    names = [str(data.artist_names[i]) for i in (0, 1, 2)] + ["Nobody Anywhere"]
    listener = artist_plays_listener(space(), [synthetic_artist_uri(n) for n in names], names,
                                     np.array([500, 50, 5, 7]), "user:900")
    artists = [space().artists.index(synthetic_artist_uri(n)) for n in names[:3]]
    assert listener.unknown == ["Nobody Anywhere"]
    assert listener.top_artists(3).tolist() == artists
    for artist in artists:
        assert listener.played[space().artist_tracks(artist)].all()
    result = discover_weekly(space(), listener, "2024-W10", N=15)
    assert not set(result.track_ids) & set(space().tracks.external(np.flatnonzero(listener.played)))
    assert "whom you played" in " ".join(result.explanations)


def test_cold_listener_gets_flagged_popular_tracks():
    cold = playlist_user(["spotify:track:" + "0" * 22])
    ids, scores, fallback = model_candidates(space(), cold, 5)
    assert "most popular tracks" in fallback
    assert ids.tolist() == space().popularity_order()[:5].tolist()
    assert np.isnan(scores).all()


def test_cap_artists_keeps_order():
    artists = np.array([0, 0, 0, 1, -1, -1, 1, 1])
    kept = cap_artists(np.arange(8), artists, 10, 2)
    assert kept.tolist() == [0, 1, 3, 4, 5, 6]
    with pytest.raises(InputError, match="artist cap must be a positive integer"):
        cap_artists(np.arange(8), artists, 10, 0)
