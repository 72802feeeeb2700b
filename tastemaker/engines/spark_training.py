"""Train ALS (MLlib, implicit preferences), item2vec (MLlib Word2Vec) and popularity on Spark.

Input is a Parquet export (see ``export``). Output is an ordinary tastemaker
bundle: the same id map, array names, shapes and model classes that local
training writes, so ``recommend``, ``continue`` and ``recommend-all`` cannot
tell the two apart. What differs is recorded in the manifest under
``engine``.

Id maps. Tracks are indexed in ascending URI order, as ``PlaylistTracks``
does locally. Spark's StringIndexer with ``alphabetAsc`` compares Java
strings (UTF-16 code units), which orders ids as Python does unless they
contain characters outside the Basic Multilingual Plane, so for Spotify
URIs the id map equals the local one. The bundle stays consistent either
way, because factors are stored in the order of its own id map.

ALS. implicit (0.7) weights an entry of value r with confidence
``c = alpha * r`` and preference 1, and regularises every row with a fixed
``lambda * I``. MLlib uses ``c = 1 + alpha_mllib * r`` and
``lambda_mllib * n_u * I``, where n_u counts the row's positive entries
(ALS-WR scaling). Entries here are binary (r = 1), so ``alpha_mllib =
alpha - 1`` gives exactly implicit's confidence. No single
``lambda_mllib`` reproduces a fixed lambda for rows of different lengths.
By default ``regParam`` is ``regularization / mean entries per row``, so it
equals implicit's penalty for a playlist of average length (see
``MLLIB_REGULARIZATION``). Fold-in at serving time uses implicit's solver
with the bundle's own parameters, as for a locally trained bundle.

item2vec. MLlib's Word2Vec is skip-gram with hierarchical softmax, without
negative sampling, subsampling or CBOW, and it cannot reshuffle sentences
between epochs: each playlist is shuffled once, by a seeded hash. Its
defaults here differ from the local ones because its cost grows with the
window times the playlist length (see ``SPARK_ITEM2VEC_DEFAULTS``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from threadpoolctl import threadpool_limits

from ..bundle import write_bundle
from ..errors import InputError
from ..models import ALSRecommender, Item2VecRecommender, PopularityRecommender, Recommender
from ..signals import IdMap
from .export import read_export_manifest

log = logging.getLogger(__name__)

SPARK_MODELS = ("als", "item2vec", "popularity")
DEFAULT_SPARK_MODELS = SPARK_MODELS
# Mappings of implicit's fixed regularization to MLlib's per-entry regParam.
# "mean-row" divides it by the mean entries per row, and "same" passes it unchanged.
MLLIB_REGULARIZATION = ("mean-row", "same")
# Local item2vec trains CBOW with a window of 250 for 20 epochs. MLlib's
# skip-gram costs about window x playlist length updates per track, so by
# estimate that window would take hours on a 5,853-playlist MPD sample.
SPARK_ITEM2VEC_DEFAULTS = {"window": 20, "epochs": 5}


@dataclass
class SparkTrainingData:
    """Indexed training pairs on Spark, with what the bundle needs on the driver.

    ``pairs`` has integer columns ``row`` and ``item`` and one row per
    distinct (playlist, track). ``tracks`` is the track id map, and
    ``popularity`` the number of playlists per track, float32.
    """

    pairs: object  # pyspark.sql.DataFrame
    tracks: IdMap
    n_rows: int
    popularity: np.ndarray

    @property
    def n_entries(self) -> int:
        return int(self.popularity.sum())


def read_playlist_tracks(spark, export_dir: str):
    """Return the export's (pid, track_uri) pairs as a Spark DataFrame.

    ``export_dir`` may be any path Spark reads (a local folder, hdfs://, s3a://).
    """
    return spark.read.parquet(f"{export_dir.rstrip('/')}/playlist_tracks").select("pid", "track_uri")


def index_pairs(pairs) -> SparkTrainingData:
    """Index (pid, track_uri) pairs densely: tracks in URI order, playlists in any order."""
    from pyspark.ml.feature import StringIndexer
    from pyspark.sql import functions as F

    distinct = pairs.select(F.col("pid").cast("string").alias("pid"), "track_uri").distinct()
    tracks_model = StringIndexer(inputCol="track_uri", outputCol="item", stringOrderType="alphabetAsc").fit(distinct)
    rows_model = StringIndexer(inputCol="pid", outputCol="row").fit(distinct)
    track_ids = list(tracks_model.labelsArray[0])
    n_rows = len(rows_model.labelsArray[0])
    if not track_ids:
        raise InputError("the Parquet export has no playlist tracks; export a store that has some")
    indexed = rows_model.transform(tracks_model.transform(distinct)).select(
        F.col("row").cast("int").alias("row"), F.col("item").cast("int").alias("item"))
    indexed = indexed.persist()
    counts = indexed.groupBy("item").count().toArrow()
    popularity = np.zeros(len(track_ids), dtype=np.float32)
    popularity[counts.column("item").to_numpy()] = counts.column("count").to_numpy()
    log.info("Spark training data: %d playlists x %d tracks, %d entries", n_rows, len(track_ids),
             int(popularity.sum()))
    return SparkTrainingData(indexed, IdMap(track_ids), n_rows, popularity)


def _collect_vectors(frame, id_column: str, vector_column: str, shape: tuple[int, int]) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """Collect (id, array<float>) rows into a dense (n, d) float32 array and a mask of the ids present."""
    table = frame.select(id_column, vector_column).toArrow()
    ids = table.column(id_column).to_numpy().astype(np.int64)
    values = pa.concat_arrays([chunk.flatten() for chunk in table.column(vector_column).chunks]) \
        if table.num_rows else pa.array([], pa.float32())
    vectors = np.zeros(shape, dtype=np.float32)
    present = np.zeros(shape[0], dtype=bool)
    if len(ids):
        vectors[ids] = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(ids), shape[1])
        present[ids] = True
    return vectors, present


def mllib_als_settings(params: dict, mean_row_entries: float, regularization_mapping: str = "mean-row") -> dict:
    """Return MLlib ALS settings equivalent to implicit's ``params``; see the module docstring."""
    check_alpha(params["alpha"])
    if regularization_mapping not in MLLIB_REGULARIZATION:
        raise InputError(f"unknown regularization mapping {regularization_mapping!r}; choose one of: "
                         f"{', '.join(MLLIB_REGULARIZATION)}")
    reg = params["regularization"]
    if regularization_mapping == "mean-row":
        reg = reg / max(mean_row_entries, 1.0)
    return {"rank": int(params["factors"]), "maxIter": int(params["iterations"]), "regParam": float(reg),
            "alpha": float(params["alpha"]) - 1.0, "seed": int(params["random_state"])}


def fit_mllib_als(data: SparkTrainingData, settings: dict):
    """Fit MLlib's ALS with implicit preferences on the pairs, every rating 1; return the ALSModel."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    # One block of rows and one of tracks per task slot: MLlib's default of 10
    # each only adds task overhead on a small cluster.
    blocks = max(2, data.pairs.sparkSession.sparkContext.defaultParallelism)
    als = ALS(userCol="row", itemCol="item", ratingCol="rating", implicitPrefs=True, nonnegative=False,
              numUserBlocks=blocks, numItemBlocks=blocks, intermediateStorageLevel="MEMORY_AND_DISK",
              finalStorageLevel="MEMORY_AND_DISK", **settings)
    return als.fit(data.pairs.withColumn("rating", F.lit(1.0).cast("float")))


def als_from_mllib(fitted, data: SparkTrainingData, params: dict) -> ALSRecommender:
    """Return an ALSRecommender with implicit's ``params`` and the track factors of an MLlib ALSModel."""
    model = ALSRecommender(**params)
    factors, present = _collect_vectors(fitted.itemFactors, "id", "features", (len(data.tracks), fitted.rank))
    if not present.all():
        log.warning("Spark ALS: %d tracks got no factors and score zero", int((~present).sum()))
    model.n_items_ = len(data.tracks)
    model.item_popularity_ = data.popularity
    # NOTE: this fills the model as ALSRecommender._restore does after loading a bundle.
    with threadpool_limits(1, "blas"):
        model._model = model._build()
    model._model.item_factors = factors
    return model


def fit_als(data: SparkTrainingData, params: dict, regularization_mapping: str = "mean-row"
            ) -> tuple[ALSRecommender, dict]:
    """Fit MLlib ALS on the pairs; return an ALSRecommender with its track factors, and the MLlib settings."""
    params = ALSRecommender(**params).params
    settings = mllib_als_settings(params, data.n_entries / max(data.n_rows, 1), regularization_mapping)
    return als_from_mllib(fit_mllib_als(data, settings), data, params), settings


def fit_item2vec(data: SparkTrainingData, params: dict) -> tuple[Item2VecRecommender, dict]:
    """Fit MLlib Word2Vec on shuffled playlists; return an Item2VecRecommender and the MLlib settings.

    The returned model's params describe what ran: ``sg=1``, ``negative=0``
    (hierarchical softmax) and ``sample=0``, whatever was requested.
    """
    from pyspark.ml.feature import Word2Vec
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    requested = Item2VecRecommender(**{**SPARK_ITEM2VEC_DEFAULTS, **params}).params
    settings = {"vectorSize": int(requested["vector_size"]), "windowSize": int(requested["window"]),
                "minCount": int(requested["min_count"]), "maxIter": int(requested["epochs"]),
                "seed": int(requested["seed"]), "numPartitions": max(1, int(requested["workers"])),
                "stepSize": 0.025, "maxSentenceLength": 10_000}
    # Each playlist is shuffled once: its tracks are sorted by a seeded hash.
    keyed = data.pairs.select("row", F.struct(F.xxhash64("row", "item", F.lit(settings["seed"])).alias("key"),
                                              F.col("item").cast("string").alias("token")).alias("entry"))
    sentences = (keyed.groupBy("row").agg(F.sort_array(F.collect_list("entry")).alias("entries"))
                 .select(F.transform("entries", lambda entry: entry["token"]).alias("sentence"))
                 .where(F.size("sentence") >= 2))
    word2vec = Word2Vec(inputCol="sentence", outputCol="unused", **settings)
    fitted = word2vec.fit(sentences)
    vectors_frame = fitted.getVectors().select(F.col("word").cast("int").alias("item"),
                                               vector_to_array("vector", "float32").alias("vector"))
    vectors, has_vector = _collect_vectors(vectors_frame, "item", "vector",
                                           (len(data.tracks), settings["vectorSize"]))
    log.info("Spark item2vec: %d of %d tracks have a vector", int(has_vector.sum()), len(data.tracks))
    ran = {**requested, "sg": 1, "negative": 0, "sample": 0.0, "workers": settings["numPartitions"]}
    model = Item2VecRecommender(**ran)
    model.n_items_ = len(data.tracks)
    model.item_popularity_ = data.popularity
    # NOTE: this fills the model as Item2VecRecommender._restore does after loading a bundle.
    model._set_vectors(vectors, has_vector)
    return model, settings


def fit_popularity(data: SparkTrainingData) -> PopularityRecommender:
    model = PopularityRecommender()
    model.n_items_ = len(data.tracks)
    model.item_popularity_ = data.popularity
    return model


def check_models(models: list[tuple[str, dict]]) -> None:
    """Raise InputError for a model the Spark engine cannot train."""
    for label, params in models:
        if params["model"] not in SPARK_MODELS:
            raise InputError(f"model {params['model']!r} has no Spark trainer; --engine spark trains "
                             f"{', '.join(SPARK_MODELS)}. Train {params['model']} locally without --engine spark")
        if params["model"] == "als":
            als = ALSRecommender(**{k: v for k, v in params.items() if k != "model"}).params
            check_alpha(als["alpha"])


def check_alpha(alpha: float) -> None:
    if alpha < 1:
        raise InputError(f"invalid --param als.alpha={alpha}: the Spark engine needs alpha >= 1, because "
                         "MLlib's confidence 1 + alpha' * r reproduces implicit's alpha * r only then")


def fit_models(data: SparkTrainingData, models: list[tuple[str, dict]], regularization_mapping: str = "mean-row"
               ) -> tuple[dict[str, Recommender], dict]:
    """Fit each (label, params) on Spark; return the fitted models and each one's engine settings and time."""
    check_models(models)
    fitted: dict[str, Recommender] = {}
    details: dict[str, dict] = {}
    for label, params in models:
        name = params["model"]
        settings = {k: v for k, v in params.items() if k != "model"}
        started = time.perf_counter()
        if name == "als":
            fitted[label], mllib = fit_als(data, settings, regularization_mapping)
        elif name == "item2vec":
            fitted[label], mllib = fit_item2vec(data, settings)
        else:
            fitted[label], mllib = fit_popularity(data), {}
        seconds = time.perf_counter() - started
        details[label] = {"mllib": mllib, "fit_seconds": round(seconds, 2)}
        log.info("Spark: %s fitted in %.1f s", label, seconds)
    return fitted, details


def read_remote_manifest(spark, export_dir: str) -> dict:
    """Read an export's manifest through Spark, for exports on hdfs://, s3a:// and other Hadoop file systems."""
    import json

    path = f"{export_dir.rstrip('/')}/export.json"
    try:
        lines = spark.read.text(path, wholetext=True).collect()
        manifest = json.loads(lines[0]["value"])
    except Exception as exc:  # Spark raises AnalysisException and Py4JJavaError for the same missing file
        raise InputError(f"cannot read {path}: {exc}; write the export with `tastemaker export parquet` and copy "
                         "the whole folder") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != "tastemaker-parquet":
        raise InputError(f"{path}: not a tastemaker Parquet export manifest")
    return manifest


def train_spark(spark, export_dir: str, data_dir: Path, models: list[tuple[str, dict]],
                default_model: str | None = None, regularization_mapping: str = "mean-row") -> Path:
    """Fit the models on an export with Spark and write a bundle under ``data_dir``; return its folder."""
    check_models(models)
    if "://" in export_dir:
        manifest = read_remote_manifest(spark, export_dir)
    else:
        manifest = read_export_manifest(Path(export_dir))
        if not (Path(export_dir) / "playlist_tracks").is_dir():
            raise InputError(f"the Parquet export {export_dir} has no playlist tracks to train on; ingest "
                             "playlists with `tastemaker ingest mpd PATH` and export again")
    data = index_pairs(read_playlist_tracks(spark, export_dir))
    try:
        fitted, details = fit_models(data, models, regularization_mapping)
    finally:
        data.pairs.unpersist()
    default = default_model or next(iter(fitted))
    engine = {"name": "spark", "spark_version": spark.version, "master": spark.sparkContext.master,
              "input": export_dir, "playlists": data.n_rows, "entries": data.n_entries,
              "regularization_mapping": regularization_mapping, "models": details}
    snapshot = manifest.get("data_snapshot", {"export": export_dir})
    return write_bundle(data_dir, data.tracks, fitted, default, snapshot, extra={"engine": engine})
