"""Audit input: training rows, test histories with hidden tracks, and track metadata.

On MPD the audited "users" are the test playlists of a RecSys Challenge 2018
style split: the history is a playlist's seed tracks and the hidden tracks
score accuracy. Categories for calibration are artists, since MPD has no
genres, unless the store contains artist tags (HetRec Last.fm), which are
used where they cover the catalogue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from ..evaluation import make_split, select_buckets
from ..evaluation.split import BUCKETS
from ..ingest.names import synthetic_artist_uri
from ..signals import IdMap, PlaylistTracks
from ..signals.context import TrainingContext
from ..store import Store
from ..store.impact import artist_tag_counts, track_durations
from .calibration import one_hot_categories, weighted_categories

log = logging.getLogger(__name__)

CATEGORY_KINDS = ("auto", "artist", "tag")
# Tags are used for calibration under "auto" only when at least this share
# of the catalogue's tracks has an artist with tags. Below it, most lists
# would have no category mix at all.
MIN_TAG_COVERAGE = 0.5
SEEDED_BUCKETS = tuple(b.name for b in BUCKETS if b.seeds > 0)


@dataclass
class AuditData:
    """Training matrix, test rows and track metadata, all on one track axis of n_items.

    On listening data (``listening_data.listening_audit_data``) the rows are
    users and the items may be artists.

    Attributes
    ----------
    train : csr_matrix, shape (n_rows, n_items)
        Training rows (playlists, or listening users with 1 for each positive entry) by tracks.
    context : TrainingContext
        Titles, artists and audio features of the training rows, for models that use them.
    tracks : IdMap
        External track ids of the columns.
    histories : csr_matrix, shape (k, n_items)
        History of each audited row (a test playlist's seeds, or a listening user's training row).
    hidden : list of set of int
        Hidden track indices per audited row; tracks unknown to training get
        distinct ids below -1, so they count as missed and never match.
    titles, buckets : list
        Title and split bucket of each audited row (no title and the hold-out kind for listening users).
    track_artist : ndarray of int64, shape (n_items,)
        Dense artist index over the artists of the training catalogue; -1 when unknown.
    n_artists : int
    item_categories : csr_matrix, shape (n_items, n_categories)
        Category distribution per track for calibration.
    category_kind : str
        ``"artist"`` or ``"tag"``.
    durations_ms : ndarray, shape (n_items,)
        Track durations, NaN where unknown.
    description : dict
        Source, split and sizes, for reports.
    weighted_train, weighted_histories : csr_matrix or None
        Confidence-weighted versions of ``train`` and ``histories`` on listening
        data, which ALS reads in place of the binary ones; None on playlists.
    """

    train: sp.csr_matrix
    context: TrainingContext
    tracks: IdMap
    histories: sp.csr_matrix
    hidden: list[set[int]]
    titles: list[str | None]
    buckets: list[str]
    track_artist: np.ndarray
    n_artists: int
    item_categories: sp.csr_matrix
    category_kind: str
    durations_ms: np.ndarray
    description: dict = field(default_factory=dict)
    weighted_train: sp.csr_matrix | None = None
    weighted_histories: sp.csr_matrix | None = None

    @property
    def n_items(self) -> int:
        return self.train.shape[1]


def playlist_audit_data(store: Store, test_playlists: int = 1000, buckets: list[str] | None = None,
                        seed_counts: list[int] | None = None, seed: int = 0, min_hidden: int = 5,
                        categories: str = "auto") -> AuditData:
    """Split the stored MPD playlists and gather everything an audit of continuations needs.

    Without ``buckets`` or ``seed_counts`` every bucket with seed tracks is
    used: a title-only playlist has no history to compare a list with.
    """
    from ..pipeline import load_catalogue, playlist_names

    if categories not in CATEGORY_KINDS:
        raise InputError(f"categories must be one of {', '.join(CATEGORY_KINDS)}, got {categories!r}")
    selected = select_buckets(buckets or (None if seed_counts else list(SEEDED_BUCKETS)), seed_counts)
    pids, uris = store.playlist_track_pairs()
    playlists = store.playlists()
    names = playlist_names(store)
    mpd = {pid for pid, source in zip(playlists.column("pid").to_pylist(), playlists.column("source").to_pylist())
           if source == "mpd"}
    if not mpd:
        raise InputError(f"the store {store.path} has no MPD playlists to audit; "
                         "ingest some with `tastemaker ingest mpd PATH`")
    split = make_split(pids, uris, names, test_playlists, selected, seed=seed, min_hidden=min_hidden,
                       candidate_pids=mpd)
    for bucket, reason in split.skipped_buckets.items():
        log.warning("bucket %s: %s", bucket, reason)
    if not split.test:
        raise InputError("no playlist is long enough for the chosen buckets; lower --min-hidden or choose fewer seeds")

    data = PlaylistTracks.from_pairs(split.train_pids, split.train_uris)
    catalogue = load_catalogue(store)
    context = catalogue.context(data, split.names)
    histories, _ = data.rows_for([t.seeds for t in split.test])
    hidden = _hidden_indices(data.tracks, [t.hidden for t in split.test])
    track_artist, n_artists = _dense_artists(context.track_artist)
    artist_keys = _artist_keys(data.tracks, catalogue)
    item_categories, kind = _categories(store, categories, track_artist, n_artists, artist_keys)
    durations = _durations(store, data.tracks)
    log.info("audit data: %d training playlists, %d tracks, %d artists, %d audited playlists; categories: %s; "
             "durations known for %.1f%% of tracks", data.matrix.shape[0], len(data.tracks), n_artists,
             len(split.test), kind, 100 * np.mean(~np.isnan(durations)))
    description = {"source": "MPD playlists", "rows": "test playlists", **split.describe(),
                   "tracks": len(data.tracks), "artists": n_artists, "categories": kind}
    return AuditData(data.matrix, context, data.tracks, histories, hidden, [t.name for t in split.test],
                     [t.bucket for t in split.test], track_artist, n_artists, item_categories, kind, durations,
                     description)


def _hidden_indices(tracks: IdMap, hidden_lists: list[list[str]]) -> list[set[int]]:
    unknown_id = -2
    result = []
    for hidden in hidden_lists:
        known, missing = tracks.indices(hidden)
        row = set(known.tolist())
        for _ in missing:
            row.add(unknown_id)
            unknown_id -= 1
        result.append(row)
    return result


def _dense_artists(track_artist: np.ndarray) -> tuple[np.ndarray, int]:
    """Re-index artists so that exactly the artists with a catalogue track have indices 0..n-1."""
    dense = np.full(len(track_artist), -1, dtype=np.int64)
    known = track_artist >= 0
    artists, dense[known] = np.unique(track_artist[known], return_inverse=True)
    return dense, len(artists)


def _artist_keys(tracks: IdMap, catalogue) -> np.ndarray:
    keys = np.full(len(tracks), None, dtype=object)
    if catalogue.track_artists is None:
        return keys
    for uri, artist in zip(catalogue.track_artists.column("track_uri").to_pylist(),
                           catalogue.track_artists.column("artist").to_pylist()):
        position = tracks.get(uri)
        if position >= 0:
            keys[position] = artist
    return keys


def _categories(store: Store, kind: str, track_artist: np.ndarray, n_artists: int,
                artist_keys: np.ndarray) -> tuple[sp.csr_matrix, str]:
    if kind in ("auto", "tag"):
        tags = artist_tag_counts(store)
        if tags.num_rows:
            tag_ids = IdMap(sorted(set(tags.column("tag").to_pylist())))
            by_artist: dict[str, list[tuple[int, int]]] = {}
            for artist, tag, users in zip(tags.column("artist_uri").to_pylist(), tags.column("tag").to_pylist(),
                                          tags.column("users").to_pylist()):
                by_artist.setdefault(artist, []).append((tag_ids.index(tag), users))
            items, cats, weights = [], [], []
            for item, key in enumerate(artist_keys):
                for tag, users in by_artist.get(key, None) or by_artist.get(_named_artist_uri(key), ()):
                    items.append(item)
                    cats.append(tag)
                    weights.append(users)
            matrix = weighted_categories(np.asarray(items, dtype=np.int64), np.asarray(cats, dtype=np.int64),
                                         np.asarray(weights, dtype=np.float64), len(artist_keys), len(tag_ids))
            coverage = float(np.mean(np.diff(matrix.indptr) > 0)) if len(artist_keys) else 0.0
            if kind == "tag" or coverage >= MIN_TAG_COVERAGE:
                log.info("calibration categories: %d tags covering %.1f%% of tracks", len(tag_ids), 100 * coverage)
                return matrix, "tag"
            log.info("artist tags cover only %.1f%% of tracks; calibrating on artists", 100 * coverage)
        elif kind == "tag":
            raise InputError(f"--categories tag needs artist tags, but the store {store.path} has none; "
                             "ingest HetRec Last.fm data or use --categories artist")
    return one_hot_categories(track_artist, n_artists), "artist"


def _named_artist_uri(key: str | None) -> str | None:
    """Return the id listening sources give an artist known only by name, for a ``name:`` catalogue key.

    HetRec tags are stored under these ids, while MPD tracks without an
    artist URI carry the key ``name:`` and the artist name.
    """
    if key is None or not key.startswith("name:"):
        return None
    return synthetic_artist_uri(key[len("name:"):])


def _durations(store: Store, tracks: IdMap) -> np.ndarray:
    durations = np.full(len(tracks), np.nan)
    table = track_durations(store)
    for uri, duration in zip(table.column("track_uri").to_pylist(), table.column("duration_ms").to_pylist()):
        position = tracks.get(uri)
        if position >= 0:
            durations[position] = duration
    return durations
