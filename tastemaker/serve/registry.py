"""The model registry: the bundle in service, loaded in the background and swapped in atomically.

Everything a request needs from one bundle sits in one ``Served`` object:
the bundle, its track space, the catalogue, the population for "listeners
like you", the home-page bandits and the caches built on them. A request
takes ``registry.current()`` once and uses only that object, so no response
combines parts of two bundles. A new bundle is loaded completely on the
registry's thread while the old one keeps serving. Then one reference
assignment swaps it in. A bundle that fails to load is logged with the
error and the old one keeps serving. The failed bundle is tried again a
minute later, or at once on an explicit reload.

The store is opened read-only and only while something is read, so that
`tastemaker ingest` and `tastemaker train` can run beside the service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ..bundle import Bundle, current_bundle_path, load_bundle
from ..errors import BundleError, StoreError, TastemakerError
from ..models.skip import SkipModel
from ..products.home import HomeModels, fit_models
from ..products.shelves import Population
from ..products.space import LISTENING_DIR, TrackSpace, space_from_bundle
from ..store import Store
from ..store.bandit import logged_rows
from ..store.products import catalogue_tracks
from .settings import ServeSettings

log = logging.getLogger(__name__)

SAMPLE_USERS = 12
SKIP_MODEL_DIR = "skip-model"
RETRY_FAILED_SECONDS = 60


class NoBundle(TastemakerError):
    """No bundle has loaded yet, so nothing can be recommended."""


class StoreBusy(TastemakerError):
    """The store is locked by a process that writes to it."""


class LRUCache:
    """A thread-safe mapping that keeps the ``size`` most recently used entries; size 0 keeps none."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
            return None

    def put(self, key, value) -> None:
        if self.size == 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


@dataclass
class Served:
    """One loaded bundle with everything built from it; replaced whole, never changed in parts."""

    name: str
    kind: str
    bundle: Bundle
    space: TrackSpace
    catalogue: pa.Table
    population: Population | None
    home_models: HomeModels
    sample_users: list[str]
    skip_model: SkipModel | None
    loaded_at: datetime
    load_seconds: float
    histories: LRUCache = field(default_factory=lambda: LRUCache(0))
    listeners: LRUCache = field(default_factory=lambda: LRUCache(0))
    results: LRUCache = field(default_factory=lambda: LRUCache(0))

    @property
    def model_name(self) -> str:
        return self.space.model_name


@dataclass
class LoadFailure:
    bundle: str
    error: str
    at: datetime


class ModelRegistry:
    """Holds the served bundle, polls ``bundles/current`` and swaps in the bundle it names."""

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self._current: Served | None = None
        self._load_lock = threading.Lock()
        self._store_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_failure: LoadFailure | None = None
        self.loads = 0
        self.failures = 0

    # The bundle in service

    @property
    def bundle_root(self) -> Path:
        data_dir = self.settings.data_dir
        return data_dir if self.settings.bundle_kind == "playlist" else data_dir / LISTENING_DIR

    def current(self) -> Served:
        """Return the served bundle; raise NoBundle before one has loaded."""
        served = self._current
        if served is None:
            reason = f" (last failure: {self.last_failure.bundle}: {self.last_failure.error})" \
                if self.last_failure else ""
            raise NoBundle(f"no bundle is loaded from {self.bundle_root / 'bundles'}{reason}; train one with "
                           "`tastemaker train`, and the service loads it within its poll interval")
        return served

    def peek(self) -> Served | None:
        return self._current

    # Start, stop and polling

    def start(self) -> None:
        """Load the current bundle now (a failure is logged and retried by polling), then start polling."""
        self.check()
        if self.settings.poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll, name="bundle-registry", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _poll(self) -> None:
        while not self._stop.wait(self.settings.poll_seconds):
            try:
                self.check()
            except Exception:  # noqa: BLE001  (the poller must survive any error; it is logged)
                log.exception("bundle registry: checking %s failed", self.bundle_root / "bundles" / "current")

    def check(self, force: bool = False) -> bool:
        """Load the bundle that ``current`` names if it is not the one served; return whether a swap happened.

        A bundle that failed is tried again after RETRY_FAILED_SECONDS (the
        store may have been locked by an ingest), or at once with ``force``.
        """
        with self._load_lock:
            try:
                path = current_bundle_path(self.bundle_root)
            except BundleError as exc:
                if self.last_failure is None or self.last_failure.error != str(exc):
                    log.warning("bundle registry: %s", exc)
                    self.last_failure = LoadFailure("current", str(exc), datetime.now(timezone.utc))
                return False
            served = self._current
            if served is not None and served.name == path.name:
                return False
            failure = self.last_failure
            if not force and failure is not None and failure.bundle == path.name and \
                    (datetime.now(timezone.utc) - failure.at).total_seconds() < RETRY_FAILED_SECONDS:
                return False
            return self._load(path)

    def _load(self, path: Path) -> bool:
        previous = self._current
        started = time.perf_counter()
        log.info("bundle registry: loading %s", path)
        try:
            served = self.load_served(path)
        except Exception as exc:  # noqa: BLE001  (any failure keeps the old bundle; it is logged with its cause)
            self.failures += 1
            self.last_failure = LoadFailure(path.name, f"{type(exc).__name__}: {exc}", datetime.now(timezone.utc))
            keeping = f"still serving {previous.name}" if previous else "no bundle is served"
            if isinstance(exc, (TastemakerError, OSError, duckdb.Error)):
                log.error("bundle registry: %s failed to load, %s: %s", path.name, keeping, exc)
            else:
                log.exception("bundle registry: %s failed to load, %s", path.name, keeping)
            return False
        self._current = served
        self.loads += 1
        self.last_failure = None
        log.info("bundle registry: now serving %s (model %s, %d tracks), loaded in %.1f s%s", served.name,
                 served.model_name, len(served.space), time.perf_counter() - started,
                 f", replacing {previous.name}" if previous else "")
        return True

    def load_served(self, path: Path) -> Served:
        """Load a bundle and build everything the requests need from it."""
        started = time.perf_counter()
        bundle = load_bundle(path)
        kind = self.settings.bundle_kind
        with self.read_store() as store:
            space = space_from_bundle(bundle, store, kind, self.settings.model)
            catalogue = catalogue_tracks(store)
            population = Population.from_store(store, space)
            home_models = HomeModels()
            if store.has_table("bandit_log"):
                home_models = fit_models(logged_rows(store, "shelf"), logged_rows(store, "card"))
            sample_users = _sample_users(store, space)
        size = self.settings.cache_size
        return Served(path.name, kind, bundle, space, catalogue, population, home_models, sample_users,
                      self._skip_model(), datetime.now(timezone.utc), time.perf_counter() - started,
                      histories=LRUCache(size), listeners=LRUCache(size), results=LRUCache(size))

    def _skip_model(self) -> SkipModel | None:
        """Return the skip model that `tastemaker train-skip` saved, for Radio; None when it is absent or unreadable."""
        folder = self.settings.data_dir / SKIP_MODEL_DIR
        if not (folder / "skip_model.json").is_file():
            return None
        try:
            return SkipModel.load(folder)
        except TastemakerError as exc:
            log.error("bundle registry: the skip model in %s cannot be loaded, Radio runs without it: %s", folder, exc)
            return None

    # The store

    @contextmanager
    def read_store(self):
        """Open the store read-only for one read; raise StoreBusy while another process writes to it."""
        with self._store_lock:
            try:
                store = Store.open(self.settings.data_dir, read_only=True)
            except StoreError as exc:
                if "lock" in str(exc).lower():
                    raise StoreBusy(f"the store in {self.settings.data_dir} is locked by a process that writes to "
                                    "it (an ingest, for example); retry when it has finished") from exc
                raise
            try:
                yield store
            finally:
                store.close()


def _sample_users(store: Store, space: TrackSpace) -> list[str]:
    """Return a few users to offer on the web page: the longest stored playlists, for a playlist space.

    Listening users are stored under a hash of their name, so none can be offered.
    """
    if space.kind != "playlist":
        return []
    rows = store.connection.execute(
        "SELECT pid FROM playlists ORDER BY num_tracks DESC, pid LIMIT ?", [SAMPLE_USERS]).fetchall()
    return [f"playlist:{pid}" for (pid,) in rows]
