"""The result every product returns: ordered track ids with scores, sources, explanations and a fallback flag.

A result is plain data, so the CLI prints it and an HTTP API can return
``to_dict()`` as JSON. An empty ``track_ids`` with ``fallback`` set means
the product had nothing to offer for a stated reason; a failure raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class ProductResult:
    """One product's list for one listener.

    Attributes
    ----------
    product : str
        Which product made the list, for example ``discover-weekly``.
    title : str
        The list's name as shown to the listener, for example ``Daily Mix 2``.
    track_ids : list of str
        Track URIs, best first (for Smart Shuffle, in play order).
    scores : list of float
        Per track, the score the product ranked by; NaN where none applies.
    sources : list of str
        Per track, where it came from (``model``, ``familiar``, ``playlist``, ...).
    explanations : list of str
        Per track, why it is in the list, in words.
    fallback : str or None
        Why the list is not what the product normally makes (a cold user, an
        empty seed), or None.
    details : dict
        Product-specific facts, such as the ISO week or the mix's artists.
    """

    product: str
    title: str
    track_ids: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    explanations: list[str] = field(default_factory=list)
    fallback: str | None = None
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        lengths = {len(self.track_ids), len(self.scores), len(self.sources), len(self.explanations)}
        if len(lengths) != 1:
            raise ValueError(f"track_ids, scores, sources and explanations must have one length, got "
                             f"{len(self.track_ids)}, {len(self.scores)}, {len(self.sources)} and "
                             f"{len(self.explanations)}")

    def __len__(self) -> int:
        return len(self.track_ids)

    def append(self, track_id: str, score: float, source: str, explanation: str) -> None:
        self.track_ids.append(track_id)
        self.scores.append(float(score))
        self.sources.append(source)
        self.explanations.append(explanation)

    def to_dict(self) -> dict:
        """Return the result as JSON-ready data; NaN scores become None."""
        items = [
            {"track_id": track, "score": None if math.isnan(score) else score, "source": source,
             "explanation": explanation}
            for track, score, source, explanation in zip(self.track_ids, self.scores, self.sources,
                                                          self.explanations)
        ]
        return {"product": self.product, "title": self.title, "fallback": self.fallback, "details": self.details,
                "items": items}
