"""item2vec: word2vec with negative sampling over playlists as sentences.

Each training row is a sentence whose words are its item indices. A playlist
is a set, so the order of its tracks is shuffled with a seeded generator, anew
on every pass over the corpus. A row is scored by the cosine similarity of
each track vector to the normalised mean of its tracks' unit vectors.

Reproducibility: with ``workers=1`` two fits with the same data and seed give
identical vectors. With more workers gensim's threads update shared vectors in
an order that varies from run to run. The tokens are the decimal item indices
in a fixed order, and gensim 4 seeds its initial vectors from ``seed`` with
NumPy rather than from Python's string hash, so PYTHONHASHSEED does not matter
(checked with gensim 4.4).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from gensim.models import Word2Vec
from gensim.models.word2vec import MAX_WORDS_IN_BATCH

from .base import Recommender, load_array

log = logging.getLogger(__name__)


class PlaylistSentences:
    """Re-iterable corpus: one sentence of item-index tokens per matrix row.

    Every pass (the vocabulary scan and each training epoch) shuffles each
    row with a generator seeded by ``(seed, pass number)``, so the corpus is
    reproducible but no fixed order is learned. Rows longer than gensim's
    limit of ``MAX_WORDS_IN_BATCH`` (10,000) tokens, which gensim would
    truncate, are cut into consecutive sentences of at most that length.
    """

    def __init__(self, user_items: sp.csr_matrix, seed: int):
        self.user_items = user_items
        self.seed = seed
        self.tokens = np.array([str(i) for i in range(user_items.shape[1])], dtype=object)
        self.passes = 0

    def __iter__(self) -> Iterator[list[str]]:
        rng = np.random.default_rng([self.seed, self.passes])
        self.passes += 1
        indptr, indices = self.user_items.indptr, self.user_items.indices
        for row in range(self.user_items.shape[0]):
            items = indices[indptr[row]:indptr[row + 1]]
            if len(items) < 2:
                continue  # a single item has no context to learn from
            shuffled = self.tokens[rng.permutation(items)]
            for start in range(0, len(shuffled), MAX_WORDS_IN_BATCH):
                yield shuffled[start:start + MAX_WORDS_IN_BATCH].tolist()


class Item2VecRecommender(Recommender):
    """Track embeddings from gensim's Word2Vec, trained on playlists as sentences.

    Parameters
    ----------
    vector_size : int
        Dimension d of the track vectors.
    window : int
        Maximum distance between a track and its context tracks within the
        shuffled playlist. A window at least as long as the playlists makes
        every pair of tracks in a playlist a possible training pair. gensim
        draws each token's effective window uniformly from 1 to ``window``.
    negative : int
        Negative samples per positive pair.
    sample : float
        Threshold of gensim's frequency subsampling: tracks in more than
        about ``sample`` times the total number of training tokens are
        randomly dropped from sentences. 0 turns subsampling off.
    min_count : int
        Tracks in fewer training rows (counting rows of two or more tracks)
        get no vector and are never scored.
    epochs : int
        Passes over the corpus.
    sg : int
        1 for skip-gram, which trains on every (track, context track) pair,
        so an epoch costs about the sum of squared playlist lengths. 0 for
        CBOW, which predicts each track from the mean of its context with one
        update, so an epoch is far cheaper.
    seed : int
        Seed of the shuffling and of gensim's initialisation and sampling.
    workers : int
        gensim worker threads; only ``workers=1`` is reproducible.

    Notes
    -----
    The defaults come from a search on a 5,853-playlist MPD sample (1,000
    test playlists over all buckets, split seed 0, one worker on a shared
    2-core machine). Overall R-precision and NDCG:

    ==============================================  ======  =====  =======
    settings                                        R-prec  NDCG   fit (s)
    ==============================================  ======  =====  =======
    skip-gram (sg=1), min_count=10, epochs=10       0.080   0.172  530
    same with epochs=5                              0.069   0.159  165
    same with epochs=5, min_count=20                0.073   0.154  185
    same with epochs=5, window=50                   0.067   0.159  190
    skip-gram, min_count=2, epochs=3, sample=1e-5   0.034   0.092  240
    defaults (CBOW, sg=0, epochs=20, min_count=10)  0.066   0.147  45
    CBOW, epochs=20, min_count=2                    0.051   0.120  50
    ==============================================  ======  =====  =======

    Raising min_count helped most: on this sample two thirds of the tracks
    are in one playlist only, and vectors learned from one playlist are
    unreliable. With CBOW, negative 5, 10 or 20 and sample 1e-3 or 1e-4
    changed R-precision by under 0.002, and sample 1e-5 lowered it by 0.01.
    CBOW is the default because ``tastemaker train`` fits every model and
    skip-gram took ten times as long; pass ``sg=1, epochs=10`` for the most
    accurate vectors.
    """

    name = "item2vec"

    def __init__(self, vector_size: int = 64, window: int = 250, negative: int = 10, sample: float = 1e-4,
                 min_count: int = 10, epochs: int = 20, sg: int = 0, seed: int = 0, workers: int = 1):
        super().__init__(vector_size=vector_size, window=window, negative=negative, sample=sample,
                         min_count=min_count, epochs=epochs, sg=sg, seed=seed, workers=workers)
        self.track_vectors: np.ndarray | None = None
        self.has_vector: np.ndarray | None = None
        self._unit_vectors: np.ndarray | None = None

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        p = self.params
        n_items = user_items.shape[1]
        corpus = PlaylistSentences(user_items, p["seed"])
        model = Word2Vec(
            vector_size=p["vector_size"], window=p["window"], negative=p["negative"], sample=p["sample"],
            min_count=p["min_count"], seed=p["seed"], workers=p["workers"], sg=p["sg"], hs=0,
        )
        model.build_vocab(corpus)
        if len(model.wv) == 0:
            log.warning("item2vec: no track occurs in %d rows or more, so no track has a vector", p["min_count"])
        else:
            model.train(corpus, total_examples=model.corpus_count, epochs=p["epochs"])
        vectors = np.zeros((n_items, p["vector_size"]), dtype=np.float32)
        known = np.asarray([int(token) for token in model.wv.index_to_key], dtype=np.int64)
        if len(known):
            vectors[known] = model.wv.vectors
        has_vector = np.zeros(n_items, dtype=bool)
        has_vector[known] = True
        log.info("item2vec: %d of %d tracks have a vector", len(known), n_items)
        self._set_vectors(vectors, has_vector)

    def _set_vectors(self, vectors: np.ndarray, has_vector: np.ndarray) -> None:
        self.track_vectors = vectors
        self.has_vector = has_vector
        norms = np.linalg.norm(vectors, axis=1)
        usable = has_vector & (norms > 0)
        unit = np.zeros_like(vectors)
        unit[usable] = vectors[usable] / norms[usable, None]
        self._unit_vectors = unit

    @property
    def unit_vectors(self) -> np.ndarray:
        """Track vectors scaled to unit length, shape (n_items, d), float32; zeros for tracks without a vector."""
        return self._unit_vectors

    def row_vectors(self, rows: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Return each row's normalised mean track vector and whether it has one.

        Returns
        -------
        vectors : ndarray, shape (k, d), float32
            Unit mean of the unit vectors of the row's tracks; zeros for a
            row none of whose tracks has a vector.
        valid : ndarray, shape (k,), bool
        """
        present = rows.copy()
        present.data = np.ones_like(present.data, dtype=np.float32)
        sums = np.asarray(present @ self._unit_vectors, dtype=np.float32)
        norms = np.linalg.norm(sums, axis=1)
        valid = norms > 0
        sums[valid] /= norms[valid, None]
        return sums, valid

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        means, valid = self.row_vectors(rows)
        scores = means @ self._unit_vectors.T
        scores[:, ~self.has_vector] = -np.inf
        scores[~valid] = -np.inf
        return scores

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"track_vectors": self.track_vectors, "has_vector": self.has_vector}

    def _restore(self, folder: Path, n_items: int) -> None:
        vectors = load_array(folder, "track_vectors", (n_items, self.params["vector_size"]))
        has_vector = load_array(folder, "has_vector", (n_items,))
        self._set_vectors(vectors.astype(np.float32), has_vector.astype(bool))
