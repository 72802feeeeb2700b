"""Spark engine on Spark's local mode: id maps, ALS confidence, bundles that serve and evaluate like local ones.

One SparkSession (local[2], two shuffle partitions, no web UI) serves the
whole module; tastemaker's own ``spark_session`` reuses it, so CLI commands
run in-process against it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest

from conftest import GENERATED_PLAYLISTS, invoke_tastemaker
from tastemaker.bundle import current_bundle_path, load_bundle
from tastemaker.engines.session import SparkUnavailableError, check_java
from tastemaker.evaluation import make_split, select_buckets
from tastemaker.generate_listening import generate_listening, write_extended_history
from tastemaker.ingest import ingest_mpd
from tastemaker.models import ALSRecommender, PopularityRecommender
from tastemaker.pipeline import continue_seed_lists
from tastemaker.signals import PlaylistTracks
from tastemaker.store import Store

pytest.importorskip("pyspark", reason="pyspark is not installed; install it with pip install '.[spark]'")
try:
    check_java()
except SparkUnavailableError as exc:
    pytest.skip(f"Spark cannot run here: {exc}", allow_module_level=True)

from tastemaker.engines.session import spark_session  # noqa: E402
from tastemaker.engines.spark_training import (  # noqa: E402
    als_from_mllib,
    fit_mllib_als,
    index_pairs,
    mllib_als_settings,
    read_playlist_tracks,
)

SPARK_PARAMS = ["als.factors=8", "als.iterations=3", "item2vec.vector_size=16", "item2vec.epochs=1",
                "item2vec.window=5", "item2vec.min_count=2"]


@pytest.fixture(scope="module")
def spark():
    settings = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2", "spark.driver.memory": "1g"}
    with spark_session("local[2]", "tastemaker-tests", settings) as session:
        yield session


@pytest.fixture(scope="module")
def spark_dir(tmp_path_factory, generated_mpd, spark) -> Path:
    """A data directory with the generated playlists and a bundle trained by `train --engine spark`."""
    data_dir = tmp_path_factory.mktemp("spark") / "data"
    with Store.open(data_dir) as store:
        ingest_mpd(store, [generated_mpd])
    params = [arg for p in SPARK_PARAMS for arg in ("-p", p)]
    result = invoke_tastemaker("--data-dir", data_dir, "train", "--engine", "spark", "--master", "local[2]", *params)
    assert result.exit_code == 0, result.raw
    return data_dir


def local_data(data_dir: Path) -> PlaylistTracks:
    with Store.open(data_dir, read_only=True) as store:
        return PlaylistTracks.from_pairs(*store.playlist_track_pairs())


def test_index_matches_local(spark_dir, spark):
    data = index_pairs(read_playlist_tracks(spark, str(spark_dir / "parquet")))
    local = local_data(spark_dir)
    assert list(data.tracks.ids) == list(local.tracks.ids)
    assert data.n_rows == local.matrix.shape[0]
    expected = np.asarray(local.matrix.sum(axis=0)).ravel()
    assert np.array_equal(data.popularity, expected)
    data.pairs.unpersist()


@pytest.fixture(scope="module")
def split_fit(spark_dir, spark, tmp_path_factory):
    """MLlib ALS fitted through the engine on the training part of a held-out split of the generated playlists."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with Store.open(spark_dir, read_only=True) as store:
        pids, uris = store.playlist_track_pairs()
        names = dict(zip(*(store.playlists().column(c).to_pylist() for c in ("pid", "name"))))
    split = make_split(pids, uris, names, 60, select_buckets(seed_counts=[5]), seed=0)
    folder = tmp_path_factory.mktemp("split-pairs")
    pq.write_table(pa.table({"pid": np.asarray(split.train_pids, dtype=np.int64),
                             "track_uri": np.asarray(split.train_uris, dtype=object).astype(str)}),
                   folder / "part-0.parquet")
    data = index_pairs(spark.read.parquet(str(folder)))
    params = ALSRecommender(factors=8, iterations=5).params
    settings = mllib_als_settings(params, data.n_entries / data.n_rows)
    fitted = fit_mllib_als(data, settings)
    model = als_from_mllib(fitted, data, params)
    user_factors = {row["id"]: np.asarray(row["features"]) for row in fitted.userFactors.limit(5).collect()}
    liked = {}
    for row in data.pairs.where(data.pairs["row"].isin(list(user_factors))).collect():
        liked.setdefault(row["row"], []).append(row["item"])
    data.pairs.unpersist()
    return {"split": split, "data": data, "params": params, "settings": settings, "model": model,
            "user_factors": user_factors, "liked": liked}


def test_als_confidence_matches_implicit(split_fit):
    """MLlib's user factors solve implicit's normal equations: confidence alpha, penalty regParam * entries."""
    data, params, settings = split_fit["data"], split_fit["params"], split_fit["settings"]
    assert settings["alpha"] == params["alpha"] - 1
    assert settings["regParam"] == pytest.approx(params["regularization"] * data.n_rows / data.n_entries)
    Y = split_fit["model"].track_factors.astype(np.float64)
    identity = np.eye(Y.shape[1])
    for user, factors in split_fit["user_factors"].items():
        liked = split_fit["liked"][user]
        A = Y.T @ Y + (params["alpha"] - 1) * Y[liked].T @ Y[liked] + settings["regParam"] * len(liked) * identity
        b = params["alpha"] * Y[liked].sum(axis=0)
        assert np.allclose(np.linalg.solve(A, b), factors, rtol=1e-3, atol=1e-4), user


def test_spark_als_evaluates_like_local(split_fit):
    """On the held-out split, Spark's ALS scores near implicit's and far above popularity."""
    from tastemaker.evaluation.evaluate import score_lists
    from tastemaker.products.continuation import continue_rows, popularity_order

    split = split_fit["split"]
    local = PlaylistTracks.from_pairs(split.train_pids, split.train_uris)
    assert list(split_fit["data"].tracks.ids) == list(local.tracks.ids)
    rows, _ = local.rows_for([t.seeds for t in split.test])
    hidden = [set(t.hidden) for t in split.test]
    buckets = [t.bucket for t in split.test]

    def r_precision(model) -> float:
        ids, _, _, _ = continue_rows(model, rows, 50, popularity_order(model.item_popularity_))
        recommended = local.tracks.ids[np.where(ids >= 0, ids, 0)]
        return score_lists(recommended, hidden, buckets, 50)["overall"]["r_precision"]

    spark_score = r_precision(split_fit["model"])
    local_score = r_precision(ALSRecommender(**split_fit["params"]).fit(local.matrix))
    popularity_score = r_precision(PopularityRecommender().fit(local.matrix))
    assert spark_score > 1.5 * popularity_score
    assert spark_score > 0.75 * local_score


def test_spark_bundle_loads(spark_dir, catalogue_size):
    bundle_folder = spark_dir / "bundles" / (spark_dir / "bundles" / "current").read_text().strip()
    bundle = load_bundle(bundle_folder)
    assert list(bundle.models) == ["als", "item2vec", "popularity"]
    assert bundle.default_model == "als"
    assert bundle.manifest["engine"]["name"] == "spark"
    assert bundle.manifest["engine"]["models"]["als"]["mllib"]["alpha"] == 9.0
    assert bundle.manifest["models"]["item2vec"]["params"]["sg"] == 1
    assert len(bundle.tracks) == catalogue_size
    assert bundle.models["als"].track_factors.shape == (catalogue_size, 8)
    assert np.abs(bundle.models["als"].track_factors).sum() > 0
    assert bundle.models["item2vec"].has_vector.sum() > 0


def test_spark_bundle_recommends(spark_dir, generated_playlists):
    playlist = generated_playlists[7]
    seeds = {t["track_uri"] for t in playlist["tracks"]}
    for model in ("als", "item2vec", "popularity"):
        result = invoke_tastemaker("--data-dir", spark_dir, "recommend", "--playlist", playlist["pid"], "-n", "5",
                                   "--model", model)
        assert result.exit_code == 0, result.raw
        listed = [line.split("│")[-2].strip() for line in result.raw.splitlines() if "spotify:track:" in line]
        assert len(listed) == 5, model
        assert not seeds & set(listed), model


def test_spark_bundle_continues_challenge(spark_dir, generated_playlists, tmp_path):
    challenge = {"date": "2018-01-01", "version": "test", "playlists": [
        {"pid": 9_000_001, "name": "road trip", "num_samples": 2, "num_holdouts": 3, "num_tracks": 5,
         "tracks": [{"pos": i, "track_uri": t["track_uri"]} for i, t in enumerate(generated_playlists[0]["tracks"][:2])]},
        {"pid": 9_000_002, "name": "chill", "num_samples": 0, "num_holdouts": 5, "num_tracks": 5, "tracks": []},
    ]}
    (tmp_path / "challenge.json").write_text(json.dumps(challenge))
    result = invoke_tastemaker("--data-dir", spark_dir, "continue", "--challenge", tmp_path / "challenge.json",
                               "--out", tmp_path / "submission.csv", "-n", "20")
    assert result.exit_code == 0, result.raw
    lines = (tmp_path / "submission.csv").read_text().splitlines()
    assert lines[0].startswith("team_info,")
    assert [line.split(",")[0] for line in lines[1:]] == ["9000001", "9000002"]
    assert all(len(set(line.split(",")[1:])) == 20 for line in lines[1:])


def test_recommend_all_playlists(spark_dir, generated_playlists, tmp_path):
    out = tmp_path / "top"
    result = invoke_tastemaker("--data-dir", spark_dir, "recommend-all", "--out", out, "-n", "4",
                               "--master", "local[2]")
    assert result.exit_code == 0, result.raw
    table = ds.dataset(out, format="parquet").to_table().sort_by([("pid", "ascending"), ("rank", "ascending")])
    assert table.num_rows == 4 * len(generated_playlists)
    assert table.column("rank").to_pylist()[:8] == [1, 2, 3, 4, 1, 2, 3, 4]

    bundle_folder = spark_dir / "bundles" / (spark_dir / "bundles" / "current").read_text().strip()
    bundle = load_bundle(bundle_folder)
    by_pid: dict[int, list[str]] = {}
    for pid, uri in zip(table.column("pid").to_pylist(), table.column("track_uri").to_pylist()):
        by_pid.setdefault(pid, []).append(uri)
    for playlist in generated_playlists[:5]:
        seeds = [t["track_uri"] for t in playlist["tracks"]]
        expected = continue_seed_lists(bundle, [seeds], 4, None, [playlist["name"]])[0].track_ids
        assert by_pid[playlist["pid"]] == expected
        assert not set(seeds) & set(by_pid[playlist["pid"]])


def test_recommend_all_users(spark, tmp_path):
    from tastemaker.listening_recommend import recommend_for_user, resolve_user

    generated = generate_listening(n_users=12, n_tracks=200, n_artists=20, sessions_per_user=8, seed=3)
    write_extended_history(generated, tmp_path / "history")
    data_dir = tmp_path / "data"
    assert invoke_tastemaker("--data-dir", data_dir, "ingest", "spotify-extended", tmp_path / "history").exit_code == 0
    trained = invoke_tastemaker("--data-dir", data_dir, "train-listening", "-p", "als.factors=4")
    assert trained.exit_code == 0, trained.raw
    result = invoke_tastemaker("--data-dir", data_dir, "recommend-all", "--rows", "users", "--out", tmp_path / "top",
                               "-n", "3")
    assert result.exit_code == 0, result.raw
    assert "listening bundle" in result.output
    table = ds.dataset(tmp_path / "top", format="parquet").to_table()
    assert table.num_rows == 3 * 12
    name = generated.user_names[0]
    with Store.open(data_dir, read_only=True) as store:
        _, user_id = resolve_user(store, name)
    rows = table.filter(ds.field("user_id") == user_id).sort_by("rank")
    assert rows.column("track_uri").to_pylist() == recommend_for_user(data_dir, name, 3).track_ids


def test_recommend_all_guards(spark_dir, tmp_path):
    wrong_engine = invoke_tastemaker("--data-dir", spark_dir, "recommend-all", "--out", tmp_path / "x",
                                     "--engine", "local")
    assert "--engine must be spark for recommend-all" in str(wrong_engine.exception)
    no_events = invoke_tastemaker("--data-dir", spark_dir, "recommend-all", "--out", tmp_path / "x",
                                  "--rows", "users")
    assert "has no play events to score" in str(no_events.exception)
    too_many = invoke_tastemaker("--data-dir", spark_dir, "recommend-all", "--out", tmp_path / "x", "-n", "999999")
    assert "larger than the bundle's catalogue" in str(too_many.exception)


def test_train_reuses_fresh_export(spark_dir, tmp_path):
    copy = Path(shutil.copytree(spark_dir, tmp_path / "data"))
    before = (copy / "parquet" / "export.json").stat().st_mtime_ns
    result = invoke_tastemaker("--data-dir", copy, "train", "--engine", "spark", "-m", "popularity")
    assert result.exit_code == 0, result.raw
    assert "exported the store" not in result.output
    assert (copy / "parquet" / "export.json").stat().st_mtime_ns == before
    assert load_bundle(current_bundle_path(copy)).manifest["engine"]["input"] == str(copy / "parquet")


def test_export_read_through_spark_url(spark_dir, spark, tmp_path):
    from tastemaker.engines.spark_training import read_remote_manifest
    from tastemaker.errors import InputError

    manifest = read_remote_manifest(spark, f"file://{spark_dir / 'parquet'}")
    assert manifest["tables"]["playlists"]["rows"] == GENERATED_PLAYLISTS
    with pytest.raises(InputError, match="cannot read file://"):
        read_remote_manifest(spark, f"file://{tmp_path / 'missing'}")
