"""Spark commands of the ``tastemaker`` CLI, defined on the app of cli.py.

cli.py imports this module at its end, which registers ``export parquet``
and ``recommend-all``; ``train --engine spark`` calls ``train_with_spark``.
pyspark is imported only when a Spark command runs, so the CLI works
without it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import app, console, open_store, settings
from .errors import InputError

ENGINES = ("local", "spark")
DEFAULT_EXPORT = "parquet"  # folder under the data directory

export_app = typer.Typer(help="Write the store in formats other tools read.", no_args_is_help=True)
app.add_typer(export_app, name="export")

MasterOption = Annotated[Optional[str], typer.Option(
    help="Spark master URL, for example local[4], spark://host:7077 or yarn; local mode with every core by "
         "default, or what spark-submit set.")]
InputOption = Annotated[Optional[str], typer.Option(
    "--input", help="Parquet export to read (a folder, or an hdfs:// or s3a:// URL). Default: the data "
                    "directory's parquet/ folder, exported from the store first when the store has changed.")]


def default_export(data_dir: Path) -> Path:
    return Path(data_dir) / DEFAULT_EXPORT


@export_app.command("parquet")
def export_parquet_command(
    out: Annotated[Optional[Path], typer.Option(help="Folder to write; default: parquet/ in the data directory. "
                                                     "An earlier export there is replaced.")] = None,
    buckets: Annotated[Optional[int], typer.Option(
        min=1, help="Buckets of playlist tracks and play events (files by pid or user_id modulo this); "
                    "default: one per 2 million rows.")] = None,
) -> None:
    """Export playlists, their tracks, the catalogue and play events as Parquet for Spark."""
    from .engines.export import export_parquet

    out = out or default_export(settings.data_dir)
    with open_store(read_only=True) as store:
        report = export_parquet(store, out, buckets)
    for table, rows in report.rows.items():
        bucket_text = f" in {report.buckets[table]} buckets" if table in report.buckets else ""
        console.print(f"{table:>16}: {rows} rows{bucket_text}")
    console.print(f"Parquet export written: {out} ({report.seconds:.1f} s)")


def ensure_export(input_path: str | None) -> str:
    """Return the export to read: ``input_path``, or the data directory's export, refreshed when the store changed."""
    from .engines.export import export_parquet, read_export_manifest

    if input_path is not None:
        if "://" not in input_path:
            read_export_manifest(Path(input_path))
        return input_path
    out = default_export(settings.data_dir)
    with open_store(read_only=True) as store:
        snapshot = store.snapshot()
        current = None
        if (out / "export.json").is_file():
            current = read_export_manifest(out).get("data_snapshot")
        # The store's path is left out, because a moved data directory contains the same data.
        if _without_path(current) != _without_path(snapshot):
            report = export_parquet(store, out)
            console.print(f"exported the store to {out} ({report.seconds:.1f} s)")
    return str(out)


def _without_path(snapshot: dict | None) -> dict | None:
    return None if snapshot is None else {k: v for k, v in snapshot.items() if k != "store"}


def train_with_spark(engine: str, model: list[str] | None, param: list[str] | None, default: str | None,
                     master: str | None, input_path: str | None) -> None:
    """Run ``tastemaker train --engine spark``: fit on Spark and publish the bundle as the current one."""
    from .engines.session import require_pyspark, spark_session
    from .engines.spark_training import DEFAULT_SPARK_MODELS, check_models, train_spark
    from .pipeline import parse_model_params

    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "local":
        raise InputError("--master and --input apply to --engine spark only; add --engine spark or leave them out")
    models = parse_model_params(model or list(DEFAULT_SPARK_MODELS), param or [])
    check_models(models)
    if default is not None and default not in dict(models):
        raise InputError(f"--default {default!r} is not among the trained models ({', '.join(dict(models))})")
    require_pyspark()
    source = ensure_export(input_path)
    started = time.perf_counter()
    with spark_session(master) as spark:
        path = train_spark(spark, source, settings.data_dir, models, default)
    console.print(f"bundle written: {path} (trained on Spark in {time.perf_counter() - started:.1f} s)")


@app.command("recommend-all")
def recommend_all_command(
    out: Annotated[str, typer.Option(help="Parquet folder (or hdfs:// or s3a:// URL) to write; replaced if it "
                                          "exists.")],
    engine: Annotated[str, typer.Option(help="Engine that scores the rows; only spark is available.")] = "spark",
    master: MasterOption = None,
    input_path: InputOption = None,
    rows: Annotated[str, typer.Option(help="Score every playlist (playlists) or every listener (users).")] = "playlists",
    source: Annotated[Optional[str], typer.Option(
        help="With playlists: only those of this source, mpd or challenge.")] = None,
    n: Annotated[int, typer.Option("-n", min=1, help="Recommendations per playlist or user.")] = 500,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model of the current bundle to use.")] = None,
    partitions: Annotated[Optional[int], typer.Option(
        min=1, help="Spark partitions to score in; default: as Spark reads the input.")] = None,
) -> None:
    """Write the top N tracks for every playlist or user of the store as Parquet, scored on Spark."""
    from .bundle import current_bundle_path
    from .engines.recommend_all import ROW_KINDS, recommend_all
    from .engines.session import require_pyspark, spark_session
    from .listening_recommend import listening_data_dir

    if engine != "spark":
        raise InputError(f"--engine must be spark for recommend-all, got {engine!r}; use `tastemaker recommend` "
                         "for single playlists without Spark")
    if rows not in ROW_KINDS:
        raise InputError(f"--rows must be one of {', '.join(ROW_KINDS)}, got {rows!r}")
    if rows == "users":
        listening = listening_data_dir(settings.data_dir)
        kind = "listening" if (listening / "bundles" / "current").is_file() else "playlist"
        bundle_path = current_bundle_path(listening if kind == "listening" else settings.data_dir)
    else:
        kind, bundle_path = "playlist", current_bundle_path(settings.data_dir)
    require_pyspark()
    source_path = ensure_export(input_path)
    started = time.perf_counter()
    with spark_session(master) as spark:
        count = recommend_all(spark, bundle_path, source_path, out, n, model, rows, kind, source, partitions)
    console.print(f"recommendations written: {out} ({count} {rows}, top {n} each, {kind} bundle "
                  f"{bundle_path.name}, {time.perf_counter() - started:.1f} s)")
