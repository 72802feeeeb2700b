"""A small track space and listeners for the product tests: ALS fitted on generated listening histories.

The data is generated (tastemaker.generate_listening), not real. The model
is a real ALS fit, so the products run on the vectors and scores they get
in use.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa

from tastemaker.generate_listening import GeneratedListening, generate_listening
from tastemaker.models import ALSRecommender
from tastemaker.products.listener import Listener, playlist_listener, plays_listener
from tastemaker.products.space import TrackSpace, build_space
from tastemaker.signals.confidence import ConfidenceParams, event_user_items

N_USERS = 40


@lru_cache(maxsize=1)
def generated() -> GeneratedListening:
    return generate_listening(n_users=N_USERS, n_tracks=600, n_artists=60, sessions_per_user=15, seed=3)


@lru_cache(maxsize=1)
def events() -> pa.Table:
    return generated().events_table()


@lru_cache(maxsize=1)
def space() -> TrackSpace:
    """The space of an ALS (16 factors) fitted on every generated play, with the generator's names."""
    data = generated()
    user_items = event_user_items(events(), ConfidenceParams(), "confidence")
    model = ALSRecommender(factors=16, iterations=8, alpha=1.0, random_state=0, num_threads=1)
    model.fit(user_items.matrix)
    position = {uri: i for i, uri in enumerate(data.track_uris.tolist())}
    rows = np.array([position[uri] for uri in user_items.items.ids])
    artists = data.artist_names[data.track_artist[rows]].tolist()
    # Tracks appear in the store on one of 60 days, so first-seen dates differ.
    first_seen = np.datetime64("2024-01-01", "us") + (rows % 60).astype("timedelta64[D]")
    return build_space(user_items.items, model, np.asarray(model.track_factors), artists,
                       data.track_names[rows].tolist(), first_seen, kind="listening",
                       confidence=ConfidenceParams())


def user_events(user: int) -> pa.Table:
    table = events()
    return table.filter(pa.compute.equal(table.column("user_id"), user + 1))


@lru_cache(maxsize=N_USERS)
def plays_user(user: int) -> Listener:
    return plays_listener(space(), user_events(user), f"user:{user + 1}", generated().user_names[user])


def playlist_user(tracks: list[str], key: str = "playlist:1") -> Listener:
    return playlist_listener(space(), tracks, key, "a test playlist")
