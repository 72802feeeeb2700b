"""The main jobs as functions: training data from the store, train, evaluate, continue.

The CLI and the demo call these, so both run the same code.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .bundle import Bundle, current_bundle_path, load_bundle, write_bundle
from .errors import InputError
from .evaluation import EvaluationResult, evaluate, make_split, select_buckets
from .models import MODELS, Recommender, model_class
from .products.continuation import Continuation, continue_playlists
from .rerank import RerankContext, build_reranker, parse_rerank_spec
from .rerank.base import Reranker
from .signals import PlaylistTracks
from .signals.catalogue import Catalogue
from .store.audio import read_audio_features
from .store import Store

log = logging.getLogger(__name__)

DEFAULT_MODELS = ("two_stage", "popularity", "als", "bpr", "itemknn", "ease", "item2vec", "cooc", "playlist_knn")
DEFAULT_MODEL = "two_stage"


@contextmanager
def timed(step: str):
    """Log a step's start and its duration."""
    log.info("%s ...", step)
    started = time.perf_counter()
    yield
    log.info("%s: done in %.1f s", step, time.perf_counter() - started)


def parse_model_params(models: list[str], params: list[str]) -> list[tuple[str, dict]]:
    """Turn ``--model`` names and ``--param model.key=value`` strings into (label, params) pairs."""
    for name in models:
        model_class(name)
    parsed: dict[str, dict] = {name: {"model": name} for name in models}
    for item in params:
        key, sep, raw = item.partition("=")
        name, dot, parameter = key.partition(".")
        if not sep or not dot or not parameter:
            raise InputError(f"invalid --param {item!r}: expected MODEL.NAME=VALUE, for example als.factors=64")
        if name not in parsed:
            raise InputError(f"invalid --param {item!r}: model {name!r} is not among the selected models "
                             f"({', '.join(parsed)})")
        allowed = inspect.signature(MODELS[name].__init__).parameters
        if parameter not in allowed or parameter == "self":
            choices = ", ".join(p for p in allowed if p != "self")
            raise InputError(f"invalid --param {item!r}: {name} has no parameter {parameter!r}; it has: {choices}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        parsed[name][parameter] = value
    return list(parsed.items())


def build_model(params: dict) -> Recommender:
    settings = {k: v for k, v in params.items() if k != "model"}
    try:
        return model_class(params["model"])(**settings)
    except TypeError as exc:
        raise InputError(f"invalid parameters for {params['model']}: {exc}") from exc


def load_catalogue(store: Store) -> Catalogue:
    """Read the artists and any audio features of the stored tracks."""
    audio = read_audio_features(store) if store.has_table("audio_features") else None
    return Catalogue(store.track_artists(), audio)


def playlist_names(store: Store) -> dict[int, str | None]:
    playlists = store.playlists()
    return dict(zip(playlists.column("pid").to_pylist(), playlists.column("name").to_pylist()))


def training_data(store: Store) -> PlaylistTracks:
    pids, uris = store.playlist_track_pairs()
    if len(pids) == 0:
        raise InputError(f"the store {store.path} has no playlist tracks; ingest data first with `tastemaker ingest mpd PATH`")
    return PlaylistTracks.from_pairs(pids, uris)


def train(store: Store, data_dir: Path, models: list[tuple[str, dict]], default_model: str | None = None,
          show_progress: bool = False) -> Path:
    """Fit the models on every stored playlist and write a bundle; returns its folder."""
    with timed("build the playlist-track matrix"):
        data = training_data(store)
        context = load_catalogue(store).context(data, playlist_names(store))
    log.info("training data: %d playlists x %d tracks, %d entries",
             data.matrix.shape[0], data.matrix.shape[1], data.matrix.nnz)
    fitted = {}
    for label, params in models:
        with timed(f"fit {label}"):
            fitted[label] = build_model(params).fit(data.matrix, show_progress=show_progress, context=context)
    default = default_model or (DEFAULT_MODEL if DEFAULT_MODEL in fitted else next(iter(fitted)))
    reports = {label: model.report_ for label, model in fitted.items() if getattr(model, "report_", None)}
    with timed("write the bundle"):
        return write_bundle(data_dir, data.tracks, fitted, default, store.snapshot(),
                            extra={"report": reports} if reports else None)


def run_evaluation(store: Store, models: list[tuple[str, dict]], test_playlists: int = 1000,
                   buckets: list[str] | None = None, seed_counts: list[int] | None = None, seed: int = 0,
                   min_hidden: int = 5, n_recommendations: int = 500,
                   show_progress: bool = False) -> tuple[EvaluationResult, dict]:
    """Split the stored MPD playlists, train every model on the rest and score the continuations."""
    selected = select_buckets(buckets, seed_counts)
    pids, uris = store.playlist_track_pairs()
    playlists = store.playlists()
    names = playlist_names(store)
    mpd = {pid for pid, source in zip(playlists.column("pid").to_pylist(), playlists.column("source").to_pylist())
           if source == "mpd"}
    if not mpd:
        raise InputError(f"the store {store.path} has no MPD playlists to evaluate on; ingest some with `tastemaker ingest mpd PATH`")
    with timed("split test playlists"):
        split = make_split(pids, uris, names, test_playlists, selected, seed=seed, min_hidden=min_hidden,
                           candidate_pids=mpd)
    for bucket, reason in split.skipped_buckets.items():
        log.warning("bucket %s: %s", bucket, reason)
    if not split.test:
        raise InputError("no playlist is long enough for the chosen buckets; lower --min-hidden or choose fewer seeds")
    with timed(f"evaluate {len(models)} models on {len(split.test)} test playlists"):
        result = evaluate(split, models, n_recommendations, show_progress, load_catalogue(store))
    return result, split.describe()


def load_current_bundle(data_dir: Path) -> Bundle:
    return load_bundle(current_bundle_path(data_dir))


def continue_seed_lists(bundle: Bundle, seed_lists: list[list[str]], N: int, model: str | None = None,
                        titles: list[str | None] | None = None, rerank: str | None = None) -> list[Continuation]:
    """Continue playlists with a bundle's model, re-ranked when ``rerank`` is ``NAME:STRENGTH``."""
    recommender = bundle.model(model)
    reranker = bundle_reranker(recommender, rerank) if rerank else None
    return continue_playlists(recommender, bundle.tracks, seed_lists, N, model_name=model or bundle.default_model,
                              titles=titles, rerank=reranker)


def bundle_reranker(model: Recommender, spec: str) -> tuple[Reranker, float]:
    """Build the re-ranker that ``spec`` names from the track data of a fitted model.

    Artists (for fairness and calibration, with the artist as the category)
    and ALS track vectors (for MMR) come from a two-stage model; popularity
    from any model.
    """
    name, strength = parse_rerank_spec(spec)
    signals = getattr(model, "signals_", None)
    track_artist = vectors = categories = None
    if signals is not None:
        track_artist = signals.track_artist
        vectors = signals.als.track_factors
        known = np.flatnonzero(track_artist >= 0)
        n_artists = int(track_artist.max()) + 1 if len(known) else 0
        categories = sp.csr_matrix((np.ones(len(known)), (known, track_artist[known])),
                                   shape=(len(track_artist), n_artists))
    context = RerankContext(track_artist=track_artist, popularity=model.item_popularity_, item_vectors=vectors,
                            item_categories=categories)
    return build_reranker(name, context), strength


def write_submission(path: Path, pids: list[int], continuations: list[Continuation], team_info: str,
                     N: int = 500) -> None:
    """Write the challenge's submission CSV: a team_info line, then pid and N track URIs per playlist."""
    lines = [f"team_info,{team_info}"]
    for pid, result in zip(pids, continuations):
        tracks = result.track_ids
        if len(tracks) != N or len(set(tracks)) != N:
            raise InputError(f"playlist {pid}: only {len(set(tracks))} distinct tracks could be recommended, "
                             f"the submission needs {N}; the catalogue is too small")
        lines.append(",".join([str(pid), *tracks]))
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("\n".join(lines) + "\n")
    temporary.replace(path)
