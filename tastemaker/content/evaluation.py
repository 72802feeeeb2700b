"""Measuring onboarding: are the artists it recommends closer to the picks than popular artists are?

Closeness is artist co-occurrence in playlists: the cosine
``c_ab / sqrt(c_aa * c_bb)``, where ``c_ab`` counts the playlists with
tracks by both artists. A list's closeness to three liked artists is the
mean, over the list's tracks whose artist is known, of the mean cosine of the
track's artist to the three. Tracks by the liked artists themselves are
left out of both lists, since an artist is trivially close to itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .model import ContentModel
from .onboarding import Onboarder


@dataclass
class OnboardingEvaluation:
    triples: int
    n: int
    onboarding_closeness: float
    popularity_closeness: float
    onboarding_wins: int  # triples whose onboarding list is closer than popularity's
    content_based_share: float  # share of recommended tracks that are content-based


def playlist_artist_matrix(rows: np.ndarray, items: np.ndarray, track_artist: np.ndarray, n_artists: int
                           ) -> sp.csr_matrix:
    """Return the binary playlists-by-artists matrix of (playlist row, track) pairs; unknown artists are dropped."""
    artist = track_artist[items]
    known = artist >= 0
    matrix = sp.csr_matrix((np.ones(int(known.sum()), dtype=np.float32), (rows[known], artist[known])),
                           shape=(int(rows.max()) + 1 if len(rows) else 0, n_artists))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def closeness_to(playlist_artists: sp.csr_matrix, triple: list[int]) -> np.ndarray:
    """Return the mean co-occurrence cosine of every artist to the artists of ``triple``, shape (n_artists,)."""
    by_artist = playlist_artists.T.tocsr()
    counts = np.asarray(by_artist.sum(axis=1)).ravel()
    together = np.asarray((by_artist[triple] @ playlist_artists).todense())
    cosine = together / np.sqrt(np.maximum(np.outer(counts[triple], counts), 1.0))
    return cosine.mean(axis=0)


def evaluate_onboarding(model: ContentModel, playlist_artists: sp.csr_matrix, triples: list[list[int]],
                        n: int = 50) -> OnboardingEvaluation:
    """Compare onboarding lists with the most popular tracks for each triple of liked artist rows."""
    onboarder = Onboarder(model)
    popular_order = np.lexsort((np.arange(len(model.popularity)), -model.popularity))
    popular_order = popular_order[model.popularity[popular_order] > 0]
    ours, theirs, wins, content_based, total = [], [], 0, 0, 0
    for triple in triples:
        closeness = closeness_to(playlist_artists, triple)
        names = [model.artist_names[a] for a in triple]
        result = onboarder.recommend(artists=names, n=n, exclude_picked_artists=True)
        recommended = [model.tracks.get(r.track_uri) for r in result.recommendations]
        content_based += sum(r.content_based for r in result.recommendations)
        total += len(recommended)
        popular = popular_order[~np.isin(model.track_artist[popular_order], triple)][:n]
        mine, baseline = _list_closeness(model, closeness, recommended), _list_closeness(model, closeness, popular)
        ours.append(mine)
        theirs.append(baseline)
        wins += mine > baseline
    return OnboardingEvaluation(len(triples), n, float(np.mean(ours)), float(np.mean(theirs)), int(wins),
                                content_based / total if total else 0.0)


def _list_closeness(model: ContentModel, closeness: np.ndarray, items) -> float:
    artists = model.track_artist[np.asarray(items, dtype=np.int64)]
    artists = artists[artists >= 0]
    return float(closeness[artists].mean()) if len(artists) else 0.0
