"""Bundles: what training writes, and every check that loading makes before a model is used."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from conftest import current_bundle, refresh_manifest
from tastemaker.bundle import current_bundle_path, load_bundle
from tastemaker.errors import BundleError, InputError
from tastemaker.pipeline import load_current_bundle, parse_model_params, train
from tastemaker.store import Store

# Written and loaded as trained


def test_bundle_models(trained_dir):
    bundle = load_current_bundle(trained_dir)
    assert list(bundle.models) == ["popularity", "als"]
    assert bundle.default_model == "als"


def test_bundle_track_map(trained_dir, generated_playlists):
    bundle = load_current_bundle(trained_dir)
    expected = sorted({t["track_uri"] for p in generated_playlists for t in p["tracks"]})
    assert bundle.tracks.ids.tolist() == expected
    assert bundle.manifest["n_tracks"] == len(expected)


def test_bundle_popularity_counts(trained_dir, generated_playlists):
    bundle = load_current_bundle(trained_dir)
    counts: dict[str, int] = {}
    for playlist in generated_playlists:
        for uri in {t["track_uri"] for t in playlist["tracks"]}:
            counts[uri] = counts.get(uri, 0) + 1
    stored = bundle.model("popularity").item_popularity_
    assert stored.tolist() == [float(counts[uri]) for uri in bundle.tracks.ids]


def test_bundle_manifest_hashes(trained_dir):
    bundle = current_bundle(trained_dir)
    manifest = json.loads((bundle / "manifest.json").read_text())
    on_disk = sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert sorted(manifest["files"]) == on_disk
    for name, entry in manifest["files"].items():
        content = (bundle / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(content).hexdigest(), name
        assert entry["bytes"] == len(content), name


def test_bundle_manifest_params(trained_dir):
    manifest = json.loads((current_bundle(trained_dir) / "manifest.json").read_text())
    assert manifest["models"]["als"]["params"]["factors"] == 8
    assert manifest["models"]["als"]["params"]["iterations"] == 5
    assert manifest["data_snapshot"]["counts"]["playlists"] == 300


def test_bundle_no_pickle(trained_dir):
    for path in current_bundle(trained_dir).rglob("*.npy"):
        array = np.load(path, allow_pickle=False)
        assert array.dtype != object, path


def test_train_moves_current(trained_copy):
    first = current_bundle(trained_copy)
    with Store.open(trained_copy, read_only=True) as store:
        second = train(store, trained_copy, parse_model_params(["popularity"], []))
    assert current_bundle(trained_copy) == second
    assert second != first
    assert (first / "manifest.json").is_file()
    assert list(load_current_bundle(trained_copy).models) == ["popularity"]


def test_train_leaves_no_staging(trained_dir):
    leftovers = [p.name for p in (trained_dir / "bundles").iterdir() if p.name.startswith(".incoming-")]
    assert leftovers == []


# Loading checks


def test_load_no_current(tmp_path):
    with pytest.raises(BundleError) as raised:
        current_bundle_path(tmp_path)
    assert f"no trained model in {tmp_path}" in str(raised.value)
    assert "run `tastemaker train` first" in str(raised.value)


def test_load_not_a_bundle(tmp_path):
    with pytest.raises(BundleError) as raised:
        load_bundle(tmp_path)
    assert f"{tmp_path / 'manifest.json'} not found" in str(raised.value)


def test_load_other_format_version(trained_copy):
    bundle = current_bundle(trained_copy)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["format_version"] = 99
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError) as raised:
        load_bundle(bundle)
    assert "bundle format version 99 is not supported" in str(raised.value)
    assert "retrain with `tastemaker train`" in str(raised.value)


def test_load_other_format(trained_copy):
    bundle = current_bundle(trained_copy)
    (bundle / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(BundleError, match="not a tastemaker bundle manifest"):
        load_bundle(bundle)


def test_load_missing_file(trained_copy):
    bundle = current_bundle(trained_copy)
    (bundle / "models/als/track_factors.npy").unlink()
    with pytest.raises(BundleError) as raised:
        load_bundle(bundle)
    assert "file models/als/track_factors.npy listed in the manifest is missing" in str(raised.value)


def test_load_truncated_file(trained_copy):
    bundle = current_bundle(trained_copy)
    path = bundle / "models/als/track_factors.npy"
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:-16])
    with pytest.raises(BundleError) as raised:
        load_bundle(bundle)
    assert f"models/als/track_factors.npy has {size - 16} bytes but the manifest lists {size}" in str(raised.value)


def test_load_tampered_file(trained_copy):
    bundle = current_bundle(trained_copy)
    path = bundle / "models/als/track_factors.npy"
    content = bytearray(path.read_bytes())
    content[-1] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(BundleError) as raised:
        load_bundle(bundle)
    assert "models/als/track_factors.npy does not match its SHA-256 in the manifest" in str(raised.value)
    assert "the bundle was modified, retrain with `tastemaker train`" in str(raised.value)


def test_load_tampered_unverified(trained_copy):
    # With hash checks off, a same-size change that keeps the array valid loads.
    bundle = current_bundle(trained_copy)
    path = bundle / "models/als/track_factors.npy"
    content = bytearray(path.read_bytes())
    content[-1] ^= 0x01
    path.write_bytes(bytes(content))
    loaded = load_bundle(bundle, verify_hashes=False)
    assert "als" in loaded.models


def test_load_track_count_mismatch(trained_copy):
    bundle = current_bundle(trained_copy)
    lines = (bundle / "tracks.txt").read_text().splitlines()
    (bundle / "tracks.txt").write_text("".join(f"{line}\n" for line in lines[:-1]))
    refresh_manifest(bundle, "tracks.txt")
    with pytest.raises(BundleError) as raised:
        load_bundle(bundle)
    assert f"tracks.txt lists {len(lines) - 1} tracks but the manifest lists {len(lines)}" in str(raised.value)


def test_load_id_map_shorter_than_arrays(trained_copy, catalogue_size):
    bundle = current_bundle(trained_copy)
    lines = (bundle / "tracks.txt").read_text().splitlines()
    (bundle / "tracks.txt").write_text("".join(f"{line}\n" for line in lines[:-1]))
    refresh_manifest(bundle, "tracks.txt", n_tracks=catalogue_size - 1)
    with pytest.raises(BundleError) as raised:
        load_bundle(bundle)
    message = str(raised.value)
    assert f"item_popularity.npy has shape {catalogue_size} " in message
    assert f"the bundle's id map needs {catalogue_size - 1};" in message
    assert "train a new one with `tastemaker train`" in message


def test_load_factors_wrong_shape(trained_copy, catalogue_size):
    bundle = current_bundle(trained_copy)
    relative = "models/als/track_factors.npy"
    np.save(bundle / relative, np.zeros((catalogue_size - 1, 8), dtype=np.float32))
    refresh_manifest(bundle, relative)
    with pytest.raises(BundleError) as raised:
        load_bundle(bundle)
    message = str(raised.value)
    assert f"track_factors.npy has shape {catalogue_size - 1}x8 " in message
    assert f"the bundle's id map needs {catalogue_size}x8;" in message


def test_load_duplicate_track_ids(trained_copy):
    bundle = current_bundle(trained_copy)
    lines = (bundle / "tracks.txt").read_text().splitlines()
    lines[1] = lines[0]
    (bundle / "tracks.txt").write_text("".join(f"{line}\n" for line in lines))
    refresh_manifest(bundle, "tracks.txt")
    with pytest.raises(BundleError) as raised:
        load_bundle(bundle)
    assert "the id map" in str(raised.value)
    assert "ids must be distinct" in str(raised.value)


def test_load_pickled_array(trained_copy):
    bundle = current_bundle(trained_copy)
    relative = "models/als/track_factors.npy"
    np.save(bundle / relative, np.array([{"code": "would run"}], dtype=object), allow_pickle=True)
    refresh_manifest(bundle, relative)
    with pytest.raises(BundleError) as raised:
        load_bundle(bundle)
    assert f"cannot load {bundle / relative}" in str(raised.value)


def test_bundle_unknown_model_name(trained_dir):
    bundle = load_current_bundle(trained_dir)
    with pytest.raises(InputError) as raised:
        bundle.model("bpr")
    assert f"model 'bpr' is not in the bundle {bundle.path.name}; it has: popularity, als" in str(raised.value)
    assert "Train it with `tastemaker train --model bpr`" in str(raised.value)
