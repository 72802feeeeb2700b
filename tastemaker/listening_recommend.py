"""Recommendations for one listener from their own listening history.

Models trained on play events live in a bundle under ``<data dir>/listening``
(written by ``tastemaker train-listening``), apart from the playlist bundle of
``tastemaker train``. A user's stored plays are folded into a model as one
row. With the listening bundle, the row contains the signed confidence the
model was trained on. With only the playlist bundle, it contains +1 for
tracks the user streams and -1 for tracks they mostly skip, because that
model learnt from binary playlists. Models other than ALS read only the
positive entries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .bundle import Bundle, current_bundle_path, load_bundle, write_bundle
from .errors import BundleError, InputError
from .models import Recommender
from .models.implicit_models import ALSRecommender
from .pipeline import build_model
from .products.continuation import continue_rows, popularity_order
from .signals.confidence import ConfidenceParams, event_user_items, user_row
from .store import Store
from .store.listening import (
    check_listening_schema,
    find_user,
    listening_counts,
    play_events,
    require_events,
)

log = logging.getLogger(__name__)

LISTENING_DIR = "listening"
USER_SOURCES = ("spotify", "listenbrainz", "lastfm", "hetrec")
EVENT_COLUMNS = ("user_id", "ts", "track_uri", "ms_played", "skipped", "reason_end")
DEFAULT_LISTENING_MODELS = [("als", {"model": "als", "alpha": 1.0})]


@dataclass
class UserRecommendation:
    """Recommended track ids best first, with scores and sources, and what the history contributed."""

    track_ids: list[str]
    scores: list[float]
    sources: list[str]
    bundle: str
    model: str
    history_tracks: int
    fallback: str | None = None
    unknown_tracks: list[str] = field(default_factory=list)


def listening_data_dir(data_dir: Path) -> Path:
    return Path(data_dir) / LISTENING_DIR


def resolve_user(store: Store, user_name: str) -> tuple[str, int]:
    """Find a stored user by account name; ``SOURCE:NAME`` (for example ``lastfm:user_000001``) picks the namespace."""
    source, separator, name = user_name.partition(":")
    if separator and source in USER_SOURCES:
        sources, name = (source,), name
    else:
        sources, name = USER_SOURCES, user_name
    name = name.strip()
    if not name:
        raise InputError("--user must not be empty: give the account name used at import")
    found = find_user(store, name, sources)
    if not found:
        raise InputError(
            f"no listening history for user {name!r} in {store.path}; import it first with "
            f"`tastemaker import-spotify EXPORT --user {name}`, and check the spelling, which must match exactly"
        )
    if len(found) > 1:
        choices = ", ".join(f"{source}:{name}" for source, _ in found)
        raise InputError(f"user {name!r} exists in several sources; name one of: {choices}")
    return found[0]


def train_listening(store: Store, data_dir: Path, models: list[tuple[str, dict]] | None = None,
                    params: ConfidenceParams = ConfidenceParams(), default_model: str | None = None,
                    show_progress: bool = False) -> Path:
    """Fit models on the confidence-weighted user-by-track matrix of every stored play; returns the bundle folder.

    ALS reads the signed confidence and should have alpha 1, because the
    confidence already contains alpha; the other models read positive entries as 1.
    """
    check_listening_schema(store)
    require_events(store)
    models = models or DEFAULT_LISTENING_MODELS
    data = event_user_items(play_events(store, EVENT_COLUMNS), params, "confidence")
    log.info("listening data: %d users x %d tracks, %d entries", *data.matrix.shape, data.matrix.nnz)
    fitted: dict[str, Recommender] = {}
    for label, model_params in models:
        model = build_model(model_params)
        matrix = data.matrix if isinstance(model, ALSRecommender) else data.positive(binary=True)
        fitted[label] = model.fit(matrix, show_progress=show_progress)
    default = default_model or next(iter(fitted))
    snapshot = {**store.snapshot(), "listening_counts": listening_counts(store)}
    return write_bundle(listening_data_dir(data_dir), data.items, fitted, default, snapshot,
                        extra={"confidence": params.to_dict(), "trained_on": "play_events"})


def recommend_for_user(data_dir: str | Path, user_name: str, N: int = 10, model: str | None = None) -> UserRecommendation:
    """Recommend N tracks the user has not played, from the listening bundle or else the playlist bundle."""
    data_dir = Path(data_dir)
    with Store.open(data_dir, read_only=True) as store:
        check_listening_schema(store)
        _, user_id = resolve_user(store, user_name)
        events = play_events(store, EVENT_COLUMNS, user_ids=[user_id])
    if events.num_rows == 0:
        raise InputError(f"user {user_name!r} has no stored plays of music tracks; import their streaming history")
    bundle, kind = _load_bundle_for_users(data_dir)
    recommender = bundle.model(model)
    model_name = model or bundle.default_model
    params = ConfidenceParams.from_dict(bundle.manifest.get("confidence", {}))

    row, unknown = user_row(events, bundle.tracks, params)
    history = len(set(events.column("track_uri").to_pylist()))
    if kind == "playlist":
        row.data = np.sign(row.data)
    if not isinstance(recommender, ALSRecommender):
        row = _positive_binary(row)
    order = popularity_order(recommender.item_popularity_)
    ids, scores, fallbacks, filled = continue_rows(recommender, row.tocsr(), N, order)
    valid = ids[0] >= 0
    row_scores = np.where(filled[0], np.nan, scores[0])
    sources = ["popularity fallback" if f else model_name for f in filled[0]]
    log.info("user %s: %d tracks in the history, %d not in the model", user_name, history, len(unknown))
    return UserRecommendation(
        track_ids=bundle.tracks.external(ids[0][valid]), scores=[float(s) for s in row_scores[valid]],
        sources=[s for s, v in zip(sources, valid) if v], bundle=f"{kind} bundle {bundle.path.name}",
        model=model_name, history_tracks=history, fallback=fallbacks[0], unknown_tracks=unknown,
    )


def _load_bundle_for_users(data_dir: Path) -> tuple[Bundle, str]:
    """Return the listening bundle when there is one, else the playlist bundle, with which of the two it is."""
    for kind, folder in (("listening", listening_data_dir(data_dir)), ("playlist", data_dir)):
        try:
            path = current_bundle_path(folder)
        except BundleError:
            continue
        return load_bundle(path), kind
    raise InputError(
        f"no trained model in {data_dir}: train one on the stored plays with `tastemaker train-listening`, "
        "or on playlists with `tastemaker train`"
    )


def _positive_binary(row: sp.csr_matrix) -> sp.csr_matrix:
    # Disliked tracks stay as explicit zeros: they add nothing to the scores
    # but are still filtered out of the recommendations.
    row = row.copy()
    row.data = (row.data > 0).astype(np.float32)
    return row
