"""The content model: ALS track factors for played tracks, mapped factors for unplayed ones, one index.

``fit_content_model`` fits ALS on every stored playlist, learns a mapping
from content features to those factors (:mod:`tastemaker.content.mapping`)
for each feature source with enough played tracks, and gives every track
that has content features but no playlist the mapped factors. Sources are
tried in order: the Spotify audio-feature table, then the librosa features
of ingested audio files; a track in both takes the first. All tracks with
factors go into one Voyager inner-product index, so content-based tracks
compete with played ones for every place.

It is saved as a folder of plain files, like a model bundle, under
``<data dir>/content-bundles/``: ``manifest.json`` (parameters, counts and
the SHA-256 of every file), ``tracks.txt``, ``.npy`` arrays, JSON lists and
the Voyager index. Nothing is a pickle. ``current`` names the live folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from .. import __version__
from ..bundle import file_sha256, text_sha256
from ..errors import BundleError, InputError
from ..models.base import load_array
from ..models.implicit_models import ALSRecommender
from ..retrieval.index import VectorIndex
from ..signals import IdMap, PlaylistTracks
from ..signals.audio import audio_feature_matrix
from ..store import Store
from ..store.audio import AUDIO_FEATURE_COLUMNS, read_audio_features
from ..store.content import artist_tag_counts, catalogue_artists, read_audio_content
from .features import CONTENT_FEATURES, FEATURE_VERSION
from .mapping import MIN_TRAINING_TRACKS, ContentMapper
from .tags import ArtistTags, link_to_catalogue

log = logging.getLogger(__name__)

FORMAT = "tastemaker-content-bundle"
FORMAT_VERSION = 1
BUNDLES_FOLDER = "content-bundles"
CURRENT = "current"
SOURCE_AUDIO_FEATURES = "audio features table"
SOURCE_AUDIO_FILES = "audio files"


@dataclass
class ContentModel:
    """Everything onboarding and content-based retrieval read.

    Attributes
    ----------
    tracks : IdMap
        Played tracks (the playlist matrix's columns) first, then content-based ones by URI.
    factors : ndarray, shape (n_tracks, k), float32
    content_based : ndarray, shape (n_tracks,), bool
        True where the factors were predicted from content.
    popularity : ndarray, shape (n_tracks,), float32
        Playlists that contain the track; 0 for content-based tracks.
    track_artist : ndarray, shape (n_tracks,), int64
        Row of the track's artist in ``artists``; -1 when unknown.
    artists, artist_names : list of str
        Artist keys (URI, else ``name:`` and the name) and names.
    params : dict
        ALS parameters (alpha and regularization are needed to fold listeners in).
    index : VectorIndex
    tags : ArtistTags or None
        HetRec artist tag vectors, where the store has them.
    artist_tag_row : ndarray, shape (n_artists,), int64, or None
        Row of each artist in ``tags``; -1 when not linked.
    manifest : dict
    """

    tracks: IdMap
    factors: np.ndarray
    content_based: np.ndarray
    popularity: np.ndarray
    track_artist: np.ndarray
    artists: list[str]
    artist_names: list[str]
    params: dict
    index: VectorIndex
    tags: ArtistTags | None = None
    artist_tag_row: np.ndarray | None = None
    manifest: dict | None = None


def fit_content_model(store: Store, factors: int = 128, iterations: int = 15, regularization: float = 0.05,
                      alpha: float = 10.0, mapper: str = "lightgbm", seed: int = 0, show_progress: bool = False,
                      exclude_pids: np.ndarray | None = None) -> ContentModel:
    """Fit ALS and the content mappings on the store's data; see the module docstring.

    ``exclude_pids`` are playlists left out of training, for evaluations
    that draw listeners from them.
    """
    pids, uris = store.playlist_track_pairs()
    if exclude_pids is not None:
        keep = ~np.isin(pids, exclude_pids)
        pids, uris = pids[keep], uris[keep]
    if len(pids) == 0:
        raise InputError(f"the store {store.path} has no playlist tracks; ingest playlists first with "
                         "`tastemaker ingest mpd PATH`")
    data = PlaylistTracks.from_pairs(pids, uris)
    params = {"factors": factors, "iterations": iterations, "regularization": regularization, "alpha": alpha,
              "mapper": mapper, "seed": seed}
    started = time.perf_counter()
    als = ALSRecommender(factors=factors, iterations=iterations, regularization=regularization, alpha=alpha,
                         random_state=seed).fit(data.matrix, show_progress=show_progress)
    log.info("content model: ALS fitted on %d playlists in %.1f s", data.matrix.shape[0], time.perf_counter() - started)
    warm_factors = np.asarray(als.track_factors, dtype=np.float32)
    popularity = np.asarray(data.matrix.sum(axis=0)).ravel().astype(np.float32)

    sources = _feature_sources(store)
    cold_uris: list[str] = []
    cold_factors: list[np.ndarray] = []
    report: dict[str, dict] = {}
    for name, feature_uris, values in sources:
        positions = np.asarray([data.tracks.get(uri) for uri in feature_uris], dtype=np.int64)
        warm = positions >= 0
        already_mapped = set(cold_uris)
        cold = [i for i in np.flatnonzero(~warm) if feature_uris[i] not in already_mapped]
        if warm.sum() < MIN_TRAINING_TRACKS:
            log.warning("content model: %s: only %d played tracks have features, fewer than %d; not mapped",
                        name, int(warm.sum()), MIN_TRAINING_TRACKS)
            report[name] = {"played_tracks": int(warm.sum()), "mapped_tracks": 0}
            continue
        model = ContentMapper(mapper, seed=seed).fit(values[warm], warm_factors[positions[warm]])
        if cold:
            cold_uris.extend(feature_uris[i] for i in cold)
            cold_factors.append(model.predict(values[cold]))
        report[name] = {"played_tracks": int(warm.sum()), "mapped_tracks": len(cold), **model.report_}

    order = np.argsort(np.asarray(cold_uris, dtype=object)) if cold_uris else np.array([], dtype=np.int64)
    cold_uris = [cold_uris[i] for i in order]
    mapped = np.vstack(cold_factors)[order] if cold_factors else np.zeros((0, factors), dtype=np.float32)
    tracks = IdMap([*data.tracks.ids.tolist(), *cold_uris])
    all_factors = np.vstack([warm_factors, mapped]).astype(np.float32)
    content_based = np.concatenate([np.zeros(len(warm_factors), dtype=bool), np.ones(len(cold_uris), dtype=bool)])
    all_popularity = np.concatenate([popularity, np.zeros(len(cold_uris), dtype=np.float32)])

    artists_table = catalogue_artists(store)
    artists = artists_table.column("artist").to_pylist()
    artist_names = artists_table.column("name").to_pylist()
    track_artist = _track_artists(store, tracks, artists)
    tags, tag_rows = _artist_tags(store, artists_table)

    started = time.perf_counter()
    indexed = (all_popularity > 0) | content_based
    index = VectorIndex.build(all_factors, "inner_product", mask=indexed, seed=seed)
    log.info("content model: Voyager index over %d tracks built in %.1f s", int(indexed.sum()),
             time.perf_counter() - started)
    manifest = {"params": params, "sources": report, "played_tracks": int(len(warm_factors)),
                "content_based_tracks": len(cold_uris), "artists": len(artists),
                "tagged_artists": int((tag_rows >= 0).sum()) if tag_rows is not None else 0,
                "data_snapshot": store.snapshot()}
    return ContentModel(tracks, all_factors, content_based, all_popularity, track_artist, artists, artist_names,
                        params, index, tags, tag_rows, manifest)


def _feature_sources(store: Store) -> list[tuple[str, list[str], np.ndarray]]:
    """Return (source name, track URIs, raw feature rows) of each content source the store has."""
    sources = []
    if store.has_table("audio_features"):
        table = read_audio_features(store)
        if table.num_rows:
            values = np.column_stack([table.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
                                      for c in AUDIO_FEATURE_COLUMNS])
            sources.append((SOURCE_AUDIO_FEATURES, table.column("track_uri").to_pylist(), values))
    table = read_audio_content(store, FEATURE_VERSION)
    if table.num_rows:
        values = np.asarray(table.column("features").to_pylist(), dtype=np.float64).reshape(-1, len(CONTENT_FEATURES))
        sources.append((SOURCE_AUDIO_FILES, table.column("track_uri").to_pylist(), values))
    return sources


def _track_artists(store: Store, tracks: IdMap, artists: list[str]) -> np.ndarray:
    rows = {artist: i for i, artist in enumerate(artists)}
    table = store.track_artists()
    result = np.full(len(tracks), -1, dtype=np.int64)
    for uri, artist in zip(table.column("track_uri").to_pylist(), table.column("artist").to_pylist()):
        position = tracks.get(uri)
        if position >= 0 and artist is not None:
            result[position] = rows.get(artist, -1)
    return result


def _artist_tags(store: Store, artists_table: pa.Table) -> tuple[ArtistTags | None, np.ndarray | None]:
    counts = artist_tag_counts(store)
    if counts.num_rows == 0:
        return None, None
    tags = ArtistTags.from_counts(counts)
    return tags, link_to_catalogue(tags, artists_table)


# Persistence


def write_content_model(data_dir: Path, model: ContentModel) -> Path:
    """Write the model into a new folder, make it current and return the folder."""
    root = Path(data_dir) / BUNDLES_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        model.tracks.save(staging / "tracks.txt")
        arrays = {"factors": model.factors, "content_based": model.content_based, "popularity": model.popularity,
                  "track_artist": model.track_artist}
        if model.tags is not None:
            arrays.update({"tag_data": model.tags.vectors.data, "tag_indices": model.tags.vectors.indices,
                           "tag_indptr": model.tags.vectors.indptr, "artist_tag_row": model.artist_tag_row})
            (staging / "tags.json").write_text(json.dumps(
                {"artists": model.tags.artists, "names": model.tags.names, "tags": model.tags.tags},
                ensure_ascii=False), encoding="utf-8")
        for name, array in arrays.items():
            np.save(staging / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        (staging / "artists.json").write_text(json.dumps({"keys": model.artists, "names": model.artist_names},
                                                         ensure_ascii=False), encoding="utf-8")
        model.index.save(staging / "index.voy")
        files = {str(p.relative_to(staging)): file_sha256(p) for p in sorted(staging.iterdir()) if p.is_file()}
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "tastemaker_version": __version__,
                    "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "n_tracks": len(model.tracks), "index": model.index.settings(), **(model.manifest or {}),
                    "files": files}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        name = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + text_sha256(json.dumps(files))[:8]
        os.replace(staging, root / name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    pointer = root / f".{CURRENT}.tmp"
    pointer.write_text(name + "\n")
    os.replace(pointer, root / CURRENT)
    return root / name


def load_content_model(data_dir: Path) -> ContentModel:
    """Load the current content model; a missing or altered file raises BundleError with the fix."""
    root = Path(data_dir) / BUNDLES_FOLDER
    pointer = root / CURRENT
    if not pointer.is_file():
        raise BundleError(f"no content model in {data_dir}: {pointer} does not exist; run "
                          "`tastemaker train-content` first")
    folder = root / pointer.read_text().strip()
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read {folder / 'manifest.json'}: {exc}; run `tastemaker train-content` again") from exc

    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{folder}: not a content bundle of format version {FORMAT_VERSION}; "
                          "run `tastemaker train-content` again")
    for relative, digest in manifest["files"].items():
        path = folder / relative
        if not path.is_file() or file_sha256(path) != digest:
            raise BundleError(f"{path} is missing or does not match its SHA-256 in the manifest; "
                              "run `tastemaker train-content` again")

    tracks = IdMap.load(folder / "tracks.txt")
    n = len(tracks)
    factors = load_array(folder, "factors", (n, manifest["params"]["factors"]))
    artists = json.loads((folder / "artists.json").read_text(encoding="utf-8"))

    tags = tag_rows = None
    if (folder / "tags.json").is_file():
        meta = json.loads((folder / "tags.json").read_text(encoding="utf-8"))
        data = load_array(folder, "tag_data", (None,))
        vectors = sp.csr_matrix((data, load_array(folder, "tag_indices", (len(data),)),
                                 load_array(folder, "tag_indptr", (len(meta["artists"]) + 1,))),
                                shape=(len(meta["artists"]), len(meta["tags"])))
        tags = ArtistTags(meta["artists"], meta["names"], meta["tags"], vectors)
        tag_rows = load_array(folder, "artist_tag_row", (len(artists["keys"]),))

    return ContentModel(
        tracks, factors, load_array(folder, "content_based", (n,)), load_array(folder, "popularity", (n,)),
        load_array(folder, "track_artist", (n,)), artists["keys"], artists["names"], manifest["params"],
        VectorIndex.load(folder / "index.voy", manifest["index"], n), tags, tag_rows, manifest)
