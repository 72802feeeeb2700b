"""Track metadata from the store, aligned to a matrix's track axis on demand."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .audio import audio_feature_matrix
from .context import TrainingContext
from .cooccurrence import track_artist_index
from .matrix import PlaylistTracks


@dataclass
class Catalogue:
    """Artist keys and audio features of the stored tracks.

    Attributes
    ----------
    track_artists : pyarrow.Table or None
        Columns ``track_uri``, ``artist`` (artist URI, else ``name:`` and the
        artist name) and optionally ``album``, as from ``Store.track_artists()``.
    audio : pyarrow.Table or None
        Stored audio features, as from ``read_audio_features``; None or empty
        when none are stored.
    """

    track_artists: pa.Table | None = None
    audio: pa.Table | None = None

    def context(self, data: PlaylistTracks, names: dict[int, str | None]) -> TrainingContext:
        """Align titles, artists and audio features to the rows and columns of ``data``."""
        titles = [names.get(int(pid)) for pid in data.playlists.ids]
        track_artist = np.full(len(data.tracks), -1, dtype=np.int64)
        track_album = np.full(len(data.tracks), -1, dtype=np.int64)
        if self.track_artists is not None:
            uris = self.track_artists.column("track_uri").to_pylist()
            track_artist, _ = track_artist_index(data.tracks, uris, self.track_artists.column("artist").to_pylist())
            if "album" in self.track_artists.column_names:
                track_album, _ = track_artist_index(data.tracks, uris, self.track_artists.column("album").to_pylist())
        audio = None
        if self.audio is not None and self.audio.num_rows:
            audio = audio_feature_matrix(data.tracks, self.audio)
            if not audio.has_features.any():
                audio = None
        return TrainingContext(titles, track_artist, audio, track_album)
