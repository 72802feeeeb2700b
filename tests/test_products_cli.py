"""The product commands through the CLI, on generated playlists with a HetRec folder and a Spotify export added."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from conftest import invoke_tastemaker
from listening_fixtures import extended_play, write_records
from tastemaker.errors import InputError
from tastemaker.generate_listening import generate_listening, write_extended_history
from tastemaker.products.home import HomeModels, build_home, impression_rows, request_context
from tastemaker.products.listener import load_listener
from tastemaker.products.space import load_space
from tastemaker.rerank.bandit import BanditPolicy
from tastemaker.store import Store
from tastemaker.store.bandit import attribute_play_events, logged_rows, write_impressions

HETREC_HEADERS = {
    "artists.dat": "id\tname\turl\tpictureURL",
    "tags.dat": "tagID\ttagValue",
    "user_artists.dat": "userID\tartistID\tweight",
    "user_taggedartists.dat": "userID\tartistID\ttagID\tday\tmonth\tyear",
    "user_friends.dat": "userID\tfriendID",
}


def write_hetrec(folder, artists: list[str]) -> None:
    """Two HetRec users who play the given artists, and a tag on the first."""
    folder.mkdir(parents=True)
    contents = {
        "artists.dat": [f"{i + 1}\t{name}\thttp://x\thttp://y" for i, name in enumerate(artists)],
        "tags.dat": ["1\tsynthwave"],
        "user_artists.dat": [f"2\t{i + 1}\t{1000 - 100 * i}" for i in range(len(artists))] + ["3\t1\t50"],
        "user_taggedartists.dat": ["2\t1\t1\t1\t4\t2009"],
        "user_friends.dat": ["2\t3"],
    }
    for name, header in HETREC_HEADERS.items():
        (folder / name).write_text("\r\n".join([header, *contents[name]]) + "\r\n", encoding="utf-8")


@pytest.fixture(scope="module")
def products_dir(tmp_path_factory, trained_dir, generated_playlists):
    """The trained playlist directory plus HetRec users 2 and 3 and a Spotify user alice, who played 40 tracks."""
    root = tmp_path_factory.mktemp("products")
    data_dir = shutil.copytree(trained_dir, root / "data")
    artists = [name for name, _ in Counter(t["artist_name"] for p in generated_playlists
                                           for t in p["tracks"]).most_common(6)]
    write_hetrec(root / "hetrec", artists)
    assert invoke_tastemaker("--data-dir", data_dir, "ingest", "hetrec", root / "hetrec").exit_code == 0
    tracks = [t for p in generated_playlists[:4] for t in p["tracks"]][:40]
    start = datetime(2024, 1, 2, 8, tzinfo=timezone.utc)
    records = [extended_play(i, (start + timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%SZ"), username="alice",
                             spotify_track_uri=t["track_uri"], master_metadata_track_name=t["track_name"],
                             master_metadata_album_artist_name=t["artist_name"],
                             platform="iOS 15.4 (iPhone13,2)", ms_played=20_000 if i % 5 == 0 else 200_000)
               for i, t in enumerate(tracks)]
    write_records(root / "export" / "Streaming_History_Audio_2024_0.json", records)
    assert invoke_tastemaker("--data-dir", data_dir, "ingest", "spotify-extended", root / "export").exit_code == 0
    return data_dir


def run_json(data_dir, *args):
    result = invoke_tastemaker("--data-dir", data_dir, *args, "--json")
    assert result.exit_code == 0, result.raw
    return json.loads(result.raw)


def playlist_tracks(data_dir, pid: int) -> list[str]:
    with Store.open(data_dir, read_only=True) as store:
        return store.playlist(pid)[1]


@pytest.mark.parametrize("user", ["playlist:3", "hetrec:2", "alice"])
def test_discover_weekly_for_every_kind_of_user(products_dir, user):
    first = run_json(products_dir, "discover-weekly", "--user", user, "--week", "2024-W10")
    again = run_json(products_dir, "discover-weekly", "--user", user, "--week", "2024-W10")
    following = run_json(products_dir, "discover-weekly", "--user", user, "--week", "2024-W11")
    tracks = [item["track_id"] for item in first["items"]]
    assert first["product"] == "discover-weekly"
    assert first["details"]["week"] == "2024-W10"
    assert len(tracks) == 30
    assert tracks == [item["track_id"] for item in again["items"]]
    assert tracks != [item["track_id"] for item in following["items"]]
    assert all(item["explanation"].startswith("new to you") for item in first["items"])
    if user == "playlist:3":
        assert not set(tracks) & set(playlist_tracks(products_dir, 3))


def test_discover_weekly_leaves_out_plays_of_the_week(products_dir):
    # Alice played one new track a day from 2024-01-02: in week 2024-W02
    # (from 2024-01-08), the list may offer the tracks she played that week.
    early = run_json(products_dir, "discover-weekly", "--user", "alice", "--week", "2024-W02", "-n", "200")
    with Store.open(products_dir, read_only=True) as store:
        played = store.connection.execute(
            "SELECT track_uri, ts FROM play_events ORDER BY ts").fetchall()
    before = {uri for uri, ts in played if ts < datetime(2024, 1, 8)}
    later = {uri for uri, ts in played if ts >= datetime(2024, 1, 8)}
    offered = {item["track_id"] for item in early["items"]}
    assert not offered & before
    assert offered & later


def test_daily_mix_and_release_radar(products_dir):
    mixes = run_json(products_dir, "daily-mix", "--user", "hetrec:2", "-n", "12")
    assert 1 <= len(mixes) <= 6
    assert all(len(mix["items"]) <= 12 for mix in mixes)
    assert mixes[0]["title"].startswith("Daily Mix 1: ")
    radar = run_json(products_dir, "release-radar", "--user", "hetrec:2", "--window-days", "3650")
    assert radar["items"]
    assert all("your number" in item["explanation"] for item in radar["items"])
    assert radar["details"]["artists"][0] in radar["items"][0]["explanation"]


def test_radio_session_with_feedback(products_dir):
    result = run_json(products_dir, "radio", "--seed", "playlist:3", "--skip", "1", "--listen", "2",
                      "--page-size", "5")
    pages = result["pages"]
    served = [item["track_id"] for page in pages for item in page["items"]]
    assert len(pages) == 2
    assert len(served) == len(set(served)) == 10
    assert not set(served) & set(playlist_tracks(products_dir, 3))
    assert result["session"]["feedback"] == [[served[0], "skip"], [served[1], "listen"]]
    assert "which you skipped" in pages[1]["items"][0]["explanation"]


def test_smart_shuffle_cli(products_dir):
    result = run_json(products_dir, "smart-shuffle", "--playlist", "5")
    originals = playlist_tracks(products_dir, 5)
    assert [i["track_id"] for i in result["items"] if i["source"] == "playlist"] == originals
    assert result["details"]["added"] == len(originals) // 2


def test_home_logs_and_learns(products_dir):
    page = run_json(products_dir, "home", "--user", "alice", "--hour", "8", "--seed", "0")
    shelves = {s["shelf_id"]: s for s in page["shelves"]}
    assert page["context"] == {"segment": page["context"]["segment"], "hour": 8, "platform": "ios"}
    assert {"made-for-you", "discover-weekly", "because-you-listened", "popular-like-you"} <= set(shelves)
    assert sorted(s["position"] for s in page["shelves"]) == list(range(len(page["shelves"])))
    for shelf in page["shelves"]:
        assert 0 < shelf["propensity"] <= 1
        assert shelf["cards"] and all(card["explanation"] for card in shelf["cards"])
    card = shelves["made-for-you"]["cards"][0]["card_id"]

    feedback = invoke_tastemaker("--data-dir", products_dir, "home-feedback", page["page_id"], card,
                                 "--ms-played", "45000")
    assert feedback.exit_code == 0, feedback.raw
    assert "reward 1" in feedback.output
    with Store.open(products_dir, read_only=True) as store:
        rewarded = store.connection.execute(
            "SELECT decision, action FROM bandit_log WHERE page_id = ? AND reward = 1 ORDER BY decision",
            [page["page_id"]]).fetchall()
    assert rewarded == [("card", card), ("shelf", "made-for-you")]
    again = invoke_tastemaker("--data-dir", products_dir, "home", "--user", "alice", "--no-log")
    assert "the bandits learnt from 1 shelf and 1 card rows" in again.output


def test_home_feedback_errors(products_dir):
    unknown = invoke_tastemaker("--data-dir", products_dir, "home-feedback", "nopage", "x", "--ms-played", "1")
    assert isinstance(unknown.exception, InputError)
    assert "page 'nopage' is not in the bandit log" in str(unknown.exception)


def test_streams_after_a_page_reward_its_card(products_dir, generated_playlists):
    with Store.open(products_dir) as store:
        space = load_space(products_dir, store, "playlist")
        listener = load_listener(store, space, "alice")
        shown_at = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=5)
        page = build_home(space, listener, request_context(space, listener, 9), BanditPolicy("random"),
                          HomeModels(), np.random.default_rng(5), shown_at=shown_at)
        write_impressions(store, impression_rows(page))
    card = page.shelves[0].cards[0]
    track = card.track_ids[0]
    play = extended_play(99, (shown_at + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ"), username="alice",
                         spotify_track_uri=track, ms_played=95_000)
    folder = products_dir.parent / "later"
    write_records(folder / "Streaming_History_Audio_2024_1.json", [play])
    assert invoke_tastemaker("--data-dir", products_dir, "ingest", "spotify-extended", folder).exit_code == 0
    with Store.open(products_dir) as store:
        assert attribute_play_events(store) >= 1
        rows = store.connection.execute(
            "SELECT decision, action, reward FROM bandit_log WHERE page_id = ? AND reward = 1 ORDER BY decision",
            [page.page_id]).fetchall()
    assert ("card", card.card_id, 1.0) in rows
    assert ("shelf", page.shelves[0].shelf_id, 1.0) in rows


def test_ope_on_store_log_and_csv(products_dir, tmp_path):
    with Store.open(products_dir) as store:
        space = load_space(products_dir, store, "playlist")
        listener = load_listener(store, space, "playlist:7")
        past = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=3)
        rng = np.random.default_rng(9)
        for hour in range(12):
            page = build_home(space, listener, request_context(space, listener, hour), BanditPolicy("random"),
                              HomeModels(), rng, shown_at=past + timedelta(seconds=hour))
            write_impressions(store, impression_rows(page))
        closed = logged_rows(store, "shelf")
    assert closed.num_rows >= 12 * 5
    result = invoke_tastemaker("--data-dir", products_dir, "ope", "--log", "store", "--policy", "greedy")
    assert result.exit_code == 0, result.raw
    assert "IPS" in result.output
    assert "doubly robust" in result.output

    log = tmp_path / "log.csv"
    generated = invoke_tastemaker("generate-bandit-log", log, "--decisions", "400", "--seed", "2")
    assert generated.exit_code == 0, generated.raw
    estimate = run_json(products_dir, "ope", "--log", log, "--policy", "epsilon-greedy:0.1")
    assert estimate["evaluated_decisions"] == 200
    assert set(estimate["estimates"]) == {"ips", "snips", "dr"}
    for value in estimate["estimates"].values():
        assert value["low"] <= value["value"] <= value["high"]


@pytest.mark.parametrize("args, message", [
    (("discover-weekly", "--user", "nobody"), "no listening history for user 'nobody'"),
    (("discover-weekly", "--user", "playlist:abc"), "expected playlist:PID with a numeric pid"),
    (("discover-weekly", "--user", "alice", "--week", "2024-53"), "expected an ISO week as YYYY-Www"),
    (("radio", "--seed", "artist:Nobody At All"), "seed artist 'Nobody At All' is not in the model's catalogue"),
    (("radio", "--seed", "spotify:track:nothing"), "is not a track of the model's catalogue"),
    (("radio", "--seed", "playlist:3", "--skip", "99"), "position 99 is not a served track"),
    (("smart-shuffle", "--playlist", "999999"), "playlist 999999 not found"),
    (("home", "--user", "alice", "--policy", "ucb"), "unknown bandit policy 'ucb'"),
    (("ope", "--log", "store", "--policy", "greedy", "--train-share", "1.5"), "train share must be between 0 and 1"),
])
def test_product_errors(products_dir, args, message):
    result = invoke_tastemaker("--data-dir", products_dir, *args)
    assert isinstance(result.exception, InputError), result.raw
    assert message in str(result.exception)


def test_radio_uses_listening_bundle_and_skip_model(tmp_path):
    data = generate_listening(n_users=30, n_tracks=300, n_artists=30, sessions_per_user=12, seed=6)
    write_extended_history(data, tmp_path / "export")
    data_dir = tmp_path / "data"
    for args in (("ingest", "spotify-extended", tmp_path / "export"),
                 ("train-listening", "-p", "als.factors=8"), ("train-skip", "--scheme", "previous")):
        assert invoke_tastemaker("--data-dir", data_dir, *args).exit_code == 0
    user = data.user_names[0]
    result = run_json(data_dir, "radio", "--seed", data.track_uris[data.track[0]], "--user", user, "--skip", "1",
                      "--skip", "3", "--listen", "2")
    second = result["pages"][1]
    assert second["details"]["skip_model"] is True
    assert all("predicted skip chance" in item["explanation"] for item in second["items"])
    text = invoke_tastemaker("--data-dir", data_dir, "discover-weekly", "--user", user)
    assert "listening bundle" in text.output
