"""Daily Mix: the listener's history clustered by sound, one mix per cluster of familiar and new tracks.

The heaviest history tracks (up to ``MAX_FAMILIAR``) are clustered with
spherical k-means (cosine) over their unit vectors, for every k from 2 to
``max_mixes``. The k whose mean silhouette most exceeds that of random
vectors clustered alike wins, unless none exceeds it by
``MIN_SILHOUETTE_GAIN``, in which case the history is one mix. Each mix
blends its familiar tracks, heaviest first, with new tracks: the model's
best unplayed tracks, each given to the mix whose centre it is closest to,
so no track is in two mixes. ``familiar_share`` sets the blend. A mix is
named after its most played artists, and after its most used tag where the
store has tags (HetRec).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..errors import InputError
from .common import model_candidates, seeded_rng, validate_count
from .explain import artist_list, because, history_phrase
from .listener import Listener
from .result import ProductResult
from .space import TrackSpace

PRODUCT = "daily-mix"
DEFAULT_MAX_MIXES = 6
DEFAULT_N = 30
DEFAULT_FAMILIAR_SHARE = 0.5
MAX_FAMILIAR = 300
MIN_CLUSTER_SIZE = 3
MIN_SILHOUETTE_GAIN = 0.05
CANDIDATE_POOL = 1500
KMEANS_RESTARTS = 4
KMEANS_ITERATIONS = 50
FALLBACK_NO_HISTORY = "no history tracks with vectors to build mixes from"


def spherical_kmeans(vectors: np.ndarray, k: int, rng: np.random.Generator,
                     restarts: int = KMEANS_RESTARTS) -> tuple[np.ndarray, np.ndarray]:
    """Cluster unit vectors by cosine; returns labels and unit centroids of the restart with the highest cohesion.

    Seeds are chosen k-means++ style on cosine distance.
    """
    n = len(vectors)
    if not 1 <= k <= n:
        raise InputError(f"k must be from 1 to the number of vectors ({n}), got {k}")
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(restarts):
        centres = [vectors[rng.integers(n)]]
        for _ in range(1, k):
            distance = np.clip(1 - np.max(vectors @ np.array(centres).T, axis=1), 0, None)
            total = distance.sum()
            pick = rng.choice(n, p=distance / total) if total > 0 else rng.integers(n)
            centres.append(vectors[pick])
        centroids = np.array(centres)
        for _ in range(KMEANS_ITERATIONS):
            labels = np.argmax(vectors @ centroids.T, axis=1)
            updated = np.zeros_like(centroids)
            np.add.at(updated, labels, vectors)
            norms = np.linalg.norm(updated, axis=1, keepdims=True)
            # An empty cluster keeps its old centre.
            updated = np.where(norms > 0, updated / np.where(norms > 0, norms, 1), centroids)
            if np.allclose(updated, centroids):
                break
            centroids = updated
        labels = np.argmax(vectors @ centroids.T, axis=1)
        cohesion = float(np.sum(vectors * centroids[labels]))
        if best is None or cohesion > best[0]:
            best = (cohesion, labels, centroids)
    return best[1], best[2]


def silhouette(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette with cosine distance; points alone in their cluster score 0."""
    distance = 1 - vectors @ vectors.T
    clusters = np.unique(labels)
    if len(clusters) < 2:
        return 0.0
    scores = np.zeros(len(vectors))
    for i in range(len(vectors)):
        own = labels == labels[i]
        if own.sum() <= 1:
            continue
        a = distance[i, own].sum() / (own.sum() - 1)
        b = min(distance[i, labels == c].mean() for c in clusters if c != labels[i])
        scores[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return float(scores.mean())


def choose_clusters(vectors: np.ndarray, max_mixes: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
    """Return labels, centroids and the silhouette gain over noise of every k tried; k is the best one, or 1.

    Random unit vectors get a silhouette above 0 too, the more so the fewer
    points and dimensions there are. So each k's silhouette is compared with
    that of as many random unit vectors of the same dimension, clustered the
    same way, and k must gain at least MIN_SILHOUETTE_GAIN over it.
    """
    n, dimensions = vectors.shape
    noise = rng.normal(size=(n, dimensions))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    tried: dict[int, float] = {}
    best = (1, np.zeros(n, dtype=np.int64), _unit(vectors.sum(axis=0, keepdims=True)))
    best_gain = MIN_SILHOUETTE_GAIN
    for k in range(2, min(max_mixes, n // MIN_CLUSTER_SIZE) + 1):
        labels, centroids = spherical_kmeans(vectors, k, rng)
        sizes = np.bincount(labels, minlength=k)
        if sizes.min() < MIN_CLUSTER_SIZE:
            tried[k] = float("nan")
            continue
        gain = silhouette(vectors, labels) - silhouette(noise, spherical_kmeans(noise, k, rng)[0])
        tried[k] = gain
        if gain > best_gain:
            best, best_gain = (k, labels, centroids), gain
    return best[1], best[2], tried


def daily_mixes(space: TrackSpace, listener: Listener, max_mixes: int = DEFAULT_MAX_MIXES, N: int = DEFAULT_N,
                familiar_share: float = DEFAULT_FAMILIAR_SHARE, seed: int = 0) -> list[ProductResult]:
    """Make up to ``max_mixes`` Daily Mixes of N tracks, the biggest cluster first."""
    validate_count("max_mixes", max_mixes)
    validate_count("N", N)
    if not 0 <= familiar_share <= 1:
        raise InputError(f"familiar_share must be a number from 0 to 1, got {familiar_share!r}")
    history = listener.history[space.has_vector[listener.history]][:MAX_FAMILIAR]
    weights = listener.weights[space.has_vector[listener.history]][:MAX_FAMILIAR]
    if len(history) == 0:
        return [ProductResult(PRODUCT, "Daily Mix", fallback=FALLBACK_NO_HISTORY)]
    rng = seeded_rng(PRODUCT, listener.key, seed)
    labels, centroids, tried = choose_clusters(space.vectors[history].astype(np.float64), max_mixes, rng)

    # Each new track joins the mix whose centre is nearest, so no track is in two mixes.
    candidates, _, _ = model_candidates(space, listener, CANDIDATE_POOL)
    candidates = candidates[space.has_vector[candidates]]
    closeness = space.vectors[candidates] @ centroids.T
    nearest_mix = np.argmax(closeness, axis=1) if len(candidates) else np.zeros(0, dtype=np.int64)

    order = np.argsort(-np.bincount(labels, weights=weights, minlength=len(centroids)), kind="stable")
    mixes = []
    for number, cluster in enumerate(order.tolist(), start=1):
        members = np.flatnonzero(labels == cluster)
        members = members[np.lexsort((members, -weights[members]))]
        familiar = history[members]
        mine = np.flatnonzero(nearest_mix == cluster)
        new = candidates[mine[np.argsort(-closeness[mine, cluster], kind="stable")]]
        mixes.append(_mix(space, listener, number, familiar, new, centroids[cluster], N, familiar_share,
                          tried, len(centroids)))
    return mixes


def _mix(space: TrackSpace, listener: Listener, number: int, familiar: np.ndarray, new: np.ndarray,
         centre: np.ndarray, N: int, familiar_share: float, tried: dict[int, float], k: int) -> ProductResult:
    # The share holds when both sides have enough tracks; a side that runs short is filled from the other.
    available = {"history_tracks": len(familiar), "new_candidates": len(new)}
    want_familiar = min(len(familiar), int(round(N * familiar_share)))
    want_new = min(len(new), N - want_familiar)
    want_familiar = min(len(familiar), N - want_new)
    familiar, new = familiar[:want_familiar], new[:want_new]
    sequence = _interleave(len(familiar), len(new))

    artists = _leading_artists(space, familiar)
    tag = _leading_tag(space, familiar)
    title = f"Daily Mix {number}: " + (f"{tag}, " if tag else "") + artist_list(artists)
    result = ProductResult(PRODUCT, title, details={
        "mix": number, "artists": artists, "tag": tag, "familiar": len(familiar), "new": len(new), "mixes": k,
        **available,
        "silhouette_gains": {str(key): (None if value != value else round(value, 4)) for key, value in tried.items()}})
    new_texts = because(space, listener, new, "new to you, in this mix's sound")
    f = n = 0
    for is_familiar in sequence:
        if is_familiar:
            item = int(familiar[f])
            result.append(space.tracks.ids[item], float(space.vectors[item] @ centre), "familiar",
                          f"familiar: {history_phrase(space, listener, item)}")
            f += 1
        else:
            item = int(new[n])
            result.append(space.tracks.ids[item], float(space.vectors[item] @ centre), "new", new_texts[n])
            n += 1
    return result


def _interleave(familiar: int, new: int) -> list[bool]:
    """Spread familiar (True) and new (False) slots evenly, starting with a familiar one."""
    total = familiar + new
    sequence, used = [], 0
    for i in range(total):
        target = int(np.ceil((i + 1) * familiar / total)) if total else 0
        take = used < target
        sequence.append(take)
        used += take
    return sequence


def _leading_artists(space: TrackSpace, tracks: np.ndarray, limit: int = 3) -> list[str]:
    artists = [int(a) for a in space.track_artist[tracks] if a >= 0]
    return [str(space.artist_names[a]) for a, _ in Counter(artists).most_common(limit)]


def _leading_tag(space: TrackSpace, tracks: np.ndarray) -> str | None:
    counts: Counter[str] = Counter()
    for artist in space.track_artist[tracks]:
        if artist >= 0:
            counts.update(space.artist_tags[int(artist)][:1])
    return counts.most_common(1)[0][0] if counts else None


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
