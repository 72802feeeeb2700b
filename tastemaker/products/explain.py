"""Explanations in words: which part of a listener's history a recommended track is closest to.

A recommendation is explained by its anchor, the history track whose vector
is nearest to it, with heavier history tracks preferred among close ones.
The words depend on the kind of history: a HetRec user played artists, a
playlist contains tracks, a listener with plays streams them.
"""

from __future__ import annotations

import numpy as np

from .listener import Listener
from .space import TrackSpace

MAX_ANCHORS = 1000  # heaviest history tracks considered as anchors


def anchors(space: TrackSpace, listener: Listener, items: np.ndarray) -> np.ndarray:
    """Return, per item, the history track it is explained by, or -1 when there is none with a vector.

    The anchor maximises ``cosine * (0.5 + 0.5 * weight / max weight)``.
    """
    items = np.asarray(items, dtype=np.int64)
    history = listener.history[:MAX_ANCHORS]
    weights = listener.weights[:MAX_ANCHORS]
    usable = space.has_vector[history]
    history, weights = history[usable], weights[usable]
    if len(history) == 0 or len(items) == 0:
        return np.full(len(items), -1, dtype=np.int64)
    similarity = space.vectors[items] @ space.vectors[history].T
    scaled = similarity * (0.5 + 0.5 * weights / weights.max())[None, :]
    return history[np.argmax(scaled, axis=1)]


def history_phrase(space: TrackSpace, listener: Listener, anchor: int) -> str:
    """Describe one history track as the listener met it: a played artist, a playlist track or a played track."""
    if listener.kind == "artist-plays":
        artist = int(space.track_artist[anchor])
        plays = int(listener.artist_plays[artist]) if artist >= 0 else 0
        return f"{space.artist_name(anchor)}, whom you played {plays:,} times"
    if listener.kind == "playlist":
        return f"{space.label(anchor)} in the playlist"
    return f"{space.label(anchor)}, which you play"


def because(space: TrackSpace, listener: Listener, items: np.ndarray, prefix: str) -> list[str]:
    """Return "PREFIX; close to ANCHOR" per item, or the prefix alone where no anchor exists."""
    found = anchors(space, listener, items)
    texts = []
    for item, anchor in zip(np.asarray(items).tolist(), found.tolist()):
        if anchor < 0:
            texts.append(prefix)
        elif anchor == item:
            texts.append(f"{prefix}; it is in your history")
        else:
            texts.append(f"{prefix}; close to {history_phrase(space, listener, anchor)}")
    return texts


def artist_list(names: list[str], limit: int = 3) -> str:
    """Join names as "A, B and C", adding "and more" past ``limit``."""
    names = [n for n in names if n]
    if not names:
        return "unknown artists"
    shown = names[:limit]
    if len(names) > limit:
        return ", ".join(shown) + " and more"
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " and " + shown[-1]
