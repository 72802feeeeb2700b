"""Steps several products share: model candidates, re-ranking, seeded weekly draws and the artist cap."""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from ..rerank import RerankContext, build_reranker, parse_rerank_spec
from .listener import Listener
from .space import TrackSpace

FALLBACK_COLD = "none of the listener's history is known to the model: most popular tracks instead"


def model_candidates(space: TrackSpace, listener: Listener, pool: int) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Return up to ``pool`` unplayed tracks the model ranks highest, their scores, and a fallback reason.

    A cold listener (nothing known to the model) gets the most popular
    unplayed tracks with NaN scores, and the reason states this.
    """
    eligible = int((~listener.played).sum())
    pool = min(pool, eligible)
    if pool <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), None
    if listener.is_cold:
        order = space.popularity_order()
        chosen = order[~listener.played[order]][:pool]
        return chosen.astype(np.int64), np.full(len(chosen), np.nan), FALLBACK_COLD
    # The row filters its own tracks; ask for enough more to cover the other played tracks.
    extra = int(listener.played.sum()) - listener.row.nnz
    N = min(len(space), pool + max(extra, 0))
    ids, scores = space.model.recommend(listener.row, N=N, filter_already_liked_items=True)
    ids, scores = ids[0], scores[0].astype(np.float64)
    keep = ids >= 0
    ids, scores = ids[keep], scores[keep]
    keep = ~listener.played[ids]
    ids, scores = ids[keep][:pool], scores[keep][:pool]
    if len(ids) == 0:
        order = space.popularity_order()
        chosen = order[~listener.played[order]][:pool]
        return chosen.astype(np.int64), np.full(len(chosen), np.nan), FALLBACK_COLD
    return ids, scores, None


def rerank_context(space: TrackSpace) -> RerankContext:
    """Side information of a space for the re-rankers: artists, popularity, vectors, artists as categories."""
    known = np.flatnonzero(space.track_artist >= 0)
    categories = sp.csr_matrix((np.ones(len(known)), (known, space.track_artist[known])),
                               shape=(len(space), max(1, len(space.artists))))
    return RerankContext(track_artist=space.track_artist, popularity=space.popularity.astype(np.float64),
                         item_vectors=space.vectors, item_categories=categories)


def apply_rerank(space: TrackSpace, ids: np.ndarray, scores: np.ndarray, N: int, rerank: str | None,
                 listener: Listener | None = None) -> np.ndarray:
    """Return ``ids`` re-ordered by the re-ranker ``NAME:STRENGTH`` (all of them kept), or unchanged without one.

    The candidates' order is the relevance the re-ranker trades off, so NaN
    scores (a fallback) work too. ``N`` is how many the product will keep;
    every candidate is returned so that later filters (an artist cap) can
    skip some.
    """
    if rerank is None or len(ids) <= 1:
        return ids
    name, strength = parse_rerank_spec(rerank)
    reranker = build_reranker(name, rerank_context(space))
    relevance = -np.arange(len(ids), dtype=np.float64)
    history = weights = None
    if listener is not None:
        history, weights = listener.history, listener.weights
    head = reranker.rerank(ids, relevance, min(len(ids), max(N, 1)), strength, history, weights)
    rest = ids[~np.isin(ids, head)]
    return np.concatenate([head, rest]).astype(np.int64)


def seeded_rng(*parts: object) -> np.random.Generator:
    """Return a generator seeded by a hash of ``parts``, so the same listener and period draw the same numbers."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def cap_artists(ids: np.ndarray, track_artist: np.ndarray, N: int, artist_cap: int | None,
                taken: dict[int, int] | None = None) -> np.ndarray:
    """Keep ids in order, at most ``artist_cap`` per known artist (None: no cap), until N are kept.

    Tracks of unknown artist (-1) are never capped. ``taken`` counts tracks
    already chosen per artist and is updated.
    """
    if artist_cap is not None and (isinstance(artist_cap, bool) or artist_cap < 1):
        raise InputError(f"artist cap must be a positive integer or None, got {artist_cap!r}")
    taken = {} if taken is None else taken
    kept: list[int] = []
    for item in np.asarray(ids, dtype=np.int64).tolist():
        if len(kept) >= N:
            break
        artist = int(track_artist[item])
        if artist >= 0 and artist_cap is not None:
            if taken.get(artist, 0) >= artist_cap:
                continue
            taken[artist] = taken.get(artist, 0) + 1
        kept.append(item)
    return np.asarray(kept, dtype=np.int64)


def validate_count(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer of at least {minimum}, got {value!r}")
