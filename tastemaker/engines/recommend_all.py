"""Top-N recommendations for every playlist or user of a Parquet export, computed on Spark executors.

The bundle folder is shipped to every executor with ``SparkContext.addFile``
and loaded once per Python worker. Each executor scores its share of the
rows with the same code as ``tastemaker recommend``: playlists through
``continue_seed_lists`` (seed tracks and title), users through the
confidence row of their play events as ``recommend --user`` builds it. A
bundle trained by either engine works.

Output is Parquet with one row per recommendation: ``pid`` (or
``user_id``), ``rank`` from 1, ``track_uri``, ``score`` (NaN where the
popularity fallback filled the list), ``source`` and ``fallback`` (the
reason when a fallback was used, else null).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from ..errors import InputError

log = logging.getLogger(__name__)

ROW_KINDS = ("playlists", "users")
OUTPUT_FIELDS = (("rank", pa.int32()), ("track_uri", pa.string()), ("score", pa.float64()), ("source", pa.string()),
                 ("fallback", pa.string()))
_loaded: dict[str, object] = {}


def _bundle(folder: str):
    """Load a bundle once per Python worker; Spark reuses workers across tasks."""
    if folder not in _loaded:
        from ..bundle import load_bundle

        _loaded[folder] = load_bundle(Path(folder))
    return _loaded[folder]


def _shipped_folder(name: str) -> str:
    from pyspark import SparkFiles

    return SparkFiles.get(name)


def output_schema(key: str) -> pa.Schema:
    return pa.schema([(key, pa.int64()), *OUTPUT_FIELDS])


def output_ddl(key: str) -> str:
    """Return the output schema as the Spark SQL DDL string that mapInArrow takes."""
    names = {pa.int64(): "BIGINT", pa.int32(): "INT", pa.string(): "STRING", pa.float64(): "DOUBLE"}
    return ", ".join(f"{field.name} {names[field.type]}" for field in output_schema(key))


def _rows_table(key: str, keys: list[int], continuations: list, n: int) -> pa.Table:
    columns: dict[str, list] = {key: [], "rank": [], "track_uri": [], "score": [], "source": [], "fallback": []}
    for value, result in zip(keys, continuations):
        count = len(result.track_ids[:n])
        columns[key].extend([value] * count)
        columns["rank"].extend(range(1, count + 1))
        columns["track_uri"].extend(result.track_ids[:n])
        columns["score"].extend(float(s) for s in result.scores[:n])
        columns["source"].extend(result.sources[:n])
        columns["fallback"].extend([result.fallback] * count)
    return pa.Table.from_pydict(columns, schema=output_schema(key))


def playlist_batches(bundle_name: str, n: int, model: str | None):
    """Return the mapInArrow function that continues batches of (pid, name, tracks) rows."""

    def continue_batches(batches):
        from ..pipeline import continue_seed_lists

        bundle = _bundle(_shipped_folder(bundle_name))
        for batch in batches:
            pids = batch.column("pid").to_pylist()
            seeds = [tracks or [] for tracks in batch.column("tracks").to_pylist()]
            titles = batch.column("name").to_pylist()
            continuations = continue_seed_lists(bundle, seeds, n, model, titles)
            yield from _rows_table("pid", pids, continuations, n).to_batches()

    return continue_batches


def user_batches(bundle_name: str, n: int, model: str | None, kind: str):
    """Return the mapInArrow function that recommends for batches of (user_id, events) rows.

    ``kind`` is "listening" for a bundle trained on plays, whose ALS reads the
    signed confidence, or "playlist", whose models learnt from binary rows.
    """

    def recommend_batches(batches):
        from ..models.implicit_models import ALSRecommender
        from ..products.continuation import Continuation, continue_rows, popularity_order
        from ..signals.confidence import ConfidenceParams, user_row

        bundle = _bundle(_shipped_folder(bundle_name))
        recommender = bundle.model(model)
        model_name = model or bundle.default_model
        params = ConfidenceParams.from_dict(bundle.manifest.get("confidence", {}))
        order = popularity_order(recommender.item_popularity_)
        for batch in batches:
            user_ids = batch.column("user_id").to_pylist()
            events = batch.column("events")
            rows = []
            for position, user_id in enumerate(user_ids):
                plays = pa.Table.from_struct_array(events[position].values)
                plays = plays.append_column("user_id", pa.array(np.full(plays.num_rows, user_id, dtype=np.int64)))
                row, _ = user_row(plays, bundle.tracks, params)
                row = row.tocsr()
                if kind == "playlist":
                    row.data = np.sign(row.data)
                if not isinstance(recommender, ALSRecommender):
                    row.data = (row.data > 0).astype(np.float32)
                rows.append(row)
            matrix = sp.vstack(rows, format="csr") if rows else sp.csr_matrix((0, len(bundle.tracks)))
            ids, scores, fallbacks, filled = continue_rows(recommender, matrix, n, order)
            continuations = []
            for r in range(len(user_ids)):
                valid = ids[r] >= 0
                continuations.append(Continuation(
                    track_ids=bundle.tracks.external(ids[r][valid]),
                    scores=[float("nan") if f else float(s) for s, f, v in zip(scores[r], filled[r], valid) if v],
                    sources=["popularity fallback" if f else model_name for f, v in zip(filled[r], valid) if v],
                    fallback=fallbacks[r]))
            yield from _rows_table("user_id", user_ids, continuations, n).to_batches()

    return recommend_batches


def recommend_all(spark, bundle_path: Path, export_dir: str, out: str, n: int = 500, model: str | None = None,
                  rows: str = "playlists", bundle_kind: str = "playlist", source: str | None = None,
                  partitions: int | None = None) -> int:
    """Write top-``n`` recommendations for every playlist (or user) of an export to Parquet at ``out``.

    ``source`` keeps only playlists of that source (mpd, challenge).
    Returns the number of playlists or users scored.
    """
    from pyspark.sql import functions as F

    from ..bundle import load_bundle

    if rows not in ROW_KINDS:
        raise InputError(f"--rows must be one of {', '.join(ROW_KINDS)}, got {rows!r}")
    if n < 1:
        raise InputError(f"-n must be a positive integer, got {n}")
    bundle = load_bundle(bundle_path)  # checks the bundle and the model name before any Spark job starts
    bundle.model(model)
    if n > len(bundle.tracks):
        raise InputError(f"-n {n} is larger than the bundle's catalogue of {len(bundle.tracks)} tracks")
    base = export_dir.rstrip("/")
    table = "playlist_tracks" if rows == "playlists" else "play_events"
    if "://" not in base and not Path(base, table).is_dir():
        hint = ("ingest listening data (for example `tastemaker import-spotify EXPORT --user NAME`) and export "
                "again" if rows == "users" else "export a store that has playlists")
        raise InputError(f"the Parquet export {base} has no {table.replace('_', ' ')} to score; {hint}")
    spark.sparkContext.addFile(str(bundle_path), recursive=True)
    if rows == "playlists":
        tracks = (spark.read.parquet(f"{base}/playlist_tracks")
                  .groupBy("pid").agg(F.sort_array(F.collect_list(F.struct("pos", "track_uri"))).alias("entries"))
                  .select("pid", F.transform("entries", lambda entry: entry["track_uri"]).alias("tracks")))
        playlists = spark.read.parquet(f"{base}/playlists")
        if source is not None:
            playlists = playlists.where(F.col("source") == source)
        frame = playlists.select("pid", "name").join(tracks, "pid", "left")
        function, key = playlist_batches(bundle_path.name, n, model), "pid"
    else:
        if source is not None:
            raise InputError("--source applies to playlists only; leave it out with --rows users")
        events = spark.read.parquet(f"{base}/play_events")
        frame = events.groupBy("user_id").agg(F.collect_list(F.struct(
            "ts", "track_uri", "ms_played", "skipped", "reason_end")).alias("events"))
        function, key = user_batches(bundle_path.name, n, model, bundle_kind), "user_id"
    if partitions:
        frame = frame.repartition(partitions)
    count = frame.count()
    frame.mapInArrow(function, output_ddl(key)).write.mode("overwrite").parquet(out)
    log.info("recommend-all: %d %s scored, written to %s", count, rows, out)
    return count
