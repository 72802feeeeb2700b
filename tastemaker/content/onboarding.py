"""Recommendations for a new listener from a few liked artists or tracks, without retraining.

The picks become one implicit-feedback row: every liked track, and for every
liked artist its ``tracks_per_artist`` most-played tracks. The row is folded
into the ALS factor space by solving the same regularised least-squares
problem that ALS solves for a user, with the track factors fixed
(:func:`fold_in`). The listener's factors then query the content model's
index, where played tracks and content-based tracks compete.

An artist that is not in the catalogue but has HetRec tags is replaced by
the ``tag_neighbours`` catalogue artists with the most similar tags. Every
recommendation carries an explanation, and those of content-based tracks
start with "content-based".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..ingest.names import normalise_artist
from .model import ContentModel

TRACKS_PER_ARTIST = 10
TAG_NEIGHBOURS = 3


@dataclass
class Recommendation:
    track_uri: str
    score: float
    content_based: bool
    explanation: str


@dataclass
class Onboarding:
    """The result: recommendations best first, and what became of each pick."""

    recommendations: list[Recommendation]
    resolved: list[str] = field(default_factory=list)  # one line per pick that was used
    unknown: list[str] = field(default_factory=list)  # picks that matched nothing


def fold_in(factors: np.ndarray, items: np.ndarray, alpha: float, regularization: float,
            gram: np.ndarray | None = None) -> np.ndarray:
    """Return the ALS user factors of a listener who liked ``items``, the track factors fixed.

    Confidence is ``alpha`` for a liked track (implicit scales a value of 1 by
    alpha) and the preference is 1, so the factors solve
    ``(Y'Y + reg I + sum (alpha - 1) y y') x = sum alpha y`` over the liked tracks y.

    ``gram`` is ``factors.T @ factors``, passed in to avoid recomputing it.
    """
    factors = np.asarray(factors, dtype=np.float64)
    gram = factors.T @ factors if gram is None else gram
    liked = factors[np.unique(np.asarray(items, dtype=np.int64))]
    matrix = gram + regularization * np.eye(factors.shape[1]) + (alpha - 1.0) * liked.T @ liked
    return np.linalg.solve(matrix, alpha * liked.sum(axis=0)).astype(np.float32)


class Onboarder:
    """Resolves picks and recommends from a :class:`ContentModel`."""

    def __init__(self, model: ContentModel, tracks_per_artist: int = TRACKS_PER_ARTIST,
                 tag_neighbours: int = TAG_NEIGHBOURS):
        self.model = model
        self.tracks_per_artist = tracks_per_artist
        self.tag_neighbours = tag_neighbours
        self._gram = model.factors.astype(np.float64).T @ model.factors.astype(np.float64)
        self._artist_rows: dict[str, list[int]] = {}
        for row, name in enumerate(model.artist_names):
            if name:
                self._artist_rows.setdefault(normalise_artist(name), []).append(row)
        self._tag_rows = model.tags.row_of_name() if model.tags is not None else {}

    def recommend(self, artists: list[str] | None = None, tracks: list[str] | None = None, n: int = 20,
                  exclude_picked_artists: bool = False) -> Onboarding:
        """Recommend n tracks for a listener who likes the given artist names and track URIs.

        With ``exclude_picked_artists`` no recommendation is by a picked artist.
        """
        if not artists and not tracks:
            raise InputError("give at least one liked artist or track")
        if n < 1:
            raise InputError(f"the number of recommendations must be at least 1, got {n}")
        result = Onboarding([])
        items: list[int] = []
        picked_artists: set[int] = set()
        via_tags: dict[int, str] = {}
        for name in artists or []:
            rows = self._artist_rows.get(normalise_artist(name))
            if rows:
                picked_artists.update(rows)
                found = self._artist_tracks(rows)
                items.extend(found)
                result.resolved.append(f"artist {name!r}: {len(found)} of its most-played tracks")
                continue
            neighbours = self._tag_neighbours(name)
            if neighbours:
                for row in neighbours:
                    via_tags[row] = name
                    items.extend(self._artist_tracks([row]))
                labels = ", ".join(self.model.artist_names[r] for r in neighbours)
                result.resolved.append(f"artist {name!r} is not in the catalogue; by its HetRec tags it is "
                                       f"closest to {labels}")
                continue
            result.unknown.append(f"artist {name!r}")
        for uri in tracks or []:
            position = self.model.tracks.get(uri)
            if position < 0:
                result.unknown.append(f"track {uri}")
            else:
                items.append(position)
                result.resolved.append(f"track {uri}")
        if not items:
            raise InputError("none of the picks is known: " + "; ".join(result.unknown)
                             + ". Check the spelling, or pick artists and tracks that appear in the playlists")

        picked = np.unique(np.asarray(items, dtype=np.int64))
        listener = fold_in(self.model.factors, picked, self.model.params["alpha"],
                           self.model.params["regularization"], self._gram)
        excluded = set(picked.tolist())
        width = min(len(self.model.index), n + len(excluded) + (5 * n if exclude_picked_artists else 0))
        ids, scores = self.model.index.query(listener[None, :], width)
        for item, score in zip(ids[0], scores[0]):
            if item < 0 or int(item) in excluded:
                continue
            if exclude_picked_artists and self.model.track_artist[item] in picked_artists:
                continue
            result.recommendations.append(Recommendation(self.model.tracks.ids[item], float(score),
                                                         bool(self.model.content_based[item]),
                                                         self._explain(int(item), picked, via_tags)))
            if len(result.recommendations) == n:
                break
        return result

    def _artist_tracks(self, rows: list[int]) -> list[int]:
        candidates = np.flatnonzero(np.isin(self.model.track_artist, rows) & (self.model.popularity > 0))
        order = np.lexsort((candidates, -self.model.popularity[candidates]))
        return candidates[order][: self.tracks_per_artist * len(rows)].tolist()

    def _tag_neighbours(self, name: str) -> list[int]:
        """Return catalogue artist rows whose tags are closest to a HetRec artist's, or [] without tags."""
        model = self.model
        row = self._tag_rows.get(normalise_artist(name))
        if row is None or model.artist_tag_row is None:
            return []
        similarity = model.tags.similarity([row])[0]
        linked = np.flatnonzero(model.artist_tag_row >= 0)
        playable = np.unique(model.track_artist[(model.popularity > 0) & (model.track_artist >= 0)])
        linked = linked[np.isin(linked, playable)]
        scores = similarity[model.artist_tag_row[linked]]
        order = np.argsort(-scores, kind="stable")
        return [int(linked[i]) for i in order[: self.tag_neighbours] if scores[i] > 0]

    def _explain(self, item: int, picked: np.ndarray, via_tags: dict[int, str]) -> str:
        """Say why a track is recommended: the pick whose factors are most like the track's."""
        model = self.model
        unit = model.factors[picked] / np.maximum(np.linalg.norm(model.factors[picked], axis=1, keepdims=True), 1e-12)
        target = model.factors[item] / max(float(np.linalg.norm(model.factors[item])), 1e-12)
        closest = int(picked[int(np.argmax(unit @ target))])
        artist_row = model.track_artist[closest]
        pick = model.artist_names[artist_row] if artist_row >= 0 else model.tracks.ids[closest]
        if artist_row in via_tags:
            pick = f"{pick} (tag match for {via_tags[artist_row]})"
        if model.content_based[item]:
            return f"content-based: in no playlist yet; its audio features place it near {pick}"
        return f"collaborative: playlists place it near {pick}"
