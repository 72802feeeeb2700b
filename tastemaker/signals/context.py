"""Side information about the rows and tracks of a training matrix: titles, artists, audio features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .audio import AudioFeatureMatrix


@dataclass
class TrainingContext:
    """Side information aligned to a playlist-by-track matrix.

    Attributes
    ----------
    titles : list of str or None, length n_rows
        Playlist titles of the matrix rows.
    track_artist : ndarray, shape (n_items,), int64
        Dense artist index of each track; -1 when unknown.
    audio : AudioFeatureMatrix or None
        Standardised audio features of the tracks, where any are stored.
    track_album : ndarray, shape (n_items,), int64, or None
        Dense album index of each track; -1 when unknown, None when no albums are known.
    """

    titles: list[str | None]
    track_artist: np.ndarray
    audio: AudioFeatureMatrix | None = None
    track_album: np.ndarray | None = None
