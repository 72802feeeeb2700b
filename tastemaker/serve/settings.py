"""Settings of the HTTP service, shared by ``tastemaker serve`` and ``create_app``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

API_KEY_ENV = "TASTEMAKER_API_KEY"
BUNDLE_KINDS = ("playlist", "listening")
FEEDBACK_DIR = "feedback"
FEEDBACK_FILE = "events.jsonl"


@dataclass(frozen=True)
class ServeSettings:
    """The service's data directory, bundle, API key and limits.

    Attributes
    ----------
    data_dir : Path
        The data directory: store, bundles, reports and the feedback log.
    bundle_kind : str
        ``playlist`` serves ``<data dir>/bundles/current`` (from ``tastemaker train``),
        ``listening`` serves ``<data dir>/listening/bundles/current``.
    model : str or None
        Model of the bundle that scores tracks; None for the bundle's default model.
    api_key : str or None
        Key that writing endpoints require; None leaves them open.
    max_body_bytes : int
        Largest request body accepted; larger bodies get 413.
    max_n : int
        Largest number of tracks a request may ask for.
    poll_seconds : float
        How often the registry checks whether another bundle became current; 0 turns polling off.
    cache_size : int
        Results and listeners kept per bundle (least recently used first out); 0 turns caching off.
    compute_slots : int
        Model computations that may run at once; the rest wait.
    bare_endpoint : bool
        Add ``GET /v1/bare``, which returns a constant list, as the load test's baseline.
    """

    data_dir: Path
    bundle_kind: str = "playlist"
    model: str | None = None
    api_key: str | None = None
    max_body_bytes: int = 64 * 1024
    max_n: int = 500
    poll_seconds: float = 5.0
    cache_size: int = 10_000
    compute_slots: int = 0
    bare_endpoint: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if self.bundle_kind not in BUNDLE_KINDS:
            raise InputError(f"bundle kind must be one of {', '.join(BUNDLE_KINDS)}, got {self.bundle_kind!r}")
        if self.api_key is not None and not self.api_key.strip():
            raise InputError(f"the API key is empty; give a non-empty key, or leave {API_KEY_ENV} unset to run "
                             "without one")
        for name, minimum in (("max_body_bytes", 1024), ("max_n", 1), ("cache_size", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InputError(f"serve setting {name} must be an integer of at least {minimum}, got {value!r}")
        if not self.poll_seconds >= 0:
            raise InputError(f"serve setting poll_seconds must be a number of seconds >= 0, got {self.poll_seconds!r}")
        if self.compute_slots <= 0:
            object.__setattr__(self, "compute_slots", max(1, os.cpu_count() or 1))

    @property
    def feedback_path(self) -> Path:
        return self.data_dir / FEEDBACK_DIR / FEEDBACK_FILE

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"
