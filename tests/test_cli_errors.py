"""Bad input through the real command line: each case names the file, record, field, value and fix.

One case of each error class that ``main()`` turns into ``error: ...`` and
exit status 1 runs the entry point in a subprocess, which also shows that no
traceback reaches the user. The other cases run in-process through Typer's
test runner, where the error arrives as the raised exception. Ingest rejects,
which the command reports itself, are read from its output.
"""

from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pytest

from conftest import (
    current_bundle,
    invoke_tastemaker,
    refresh_manifest,
    run_tastemaker,
    track_uri,
    write_json,
)
from tastemaker.errors import BundleError, InputError, StoreError
from tastemaker.models import MODELS
from tastemaker.products.continuation import FALLBACK_NO_SEEDS
from tastemaker.store import Store

FIX_REJECTS = "Fix the records listed above and ingest the fixed files again"


def slice_document(*playlists: dict) -> dict:
    return {"info": {"slice": "0-0", "version": "test"}, "playlists": list(playlists)}


def playlist(pid: int, tracks: list, **fields) -> dict:
    return {"pid": pid, "name": f"list {pid}", "num_tracks": len(tracks), "tracks": tracks, **fields}


def tracks(*keys: int) -> list[dict]:
    return [{"track_uri": track_uri(k), "track_name": f"song {k}", "artist_name": "band"} for k in keys]


def stored_counts(data_dir) -> dict[str, int]:
    with Store.open(data_dir, read_only=True) as store:
        return store.counts()


def assert_clean_error(result, message: str) -> None:
    """Check a subprocess run for one ``error:`` line with ``message``, exit status 1 and no traceback."""
    assert result.exit_code == 1, result.raw
    assert "Traceback" not in result.raw
    assert f"error: {message}" in result.output, result.raw


def assert_raised(result, error_class: type, message: str) -> None:
    """Check an in-process run for a raised ``error_class`` whose message contains ``message``."""
    assert isinstance(result.exception, error_class), result.raw
    assert message in str(result.exception)


# Files and folders


def test_ingest_missing_path(tmp_path):
    missing = tmp_path / "nowhere" / "mpd.slice.0-999.json"
    result = run_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", missing, cwd=tmp_path)
    assert_clean_error(result, f"{missing}: no such file or folder; check the path")


def test_ingest_empty_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a slice")
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", empty)
    assert_raised(result, InputError, f"{empty}: the folder contains no .json or .json.gz files; "
                                      "point at the folder that holds the slice files")


def test_ingest_not_json(tmp_path):
    path = tmp_path / "slice.json"
    path.write_text("playlist,track\n1,2\n")
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", path)
    assert result.exit_code == 1
    assert result.exception is None
    assert f"rejected file: {path}: invalid JSON at byte 0 (line 1, column 1)" in result.output
    assert "the file is not valid JSON, replace it with a complete copy" in result.output
    assert "rejected 1 file(s), 0 playlist(s) and 0 track row(s)" in result.output
    assert f"{path}: {path}" not in result.output
    assert stored_counts(tmp_path / "data")["playlists"] == 0


def test_ingest_truncated(tmp_path):
    # Cut right after the first track's closing brace and comma, past a multi-byte name.
    text = json.dumps(slice_document(playlist(1, tracks(1, 2), name="Café ☕")), ensure_ascii=False)
    cut = text.index("}, {") + 2
    raw = text[:cut].encode("utf-8")
    path = tmp_path / "slice.json"
    path.write_bytes(raw)
    assert len(raw) != cut, "the prefix must contain multi-byte characters"

    result = invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", path)

    assert result.exit_code == 1
    assert f"{path}: invalid JSON at byte {len(raw)} " in result.output
    assert "the file is truncated, replace it with a complete copy" in result.output
    assert stored_counts(tmp_path / "data")["playlists"] == 0


def test_ingest_truncated_in_string(tmp_path):
    text = json.dumps(slice_document(playlist(1, tracks(1, 2), name="Café ☕ mix")), ensure_ascii=False)
    quote = text.index('"Café')
    path = tmp_path / "slice.json"
    path.write_bytes(text[: quote + 4].encode("utf-8"))

    result = invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", path)

    # The decoder reports the unterminated string at its opening quote.
    assert result.exit_code == 1
    assert f"{path}: invalid JSON at byte {len(text[:quote].encode('utf-8'))} " in result.output
    assert "Unterminated string" in result.output


def test_ingest_truncated_gzip(tmp_path):
    packed = gzip.compress(json.dumps(slice_document(playlist(1, tracks(*range(50))))).encode())
    path = tmp_path / "mpd.slice.0-0.json.gz"
    path.write_bytes(packed[: len(packed) // 2])

    result = invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", path)

    assert result.exit_code == 1
    assert f"{path}: invalid gzip data" in result.output
    assert "the file may be truncated, download it again" in result.output


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_ingest_byte_order_mark(tmp_path, compress):
    raw = b"\xef\xbb\xbf" + json.dumps(slice_document(playlist(1, tracks(1, 2)))).encode("utf-8")
    path = tmp_path / ("slice.json.gz" if compress else "slice.json")
    path.write_bytes(gzip.compress(raw) if compress else raw)

    result = invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", path)

    assert result.exit_code == 0, result.raw
    assert "files: 1 read, 1 loaded" in result.output
    assert stored_counts(tmp_path / "data")["playlist_tracks"] == 2


# Records


def test_ingest_null_track(tmp_path):
    path = write_json(tmp_path / "slice.json", slice_document(playlist(1, [*tracks(1, 2), None])))
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", path)
    assert result.exit_code == 1
    assert f"{path}, playlist 0, track 2: null track entry" in result.output
    assert "rejected 0 file(s), 0 playlist(s) and 1 track row(s)" in result.output
    assert "everything valid was loaded" in result.output
    assert FIX_REJECTS in result.output
    assert stored_counts(tmp_path / "data")["playlist_tracks"] == 2


def test_ingest_missing_track_uri(tmp_path):
    entries = [*tracks(1), {"track_name": "no uri", "artist_name": "band"}]
    path = write_json(tmp_path / "slice.json", slice_document(playlist(1, entries)))
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", path)
    assert result.exit_code == 1
    assert f"{path}, playlist 0, track 1, field 'track_uri': missing track_uri" in result.output
    assert FIX_REJECTS in result.output
    assert stored_counts(tmp_path / "data")["playlist_tracks"] == 1


def test_ingest_malformed_track_uri(tmp_path):
    entries = [*tracks(1), {"track_uri": "spotify:track:short"}]
    path = write_json(tmp_path / "slice.json", slice_document(playlist(1, entries)))
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", path)
    assert result.exit_code == 1
    assert (f"{path}, playlist 0, track 1, field 'track_uri': malformed track URI "
            "(value: spotify:track:short)") in result.output


def test_ingest_duplicate_track_merged(tmp_path):
    path = write_json(tmp_path / "slice.json", slice_document(playlist(1, tracks(1, 2, 1))))
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", path)
    assert result.exit_code == 0, result.raw
    # Columns: read, loaded, merged, rejected.
    assert "tracks │ 3 │ 2 │ 1 │ 0 │" in result.output
    assert "error" not in result.output
    assert stored_counts(tmp_path / "data")["playlist_tracks"] == 2


def test_ingest_wrong_num_tracks(tmp_path):
    path = write_json(tmp_path / "slice.json", slice_document(playlist(1, tracks(1, 2), num_tracks=5)))
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", path)
    assert result.exit_code == 1
    assert (f"{path}, playlist 0, field 'num_tracks': num_tracks disagrees with the list: "
            "num_tracks is 5 but the playlist lists 2 tracks (value: 5)") in result.output
    assert FIX_REJECTS in result.output
    assert stored_counts(tmp_path / "data")["playlists"] == 0


def test_ingest_missing_pid(tmp_path):
    bad = {"name": "no pid", "tracks": tracks(1)}
    path = write_json(tmp_path / "slice.json", slice_document(bad, playlist(2, tracks(2))))
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "mpd", path)
    assert result.exit_code == 1
    assert f"{path}, playlist 0, field 'pid': missing pid: every playlist needs an integer 'pid'" in result.output
    assert stored_counts(tmp_path / "data")["playlists"] == 1


# Data directory


def test_data_dir_under_file(tmp_path):
    blocker = tmp_path / "regular-file"
    blocker.write_text("")
    data_dir = blocker / "data"
    slice_path = write_json(tmp_path / "slice.json", slice_document(playlist(1, tracks(1))))

    result = run_tastemaker("--data-dir", data_dir, "ingest", "mpd", slice_path, cwd=tmp_path)

    assert_clean_error(result, f"cannot create the data directory {data_dir}: ")
    assert "choose another with --data-dir or TASTEMAKER_DATA_DIR" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_data_dir_read_only(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(0o555)
    slice_path = write_json(tmp_path / "slice.json", slice_document(playlist(1, tracks(1))))
    try:
        result = run_tastemaker("--data-dir", data_dir, "ingest", "mpd", slice_path, cwd=tmp_path)
    finally:
        data_dir.chmod(0o755)
    assert_clean_error(result, f"the data directory {data_dir} is not writable (permission denied)")


def test_recommend_no_store(tmp_path):
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "recommend", "--playlist", "1")
    assert_raised(result, StoreError, f"no store found at {tmp_path / 'data' / 'tastemaker.duckdb'}: ingest data first")


# Models and N


def test_train_unknown_model(tmp_path, trained_dir):
    result = run_tastemaker("--data-dir", trained_dir, "train", "--model", "nope", cwd=tmp_path)
    assert_clean_error(result, f"unknown model 'nope'; choose one of: {', '.join(MODELS)}")


def test_evaluate_unknown_model(tmp_path, trained_dir):
    result = invoke_tastemaker("--data-dir", trained_dir, "evaluate", "--model", "popularity", "--model", "nope")
    assert_raised(result, InputError, f"unknown model 'nope'; choose one of: {', '.join(MODELS)}")


def test_recommend_unknown_model(tmp_path, trained_dir):
    result = invoke_tastemaker("--data-dir", trained_dir, "recommend", "--playlist", "0", "--model", "nope")
    assert_raised(result, InputError, f"unknown model 'nope'; choose one of: {', '.join(MODELS)}")


def test_recommend_untrained_model(tmp_path, trained_dir):
    bundle = current_bundle(trained_dir)
    result = invoke_tastemaker("--data-dir", trained_dir, "recommend", "--playlist", "0", "--model", "bpr")
    assert_raised(result, InputError, f"model 'bpr' is not in the bundle {bundle.name}; it has: popularity, als.")
    assert "Train it with `tastemaker train --model bpr`" in str(result.exception)


def test_recommend_n_zero(tmp_path, trained_dir, catalogue_size):
    result = run_tastemaker("--data-dir", trained_dir, "recommend", "--playlist", "0", "-n", "0", cwd=tmp_path)
    assert_clean_error(result, f"N must be an integer from 1 to the catalogue size {catalogue_size}, got 0")


def test_recommend_n_above_catalogue(trained_dir, catalogue_size):
    n = catalogue_size + 1
    result = invoke_tastemaker("--data-dir", trained_dir, "recommend", "--playlist", "0", "-n", n)
    assert_raised(result, InputError, f"N must be an integer from 1 to the catalogue size {catalogue_size}, got {n}")


def test_recommend_unknown_pid(tmp_path, trained_dir):
    result = run_tastemaker("--data-dir", trained_dir, "recommend", "--playlist", "99999", cwd=tmp_path)
    store = trained_dir / "tastemaker.duckdb"
    assert_clean_error(result, f"playlist 99999 not found in the store {store} (300 playlists stored); "
                               "check the pid or ingest the file that contains it")


def test_recommend_needs_playlist_or_seeds(tmp_path):
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "recommend")
    assert_raised(result, InputError, "--playlist PID")
    assert "--seed-track URI" in str(result.exception)


# Bundles


def test_bundle_id_map_disagrees(tmp_path, trained_copy, catalogue_size):
    bundle = current_bundle(trained_copy)
    lines = (bundle / "tracks.txt").read_text().splitlines()
    (bundle / "tracks.txt").write_text("".join(f"{line}\n" for line in lines[:-1]))
    refresh_manifest(bundle, "tracks.txt", n_tracks=catalogue_size - 1)

    result = invoke_tastemaker("--data-dir", trained_copy, "recommend", "--playlist", "0")

    assert_raised(result, BundleError, f"{bundle}/models/popularity/item_popularity.npy has shape {catalogue_size} ")
    assert f"the bundle's id map needs {catalogue_size - 1}; the bundle is inconsistent" in str(result.exception)
    assert "train a new one with `tastemaker train`" in str(result.exception)


def test_bundle_array_disagrees(tmp_path, trained_copy, catalogue_size):
    bundle = current_bundle(trained_copy)
    relative = "models/als/track_factors.npy"
    np.save(bundle / relative, np.zeros((catalogue_size + 3, 8), dtype=np.float32))
    refresh_manifest(bundle, relative)

    result = invoke_tastemaker("--data-dir", trained_copy, "recommend", "--playlist", "0")

    assert_raised(result, BundleError, f"{bundle / relative} has shape {catalogue_size + 3}x8 ")
    assert f"the bundle's id map needs {catalogue_size}x8" in str(result.exception)


def test_bundle_tampered(tmp_path, trained_copy):
    bundle = current_bundle(trained_copy)
    path = bundle / "models/als/track_factors.npy"
    content = bytearray(path.read_bytes())
    content[200] ^= 0xFF
    path.write_bytes(bytes(content))

    result = run_tastemaker("--data-dir", trained_copy, "recommend", "--playlist", "0", cwd=tmp_path)

    assert_clean_error(result, f"{bundle}: models/als/track_factors.npy does not match its SHA-256 in the manifest")
    assert "the bundle was modified, retrain with `tastemaker train`" in result.output


# Challenge sets


def challenge_document(*playlists: dict) -> dict:
    return {"date": "2018-01-16", "version": "v1", "name": "challenge_set", "playlists": list(playlists)}


def test_continue_no_seeds_no_name(tmp_path, trained_dir, generated_playlists):
    seeds = generated_playlists[0]["tracks"][:3]
    document = challenge_document(
        {"pid": 1_000_001, "name": "with seeds", "num_samples": 3, "num_holdouts": 20, "tracks": seeds},
        {"pid": 1_000_002, "num_samples": 0, "num_holdouts": 20, "tracks": []},
    )
    challenge = write_json(tmp_path / "challenge_set.json", document)
    out = tmp_path / "submission.csv"

    result = invoke_tastemaker("--data-dir", trained_dir, "continue", "--challenge", challenge, "--out", out)

    assert result.exit_code == 0, result.raw
    assert (f"{challenge}, playlist 1 (pid 1000002): no seed tracks and no name; "
            "its continuation will come from the popularity fallback") in result.output
    assert f"playlist 1000002 (None): {FALLBACK_NO_SEEDS}" in result.output
    assert "(2 playlists, 1 from the fallback)" in result.output
    lines = out.read_text().splitlines()
    fallback_row = next(line.split(",") for line in lines if line.startswith("1000002,"))
    assert len(fallback_row) == 501
    assert len(set(fallback_row[1:])) == 500


def test_continue_bad_pid(tmp_path, trained_dir):
    document = challenge_document({"pid": "x", "name": "bad", "num_samples": 0, "tracks": []})
    challenge = write_json(tmp_path / "challenge_set.json", document)
    result = invoke_tastemaker("--data-dir", trained_dir, "continue", "--challenge", challenge,
                               "--out", tmp_path / "out.csv")
    assert_raised(result, InputError, f"{challenge}, playlist 0: invalid pid: expected a non-negative integer, "
                                      "found 'x'")
    assert "every challenge playlist needs a continuation" in str(result.exception)
    assert not (tmp_path / "out.csv").exists()


def test_continue_missing_challenge(tmp_path, trained_dir):
    missing = tmp_path / "challenge_set.json"
    result = invoke_tastemaker("--data-dir", trained_dir, "continue", "--challenge", missing,
                               "--out", tmp_path / "out.csv")
    assert_raised(result, InputError, f"{missing}: no such file; pass the challenge_set.json to continue")


def test_continue_unknown_model(tmp_path, trained_dir):
    challenge = write_json(tmp_path / "challenge_set.json",
                           challenge_document({"pid": 1, "name": "rock", "num_samples": 0, "tracks": []}))
    result = invoke_tastemaker("--data-dir", trained_dir, "continue", "--challenge", challenge,
                               "--out", tmp_path / "out.csv", "--model", "nope")
    assert_raised(result, InputError, f"unknown model 'nope'; choose one of: {', '.join(MODELS)}")


def test_continue_n_too_large(tmp_path, trained_dir, catalogue_size):
    challenge = write_json(tmp_path / "challenge_set.json",
                           challenge_document({"pid": 1, "name": "rock", "num_samples": 0, "tracks": []}))
    result = invoke_tastemaker("--data-dir", trained_dir, "continue", "--challenge", challenge,
                               "--out", tmp_path / "out.csv", "-n", catalogue_size + 1)
    assert_raised(result, InputError,
                  f"N must be an integer from 1 to the catalogue size {catalogue_size}, got {catalogue_size + 1}")
    assert not (tmp_path / "out.csv").exists()


def test_data_dir_is_a_file(tmp_path):
    not_a_folder = tmp_path / "store.txt"
    not_a_folder.write_text("")
    result = invoke_tastemaker("--data-dir", not_a_folder, "ingest", "mpd", tmp_path)
    assert isinstance(result.exception, StoreError)
    assert f"the data directory {not_a_folder} exists but is not a directory" in str(result.exception)
