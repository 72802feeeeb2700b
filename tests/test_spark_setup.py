"""The Spark engine's checks that run without Spark: pyspark and Java detection, CLI guards, Parquet export."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest

from conftest import invoke_tastemaker
from tastemaker.engines import session
from tastemaker.engines.export import MANIFEST, bucket_count, export_parquet, read_export_manifest
from tastemaker.engines.session import SparkUnavailableError, check_java, parse_java_version, require_pyspark
from tastemaker.errors import InputError
from tastemaker.store import Store


@pytest.mark.parametrize("text, expected", [
    ('openjdk version "17.0.15" 2025-04-15', 17),
    ('java version "1.8.0_292"', 8),
    ('openjdk version "21" 2023-09-19', 21),
    ('openjdk version "11.0.2" 2019-01-15 LTS', 11),
    ("no version here", None),
])
def test_parse_java_version(text, expected):
    assert parse_java_version(text) == expected


def fake_java(folder: Path, version_line: str) -> Path:
    """Write a JAVA_HOME whose bin/java prints ``version_line`` to stderr, as java -version does."""
    (folder / "bin").mkdir(parents=True)
    java = folder / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(0o755)
    return folder


def test_old_java_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path / "jdk11", 'openjdk version "11.0.2" 2019-01-15')))
    with pytest.raises(SparkUnavailableError) as caught:
        check_java()
    message = str(caught.value)
    assert "Java 11" in message
    assert "Java 17 or newer" in message
    assert "JAVA_HOME" in message


def test_new_java_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path / "jdk21", 'openjdk version "21.0.1" 2023-10-17')))
    assert check_java() == 21


def test_java_home_without_java(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(SparkUnavailableError, match="has no bin/java"):
        check_java()


def test_no_java_at_all(tmp_path, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SparkUnavailableError, match="no java on PATH and JAVA_HOME is not set"):
        check_java()


def test_missing_pyspark_names_install(monkeypatch):
    real = session.importlib.util.find_spec
    monkeypatch.setattr(session.importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyspark" else real(name, *a))
    with pytest.raises(SparkUnavailableError) as caught:
        require_pyspark()
    assert "pip install 'tastemaker[spark]'" in str(caught.value)


def test_train_engine_spark_without_pyspark(trained_dir, monkeypatch):
    real = session.importlib.util.find_spec
    monkeypatch.setattr(session.importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyspark" else real(name, *a))
    result = invoke_tastemaker("--data-dir", trained_dir, "train", "--engine", "spark")
    assert isinstance(result.exception, SparkUnavailableError)
    assert "pip install 'tastemaker[spark]'" in str(result.exception)


@pytest.mark.parametrize("args, expected", [
    (["--engine", "spark", "--model", "bpr"], "model 'bpr' has no Spark trainer"),
    (["--engine", "flink"], "--engine must be one of local, spark, got 'flink'"),
    (["--master", "local[2]"], "--master and --input apply to --engine spark only"),
    (["--engine", "spark", "--model", "als", "--default", "popularity"], "--default 'popularity' is not among"),
    (["--engine", "spark", "--model", "als", "-p", "als.alpha=0.5"], "needs alpha >= 1"),
])
def test_train_engine_guards(trained_dir, args, expected):
    result = invoke_tastemaker("--data-dir", trained_dir, "train", *args)
    assert isinstance(result.exception, InputError), result.raw
    assert expected in str(result.exception)


def test_train_engine_guard_message_in_shell(trained_dir, tmp_path):
    from conftest import run_tastemaker

    result = run_tastemaker("--data-dir", trained_dir, "train", "--engine", "spark", "--model", "ease", cwd=tmp_path)
    assert result.exit_code == 1
    assert "error: model 'ease' has no Spark trainer" in result.output
    assert "Traceback" not in result.raw


def test_bucket_count():
    assert bucket_count(0) == 1
    assert bucket_count(10, rows_per_bucket=5) == 2
    assert bucket_count(11, rows_per_bucket=5) == 3


def test_export_matches_generated_playlists(trained_dir, generated_playlists, tmp_path):
    out = tmp_path / "export"
    with Store.open(trained_dir, read_only=True) as store:
        report = export_parquet(store, out, buckets=3)
    expected_rows = {(p["pid"], t["track_uri"]) for p in generated_playlists for t in p["tracks"]}
    assert report.rows["playlists"] == len(generated_playlists)
    assert report.buckets["playlist_tracks"] == 3

    tracks = ds.dataset(out / "playlist_tracks", format="parquet", partitioning="hive").to_table()
    assert set(zip(tracks.column("pid").to_pylist(), tracks.column("track_uri").to_pylist())) == expected_rows
    buckets = np.asarray(tracks.column("pid_bucket").to_pylist())
    assert np.array_equal(buckets, np.asarray(tracks.column("pid").to_pylist()) % 3)
    assert sorted(p.name for p in (out / "playlist_tracks").iterdir()) == [f"pid_bucket={k}" for k in range(3)]

    catalogue = ds.dataset(out / "tracks", format="parquet").to_table()
    names = {t["track_uri"]: t["track_name"] for p in generated_playlists for t in p["tracks"]}
    assert dict(zip(catalogue.column("track_uri").to_pylist(), catalogue.column("name").to_pylist())) == names
    playlists = ds.dataset(out / "playlists", format="parquet").to_table()
    assert sorted(playlists.column("pid").to_pylist()) == [p["pid"] for p in generated_playlists]
    assert not (out / "play_events").exists()

    manifest = read_export_manifest(out)
    assert manifest["tables"]["playlist_tracks"]["rows"] == len(expected_rows)


def test_export_replaces_earlier_export(trained_dir, tmp_path):
    out = tmp_path / "export"
    with Store.open(trained_dir, read_only=True) as store:
        export_parquet(store, out, buckets=4)
        export_parquet(store, out, buckets=2)
    assert sorted(p.name for p in (out / "playlist_tracks").iterdir()) == ["pid_bucket=0", "pid_bucket=1"]
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_export_refuses_foreign_folder(trained_dir, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with Store.open(trained_dir, read_only=True) as store, pytest.raises(InputError, match="not an earlier export"):
        export_parquet(store, out)
    assert (out / "notes.txt").read_text() == "keep me"


def test_export_of_empty_store(tmp_path):
    with Store.open(tmp_path / "data") as store, pytest.raises(InputError, match="no playlist tracks or play events"):
        export_parquet(store, tmp_path / "export")


def test_export_manifest_checks(tmp_path):
    with pytest.raises(InputError, match="export.json not found"):
        read_export_manifest(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "tastemaker-parquet", "format_version": 99}))
    with pytest.raises(InputError, match="format version 99 is not supported"):
        read_export_manifest(tmp_path)


def test_export_cli(trained_dir, tmp_path):
    result = invoke_tastemaker("--data-dir", trained_dir, "export", "parquet", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.raw
    assert f"Parquet export written: {tmp_path / 'out'}" in result.output
    assert (tmp_path / "out" / MANIFEST).is_file()
    assert os.listdir(tmp_path / "out" / "playlist_tracks") == ["pid_bucket=0"]


def test_local_mode_detection(monkeypatch):
    monkeypatch.delenv(session.SPARK_SUBMIT_ENV, raising=False)
    assert session.is_local(None)
    assert session.is_local("local[2]")
    assert session.is_local("local")
    assert not session.is_local("spark://host:7077")
    assert not session.is_local("yarn")
    monkeypatch.setenv(session.SPARK_SUBMIT_ENV, "12345")
    assert not session.is_local(None)


def test_local_settings(monkeypatch):
    monkeypatch.setenv(session.DRIVER_MEMORY_ENV, "3g")
    settings = session.local_settings("3")
    assert settings["spark.sql.shuffle.partitions"] == "6"
    assert settings["spark.driver.memory"] == "3g"
    assert settings["spark.ui.enabled"] == "false"
    assert settings["spark.driver.bindAddress"] == "127.0.0.1"
    monkeypatch.delenv(session.DRIVER_MEMORY_ENV)
    half = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2 // 2**20
    assert session.local_settings()["spark.driver.memory"] == f"{max(1024, half)}m"


def test_recommend_all_rows_guard(trained_dir, tmp_path):
    result = invoke_tastemaker("--data-dir", trained_dir, "recommend-all", "--out", tmp_path / "x", "--rows", "albums")
    assert isinstance(result.exception, InputError)
    assert "--rows must be one of playlists, users, got 'albums'" in str(result.exception)
