"""The products on real data: HetRec users mapped onto tracks of real MPD playlists (skipped without shared/data)."""

from __future__ import annotations

from collections import Counter

import pytest

from conftest import require_shared
from tastemaker.ingest import ingest_mpd
from tastemaker.ingest.hetrec import ingest_hetrec
from tastemaker.listening_recommend import resolve_user
from tastemaker.pipeline import parse_model_params, train
from tastemaker.products.daily_mix import daily_mixes
from tastemaker.products.discover_weekly import discover_weekly
from tastemaker.products.listener import load_listener
from tastemaker.products.smart_shuffle import smart_shuffle
from tastemaker.products.space import load_space
from tastemaker.store import Store

SLICES = 80


@pytest.fixture(scope="module")
def real_dir(tmp_path_factory):
    mpd = require_shared("mpd-sample")
    hetrec = require_shared("lastfm-hetrec2011-2k")
    data_dir = tmp_path_factory.mktemp("real") / "data"
    with Store.open(data_dir) as store:
        ingest_mpd(store, sorted(mpd.glob("mpd.slice.*.json.gz"))[:SLICES])
        ingest_hetrec(store, hetrec)
        train(store, data_dir, parse_model_params(["als"], ["als.factors=32", "als.iterations=8"]))
    return data_dir


@pytest.mark.slow
def test_hetrec_user_discovers_new_artists(real_dir):
    with Store.open(real_dir, read_only=True) as store:
        space = load_space(real_dir, store, "playlist")
        listener = load_listener(store, space, "hetrec:2")
        _, user_id = resolve_user(store, "hetrec:2")
        played = {row[0] for row in store.connection.execute(
            "SELECT artist_uri FROM user_artist_plays WHERE user_id = ?", [user_id]).fetchall()}
        result = discover_weekly(space, listener, "2024-W10")
        mixes = daily_mixes(space, listener)
    artists = [space.artists.ids[space.track_artist[space.tracks.index(t)]] for t in result.track_ids]
    assert len(result) == 30
    assert not set(artists) & played
    assert max(Counter(artists).values()) <= 2
    assert all("whom you played" in text for text in result.explanations)
    assert len(mixes) >= 2
    assert all(len(mix) == 30 for mix in mixes)


@pytest.mark.slow
def test_real_playlist_smart_shuffle(real_dir):
    with Store.open(real_dir, read_only=True) as store:
        space = load_space(real_dir, store, "playlist")
        pid = int(store.playlists().column("pid")[10].as_py())
        name, uris = store.playlist(pid)
        result = smart_shuffle(space, uris, name)
    assert [t for t, s in zip(result.track_ids, result.sources) if s == "playlist"] == uris
    assert result.details["added"] == len(uris) // 2
