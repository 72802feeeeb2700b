"""Audit input from listening histories: Spotify exports, Last.fm, ListenBrainz and HetRec play counts.

The audited users are those the per-user evaluation scores, with its
hold-outs (``tastemaker.evaluation.per_user``): a temporal leave-last-out on
play events, or a seeded random hold-out on HetRec play counts, which have
no times. A user's history is their training row and the hidden items are
the held-out ones. Items are tracks, or artists for HetRec and for
``level="artist"``, where every item is its own artist.

Models read the data as the per-user evaluation feeds them: ALS the
confidence weights of ``tastemaker.signals.confidence``, every other model
the positive entries as 1. ``AuditData.train`` and ``histories`` hold the
binary rows, which the metrics and re-rankers read too, and
``weighted_train`` and ``weighted_histories`` hold the confidence weights.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import InputError
from ..evaluation.per_user import PerUserSplit, random_split, temporal_split, training_matrix
from ..signals import IdMap
from ..signals.audio import audio_feature_matrix
from ..signals.confidence import ConfidenceParams
from ..signals.context import TrainingContext
from ..signals.cooccurrence import track_artist_index
from ..store import Store
from ..store.listening import artist_play_counts, check_listening_schema, play_events_with_artists
from .data import CATEGORY_KINDS, AuditData, _artist_keys, _categories, _dense_artists, _durations, _hidden_indices

log = logging.getLogger(__name__)

LISTENING_DATA = ("auto", "plays", "hetrec")
LEVELS = ("track", "artist")
HETREC_FORMAT = "hetrec-lastfm"
NO_LISTENING_DATA = ("ingest some with `tastemaker ingest hetrec FOLDER`, `tastemaker ingest lastfm-1k PATH`, "
                     "`tastemaker ingest listenbrainz PATH` or `tastemaker import-spotify EXPORT --user NAME`")


def listening_audit_data(store: Store, data: str = "auto", level: str = "track", holdout: int = 10,
                         min_train: int = 5, seed: int = 0, categories: str = "auto",
                         params: ConfidenceParams = ConfidenceParams(), max_users: int | None = None) -> AuditData:
    """Hold out items of the stored listeners and gather everything an audit of their recommendations needs.

    ``data`` is "plays" (temporal leave-last-out on play events, at ``level``
    track or artist), "hetrec" (seeded random hold-out of artists on HetRec
    play counts) or "auto" (plays when the store has play events, else
    HetRec). ``max_users`` audits a sample of that many evaluated users,
    drawn with ``seed``; the others still train the models.
    """
    if data not in LISTENING_DATA:
        raise InputError(f"invalid listening data {data!r}: choose one of {', '.join(LISTENING_DATA)}")
    if level not in LEVELS:
        raise InputError(f"invalid level {level!r}: choose track or artist")
    if categories not in CATEGORY_KINDS:
        raise InputError(f"categories must be one of {', '.join(CATEGORY_KINDS)}, got {categories!r}")
    if max_users is not None and max_users < 1:
        raise InputError(f"max_users must be an integer >= 1, got {max_users!r}")
    check_listening_schema(store)

    split, source = _split(store, data, level, holdout, min_train, seed, params)
    confidence = training_matrix(split, "confidence", params)
    binary = confidence.positive(binary=True)
    audited = [user for user in split.hidden if user in confidence.users]
    if max_users is not None and max_users < len(audited):
        chosen = np.sort(np.random.default_rng(seed).choice(len(audited), size=max_users, replace=False))
        audited = [audited[i] for i in chosen]
    rows = [confidence.users.index(user) for user in audited]
    items = confidence.items
    hidden = _hidden_indices(items, [sorted(split.hidden[user]) for user in audited])

    if split.level == "artist":
        # Item ids are the artist ids of the ingest (synthetic URIs of normalised names), so each item is its own
        # artist and its own key for the tag lookup. Plays without an artist name share the empty id, which is
        # no artist.
        own_artist = np.arange(len(items), dtype=np.int64)
        if "" in items:
            own_artist[items.index("")] = -1
        track_artist, n_artists = _dense_artists(own_artist)
        artist_keys = np.asarray(items.ids, dtype=object)
        audio = None
        durations = np.full(len(items), np.nan)
    else:
        track_artist, n_artists, artist_keys, audio = _track_metadata(store, items)
        durations = _durations(store, items)
    item_categories, kind = _categories(store, categories, track_artist, n_artists, artist_keys)
    context = TrainingContext([None] * binary.shape[0], track_artist, audio)

    item_noun = f"{split.level}s"
    log.info("audit data: %d listeners by %d %s, %d artists, %d audited users (%d without enough items); "
             "categories: %s; durations known for %.1f%% of items", binary.shape[0], len(items), item_noun,
             n_artists, len(audited), split.skipped_users, kind, 100 * np.mean(~np.isnan(durations)))
    description = {
        "source": source, "rows": "listening users", "items": item_noun, "split": _split_sentence(split, min_train),
        **split.describe(), "audited_users": len(audited), "train_rows": int(binary.shape[0]),
        "tracks": len(items), "artists": n_artists, "categories": kind,
        "category_note": ("Calibration uses artist tags as categories." if kind == "tag" else
                          "Calibration uses the artist as the category, because artist tags cover too few items."),
        "input_note": (f"ALS is fitted on confidence weights ({_confidence_sentence(params, split.kind)}) and "
                       "folds in each user's weighted training row. Every other model reads the positive entries "
                       "as 1."),
    }
    return AuditData(
        binary, context, items, binary[rows], hidden, [None] * len(audited), [split.kind] * len(audited),
        track_artist, n_artists, item_categories, kind, durations, description,
        weighted_train=confidence.matrix, weighted_histories=confidence.matrix[rows],
    )


def _split(store: Store, data: str, level: str, holdout: int, min_train: int, seed: int,
           params: ConfidenceParams) -> tuple[PerUserSplit, str]:
    """Return the per-user split of the chosen listening data and a description of its source."""
    has_plays = store.connection.execute("SELECT count(*) FROM play_events").fetchall()[0][0] > 0
    if data == "plays" or (data == "auto" and has_plays):
        if not has_plays:
            raise InputError(f"the store {store.path} has no play events to audit; {NO_LISTENING_DATA}")
        events = play_events_with_artists(store)
        split = temporal_split(events, holdout, min_train, level, params.stream_threshold_ms)
        return split, f"play events ({events.num_rows} plays)"
    counts = artist_play_counts(store, HETREC_FORMAT)
    if counts.num_rows == 0:
        missing = "HetRec play counts" if data == "hetrec" else "listening data (play events or HetRec play counts)"
        raise InputError(f"the store {store.path} has no {missing} to audit; {NO_LISTENING_DATA}")
    split = random_split(counts.column("user_id").to_numpy(), counts.column("artist_uri").to_pylist(),
                         counts.column("plays").to_numpy(), holdout, min_train, seed)
    return split, f"HetRec Last.fm play counts ({counts.num_rows} user-artist pairs)"


def _track_metadata(store: Store, items: IdMap) -> tuple[np.ndarray, int, np.ndarray, object]:
    """Return the dense artist of each track, the artist count, the artist keys for tags, and audio features."""
    from ..pipeline import load_catalogue

    catalogue = load_catalogue(store)
    track_artist, _ = track_artist_index(items, catalogue.track_artists.column("track_uri").to_pylist(),
                                         catalogue.track_artists.column("artist").to_pylist())
    track_artist, n_artists = _dense_artists(track_artist)
    audio = None
    if catalogue.audio is not None and catalogue.audio.num_rows:
        audio = audio_feature_matrix(items, catalogue.audio)
        if not audio.has_features.any():
            audio = None
    return track_artist, n_artists, _artist_keys(items, catalogue), audio


def _split_sentence(split: PerUserSplit, min_train: int) -> str:
    items = f"{split.level}s"
    if split.kind == "temporal":
        hold_out = (f"Temporal leave-last-out: of each user's streamed {items}, ordered by first play, the last "
                    f"{split.holdout} are hidden, and the user's training plays are those before the earliest hidden "
                    "first play")
        needed = f"{split.holdout + min_train} distinct streamed {items}"
    else:
        hold_out = f"Random hold-out: {split.holdout} {items} of each user are hidden, drawn with seed {split.seed}"
        needed = f"{split.holdout + min_train} {items}"
    return f"{hold_out}. Users with fewer than {needed} are not audited but still train the models"


def _confidence_sentence(params: ConfidenceParams, kind: str) -> str:
    text = f"alpha {params.alpha:g}, epsilon {params.epsilon:g}, {params.scaling} scaling"
    if kind == "random":
        return text + " of play counts"
    return f"{text}, skip weight {params.skip_weight:g}, stream threshold {params.stream_threshold_ms / 1000:g} s"
