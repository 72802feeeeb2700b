"""Ingest of an audio folder: process pool, matching by id, tags and file name, new tracks, rejects."""

import numpy as np
import pytest
import soundfile

from conftest import invoke_tastemaker, track_uri, write_json
from tastemaker.content.features import CONTENT_FEATURES, FEATURE_VERSION
from tastemaker.errors import InputError
from tastemaker.ingest import ingest_mpd
from tastemaker.ingest.audio_files import find_audio_files, ingest_audio_files, split_file_name
from tastemaker.store import Store
from tastemaker.store.content import read_audio_content

RATE = 22050
CATALOGUE = [
    {"track_uri": track_uri("tagged"), "track_name": "Blue Morning", "artist_name": "The Harbour Lights"},
    {"track_uri": track_uri("named"), "track_name": "Night Drive", "artist_name": "Velvet Ocean"},
    {"track_uri": track_uri("byid"), "track_name": "Untitled", "artist_name": "Someone"},
    {"track_uri": track_uri("other"), "track_name": "Other", "artist_name": "Someone"},
]


def song(seconds: float = 2.0, frequency: float = 330.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.4 * np.sin(2 * np.pi * frequency * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)


def write(path, samples, format, subtype, title=None, artist=None):
    with soundfile.SoundFile(str(path), "w", RATE, 1, format=format, subtype=subtype) as handle:
        if title:
            handle.title = title
        if artist:
            handle.artist = artist
        for start in range(0, len(samples), RATE // 2):
            handle.write(samples[start:start + RATE // 2])


@pytest.fixture
def store_with_catalogue(tmp_path):
    slice_path = write_json(tmp_path / "mpd.slice.0-0.json", {"playlists": [{
        "pid": 1, "name": "mix", "num_tracks": len(CATALOGUE),
        "tracks": [dict(track, pos=i) for i, track in enumerate(CATALOGUE)]}]})
    store = Store.open(tmp_path / "data")
    ingest_mpd(store, [slice_path])
    yield store
    store.close()


@pytest.fixture
def audio_folder(tmp_path):
    folder = tmp_path / "music"
    (folder / "sub").mkdir(parents=True)
    write(folder / "track01.flac", song(frequency=220.0), "FLAC", "PCM_16",
          title="Blue Morning (Remastered 2011)", artist="Harbour Lights")  # tags, after normalisation
    write(folder / "sub" / "02 - Velvet Ocean - Night Drive.ogg", song(frequency=330.0), "OGG", "VORBIS")
    write(folder / f"spotify_track_{track_uri('byid')[-22:]}.mp3", song(frequency=440.0), "MP3", "MPEG_LAYER_III")
    write(folder / "Unknown Artist - Brand New.wav", song(frequency=550.0), "WAV", "PCM_16")
    write(folder / "no name at all.wav", song(frequency=660.0), "WAV", "PCM_16")
    write(folder / "silence.wav", np.zeros(2 * RATE, dtype=np.float32), "WAV", "PCM_16")
    write(folder / "blip.wav", song(seconds=0.1), "WAV", "PCM_16")
    (folder / "broken.mp3").write_bytes(b"not audio" * 200)
    (folder / "notes.txt").write_text("not an audio file")
    return folder


def test_folder_ingest_matches_and_rejects(store_with_catalogue, audio_folder):
    report = ingest_audio_files(store_with_catalogue, [audio_folder], workers=2)
    assert report.files_found == 8
    assert report.loaded == 5
    assert report.rejected == 3
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in report.rejected_files) == ["blip.wav", "broken.mp3", "silence.wav"]
    reasons = dict((p.rsplit("/", 1)[-1], r) for p, r in report.rejected_files)
    assert "cannot decode" in reasons["broken.mp3"]
    assert "silent" in reasons["silence.wav"]
    assert "too short" in reasons["blip.wav"]
    assert report.matched == {"tags": 1, "file name": 1, "spotify id": 1, "new track": 2}
    assert report.new_tracks == 2
    assert report.workers == 2
    assert len(report.worker_pids) == 2

    rows = dict(store_with_catalogue.connection.execute(
        "SELECT regexp_extract(file, '[^/]+$'), track_uri FROM audio_content").fetchall())
    assert rows["track01.flac"] == track_uri("tagged")
    assert rows["02 - Velvet Ocean - Night Drive.ogg"] == track_uri("named")
    assert rows[f"spotify_track_{track_uri('byid')[-22:]}.mp3"] == track_uri("byid")
    new = store_with_catalogue.connection.execute(
        "SELECT name, artist_name, duration_ms FROM tracks WHERE track_uri = ?", [rows["Unknown Artist - Brand New.wav"]]
    ).fetchall()
    assert new == [("Brand New", "Unknown Artist", 2000)]
    assert rows["no name at all.wav"].startswith("tastemaker:track:file-")

    rejects = store_with_catalogue.connection.execute(
        "SELECT regexp_extract(file, '[^/]+$') FROM rejects WHERE reason LIKE '%silent%'").fetchall()
    assert rejects == [("silence.wav",)]


def test_stored_features_read_back(store_with_catalogue, audio_folder):
    ingest_audio_files(store_with_catalogue, [audio_folder], workers=1)
    table = read_audio_content(store_with_catalogue, FEATURE_VERSION)
    assert table.num_rows == 5
    features = np.asarray(table.column("features").to_pylist())
    assert features.shape == (5, len(CONTENT_FEATURES))
    assert np.all(np.isfinite(features))
    assert read_audio_content(store_with_catalogue, FEATURE_VERSION + 1).num_rows == 0


def test_second_ingest_changes_nothing(store_with_catalogue, audio_folder):
    ingest_audio_files(store_with_catalogue, [audio_folder], workers=1)
    tracks_before = store_with_catalogue.counts()["tracks"]
    again = ingest_audio_files(store_with_catalogue, [audio_folder], workers=1)
    assert again.loaded == 0
    assert again.already_ingested == 5
    assert again.rejected == 3
    assert store_with_catalogue.counts()["tracks"] == tracks_before
    count = store_with_catalogue.connection.execute("SELECT count(*) FROM audio_content").fetchall()[0][0]
    assert count == 5
    rejects = store_with_catalogue.connection.execute("SELECT count(*) FROM rejects").fetchall()[0][0]
    assert rejects == 3


def test_duplicate_bytes_are_counted_once(store_with_catalogue, tmp_path):
    folder = tmp_path / "twice"
    folder.mkdir()
    write(folder / "a.wav", song(), "WAV", "PCM_16")
    (folder / "b.wav").write_bytes((folder / "a.wav").read_bytes())
    report = ingest_audio_files(store_with_catalogue, [folder], workers=1)
    assert (report.loaded, report.duplicates) == (1, 1)


def test_file_name_forms():
    assert split_file_name("03 - Velvet Ocean - Night Drive") == ("Velvet Ocean", "Night Drive")
    assert split_file_name("Velvet_Ocean_-_Night_Drive") == ("Velvet Ocean", "Night Drive")
    assert split_file_name("just a title") == (None, None)
    assert split_file_name(" - Night Drive") == (None, None)


def test_missing_folder_and_wrong_suffix(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        find_audio_files([tmp_path / "absent"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not an audio file"):
        find_audio_files([tmp_path / "notes.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="contains no .wav, .flac, .ogg, .mp3 files"):
        find_audio_files([tmp_path / "empty"])


def test_cli_lists_rejected_files_and_exits_1(tmp_path, audio_folder):
    result = invoke_tastemaker("--data-dir", tmp_path / "cli-data", "ingest", "audio", audio_folder, "--workers", "1")
    assert result.exit_code == 1
    assert "audio files: 8 found, 5 loaded" in result.output
    assert "5 as new tracks" in result.output  # the store has no catalogue, so nothing matches
    for name in ("broken.mp3", "silence.wav", "blip.wav"):
        assert f"rejected {audio_folder}" in result.output
        assert name in result.output
    assert "3 file(s) could not be analysed and were skipped" in result.output


def test_unreadable_file_is_rejected_by_name(store_with_catalogue, tmp_path, monkeypatch):
    from tastemaker.ingest import audio_files

    folder = tmp_path / "locked"
    folder.mkdir()
    write(folder / "a.wav", song(), "WAV", "PCM_16")
    write(folder / "b.wav", song(frequency=440.0), "WAV", "PCM_16")
    real_sha256 = audio_files.file_sha256

    def failing_sha256(path):
        if path.name == "a.wav":
            raise PermissionError(13, "Permission denied")
        return real_sha256(path)

    # Root reads files whatever their mode, so the read error is simulated.
    monkeypatch.setattr(audio_files, "file_sha256", failing_sha256)
    report = ingest_audio_files(store_with_catalogue, [folder], workers=1)
    assert report.loaded == 1
    assert report.rejected == 1
    assert report.rejected_files[0][0].endswith("a.wav")
    assert "cannot read the file (Permission denied)" in report.rejected_files[0][1]
