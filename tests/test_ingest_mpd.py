"""MPD ingest on both real schemas, checked against the source JSON read independently.

The full schema (the first playlists of the original MPD) carries ``pos``,
artist and album URIs and durations per track. The reduced schema of the MPD
sample carries only the track URI, track name and artist name.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import invoke_tastemaker, read_slice, require_shared, track_uri, write_json
from tastemaker.ingest import ingest_mpd
from tastemaker.store import Store

OPTIONAL_TRACK_FIELDS = ("artist_uri", "album_uri", "album_name", "duration_ms")


def first_occurrences(tracks: list[dict]) -> list[tuple[int, dict]]:
    """Return (list index, track) for the first entry of each track URI, in list order."""
    seen: set[str] = set()
    firsts = []
    for index, track in enumerate(tracks):
        if track["track_uri"] not in seen:
            seen.add(track["track_uri"])
            firsts.append((index, track))
    return firsts


def expected_counts(playlists: list[dict]) -> dict[str, int]:
    read = sum(len(p["tracks"]) for p in playlists)
    loaded = sum(len(first_occurrences(p["tracks"])) for p in playlists)
    return {"playlists": len(playlists), "tracks_read": read, "tracks_loaded": loaded, "tracks_merged": read - loaded}


def stored_positions(store: Store) -> list[tuple[int, int, str]]:
    return store.connection.execute("SELECT pid, pos, track_uri FROM playlist_tracks ORDER BY pid, pos").fetchall()


# Full schema


@pytest.fixture(scope="module")
def excerpt(tmp_path_factory):
    folder = require_shared("mpd-schema-excerpt")
    files = sorted(folder.glob("*.json"))
    assert files, f"{folder} contains no .json file"
    playlists = [p for path in files for p in read_slice(path)["playlists"]]
    data_dir = tmp_path_factory.mktemp("excerpt") / "data"
    store = Store.open(data_dir)
    report = ingest_mpd(store, files)
    yield store, report, playlists, files
    store.close()


def test_full_playlist_counts(excerpt):
    _, report, playlists, _ = excerpt
    assert report.total("playlists_read") == len(playlists)
    assert report.total("playlists_loaded") == len(playlists)
    assert report.total("playlists_rejected") == 0


def test_full_track_counts(excerpt):
    _, report, playlists, _ = excerpt
    expected = expected_counts(playlists)
    assert report.total("tracks_read") == expected["tracks_read"]
    assert report.total("tracks_loaded") == expected["tracks_loaded"]
    assert report.total("tracks_merged") == expected["tracks_merged"]
    assert report.total("tracks_rejected") == 0


def test_full_counts_add_up(excerpt):
    _, report, _, _ = excerpt
    for file in report.files:
        assert file.tracks_read == file.tracks_loaded + file.tracks_merged + file.tracks_rejected, file.file
        assert file.playlists_read == file.playlists_loaded + file.playlists_rejected, file.file


def test_full_store_counts(excerpt):
    store, _, playlists, _ = excerpt
    counts = store.counts()
    assert counts["playlists"] == len(playlists)
    assert counts["playlist_tracks"] == expected_counts(playlists)["tracks_loaded"]
    assert counts["tracks"] == len({t["track_uri"] for p in playlists for t in p["tracks"]})
    assert counts["rejects"] == 0


def test_full_positions(excerpt):
    store, _, playlists, _ = excerpt
    expected = sorted((p["pid"], t["pos"], t["track_uri"]) for p in playlists for _, t in first_occurrences(p["tracks"]))
    assert stored_positions(store) == expected


def test_full_track_fields(excerpt):
    store, _, playlists, _ = excerpt
    expected = {}
    for playlist in playlists:
        for track in playlist["tracks"]:
            expected.setdefault(track["track_uri"], (
                track["track_name"], track["artist_name"], track["artist_uri"], track["album_uri"],
                track["album_name"], track["duration_ms"],
            ))
    rows = store.connection.execute(
        "SELECT track_uri, name, artist_name, artist_uri, album_uri, album_name, duration_ms FROM tracks"
    ).fetchall()
    assert {row[0]: row[1:] for row in rows} == expected


def test_full_artists(excerpt):
    store, _, playlists, _ = excerpt
    expected = {t["artist_uri"] for p in playlists for t in p["tracks"]}
    stored = {row[0] for row in store.connection.execute("SELECT artist_uri FROM artists").fetchall()}
    assert stored == expected


def test_full_albums(excerpt):
    store, _, playlists, _ = excerpt
    expected = {t["album_uri"]: t["album_name"] for p in playlists for t in p["tracks"]}
    stored = dict(store.connection.execute("SELECT album_uri, name FROM albums").fetchall())
    assert stored == expected


def test_full_playlist_fields(excerpt):
    store, _, playlists, files = excerpt
    rows = store.connection.execute(
        "SELECT pid, source, name, collaborative, modified_at, num_tracks, num_albums, num_followers, "
        "num_edits, num_artists, duration_ms, file FROM playlists ORDER BY pid"
    ).fetchall()
    expected = [
        (p["pid"], "mpd", p["name"], p["collaborative"] == "true",
         datetime.fromtimestamp(p["modified_at"], timezone.utc).replace(tzinfo=None),
         p["num_tracks"], p["num_albums"], p["num_followers"], p["num_edits"], p["num_artists"],
         p["duration_ms"], files[0].name)
        for p in sorted(playlists, key=lambda p: p["pid"])
    ]
    assert rows == expected


def test_full_reingest_skipped(excerpt):
    store, _, _, files = excerpt
    before = store.counts()

    again = ingest_mpd(store, files)

    assert [f.status for f in again.files] == ["skipped"] * len(files)
    assert all("nothing changed" in f.message for f in again.files)
    assert again.total("playlists_loaded") == 0
    assert store.counts() == before


# Reduced schema


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = require_shared("mpd-sample")
    files = sorted(folder.glob("*.json.gz"))
    assert files, f"{folder} contains no .json.gz file"
    playlists = [p for path in files for p in read_slice(path)["playlists"]]
    data_dir = tmp_path_factory.mktemp("sample") / "data"
    store = Store.open(data_dir)
    report = ingest_mpd(store, [folder])
    yield store, report, playlists, files
    store.close()


def test_reduced_file_count(sample):
    _, report, _, files = sample
    assert len(report.files) == len(files)
    assert report.files_by_status == {"loaded": len(files)}


def test_reduced_playlist_counts(sample):
    _, report, playlists, _ = sample
    assert report.total("playlists_read") == len(playlists)
    assert report.total("playlists_loaded") == len(playlists)
    assert report.total("playlists_rejected") == 0


def test_reduced_track_counts(sample):
    _, report, playlists, _ = sample
    expected = expected_counts(playlists)
    assert report.total("tracks_read") == expected["tracks_read"]
    assert report.total("tracks_loaded") == expected["tracks_loaded"]
    assert report.total("tracks_merged") == expected["tracks_merged"]
    assert report.total("tracks_rejected") == 0


def test_reduced_counts_add_up(sample):
    _, report, _, _ = sample
    for file in report.files:
        assert file.tracks_read == file.tracks_loaded + file.tracks_merged + file.tracks_rejected, file.file
        assert file.playlists_read == file.playlists_loaded + file.playlists_rejected, file.file


def test_reduced_store_counts(sample):
    store, _, playlists, _ = sample
    counts = store.counts()
    assert counts["playlists"] == len(playlists)
    assert counts["playlist_tracks"] == expected_counts(playlists)["tracks_loaded"]
    assert counts["tracks"] == len({t["track_uri"] for p in playlists for t in p["tracks"]})


def test_reduced_optional_fields_null(sample):
    store, _, _, _ = sample
    for column in OPTIONAL_TRACK_FIELDS:
        filled = store.connection.execute(f"SELECT count(*) FROM tracks WHERE {column} IS NOT NULL").fetchall()
        assert filled == [(0,)], column


def test_reduced_no_artists_albums(sample):
    store, _, _, _ = sample
    counts = store.counts()
    assert counts["artists"] == 0
    assert counts["albums"] == 0


def test_reduced_names_stored(sample):
    store, _, playlists, _ = sample
    expected = {}
    for playlist in playlists:
        for track in playlist["tracks"]:
            expected.setdefault(track["track_uri"], (track["track_name"], track["artist_name"]))
    rows = store.connection.execute("SELECT track_uri, name, artist_name FROM tracks").fetchall()
    assert {row[0]: row[1:] for row in rows} == expected


def test_reduced_list_order(sample):
    store, _, playlists, _ = sample
    expected = sorted(
        (p["pid"], index, t["track_uri"]) for p in playlists for index, t in first_occurrences(p["tracks"])
    )
    assert stored_positions(store) == expected


def test_reduced_playlist_fields(sample):
    store, _, playlists, _ = sample
    rows = store.connection.execute(
        "SELECT pid, name, description, collaborative, modified_at, num_tracks, num_followers FROM playlists"
    ).fetchall()
    expected = {
        p["pid"]: (p["name"], p.get("description"), None, None, p["num_tracks"], p["num_followers"])
        for p in playlists
    }
    assert {row[0]: row[1:] for row in rows} == expected


def test_reduced_reingest_cli(tmp_path):
    folder = require_shared("mpd-sample")
    files = sorted(folder.glob("*.json.gz"))[:3]
    data_dir = tmp_path / "data"
    first = invoke_tastemaker("--data-dir", data_dir, "ingest", "mpd", *files)
    assert first.exit_code == 0, first.output
    with Store.open(data_dir, read_only=True) as store:
        before = store.counts()

    second = invoke_tastemaker("--data-dir", data_dir, "ingest", "mpd", *files)

    assert second.exit_code == 0, second.output
    assert "files: 3 read, 0 loaded, 3 skipped as already ingested, 0 rejected" in second.output
    assert "every file was ingested before; nothing changed" in second.output
    with Store.open(data_dir, read_only=True) as store:
        assert store.counts() == before


# Synthetic cases the real files do not contain


def full_track(key: int, pos: int, **fields) -> dict:
    track = {"pos": pos, "track_uri": track_uri(key), "track_name": f"song {key}", "artist_name": f"band {key}",
             "artist_uri": "spotify:artist:" + str(key).rjust(22, "a"),
             "album_uri": "spotify:album:" + str(key).rjust(22, "b"), "album_name": f"album {key}",
             "duration_ms": 200_000 + key}
    track.update(fields)
    return track


def test_pos_field_orders_tracks(tmp_path):
    # The list order is 2, 0, 1 by pos: the stored order must follow pos.
    tracks = [full_track(30, 2), full_track(10, 0), full_track(20, 1)]
    path = write_json(tmp_path / "a.json", {"playlists": [{"pid": 5, "name": "p", "num_tracks": 3,
                                                           "tracks": tracks}]})
    with Store.open(tmp_path / "data") as store:
        ingest_mpd(store, [path])
        _, ordered = store.playlist(5)
        positions = stored_positions(store)
    assert ordered == [track_uri(10), track_uri(20), track_uri(30)]
    assert positions == [(5, 0, track_uri(10)), (5, 1, track_uri(20)), (5, 2, track_uri(30))]


def test_repeated_pos_list_order(tmp_path):
    tracks = [full_track(30, 0), full_track(10, 0), full_track(20, 1)]
    path = write_json(tmp_path / "a.json", {"playlists": [{"pid": 5, "name": "p", "tracks": tracks}]})
    with Store.open(tmp_path / "data") as store:
        report = ingest_mpd(store, [path])
        _, ordered = store.playlist(5)
    assert ordered == [track_uri(30), track_uri(10), track_uri(20)]
    assert any("list order used instead" in w for w in report.files[0].warnings)


def test_full_schema_fills_nulls(tmp_path):
    reduced = {"track_uri": track_uri(1), "track_name": "first name", "artist_name": "first band"}
    first = write_json(tmp_path / "reduced.json", {"playlists": [{"pid": 1, "name": "r", "tracks": [reduced]}]})
    full = full_track(1, 0, track_name="second name")
    second = write_json(tmp_path / "full.json", {"playlists": [{"pid": 2, "name": "f", "tracks": [full]}]})
    with Store.open(tmp_path / "data") as store:
        ingest_mpd(store, [first])
        ingest_mpd(store, [second])
        row = store.connection.execute(
            "SELECT name, artist_uri, album_uri, album_name, duration_ms FROM tracks WHERE track_uri = ?",
            [track_uri(1)],
        ).fetchall()
    # The first name stays; the fields the reduced source lacked are filled in.
    assert row == [("first name", full["artist_uri"], full["album_uri"], "album 1", 200_001)]


def test_duplicate_pid_rejected(tmp_path):
    playlist = {"pid": 9, "name": "p", "tracks": [{"track_uri": track_uri(1)}]}
    first = write_json(tmp_path / "a.json", {"playlists": [playlist]})
    second = write_json(tmp_path / "b.json", {"playlists": [dict(playlist, name="other")]})
    with Store.open(tmp_path / "data") as store:
        ingest_mpd(store, [first])
        report = ingest_mpd(store, [second])
        rejects = store.rejects()
        name, _ = store.playlist(9)
    assert report.total("playlists_rejected") == 1
    assert report.total("tracks_rejected") == 1
    assert rejects == [(str(second), 0, None, "pid", "9", "duplicate pid: 9 is already stored from a.json")]
    assert name == "p"


def test_rejected_file_reingest_still_rejected(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with Store.open(tmp_path / "data") as store:
        first = ingest_mpd(store, [path])
        second = ingest_mpd(store, [path])
        log_rows = store.counts()["ingest_log"]
    assert first.files[0].status == "rejected"
    assert second.files[0].status == "rejected"
    assert "the same content was rejected before" in second.files[0].message
    assert "nothing changed" in second.files[0].message
    assert log_rows == 1


def test_shared_data_override(monkeypatch, tmp_path):
    monkeypatch.setenv("TASTEMAKER_SHARED_DATA", str(tmp_path))
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_shared("mpd-sample")
    assert str(Path(tmp_path) / "mpd-sample") in str(skipped.value)
