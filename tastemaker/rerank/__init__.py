"""Re-rankers that trade a model's order for calibration, diversity, artist fairness or less popularity bias.

Every product produces (k, M) candidate ids and scores, so any of them can
pass its lists through ``Reranker.rerank_batch``. ``build_reranker`` makes a
re-ranker from a name and the side information it needs, and
``parse_rerank_spec`` reads the ``NAME:STRENGTH`` form the CLI takes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from .base import Reranker
from .calibration import CalibrationReranker
from .fairness import ArtistFairnessReranker
from .mmr import MMRReranker
from .popularity import PopularityReranker

RERANKERS: dict[str, type[Reranker]] = {
    cls.name: cls for cls in (CalibrationReranker, MMRReranker, ArtistFairnessReranker, PopularityReranker)
}


@dataclass
class RerankContext:
    """Side information the re-rankers draw on, aligned to the track axis (n_items).

    Attributes
    ----------
    track_artist : ndarray of int64 or None
        Artist index per track, -1 when unknown (fairness, and MMR without vectors).
    popularity : ndarray or None
        Training rows containing each track (popularity de-biasing).
    item_vectors : ndarray, shape (n_items, d), or None
        Track embedding for MMR similarity.
    item_categories : scipy.sparse.csr_matrix or None
        Category distribution per track (calibration).
    """

    track_artist: np.ndarray | None = None
    popularity: np.ndarray | None = None
    item_vectors: np.ndarray | None = None
    item_categories: sp.csr_matrix | None = None


def build_reranker(name: str, context: RerankContext) -> Reranker:
    """Make the re-ranker called ``name`` from the side information it needs."""
    if name not in RERANKERS:
        raise InputError(f"unknown re-ranker {name!r}; choose one of: {', '.join(RERANKERS)}")
    needs = {"calibration": "item_categories", "fairness": "track_artist", "popularity": "popularity"}
    if name in needs and getattr(context, needs[name]) is None:
        raise InputError(f"re-ranker {name!r} needs {needs[name]}, which this data does not provide")
    if name == "calibration":
        return CalibrationReranker(context.item_categories)
    if name == "fairness":
        return ArtistFairnessReranker(context.track_artist)
    if name == "popularity":
        return PopularityReranker(context.popularity)
    return MMRReranker(item_vectors=context.item_vectors, track_artist=context.track_artist)


def parse_rerank_spec(spec: str) -> tuple[str, float]:
    """Read ``NAME:STRENGTH`` (for example ``mmr:0.3``) into a re-ranker name and a strength in [0, 1]."""
    name, sep, raw = spec.partition(":")
    if not sep:
        raise InputError(f"invalid re-ranker {spec!r}: expected NAME:STRENGTH, for example mmr:0.3")
    if name not in RERANKERS:
        raise InputError(f"invalid re-ranker {spec!r}: unknown name {name!r}; choose one of: {', '.join(RERANKERS)}")
    try:
        strength = float(raw)
    except ValueError:
        raise InputError(f"invalid re-ranker {spec!r}: strength {raw!r} is not a number from 0 to 1") from None
    if not 0 <= strength <= 1:
        raise InputError(f"invalid re-ranker {spec!r}: strength {raw} is outside 0 to 1; "
                         f"use for example {name}:0.3")
    return name, strength


__all__ = ["RERANKERS", "ArtistFairnessReranker", "CalibrationReranker", "MMRReranker", "PopularityReranker",
           "RerankContext", "Reranker", "build_reranker", "parse_rerank_spec"]
