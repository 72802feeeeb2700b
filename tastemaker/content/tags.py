"""Artists described by their HetRec Last.fm tags, and artist similarity from those descriptions.

Each artist becomes a TF-IDF vector over tags: the term frequency is the
number of users who gave the artist the tag, damped as ``1 + log(users)``,
and the inverse document frequency is ``log(n_artists / artists with the
tag)``. Rows are L2-normalised, so the similarity of two artists is the
cosine of their vectors. Tags given by fewer than ``min_users`` users in all
are dropped as noise.

HetRec artists are linked to catalogue artists by normalised name (see
:func:`tastemaker.ingest.names.normalise_artist`), because HetRec has its
own integer artist ids and MPD playlists carry names or Spotify URIs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from ..errors import InputError
from ..ingest.names import normalise_artist


@dataclass
class ArtistTags:
    """Tag vectors of artists.

    Attributes
    ----------
    artists : list of str
        Artist ids (the store's artist URIs) of the rows.
    names : list of str or None
        Artist names of the rows.
    tags : list of str
        Tag of each column.
    vectors : csr_matrix, shape (n_artists, n_tags), float32
        L2-normalised TF-IDF rows.
    """

    artists: list[str]
    names: list[str | None]
    tags: list[str]
    vectors: sp.csr_matrix

    @classmethod
    def from_counts(cls, table: pa.Table, min_users: int = 2) -> "ArtistTags":
        """Build tag vectors from ``artist_uri``, ``name``, ``tag`` and ``users`` columns (``artist_tag_counts``)."""
        if table.num_rows == 0:
            raise InputError("the store has no artist tags; ingest the HetRec Last.fm folder first with "
                             "`tastemaker ingest hetrec PATH`")
        artist_column = table.column("artist_uri").to_pylist()
        tag_column = table.column("tag").to_pylist()
        users = np.asarray(table.column("users").to_numpy(zero_copy_only=False), dtype=np.float64)
        tag_totals: dict[str, float] = {}
        for tag, count in zip(tag_column, users):
            tag_totals[tag] = tag_totals.get(tag, 0.0) + count
        tags = sorted(t for t, total in tag_totals.items() if total >= min_users)
        tag_index = {t: i for i, t in enumerate(tags)}
        artists = sorted(set(artist_column))
        artist_index = {a: i for i, a in enumerate(artists)}
        names: list[str | None] = [None] * len(artists)
        for artist, name in zip(artist_column, table.column("name").to_pylist()):
            names[artist_index[artist]] = names[artist_index[artist]] or name
        keep = np.array([t in tag_index for t in tag_column], dtype=bool)
        rows = np.array([artist_index[a] for a in artist_column], dtype=np.int64)[keep]
        columns = np.array([tag_index[t] for t, k in zip(tag_column, keep) if k], dtype=np.int64)
        counts = sp.csr_matrix((1.0 + np.log(users[keep]), (rows, columns)), shape=(len(artists), len(tags)))
        document_frequency = np.asarray((counts > 0).sum(axis=0)).ravel()
        idf = np.log(len(artists) / np.maximum(document_frequency, 1))
        weighted = (counts @ sp.diags(idf)).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        vectors = (sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ weighted).tocsr().astype(np.float32)
        return cls(artists, names, tags, vectors)

    def similarity(self, rows: np.ndarray | list[int]) -> np.ndarray:
        """Return the (k, n_artists) cosine similarities of the given artist rows to every artist."""
        return np.asarray((self.vectors[np.asarray(rows, dtype=np.int64)] @ self.vectors.T).todense())

    def row_of_name(self) -> dict[str, int]:
        """Return ``normalised artist name -> row`` for the artists that have a name; the first row wins."""
        found: dict[str, int] = {}
        for row, name in enumerate(self.names):
            if name:
                found.setdefault(normalise_artist(name), row)
        return found

    def top_tags(self, row: int, count: int = 5) -> list[str]:
        """Return the artist's highest-weighted tags, best first."""
        start, end = self.vectors.indptr[row], self.vectors.indptr[row + 1]
        order = np.argsort(-self.vectors.data[start:end], kind="stable")[:count]
        return [self.tags[self.vectors.indices[start + i]] for i in order]


def link_to_catalogue(tags: ArtistTags, catalogue: pa.Table) -> np.ndarray:
    """Return, for each catalogue artist, its row in ``tags`` by normalised name, or -1.

    ``catalogue`` has ``artist`` and ``name`` columns, as from
    :func:`tastemaker.store.content.catalogue_artists`.
    """
    rows = tags.row_of_name()
    return np.array([rows.get(normalise_artist(name), -1) if name else -1
                     for name in catalogue.column("name").to_pylist()], dtype=np.int64)
