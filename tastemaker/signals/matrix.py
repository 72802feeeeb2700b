"""Interaction matrices built from the store."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .idmap import IdMap


@dataclass
class PlaylistTracks:
    """A binary playlist-by-track CSR matrix with id maps for both axes."""

    matrix: sp.csr_matrix
    playlists: IdMap
    tracks: IdMap

    @classmethod
    def from_pairs(cls, pids: np.ndarray, track_uris: np.ndarray) -> "PlaylistTracks":
        """Build the matrix from parallel arrays of playlist ids and track URIs.

        Rows follow ascending pid and columns ascending URI, so the same pairs
        always give the same matrix. Repeated pairs count once.
        """
        playlist_ids, rows = np.unique(np.asarray(pids), return_inverse=True)
        track_ids, columns = np.unique(np.asarray(track_uris, dtype=object).astype(str), return_inverse=True)
        matrix = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, columns)),
            shape=(len(playlist_ids), len(track_ids)),
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return cls(matrix, IdMap(str(p) for p in playlist_ids), IdMap(track_ids.tolist()))

    def rows_for(self, track_lists: list[list[str]]) -> tuple[sp.csr_matrix, list[list[str]]]:
        """Build one binary row per list of track URIs; unknown URIs are returned per row."""
        indptr, indices, unknown = [0], [], []
        for uris in track_lists:
            known, missing = self.tracks.indices(uris)
            known = np.unique(known)
            indices.extend(known.tolist())
            indptr.append(len(indices))
            unknown.append(missing)
        data = np.ones(len(indices), dtype=np.float32)
        rows = sp.csr_matrix((data, np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
                             shape=(len(track_lists), len(self.tracks)))
        return rows, unknown
