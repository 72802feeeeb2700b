"""Word vectors of playlist-title words, so an unseen title word can stand in for a known one.

A FastText model (gensim) is trained on one sentence per playlist: the
normalised words of its title, optionally followed by a token for each of
its artists (up to ``max_artists``, 0 by default), so that words used for
the same artists get similar vectors. FastText's character n-grams give a
vector to any word, seen or not: "summer2k16" lands near "summer16" and
"travels" near "travel".

NOTE: on the 5,853-playlist MPD sample, replacing unknown title words this
way scored below the most popular tracks for the playlists whose title
words were all unknown (recall@500 0.064 against 0.080, see
``benchmarks/bench_cold_start.py``), so no recommender uses it yet.

:meth:`TitleVectors.expand_title` replaces each word of a title that the
title model does not know with the most similar word it does know, when the
cosine similarity reaches ``min_similarity``, so the title model can score
tracks for it.

Saved as plain arrays: the known words' vectors, the n-gram bucket vectors
and the settings needed to hash n-grams the way gensim does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..errors import BundleError, InputError
from ..ingest.names import normalise_artist
from ..models.base import load_array
from ..signals.titles import title_words

log = logging.getLogger(__name__)

ARTIST_PREFIX = "artist_"
SETTINGS_FILE = "title_vectors.json"


class TitleVectors:
    """FastText vectors of title words; see the module docstring."""

    def __init__(self, vector_size: int = 32, window: int = 40, min_count: int = 1, epochs: int = 30,
                 min_n: int = 3, max_n: int = 5, bucket: int = 50_000, max_artists: int = 0, seed: int = 0):
        self.params = {"vector_size": vector_size, "window": window, "min_count": min_count, "epochs": epochs,
                       "min_n": min_n, "max_n": max_n, "bucket": bucket, "max_artists": max_artists, "seed": seed}
        self.words_: list[str] = []
        self.word_vectors_: np.ndarray | None = None
        self.ngram_vectors_: np.ndarray | None = None
        self._index: dict[str, int] = {}

    def fit(self, titles: Sequence[str | None], playlist_artists: Sequence[Iterable[str]]) -> "TitleVectors":
        """Train on playlist titles and the artist names of each playlist, one list per title."""
        from gensim.models import FastText

        if len(titles) != len(playlist_artists):
            raise InputError(f"got {len(titles)} titles and {len(playlist_artists)} artist lists; pass one of each "
                             "per playlist")
        p = self.params
        sentences = []
        for title, artists in zip(titles, playlist_artists):
            words = title_words(title)
            if not words:
                continue
            tokens = [ARTIST_PREFIX + normalise_artist(a).replace(" ", "_") for a in artists if a]
            sentences.append(words + list(dict.fromkeys(tokens))[: p["max_artists"]] if p["max_artists"] else words)
        if not sentences:
            raise InputError("no playlist has a title with words; title vectors need titled playlists")
        model = FastText(sentences=sentences, vector_size=p["vector_size"], window=p["window"],
                         min_count=p["min_count"], epochs=p["epochs"], min_n=p["min_n"], max_n=p["max_n"],
                         bucket=p["bucket"], sg=1, workers=1, seed=p["seed"])
        words = [w for w in model.wv.index_to_key if not w.startswith(ARTIST_PREFIX)]
        self.words_ = words
        self.word_vectors_ = np.asarray([model.wv.get_vector(w) for w in words], dtype=np.float32).reshape(
            len(words), p["vector_size"])
        self.ngram_vectors_ = np.asarray(model.wv.vectors_ngrams, dtype=np.float32)
        self._index = {w: i for i, w in enumerate(words)}
        log.info("title vectors: %d words from %d titled playlists", len(words), len(sentences))
        return self

    def vector(self, word: str) -> np.ndarray:
        """Return a word's vector: its own when it was trained, else the mean of its n-gram vectors."""
        self._check_fitted()
        position = self._index.get(word)
        if position is not None:
            return self.word_vectors_[position]
        from gensim.models.fasttext import ft_ngram_hashes

        p = self.params
        hashes = ft_ngram_hashes(word, p["min_n"], p["max_n"], p["bucket"])
        if not hashes:
            return np.zeros(p["vector_size"], dtype=np.float32)
        return self.ngram_vectors_[hashes].mean(axis=0)

    def nearest(self, word: str, candidates: Sequence[str], count: int = 1) -> list[tuple[str, float]]:
        """Return the ``count`` candidate words most similar to ``word`` by cosine, best first."""
        known = [c for c in candidates if c != word]
        if not known:
            return []
        matrix = np.vstack([self.vector(c) for c in known])
        target = self.vector(word)
        norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(target)), 1e-12)
        similarity = (matrix @ target) / np.where(norms > 0, norms, 1.0)
        order = np.argsort(-similarity, kind="stable")[:count]
        return [(known[i], float(similarity[i])) for i in order]

    def expand_title(self, title: str | None, vocabulary: set[str], min_similarity: float = 0.7
                     ) -> tuple[str, dict[str, str]]:
        """Replace the title's words missing from ``vocabulary`` with their nearest word in it.

        Returns the new title (normalised words joined by spaces) and the
        replacements made. Words without a neighbour at ``min_similarity``
        or above stay as they are.
        """
        self._check_fitted()
        candidates = sorted(w for w in vocabulary if w in self._index)
        words, replaced = [], {}
        for word in title_words(title):
            if word in vocabulary or not candidates:
                words.append(word)
                continue
            best = self.nearest(word, candidates)
            if best and best[0][1] >= min_similarity:
                replaced[word] = best[0][0]
                words.append(best[0][0])
            else:
                words.append(word)
        return " ".join(words), replaced

    def save(self, folder: Path) -> None:
        self._check_fitted()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SETTINGS_FILE).write_text(json.dumps({"params": self.params, "words": self.words_},
                                                       ensure_ascii=False), encoding="utf-8")
        np.save(folder / "word_vectors.npy", self.word_vectors_, allow_pickle=False)
        np.save(folder / "ngram_vectors.npy", self.ngram_vectors_, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> "TitleVectors":
        try:
            saved = json.loads((folder / SETTINGS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot read {folder / SETTINGS_FILE}: {exc}") from exc
        vectors = cls(**saved["params"])
        size = saved["params"]["vector_size"]
        vectors.words_ = list(saved["words"])
        vectors.word_vectors_ = load_array(folder, "word_vectors", (len(vectors.words_), size))
        vectors.ngram_vectors_ = load_array(folder, "ngram_vectors", (saved["params"]["bucket"], size))
        vectors._index = {w: i for i, w in enumerate(vectors.words_)}
        return vectors

    def _check_fitted(self) -> None:
        if self.word_vectors_ is None:
            from ..errors import ModelError

            raise ModelError("the title vectors are not fitted: call fit() or load() first")
