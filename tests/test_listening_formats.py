"""Account-data exports, Last.fm 1K, HetRec 2011 and ListenBrainz: counts, UTC, name matching and bad input."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from conftest import require_shared
from listening_fixtures import account_play, extended_play, write_records
from tastemaker.errors import InputError
from tastemaker.ingest.hetrec import ingest_hetrec
from tastemaker.ingest.lastfm import ingest_lastfm_1k
from tastemaker.ingest.listenbrainz import ingest_listenbrainz
from tastemaker.ingest.names import normalise_artist, normalise_track, synthetic_track_uri, track_key
from tastemaker.ingest.spotify import ingest_spotify_account, ingest_spotify_extended
from tastemaker.ingest.timeparse import parse_timestamp_text, resolve_zone
from tastemaker.store import Store

HETREC_HEADERS = {
    "artists.dat": "id\tname\turl\tpictureURL",
    "tags.dat": "tagID\ttagValue",
    "user_artists.dat": "userID\tartistID\tweight",
    "user_taggedartists.dat": "userID\tartistID\ttagID\tday\tmonth\tyear",
    "user_friends.dat": "userID\tfriendID",
}


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "data") as opened:
        yield opened


def rows(store, query, parameters=()):
    return store.connection.execute(query, list(parameters)).fetchall()


def reject_reasons(store):
    return [row[0] for row in rows(store, "SELECT reason FROM rejects ORDER BY file, record_index")]


# Names and times


def test_name_normalisation():
    assert normalise_artist("The Beatles") == normalise_artist("beatles")
    assert normalise_artist("Beyoncé feat. Jay-Z") == "beyonce"
    assert normalise_artist("Simon & Garfunkel") == "simon and garfunkel"
    assert normalise_track("Hey Jude - Remastered 2015") == "hey jude"
    assert normalise_track("Crazy in Love (feat. Jay-Z)") == "crazy in love"
    assert normalise_track("Song (Live)") == "song live"
    assert normalise_artist("!!!") == "!!!"
    assert track_key("Sigur Rós", "Hoppípolla") == track_key("Sigur Ros", "Hoppipolla")
    assert synthetic_track_uri("The Beatles", "Hey Jude") == synthetic_track_uri("Beatles", "HEY JUDE")
    assert synthetic_track_uri("Beatles", "Hey Jude").startswith("tastemaker:track:")


def test_timestamp_text_shapes():
    assert parse_timestamp_text("2020-04-18T13:41:44Z") == (datetime(2020, 4, 18, 13, 41, 44), True)
    assert parse_timestamp_text("2020-04-18 13:41") == (datetime(2020, 4, 18, 13, 41), False)
    assert parse_timestamp_text("2020-04-18T15:41:44+02:00") == (datetime(2020, 4, 18, 13, 41, 44), True)
    with pytest.raises(ValueError, match="invalid timestamp"):
        parse_timestamp_text("yesterday")


def test_unknown_time_zone():
    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus'"):
        resolve_zone("Mars/Olympus")


# Spotify account data


def test_account_data_local_time_to_utc(store, tmp_path):
    path = write_records(tmp_path / "StreamingHistory_music_0.json", [
        account_play("Artist", "Winter", "2020-01-15 12:00"),
        account_play("Artist", "Summer", "2020-07-15 12:00"),
        account_play("Artist", "Offset", "2020-07-15 12:00+00:00"),
    ])

    report = ingest_spotify_account(store, [path], timezone="Europe/Berlin", user="alice")

    assert report.total("rows_loaded") == 3
    assert rows(store, "SELECT ts FROM play_events ORDER BY ts") == [
        (datetime(2020, 1, 15, 11, 0),), (datetime(2020, 7, 15, 10, 0),), (datetime(2020, 7, 15, 12, 0),)]
    assert "endTime values were read as local time in Europe/Berlin" in report.notes


def test_account_data_needs_timezone(store, tmp_path):
    path = write_records(tmp_path / "StreamingHistory_music_0.json", [account_play("A", "B")])

    with pytest.raises(InputError, match="pass --timezone"):
        ingest_spotify_account(store, [path], timezone=None, user="alice")
    with pytest.raises(InputError, match="pass --user NAME"):
        ingest_spotify_account(store, [path], timezone="UTC", user=None)


def test_account_data_matches_catalogue_by_name(store, tmp_path):
    extended = write_records(tmp_path / "ext" / "Streaming_History_Audio_2020.json", [
        extended_play(1, master_metadata_track_name="Hey Jude - Remastered 2015",
                      master_metadata_album_artist_name="The Beatles")])
    ingest_spotify_extended(store, [extended], user="alice")
    account = write_records(tmp_path / "acc" / "StreamingHistory_music_0.json", [
        account_play("Beatles", "Hey Jude", "2021-01-01 10:00"),
        account_play("Nobody Known", "New Song", "2021-01-01 10:05"),
        account_play("Nobody Known", "New Song", "2021-01-01 10:09"),
    ])

    report = ingest_spotify_account(store, [account], timezone="UTC", user="alice")

    assert report.total("rows_name_matched") == 1
    assert report.total("rows_new_track") == 2
    assert report.match_rate == pytest.approx(1 / 3)
    uris = [row[0] for row in rows(store, "SELECT track_uri FROM play_events WHERE source = 'spotify-account' "
                                          "ORDER BY ts")]
    assert uris[0] == extended_play(1)["spotify_track_uri"]
    assert uris[1] == uris[2] == synthetic_track_uri("Nobody Known", "New Song")
    assert rows(store, "SELECT name, artist_name FROM tracks WHERE track_uri = ?", [uris[1]]) == [
        ("New Song", "Nobody Known")]


def test_account_podcast_file_set_aside(store, tmp_path):
    path = write_records(tmp_path / "StreamingHistory_podcast_0.json", [
        {"endTime": "2020-04-18 13:41", "podcastName": "Show", "episodeName": "One", "msPlayed": 60_000}])

    report = ingest_spotify_account(store, [path], timezone="UTC", user="alice")

    assert report.set_aside == {"episode": 1}
    assert rows(store, "SELECT count(*) FROM play_events") == [(0,)]


def test_account_bad_rows(store, tmp_path):
    path = write_records(tmp_path / "StreamingHistory_music_0.json", [
        account_play("A", "B", "2999-01-01 00:00"), account_play("A", "B", "1970-01-01 00:00"),
        {"endTime": "2020-04-18 13:41", "artistName": "A", "msPlayed": 5}, account_play("A", "B", ms=-1),
        account_play("A", "B", "18.04.2020"),
    ])

    report = ingest_spotify_account(store, [path], timezone="UTC", user="alice")

    assert report.total("rows_rejected") == 5
    assert report.reasons == {"implausible time": 2, "missing trackName": 1, "invalid msPlayed": 1,
                              "invalid timestamp": 1}


# Last.fm 1K


def write_lastfm(path, lines: list[str], encoding: str = "utf-8"):
    path.write_bytes("\n".join(lines).encode(encoding) + b"\n")
    return path


def scrobble(user: str, stamp: str, artist: str, track: str) -> str:
    return "\t".join([user, stamp, "", artist, "", track])


def test_lastfm_scrobbles_stored(store, tmp_path):
    path = write_lastfm(tmp_path / "userid-timestamp-artid-artname-traid-traname.tsv", [
        scrobble("user_000001", "2009-05-04T23:08:57Z", "Deep Dish", "Flashdance"),
        scrobble("user_000001", "2009-05-04T13:54:10Z", "坂本龍一", "Composition 0919"),
        scrobble("user_000002", "2009-05-04T13:54:10Z", "Deep Dish", "Flashdance"),
    ])

    report = ingest_lastfm_1k(store, [path])

    assert report.total("rows_loaded") == 3
    assert rows(store, "SELECT count(DISTINCT user_id), count(DISTINCT track_uri) FROM play_events") == [(2, 2)]
    assert rows(store, "SELECT name FROM tracks ORDER BY name") == [("Composition 0919",), ("Flashdance",)]


def test_lastfm_latin1_name_kept(store, tmp_path):
    path = tmp_path / "userid-timestamp-artid-artname-traid-traname.tsv"
    path.write_bytes(scrobble("user_000001", "2009-05-04T23:08:57Z", "Björk", "Jóga").encode("latin-1") + b"\n"
                     + scrobble("user_000001", "2009-05-04T23:12:57Z", "Sigur Rós", "Hoppípolla").encode() + b"\n")

    report = ingest_lastfm_1k(store, [path])

    assert report.total("rows_loaded") == 2
    assert any("read as Windows-1252" in w for w in report.files[0].warnings)
    assert rows(store, "SELECT artist_name, name FROM tracks ORDER BY name") == [
        ("Sigur Rós", "Hoppípolla"), ("Björk", "Jóga")]


def test_lastfm_bad_lines(store, tmp_path):
    path = write_lastfm(tmp_path / "userid-timestamp-artid-artname-traid-traname.tsv", [
        "user\ttimestamp\tartist_id\tartist\tartist_id\tsong",
        scrobble("user_000001", "1970-01-01T00:00:00Z", "A", "B"),
        scrobble("user_000001", "2999-01-01T00:00:00Z", "A", "B"),
        "user_000001\t2009-05-04T23:08:57Z\tonly four",
        scrobble("user_000001", "2009-05-04T23:08:57Z", "", "B"),
        scrobble("user_000001", "not a time", "A", "B"),
        scrobble("user_000001", "2009-05-04T23:08:57Z", "A", "B"),
    ])

    report = ingest_lastfm_1k(store, [path])

    file = report.files[0]
    assert (file.rows_read, file.rows_loaded, file.rows_rejected) == (6, 1, 5)
    assert file.reasons == {"implausible time": 2, "wrong field count": 1, "missing artist name": 1,
                            "invalid timestamp": 1}
    assert "a header line was skipped" in file.notes


def test_lastfm_real_sample(store):
    folder = require_shared("lastfm-1k-sample")

    report = ingest_lastfm_1k(store, [folder])

    assert [f.file.rsplit("/", 1)[-1] for f in report.files] == [
        "userid-timestamp-artid-artname-traid-traname.franklinpinto-85rows.tsv",
        "userid-timestamp-artid-artname-traid-traname.head5000.tsv"]
    assert report.total("rows_read") == 5085
    assert report.total("rows_rejected") == 0
    # The 85-row extract repeats scrobbles of the 5,000-line head.
    assert report.total("rows_merged") == 85
    assert report.total("rows_loaded") + report.total("rows_merged") == 5085


# HetRec


def write_hetrec(folder, **contents: list[str]):
    folder.mkdir(parents=True, exist_ok=True)
    for name, header in HETREC_HEADERS.items():
        lines = contents.get(name.removesuffix(".dat"), [])
        (folder / name).write_bytes(("\r\n".join([header, *lines]) + "\r\n").encode("utf-8"))
    return folder


def test_hetrec_small_folder(store, tmp_path):
    folder = write_hetrec(
        tmp_path / "hetrec",
        artists=["1\tMALICE MIZER\thttp://x\thttp://y", "2\tBeyoncé\thttp://x\thttp://y",
                 "3\tBeyonce\thttp://x\thttp://y"],
        tags=["1\tmetal", "2\tpop"],
        user_artists=["2\t1\t100", "2\t2\t10", "2\t3\t5", "3\t1\t-4", "3\t9\t4", "3\t1\tmany",
                      f"{2**32 + 2}\t1\t7"],
        user_taggedartists=["2\t1\t1\t1\t4\t2009", "2\t2\t2\t1\t1\t1956", "2\t2\t9\t1\t1\t2009"],
        user_friends=["2\t3", "3\t2", "2\t3"],
    )

    report = ingest_hetrec(store, folder)

    by_name = {f.file.rsplit("/", 1)[-1]: f for f in report.files}
    plays = by_name["user_artists.dat"]
    assert (plays.rows_read, plays.rows_loaded, plays.rows_merged, plays.rows_rejected) == (7, 3, 1, 3)
    assert plays.reasons == {"invalid weight": 2, "unknown artistID": 1}
    stored = rows(store, "SELECT plays FROM user_artist_plays ORDER BY plays")
    assert stored == [(7,), (15,), (100,)]
    assert rows(store, "SELECT count(*) FROM users WHERE source = 'hetrec'") == [(3,)]
    assert by_name["user_taggedartists.dat"].reasons == {"implausible time": 1, "unknown tagID": 1}
    assert rows(store, "SELECT tag, tagged_on FROM artist_tags") == [("metal", datetime(2009, 4, 1).date())]
    friends = by_name["user_friends.dat"]
    assert (friends.rows_loaded, friends.rows_merged) == (2, 1)


def test_hetrec_missing_file(store, tmp_path):
    folder = write_hetrec(tmp_path / "hetrec")
    (folder / "tags.dat").unlink()

    with pytest.raises(InputError, match="missing tags.dat"):
        ingest_hetrec(store, folder)


def test_hetrec_latin1_tag(store, tmp_path):
    folder = write_hetrec(tmp_path / "hetrec", artists=["1\tA\tu\tp"], user_artists=["2\t1\t3"],
                          user_taggedartists=["2\t1\t1\t1\t4\t2009"])
    (folder / "tags.dat").write_bytes(b"tagID\ttagValue\r\n1\tm\xfasica\r\n")

    report = ingest_hetrec(store, folder)

    assert rows(store, "SELECT tag FROM artist_tags") == [("música",)]
    assert any("Windows-1252" in w for f in report.files for w in f.warnings)


def test_hetrec_real_data(store):
    folder = require_shared("lastfm-hetrec2011-2k")

    report = ingest_hetrec(store, folder)

    plays = next(f for f in report.files if f.file.endswith("user_artists.dat"))
    assert plays.rows_read == 92_834
    assert plays.rows_rejected == 0
    assert plays.rows_loaded + plays.rows_merged == 92_834
    assert rows(store, "SELECT count(*), count(DISTINCT user_id) FROM user_artist_plays") == [
        (plays.rows_loaded, 1892)]
    assert rows(store, "SELECT sum(plays) FROM user_artist_plays")[0][0] > 0
    for file in report.files:
        file.check_totals()
    again = ingest_hetrec(store, folder)
    assert [f.status for f in again.files] == ["skipped"] * 5


# ListenBrainz


def listen(stamp, artist="Artist", track="Track", **info):
    return {"listened_at": stamp, "user_name": "lb-user",
            "track_metadata": {"artist_name": artist, "track_name": track, "release_name": "Album",
                               "additional_info": info}}


def test_listenbrainz_json_lines(store, tmp_path):
    path = tmp_path / "listens.jsonl"
    lines = [
        json.dumps(listen(1587217304, spotify_id="https://open.spotify.com/track/4iV5W9uYEdYUVa79Axb7Rh")),
        json.dumps(listen(1587217604, "Other", "Song", duration_ms=200_000)),
        "{not json",
        json.dumps(listen(0)),
        json.dumps({"listened_at": 1587217904, "user_name": "lb-user", "track_metadata": {"artist_name": "A"}}),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")

    report = ingest_listenbrainz(store, [path])

    file = report.files[0]
    assert (file.rows_read, file.rows_loaded, file.rows_rejected) == (5, 2, 3)
    assert set(file.reasons) == {"invalid JSON", "implausible time", "missing track_name"}
    assert rows(store, "SELECT ts, track_uri FROM play_events ORDER BY ts")[0] == (
        datetime(2020, 4, 18, 13, 41, 44), "spotify:track:4iV5W9uYEdYUVa79Axb7Rh")
    assert rows(store, "SELECT duration_ms FROM tracks WHERE name = 'Song'") == [(200_000,)]


def test_listenbrainz_array_and_user_option(store, tmp_path):
    records = [listen(1587217304), listen(1587217404)]
    for record in records:
        del record["user_name"]
    path = write_records(tmp_path / "listens.json", records)

    with pytest.raises(InputError, match="pass --user NAME"):
        ingest_listenbrainz(store, [path])
    report = ingest_listenbrainz(store, [path], user="me")
    assert report.total("rows_loaded") == 2
