"""A learned mapping from content features to collaborative-filtering track factors.

In the spirit of van den Oord, Dieleman and Schrauwen (2013, "Deep
content-based music recommendation"), a regression model predicts the ALS
factors of a track from its content, so a track nobody has played gets
factors, can be scored against any listener's factors and can enter the same
nearest-neighbour index. The paper regresses from spectrograms with a
convolutional network; here the inputs are tabular features (Spotify audio
features or the librosa features of :mod:`tastemaker.content.features`), so
the models are ones that suit tables:

* ``lightgbm`` (the default): one gradient-boosted regressor per principal
  component of the training factors. The top ``components`` components
  carry most of the factors' variance, so this needs far fewer models than
  one per factor.
* ``ridge``: linear least squares with an L2 penalty, from standardised
  features straight to all factors.
* ``knn``: the mean factors of the ``neighbours`` training tracks whose
  standardised features are nearest (Euclidean).

The dot-product ranking of ALS favours tracks with long factor vectors,
which are the often-played ones. A model that shrinks its predictions
towards the mean factor vector (as ridge does when the features explain
little) gives cold tracks short vectors that never reach a listener's top
list; the cold-track protocol in :mod:`tastemaker.content.coldstart` shows
each mapper's effect.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import InputError, ModelError

log = logging.getLogger(__name__)

MAPPERS = ("lightgbm", "ridge", "knn")
MIN_TRAINING_TRACKS = 20


class ContentMapper:
    """Predicts track factors from content features; see the module docstring for the kinds.

    Parameters
    ----------
    kind : {"lightgbm", "ridge", "knn"}
    components : int
        Principal components of the factors that ``lightgbm`` predicts.
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM settings
        On the MPD sample's cold-track protocol (seeds 0 and 2), 300 trees of
        31 leaves at rate 0.03 recovered 1.8 times as many cold tracks as
        100 trees of 15 leaves at rate 0.05.
    alpha : float
        Ridge penalty.
    neighbours : int
        Neighbours averaged by ``knn``.
    seed : int
    """

    def __init__(self, kind: str = "lightgbm", components: int = 32, n_estimators: int = 300,
                 learning_rate: float = 0.03, num_leaves: int = 31, min_child_samples: int = 20,
                 alpha: float = 10.0, neighbours: int = 20, seed: int = 0):
        if kind not in MAPPERS:
            raise InputError(f"unknown content mapper {kind!r}; choose one of: {', '.join(MAPPERS)}")
        self.params = {"kind": kind, "components": components, "n_estimators": n_estimators,
                       "learning_rate": learning_rate, "num_leaves": num_leaves,
                       "min_child_samples": min_child_samples, "alpha": alpha, "neighbours": neighbours,
                       "seed": seed}
        self.feature_mean_: np.ndarray | None = None
        self.feature_std_: np.ndarray | None = None
        self.report_: dict = {}
        self._predict = None

    @property
    def kind(self) -> str:
        return self.params["kind"]

    def fit(self, features: np.ndarray, factors: np.ndarray) -> "ContentMapper":
        """Learn the mapping from (n, d) content features to (n, k) factors of the same n tracks."""
        features = np.asarray(features, dtype=np.float64)
        factors = np.asarray(factors, dtype=np.float64)
        if features.ndim != 2 or factors.ndim != 2 or len(features) != len(factors):
            raise InputError(f"features and factors must be 2-D with one row per track, got shapes "
                             f"{features.shape} and {factors.shape}")
        if len(features) < MIN_TRAINING_TRACKS:
            raise InputError(f"the content mapping needs at least {MIN_TRAINING_TRACKS} tracks that have both "
                             f"content features and factors, got {len(features)}; ingest more audio features "
                             "of tracks that are in playlists")
        if not np.all(np.isfinite(features)):
            raise InputError("content features contain NaN or infinite values; re-ingest the affected tracks")
        self.feature_mean_ = features.mean(axis=0)
        std = features.std(axis=0)
        std[std == 0] = 1.0
        self.feature_std_ = std
        standardised = self._standardise(features)
        fit = {"lightgbm": self._fit_lightgbm, "ridge": self._fit_ridge, "knn": self._fit_knn}[self.kind]
        fit(standardised, factors)
        self.report_["training_tracks"] = int(len(features))
        # knn finds every training track as its own neighbour, so its
        # training fit measures nothing and is not reported.
        if self.kind != "knn":
            self.report_["training_r2"] = round(_r2(factors, self._predict(standardised)), 4)
        log.info("content mapper %s fitted on %d tracks", self.kind, len(features))
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Return (m, k) float32 factors for (m, d) content features."""
        if self._predict is None:
            raise ModelError("the content mapper is not fitted: call fit() first")
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != len(self.feature_mean_):
            raise InputError(f"expected features with {len(self.feature_mean_)} columns, got shape {features.shape}")
        if len(features) == 0:
            return np.zeros((0, self._n_factors), dtype=np.float32)
        return self._predict(self._standardise(features)).astype(np.float32)

    def _standardise(self, features: np.ndarray) -> np.ndarray:
        return (features - self.feature_mean_) / self.feature_std_

    def _fit_lightgbm(self, features: np.ndarray, factors: np.ndarray) -> None:
        import lightgbm

        p = self.params
        mean = factors.mean(axis=0)
        _, singular, basis = np.linalg.svd(factors - mean, full_matrices=False)
        count = max(1, min(p["components"], basis.shape[0]))
        basis = basis[:count]
        targets = (factors - mean) @ basis.T
        self.report_["explained_variance"] = round(float((singular[:count] ** 2).sum() / max((singular**2).sum(),
                                                                                             1e-12)), 4)
        models = []
        # One thread per model: on busy shared cores LightGBM's OpenMP threads
        # wait for each other, and 16 models on 863 tracks took 38 s with all
        # threads against 2.6 s with one (2 cores under other load).
        for component in range(count):
            model = lightgbm.LGBMRegressor(
                n_estimators=p["n_estimators"], learning_rate=p["learning_rate"], num_leaves=p["num_leaves"],
                min_child_samples=p["min_child_samples"], random_state=p["seed"], deterministic=True,
                force_col_wise=True, n_jobs=1, verbose=-1)
            model.fit(features, targets[:, component])
            models.append(model)
        self._n_factors = factors.shape[1]

        def predict(x: np.ndarray) -> np.ndarray:
            scores = np.column_stack([m.predict(x) for m in models])
            return mean + scores @ basis

        self._predict = predict

    def _fit_ridge(self, features: np.ndarray, factors: np.ndarray) -> None:
        from sklearn.linear_model import Ridge

        model = Ridge(alpha=self.params["alpha"]).fit(features, factors)
        self._n_factors = factors.shape[1]
        self._predict = model.predict

    def _fit_knn(self, features: np.ndarray, factors: np.ndarray) -> None:
        from sklearn.neighbors import NearestNeighbors

        count = min(self.params["neighbours"], len(features))
        index = NearestNeighbors(n_neighbors=count).fit(features)
        self._n_factors = factors.shape[1]

        def predict(x: np.ndarray) -> np.ndarray:
            _, neighbours = index.kneighbors(x)
            return factors[neighbours].mean(axis=1)

        self._predict = predict


def _r2(truth: np.ndarray, predicted: np.ndarray) -> float:
    residual = ((truth - predicted) ** 2).sum()
    total = ((truth - truth.mean(axis=0)) ** 2).sum()
    return float(1.0 - residual / total) if total > 0 else 0.0
