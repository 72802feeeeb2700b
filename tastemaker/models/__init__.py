"""Recommenders behind one protocol, and the registry that names them."""

from __future__ import annotations

from ..errors import InputError
from .base import Recommender
from .cooccurrence import CooccurrenceRecommender
from .ease import EASERecommender
from .implicit_models import ALSRecommender, BPRRecommender, ItemKNNRecommender
from .item2vec import Item2VecRecommender
from .playlist_knn import PlaylistKNNRecommender
from .popularity import PopularityRecommender
from .two_stage import TwoStageRecommender

MODELS: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (PopularityRecommender, ALSRecommender, BPRRecommender, ItemKNNRecommender, EASERecommender,
                Item2VecRecommender, CooccurrenceRecommender, PlaylistKNNRecommender, TwoStageRecommender)
}


def model_class(name: str) -> type[Recommender]:
    """Return the recommender class registered as ``name``."""
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


__all__ = ["MODELS", "Recommender", "model_class", "ALSRecommender", "BPRRecommender", "CooccurrenceRecommender",
           "EASERecommender", "Item2VecRecommender", "ItemKNNRecommender", "PlaylistKNNRecommender", "PopularityRecommender",
           "TwoStageRecommender"]
