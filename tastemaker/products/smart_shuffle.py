"""Smart Shuffle: a playlist with recommendations woven in, about one in every three tracks.

Every original track stays, in its order, and after every ``every - 1`` of
them comes one recommendation. Candidates are the model's best tracks for
the playlist (folded in as a row), minus its own tracks. Each slot takes the
unused candidate with the highest ``relevance + cosine``, where relevance
falls linearly from 1 to 0 down the model's list and the cosine is to the
sum of the vectors of the two original tracks around the slot. So a
recommendation suits its neighbours, and none is used twice.
"""

from __future__ import annotations

import numpy as np

from .common import model_candidates, validate_count
from .listener import playlist_listener
from .result import ProductResult
from .space import TrackSpace

PRODUCT = "smart-shuffle"
DEFAULT_EVERY = 3
DEFAULT_POOL = 300
FALLBACK_NO_CANDIDATES = "no track of the playlist is known to the model: nothing to add"


def smart_shuffle(space: TrackSpace, track_uris: list[str], title: str = "playlist", every: int = DEFAULT_EVERY,
                  pool: int = DEFAULT_POOL, key: str = "playlist") -> ProductResult:
    """Return the playlist's tracks in order with one recommendation after every ``every - 1`` of them."""
    validate_count("every", every, minimum=2)
    validate_count("pool", pool)
    originals = list(track_uris)
    slots = len(originals) // (every - 1)
    listener = playlist_listener(space, originals, key, title)
    result = ProductResult(PRODUCT, f"{title} (Smart Shuffle)", details={
        "every": every, "originals": len(originals), "unknown": len(listener.unknown)})

    candidates = np.zeros(0, dtype=np.int64)
    if not listener.is_cold:
        candidates, _, _ = model_candidates(space, listener, max(pool, slots))
    if len(candidates) == 0 and slots:
        result.fallback = FALLBACK_NO_CANDIDATES
    relevance = 1.0 - np.arange(len(candidates)) / max(len(candidates), 1)
    available = np.ones(len(candidates), dtype=bool)

    added = 0
    for position, uri in enumerate(originals):
        result.append(uri, float("nan"), "playlist", "from the playlist")
        if (position + 1) % (every - 1) != 0 or not available.any():
            continue
        after = originals[position + 1] if position + 1 < len(originals) else None
        pick, cosine, around = _pick(space, candidates, relevance, available, uri, after)
        available[pick] = False
        added += 1
        item = int(candidates[pick])
        if around:
            text = f"added between {' and '.join(around)}: close to them (cosine {cosine:.2f})"
        else:
            text = "added for the playlist as a whole"
        result.append(space.tracks.ids[item], float(relevance[pick] + cosine), "recommended", text)
    result.details["added"] = added
    return result


def _pick(space: TrackSpace, candidates: np.ndarray, relevance: np.ndarray, available: np.ndarray, before: str,
          after: str | None) -> tuple[int, float, list[str]]:
    """Return the candidate position for the slot between ``before`` and ``after``, its cosine and their labels."""
    context = np.zeros(space.vectors.shape[1], dtype=np.float64)
    around = []
    for uri in (before, after):
        item = space.tracks.get(uri) if uri is not None else -1
        if item >= 0 and space.has_vector[item]:
            context += space.vectors[item]
            around.append(space.label(item))
    norm = np.linalg.norm(context)
    cosines = space.vectors[candidates] @ (context / norm) if norm > 0 else np.zeros(len(candidates))
    value = np.where(available, relevance + cosines, -np.inf)
    pick = int(np.argmax(value))
    return pick, float(cosines[pick]), around
