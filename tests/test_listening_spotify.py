"""Spotify Extended Streaming History ingest: counts, privacy, UTC, duplicates and every kind of bad input."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime

import pytest

from listening_fixtures import (
    IP_ADDRESS,
    USER_AGENT,
    audiobook_play,
    episode_play,
    extended_play,
    history_plays,
    write_records,
)
from tastemaker.errors import InputError
from tastemaker.generate_listening import generate_listening, write_extended_history
from tastemaker.ingest.spotify import ExtendedHistoryIngest, ingest_spotify_extended, platform_family
from tastemaker.store import Store


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "data") as opened:
        yield opened


def rows(store, query, parameters=()):
    return store.connection.execute(query, list(parameters)).fetchall()


def count(store, table):
    return rows(store, f"SELECT count(*) FROM {table}")[0][0]


def only_file(report):
    assert len(report.files) == 1
    return report.files[0]


def rejects(store):
    return rows(store, "SELECT record_index, field, value, reason FROM rejects ORDER BY record_index")


# Normal exports


def test_generated_export_counts_add_up(store, tmp_path):
    data = generate_listening(n_users=3, n_tracks=200, n_artists=30, sessions_per_user=5, seed=1)
    paths = write_extended_history(data, tmp_path / "export", rows_per_file=100, episode_share=0.05)

    report = ingest_spotify_extended(store, [tmp_path / "export"])

    assert len(report.files) == len(paths)
    episodes = sum(1 for p in paths for r in json.loads(p.read_text()) if r["spotify_episode_uri"])
    assert report.total("rows_read") == data.n_plays + episodes
    assert report.total("rows_loaded") == data.n_plays
    assert report.total("rows_set_aside") == episodes
    assert report.set_aside["episode"] == episodes
    assert report.total("rows_rejected") == 0
    assert count(store, "play_events") == data.n_plays
    assert count(store, "set_aside_plays") == episodes
    assert count(store, "users") == 3


def test_fields_stored_as_given(store, tmp_path):
    record = extended_play(7, "2020-04-18T13:41:44Z", ms_played=12_345, skipped=True, reason_end="fwdbtn",
                           shuffle=True, offline=True, incognito_mode=True, reason_start="clickrow")
    write_records(tmp_path / "Streaming_History_Audio_2020.json", [record])

    ingest_spotify_extended(store, [tmp_path / "Streaming_History_Audio_2020.json"])

    stored = rows(store, "SELECT ts, track_uri, ms_played, skipped, reason_start, reason_end, shuffle, offline, "
                         "offline_ts, incognito, platform, conn_country, source, file FROM play_events")
    assert stored == [(datetime(2020, 4, 18, 13, 41, 44), record["spotify_track_uri"], 12_345, True, "clickrow",
                       "fwdbtn", True, True, datetime(2020, 4, 18, 13, 41, 44), True, "android", "DE",
                       "spotify-extended", "Streaming_History_Audio_2020.json")]
    track = rows(store, "SELECT name, artist_name, album_name FROM tracks WHERE track_uri = ?",
                 [record["spotify_track_uri"]])
    assert track == [("Song 7", "Artist 1", "Album 1")]


def test_episodes_and_audiobooks_set_aside(store, tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json",
                         [extended_play(1), episode_play(), audiobook_play()])

    report = only_file(ingest_spotify_extended(store, [path]))

    assert report.rows_loaded == 1
    assert report.set_aside == {"episode": 1, "audiobook": 1}
    assert rows(store, "SELECT kind, uri FROM set_aside_plays ORDER BY kind") == [
        ("audiobook", "spotify:episode:" + "3" * 22), ("episode", "spotify:episode:" + "1" * 22)]
    assert count(store, "play_events") == 1


def test_private_fields_never_stored(store, tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json",
                         [extended_play(1, username="alice.private"), extended_play(2, username="alice.private")])

    ingest_spotify_extended(store, [path])

    text_columns = rows(store, "SELECT table_name, column_name FROM information_schema.columns "
                               "WHERE data_type = 'VARCHAR'")
    for table, column in text_columns:
        for secret in (IP_ADDRESS, USER_AGENT, "alice.private", "SM-G960F"):
            found = rows(store, f'SELECT count(*) FROM "{table}" WHERE contains("{column}", ?)', [secret])
            assert found == [(0,)], (table, column, secret)
    name_hash = rows(store, "SELECT name_hash FROM users")[0][0]
    assert len(name_hash) == 64
    assert rows(store, "SELECT count(*) FROM meta WHERE key = 'user_name_salt'") == [(1,)]


def test_user_hash_depends_on_store_salt(tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json", [extended_play(1)])
    hashes = []
    for name in ("one", "two"):
        with Store.open(tmp_path / name) as store:
            ingest_spotify_extended(store, [path])
            hashes.append(rows(store, "SELECT name_hash FROM users")[0][0])
    assert hashes[0] != hashes[1]


def test_user_option_overrides_username(store, tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json",
                         [extended_play(1, username="a"), extended_play(2, username="b")])

    ingest_spotify_extended(store, [path], user="carol")

    assert count(store, "users") == 1


def test_reingest_changes_nothing(store, tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json", history_plays(5))
    ingest_spotify_extended(store, [path])
    before = rows(store, "SELECT * FROM play_events ORDER BY ts")

    again = only_file(ingest_spotify_extended(store, [path]))

    assert again.status == "skipped"
    assert "nothing changed" in again.message
    assert again.rows_read == 0
    assert rows(store, "SELECT * FROM play_events ORDER BY ts") == before
    assert count(store, "listening_ingest_log") == 1


def test_overlapping_exports_merge_once(store, tmp_path):
    first = write_records(tmp_path / "2020" / "Streaming_History_Audio_2020_0.json", history_plays(10))
    second = write_records(tmp_path / "2021" / "Streaming_History_Audio_2020_0.json", history_plays(10)[6:]
                           + history_plays(3, start_key=100, day=2))

    report = ingest_spotify_extended(store, [first, second])

    assert [f.rows_loaded for f in report.files] == [10, 3]
    assert [f.rows_merged for f in report.files] == [0, 4]
    assert count(store, "play_events") == 13


def test_overlap_with_earlier_ingest_merged(store, tmp_path):
    first = write_records(tmp_path / "a" / "Streaming_History_Audio_2020.json", history_plays(4))
    ingest_spotify_extended(store, [first])
    second = write_records(tmp_path / "b" / "Streaming_History_Audio_2020.json",
                           history_plays(4) + history_plays(1, start_key=50, day=3))

    report = only_file(ingest_spotify_extended(store, [second]))

    assert (report.rows_loaded, report.rows_merged) == (1, 4)
    assert count(store, "play_events") == 5


def test_repeated_row_in_one_file_merged(store, tmp_path):
    play = extended_play(1)
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json", [play, play, extended_play(2)])

    report = only_file(ingest_spotify_extended(store, [path]))

    assert (report.rows_loaded, report.rows_merged) == (2, 1)


def test_export_zip_as_downloaded(store, tmp_path):
    archive = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("Spotify Extended Streaming History/Streaming_History_Audio_2020-2021_0.json",
                        json.dumps(history_plays(3)))
        zipped.writestr("Spotify Extended Streaming History/Streaming_History_Video_2020.json", "[]")
        zipped.writestr("Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf", b"%PDF")

    report = ingest_spotify_extended(store, [archive])

    assert [f.file for f in report.files] == [
        f"{archive}:Spotify Extended Streaming History/Streaming_History_Audio_2020-2021_0.json"]
    assert report.total("rows_loaded") == 3
    assert rows(store, "SELECT DISTINCT file FROM play_events") == [
        ("my_spotify_data.zip:Streaming_History_Audio_2020-2021_0.json",)]


def test_platform_families():
    assert platform_family("Android OS 9 API 28 (samsung, SM-G960F)") == "android"
    assert platform_family("iOS 15.4 (iPhone13,2)") == "ios"
    assert platform_family("Windows 10 (10.0.19044; x64)") == "windows"
    assert platform_family("OS X 12.3.1 [x86 8]") == "macos"
    assert platform_family("web_player linux ;chrome") == "linux"
    assert platform_family("WebOS TV") == "tv"
    assert platform_family("something new") == "other"
    assert platform_family(None) is None


def test_local_file_matched_by_name(store, tmp_path):
    known = extended_play(1, master_metadata_track_name="Hey Jude - Remastered 2015",
                          master_metadata_album_artist_name="The Beatles")
    local = extended_play(2, "2020-04-18T14:00:00Z", spotify_track_uri=None,
                          master_metadata_track_name="Hey Jude", master_metadata_album_artist_name="Beatles")
    unknown = extended_play(3, "2020-04-18T15:00:00Z", spotify_track_uri="spotify:local:Me:Demo:Tape:100",
                            master_metadata_track_name="Tape", master_metadata_album_artist_name="Me")
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json", [known, local, unknown])

    report = only_file(ingest_spotify_extended(store, [path]))

    assert (report.rows_name_matched, report.rows_new_track) == (1, 1)
    uris = [row[0] for row in rows(store, "SELECT track_uri FROM play_events ORDER BY ts")]
    assert uris[0] == uris[1] == known["spotify_track_uri"]
    assert uris[2].startswith("tastemaker:track:")


# Bad input


def test_byte_order_mark_accepted(store, tmp_path):
    path = tmp_path / "Streaming_History_Audio_2020.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(history_plays(2)).encode())

    report = only_file(ingest_spotify_extended(store, [path]))

    assert report.status == "loaded"
    assert report.rows_loaded == 2
    assert any("byte-order mark" in note for note in report.notes)


def test_single_object_read_as_one_play(store, tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json", extended_play(1))

    report = only_file(ingest_spotify_extended(store, [path]))

    assert report.rows_loaded == 1
    assert any("one JSON object instead of an array" in w for w in report.warnings)


def test_object_without_plays_rejected(store, tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json", {"playlists": []})

    report = only_file(ingest_spotify_extended(store, [path]))

    assert report.status == "rejected"
    assert "expected a JSON array of plays, found an object with keys ['playlists']" in report.message
    assert count(store, "play_events") == 0


def test_row_without_ts_rejected(store, tmp_path):
    missing = extended_play(2)
    del missing["ts"]
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json",
                         [extended_play(1), missing, extended_play(3, ts=None)])

    report = only_file(ingest_spotify_extended(store, [path]))

    assert (report.rows_loaded, report.rows_rejected) == (1, 2)
    assert report.reasons == {"missing ts": 2}
    assert rejects(store) == [(1, "ts", None, "missing ts: every play needs its end time"),
                              (2, "ts", None, "missing ts: every play needs its end time")]


@pytest.mark.parametrize(("text", "expected"), [
    ("2020-04-18T13:41:44Z", datetime(2020, 4, 18, 13, 41, 44)),
    ("2020-04-18 13:41", datetime(2020, 4, 18, 13, 41)),
    ("2020-04-18T13:41:44", datetime(2020, 4, 18, 13, 41, 44)),
    ("2020-04-18T15:41:44+02:00", datetime(2020, 4, 18, 13, 41, 44)),
    ("2020-04-18 08:41-0500", datetime(2020, 4, 18, 13, 41)),
    ("2020-04-18T13:41:44.250Z", datetime(2020, 4, 18, 13, 41, 44, 250_000)),
])
def test_timestamp_shapes_stored_as_utc(store, tmp_path, text, expected):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json", [extended_play(1, text)])

    only_file(ingest_spotify_extended(store, [path]))

    assert rows(store, "SELECT ts FROM play_events") == [(expected,)]


def test_invalid_timestamp_rejected(store, tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json",
                         [extended_play(1, "18/04/2020 13:41"), extended_play(2, "2020-02-30T10:00:00Z"),
                          extended_play(3, 1587217304)])

    report = only_file(ingest_spotify_extended(store, [path]))

    assert report.rows_rejected == 2
    assert report.rows_loaded == 1
    reasons = [row[3] for row in rejects(store)]
    assert reasons[0].startswith("invalid timestamp: expected YYYY-MM-DDTHH:MM:SS")
    assert "'18/04/2020 13:41'" in reasons[0]
    assert reasons[1].startswith("invalid timestamp: day is out of range")


def test_implausible_times_rejected(store, tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json",
                         [extended_play(1, "1970-01-01T00:00:00Z"), extended_play(2, "2999-01-01T00:00:00Z"),
                          extended_play(3, "1999-12-31T23:59:59Z"), extended_play(4)])

    report = only_file(ingest_spotify_extended(store, [path]))

    assert report.reasons == {"implausible time": 3}
    assert report.rows_loaded == 1
    assert [row[3] for row in rejects(store)] == [
        "implausible time: 1970-01-01 00:00:00 UTC is before 2000",
        "implausible time: 2999-01-01 00:00:00 UTC is in the future",
        "implausible time: 1999-12-31 23:59:59 UTC is before 2000",
    ]


def test_bad_ms_played_rejected(store, tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json", [
        extended_play(1, ms_played=-5), extended_play(2, ms_played="abc"), extended_play(3, ms_played=None),
        extended_play(4, ms_played="1500"), extended_play(5, ms_played=2000.0), extended_play(6, ms_played=True),
    ])

    report = only_file(ingest_spotify_extended(store, [path]))

    assert report.rows_loaded == 2
    assert rejects(store) == [
        (0, "ms_played", "-5", "invalid ms_played: negative duration -5"),
        (1, "ms_played", "abc", "invalid ms_played: expected a non-negative integer, found 'abc'"),
        (2, "ms_played", None, "missing ms_played"),
        (5, "ms_played", "True", "invalid ms_played: expected a non-negative integer, found True"),
    ]
    assert rows(store, "SELECT ms_played FROM play_events ORDER BY ms_played") == [(1500,), (2000,)]


def test_user_id_past_32_bits(store, tmp_path):
    big = write_records(tmp_path / "a" / "Streaming_History_Audio_2020.json", [extended_play(1, username=2**32 + 1)])
    small = write_records(tmp_path / "b" / "Streaming_History_Audio_2020.json", [extended_play(2, username=1)])

    report = ingest_spotify_extended(store, [big, small])

    assert report.total("rows_loaded") == 2
    assert count(store, "users") == 2
    assert rows(store, "SELECT count(DISTINCT user_id) FROM play_events") == [(2,)]


def test_missing_username_without_user_option(store, tmp_path):
    records = [extended_play(1), extended_play(2)]
    for record in records:
        del record["username"]
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json", records)

    with pytest.raises(InputError, match="carry no 'username'; pass --user NAME"):
        ingest_spotify_extended(store, [path])
    assert count(store, "play_events") == 0

    report = only_file(ingest_spotify_extended(store, [path], user="alice"))
    assert report.rows_loaded == 2


def test_empty_file_rejected_others_loaded(store, tmp_path):
    empty = tmp_path / "a" / "Streaming_History_Audio_2019.json"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    good = write_records(tmp_path / "a" / "Streaming_History_Audio_2020.json", history_plays(2))

    report = ingest_spotify_extended(store, [tmp_path / "a"])

    statuses = {f.file: f.status for f in report.files}
    assert statuses == {str(empty): "rejected", str(good): "loaded"}
    assert "the file is empty (0 bytes)" in report.failed_files[0].message
    assert count(store, "play_events") == 2
    assert count(store, "listening_ingest_log") == 1


def test_zip_without_history_files(store, tmp_path):
    archive = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("MyData/Userdata.json", "{}")
        zipped.writestr("MyData/Playlist1.json", "{}")

    with pytest.raises(InputError, match=r"contains no Extended Streaming History .* files \(it contains "
                                         r"MyData/Userdata.json, MyData/Playlist1.json\)"):
        ingest_spotify_extended(store, [archive])


def test_folder_without_history_files(store, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")

    with pytest.raises(InputError, match="the folder contains no Extended Streaming History"):
        ingest_spotify_extended(store, [tmp_path])


def test_invalid_utf8_rejected(store, tmp_path):
    path = tmp_path / "Streaming_History_Audio_2020.json"
    content = b'[{"ts": "2020-04-18T13:41:44Z", "master_metadata_track_name": "Caf\xe9"}]'
    path.write_bytes(content)

    report = only_file(ingest_spotify_extended(store, [path]))

    assert report.status == "rejected"
    offset = content.index(b"\xe9")
    assert f"invalid UTF-8 at byte {offset}" in report.message


def test_truncated_json_rejected(store, tmp_path):
    path = tmp_path / "Streaming_History_Audio_2020.json"
    path.write_text(json.dumps(history_plays(3))[:-40])

    report = only_file(ingest_spotify_extended(store, [path]))

    assert report.status == "rejected"
    assert "invalid JSON at byte" in report.message
    assert "the file is truncated" in report.message
    assert count(store, "play_events") == 0


def test_malformed_uri_and_empty_identity_rejected(store, tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json", [
        extended_play(1, spotify_track_uri="spotify:track:short"),
        extended_play(2, spotify_track_uri=None, master_metadata_track_name=None),
        "not a record",
    ])

    report = only_file(ingest_spotify_extended(store, [path]))

    assert report.rows_rejected == 3
    assert [row[3].split(":")[0] for row in rejects(store)] == [
        "malformed spotify_track_uri", "no track, episode or audiobook", "record is not a JSON object"]


def test_wrong_flag_types_kept_as_unknown(store, tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2020.json",
                         [extended_play(1, shuffle="yes", skipped=1, offline="false")])

    report = only_file(ingest_spotify_extended(store, [path]))

    assert report.rows_loaded == 1
    assert rows(store, "SELECT shuffle, skipped, offline FROM play_events") == [(None, True, False)]
    assert any("not true or false" in w for w in report.warnings)


def test_fast_and_checked_paths_agree(tmp_path, monkeypatch):
    data = generate_listening(n_users=2, n_tracks=100, n_artists=10, sessions_per_user=4, seed=9)
    write_extended_history(data, tmp_path / "export", episode_share=0.1)
    local = extended_play(5, "2021-06-01T10:00:00Z", spotify_track_uri=None, master_metadata_track_name="Local",
                          master_metadata_album_artist_name="Me", username="listener00000")
    write_records(tmp_path / "export" / "Streaming_History_Audio_2021_9.json", [local, audiobook_play()])
    stored = []
    for name, checked in (("fast", False), ("checked", True)):
        if checked:
            monkeypatch.setattr(ExtendedHistoryIngest, "_clean_columns", lambda self, raw, source: None)
        with Store.open(tmp_path / name) as opened:
            report = ingest_spotify_extended(opened, [tmp_path / "export"])
            stored.append((
                [(f.rows_read, f.rows_loaded, f.rows_set_aside, f.rows_new_track) for f in report.files],
                rows(opened, "SELECT * EXCLUDE (user_id) FROM play_events ORDER BY ts, track_uri"),
                rows(opened, "SELECT * EXCLUDE (user_id) FROM set_aside_plays ORDER BY ts"),
                rows(opened, "SELECT * EXCLUDE (first_seen) FROM tracks ORDER BY track_uri"),
            ))
    assert stored[0][0] == stored[1][0]
    assert stored[0][1] == stored[1][1]
    assert stored[0][2] == stored[1][2]
    assert stored[0][3] == stored[1][3]
