"""A generated music world: genres, artists, tracks and users with latent taste.

Genres are random unit directions in a latent space of ``factors`` dimensions.
Each artist belongs to one genre and sits near its direction; each track sits
near its artist. A user's taste lies near the mean of one to
``max_genres_per_user`` genre directions. A user's true preference for a track
is the cosine of taste and track vectors plus ``quality_weight`` times the
track's quality (its standardised log appeal), so some tracks are better for
everyone.

Appeal follows the real popularity curve of ``Calibration.tracks``: the
track at quantile p of the world gets the weight of the real track at
quantile p. Every artist has a track, and the other tracks join artists with
probability proportional to the artists' curve. Appeal ranks go
preferentially to the tracks of popular artists, as in real catalogues. Durations are log-normal with the fitted
parameters, clipped to 30 seconds to 15 minutes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError
from .fit import DEFAULT_CALIBRATION, Calibration

MIN_DURATION_MS = 30_000
MAX_DURATION_MS = 900_000


@dataclass(frozen=True)
class WorldParams:
    """Size and shape of a generated world; every random draw follows ``seed``."""

    n_users: int = 1000
    n_tracks: int = 5000
    n_genres: int = 20
    factors: int = 16
    max_genres_per_user: int = 2
    taste_noise: float = 0.6
    artist_noise: float = 0.6
    track_noise: float = 0.4
    quality_weight: float = 0.15
    initial_plays: int = 20
    organic_temperature: float = 5.0
    seed: int = 0

    def validate(self) -> None:
        """Raise InputError naming the first parameter out of range."""
        positive = ("n_users", "n_tracks", "n_genres", "factors", "max_genres_per_user", "initial_plays")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"world parameter {name} must be a positive integer, got {value!r}")
        if self.n_users < 2:
            raise InputError(f"world parameter n_users must be at least 2 to compare users, got {self.n_users}")
        if self.initial_plays >= self.n_tracks:
            raise InputError(f"world parameter initial_plays ({self.initial_plays}) must be below n_tracks "
                             f"({self.n_tracks})")
        for name in ("taste_noise", "artist_noise", "track_noise", "quality_weight", "organic_temperature"):
            if getattr(self, name) < 0:
                raise InputError(f"world parameter {name} must be non-negative, got {getattr(self, name)}")


@dataclass
class World:
    """A generated world; arrays are indexed by dense user, track and artist indices.

    Attributes
    ----------
    user_taste : ndarray, shape (n_users, factors)
        Unit taste vectors.
    track_features : ndarray, shape (n_tracks, factors)
        Unit track vectors.
    track_artist, track_genre : ndarray of int64, shape (n_tracks,)
    appeal : ndarray, shape (n_tracks,)
        Intrinsic popularity weights, summing to 1.
    quality : ndarray, shape (n_tracks,)
        Standardised log appeal.
    durations_ms : ndarray, shape (n_tracks,)
    """

    params: WorldParams
    calibration: Calibration
    user_taste: np.ndarray
    track_features: np.ndarray
    track_artist: np.ndarray
    track_genre: np.ndarray
    n_artists: int
    appeal: np.ndarray
    quality: np.ndarray
    durations_ms: np.ndarray
    _utility: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_users(self) -> int:
        return self.user_taste.shape[0]

    @property
    def n_tracks(self) -> int:
        return self.track_features.shape[0]

    def utility_matrix(self) -> np.ndarray:
        """True preference of every user for every track, shape (n_users, n_tracks), float32; cached."""
        if self._utility is None:
            cosine = self.user_taste @ self.track_features.T
            self._utility = (cosine + self.params.quality_weight * self.quality[None, :]).astype(np.float32)
        return self._utility

    def utility(self, users: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """True preference of each (user, track) pair."""
        return self.utility_matrix()[np.asarray(users), np.asarray(tracks)].astype(np.float64)

    def describe(self) -> dict:
        return {"params": asdict(self.params), "n_artists": self.n_artists,
                "calibration": self.calibration.source,
                "mean_duration_s": float(self.durations_ms.mean() / 1000)}


def generate_world(params: WorldParams | None = None, calibration: Calibration = DEFAULT_CALIBRATION) -> World:
    """Generate a world from ``params`` and the real-data ``calibration``."""
    params = params or WorldParams()
    params.validate()
    rng = np.random.default_rng(params.seed)
    genres = _unit(rng.normal(size=(params.n_genres, params.factors)))

    # Artists: a genre each, a vector near it, and a weight from the real artist curve in random order.
    n_artists = max(1, int(round(params.n_tracks / calibration.tracks_per_artist)))
    artist_genre = rng.integers(0, params.n_genres, size=n_artists)
    artist_vectors = _unit(genres[artist_genre] + params.artist_noise * _noise(rng, n_artists, params.factors))
    artist_weight = rng.permutation(calibration.artists.weights(n_artists))

    # Every artist gets one track, so the mean tracks per artist matches the data; the other tracks
    # join artists in proportion to the artist weights.
    n_artists = min(n_artists, params.n_tracks)
    artist_genre, artist_vectors, artist_weight = artist_genre[:n_artists], artist_vectors[:n_artists], \
        artist_weight[:n_artists] / artist_weight[:n_artists].sum()
    extra = rng.choice(n_artists, size=params.n_tracks - n_artists, p=artist_weight)
    track_artist = rng.permutation(np.concatenate([np.arange(n_artists), extra]))
    track_features = _unit(artist_vectors[track_artist]
                           + params.track_noise * _noise(rng, params.n_tracks, params.factors))

    # Appeal ranks go to tracks ordered by their artist's log weight plus noise.
    order = np.argsort(-(np.log(artist_weight[track_artist]) + rng.normal(size=params.n_tracks)), kind="stable")
    appeal = np.empty(params.n_tracks)
    appeal[order] = calibration.tracks.weights(params.n_tracks)
    log_appeal = np.log(appeal)
    quality = (log_appeal - log_appeal.mean()) / max(log_appeal.std(), 1e-12)

    seconds = rng.lognormal(calibration.duration_log_mean, calibration.duration_log_sd, size=params.n_tracks)
    durations = np.clip(seconds * 1000, MIN_DURATION_MS, MAX_DURATION_MS).round()

    # Users: taste near the mean of one or more genre directions.
    taste = np.zeros((params.n_users, params.factors))
    counts = rng.integers(1, params.max_genres_per_user + 1, size=params.n_users)
    for user in range(params.n_users):
        taste[user] = genres[rng.choice(params.n_genres, size=counts[user], replace=False)].mean(axis=0)
    taste = _unit(taste + params.taste_noise * _noise(rng, params.n_users, params.factors))

    return World(params, calibration, taste, track_features, track_artist.astype(np.int64),
                 artist_genre[track_artist].astype(np.int64), n_artists, appeal, quality, durations)


def organic_history(world: World, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw each user's plays before any recommender: ``initial_plays`` distinct tracks per user.

    A track is drawn with probability proportional to appeal * exp(temperature * cosine),
    without replacement (Gumbel top-k). Returns parallel (users, tracks) arrays, users in order.
    """
    params = world.params
    cosine = world.user_taste @ world.track_features.T
    keys = np.log(world.appeal)[None, :] + params.organic_temperature * cosine + rng.gumbel(size=cosine.shape)
    picked = np.argpartition(-keys, params.initial_plays - 1, axis=1)[:, :params.initial_plays]
    users = np.repeat(np.arange(world.n_users), params.initial_plays)
    return users, np.sort(picked, axis=1).ravel()


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _noise(rng: np.random.Generator, rows: int, factors: int) -> np.ndarray:
    return rng.normal(size=(rows, factors)) / np.sqrt(factors)
