"""The listening commands through the real CLI: import-spotify, recommend --user, evaluate-users, train-skip."""

from __future__ import annotations

import json
import zipfile

import pytest

from conftest import invoke_tastemaker, run_tastemaker
from listening_fixtures import account_play, extended_play, write_records
from tastemaker.errors import InputError
from tastemaker.generate_listening import generate_listening, write_extended_history
from tastemaker.store import Store


def export_zip(path, records: list[dict]):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Spotify Extended Streaming History/Streaming_History_Audio_2021_0.json", json.dumps(records))
        archive.writestr("Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf", b"%PDF")
    return path


def plays_of_playlists(playlists: list[dict], count: int) -> list[dict]:
    """Return Extended Streaming History plays of the first tracks of a few generated playlists."""
    records = []
    for i, track in enumerate(t for p in playlists[:5] for t in p["tracks"]):
        if i == count:
            break
        records.append(extended_play(i, f"2021-05-01T{10 + i // 60:02d}:{i % 60:02d}:00Z",
                                     spotify_track_uri=track["track_uri"], username=None,
                                     master_metadata_track_name=track["track_name"],
                                     master_metadata_album_artist_name=track["artist_name"]))
    return records


def test_import_then_recommend_from_playlist_model(trained_copy, generated_playlists, tmp_path):
    records = plays_of_playlists(generated_playlists, 20)
    archive = export_zip(tmp_path / "my_spotify_data.zip", records)

    imported = invoke_tastemaker("--data-dir", trained_copy, "import-spotify", archive, "--user", "Alice Example")

    assert imported.exit_code == 0, imported.raw
    assert "next: `tastemaker recommend --user Alice Example`" in imported.output
    with Store.open(trained_copy, read_only=True) as store:
        assert store.connection.execute("SELECT count(*) FROM play_events").fetchall() == [(20,)]
    result = invoke_tastemaker("--data-dir", trained_copy, "recommend", "--user", "Alice Example", "-n", "5")
    assert result.exit_code == 0, result.raw
    assert "playlist bundle" in result.output
    assert "20 distinct tracks in the listening history, 0 of them unknown" in result.output
    listed = [line.split("│")[-2].strip() for line in result.raw.splitlines() if "spotify:track:" in line]
    assert len(listed) == 5
    history = {r["spotify_track_uri"] for r in records}
    assert not history & set(listed)


def test_recommend_from_listening_bundle(tmp_path):
    data = generate_listening(n_users=40, n_tracks=400, n_artists=40, sessions_per_user=15, seed=4)
    write_extended_history(data, tmp_path / "export")
    data_dir = tmp_path / "data"
    assert invoke_tastemaker("--data-dir", data_dir, "ingest", "spotify-extended", tmp_path / "export").exit_code == 0

    no_model = invoke_tastemaker("--data-dir", data_dir, "recommend", "--user", data.user_names[0])
    assert isinstance(no_model.exception, InputError)
    assert "train one on the stored plays with `tastemaker train-listening`" in str(no_model.exception)

    trained = invoke_tastemaker("--data-dir", data_dir, "train-listening", "-p", "als.factors=8")
    assert trained.exit_code == 0, trained.raw
    result = invoke_tastemaker("--data-dir", data_dir, "recommend", "--user", data.user_names[0], "-n", "3")
    assert result.exit_code == 0, result.raw
    assert "listening bundle" in result.output
    assert result.output.count("spotify:track:") == 3


def test_recommend_user_errors(tmp_path):
    data_dir = tmp_path / "data"
    path = write_records(tmp_path / "Streaming_History_Audio_2021.json", [extended_play(1)])
    assert invoke_tastemaker("--data-dir", data_dir, "ingest", "spotify-extended", path).exit_code == 0

    unknown = invoke_tastemaker("--data-dir", data_dir, "recommend", "--user", "bob")
    assert isinstance(unknown.exception, InputError)
    assert "no listening history for user 'bob'" in str(unknown.exception)
    mixed = invoke_tastemaker("--data-dir", data_dir, "recommend", "--user", "alice", "--playlist", "1")
    assert "give --user NAME alone" in str(mixed.exception)


def test_import_account_data_needs_timezone(tmp_path):
    folder = tmp_path / "MyData"
    write_records(folder / "StreamingHistory_music_0.json", [account_play("A", "B")])
    data_dir = tmp_path / "data"

    result = run_tastemaker("--data-dir", data_dir, "import-spotify", folder, "--user", "me", cwd=tmp_path)

    assert result.exit_code == 1
    assert "Traceback" not in result.raw
    assert "pass --timezone with your zone" in result.output

    result = run_tastemaker("--data-dir", data_dir, "import-spotify", folder, "--user", "me", "--timezone",
                            "Europe/Berlin", cwd=tmp_path)
    assert result.exit_code == 0, result.raw
    assert "note: endTime values were read as local time in Europe/Berlin" in result.output


def test_import_prefers_extended_history(tmp_path):
    folder = tmp_path / "export"
    write_records(folder / "Spotify Extended Streaming History" / "Streaming_History_Audio_2021.json",
                  [extended_play(1, username=None)])
    write_records(folder / "Spotify Account Data" / "StreamingHistory_music_0.json", [account_play("A", "B")])

    result = invoke_tastemaker("--data-dir", tmp_path / "data", "import-spotify", folder, "--user", "me")

    assert result.exit_code == 0, result.raw
    assert "1 account-data StreamingHistory files were not read" in result.output
    with Store.open(tmp_path / "data", read_only=True) as store:
        assert store.connection.execute("SELECT count(*) FROM play_events").fetchall() == [(1,)]


def test_ingest_rejects_reported_without_traceback(tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2021.json",
                         [extended_play(1), extended_play(2, "2999-01-01T00:00:00Z"), extended_play(3, ms_played=-4)])

    result = run_tastemaker("--data-dir", tmp_path / "data", "ingest", "spotify-extended", path, cwd=tmp_path)

    assert result.exit_code == 1
    assert "Traceback" not in result.raw
    assert "record 1, field 'ts': implausible time: 2999-01-01 00:00:00 UTC is in the future" in result.output
    assert "record 2, field 'ms_played': invalid ms_played: negative duration -4 (value: -4)" in result.output
    assert "1 implausible time" in result.output
    assert "error: 0 files and 2 rows were rejected; the valid rows were loaded" in result.output

    again = run_tastemaker("--data-dir", tmp_path / "data", "ingest", "spotify-extended", path, cwd=tmp_path)
    assert "every file was ingested before; nothing changed" in again.output


def test_zip_without_history_via_cli(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("MyData/Userdata.json", "{}")

    result = run_tastemaker("--data-dir", tmp_path / "data", "import-spotify", archive, "--user", "me", cwd=tmp_path)

    assert result.exit_code == 1
    assert "the archive contains no Spotify streaming history" in result.output


def test_evaluate_users_and_train_skip(tmp_path):
    data = generate_listening(n_users=40, n_tracks=300, n_artists=30, sessions_per_user=20, seed=6)
    write_extended_history(data, tmp_path / "export")
    data_dir = tmp_path / "data"
    invoke_tastemaker("--data-dir", data_dir, "ingest", "spotify-extended", tmp_path / "export")

    evaluated = invoke_tastemaker("--data-dir", data_dir, "evaluate-users", "--holdout", "3", "--factors", "8",
                                  "--out", tmp_path / "reports")

    assert evaluated.exit_code == 0, evaluated.raw
    assert "ALS NDCG@10: confidence" in evaluated.output
    for label in ("popularity", "als-confidence", "als-raw", "als-binary", "bpr", "itemknn", "ease"):
        assert f"│ {label} " in evaluated.raw
    report = json.loads(next((tmp_path / "reports").glob("*.json")).read_text())
    assert report["split"]["kind"] == "temporal"

    skip = invoke_tastemaker("--data-dir", data_dir, "train-skip", "--test-share", "0.3")
    assert skip.exit_code == 0, skip.raw
    assert "LightGBM skip model" in skip.output
    assert (data_dir / "skip-model" / "skip_model.txt").is_file()


def test_evaluate_users_without_hetrec(tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2021.json", [extended_play(1)])
    invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "spotify-extended", path)
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "evaluate-users", "--data", "hetrec")
    assert isinstance(result.exception, InputError)
    assert "`tastemaker ingest hetrec FOLDER`" in str(result.exception)


@pytest.mark.parametrize("option", ["--alpha", "--epsilon"])
def test_invalid_confidence_option(tmp_path, option):
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "evaluate-users", option, "-1")
    assert isinstance(result.exception, InputError)
    assert f"parameter {option[2:]} must be a number > 0, got -1.0" in str(result.exception)
