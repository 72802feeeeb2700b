"""The two-stage recommender: candidates from several sources, then a learned ranking.

Stage one takes the top ``per_source`` tracks of each source: ALS factors
and item2vec vectors through Voyager indexes, co-occurrence with the seeds,
the title model, audio-feature neighbours of the seeds where features exist,
and the most popular tracks. Stage two scores every merged candidate with
LightGBM LambdaRank over features that no single source has (see
``tastemaker.ranking.features``).

The ranker must learn from playlists whose answers its features have not
seen. ``fit`` therefore hides part of ``ranker_playlists`` training
playlists, fits the signals without those hidden tracks, and trains the
ranker to find them. With ``refit`` the signals are then fitted again on all
the training data, as serving should use everything it has.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..errors import BundleError, ModelError
from ..ranking.features import Evidence, Signals, build_features, feature_names
from ..ranking.ranker import Ranker
from ..retrieval.index import VectorIndex
from ..retrieval.merge import Candidates, candidate_recall, merge_candidates
from ..signals.audio import AudioFeatureMatrix, nearest_to_seeds
from ..signals.context import TrainingContext
from .base import Recommender, load_array, top_n, validate_n
from .cooccurrence import CooccurrenceRecommender
from .implicit_models import ALSRecommender
from .item2vec import Item2VecRecommender
from .playlist_knn import PlaylistKNNRecommender
from .title import TitleModel

log = logging.getLogger(__name__)

STATE_FILE = "two_stage.json"
SEED_COUNTS = (0, 1, 5, 10, 25, 100)
MIN_HIDDEN = 5
UNTITLED_SHARE = 0.2  # ranker playlists with seeds whose title is withheld
CHUNK_ROWS = 128  # playlists whose candidates are built at once; bounds the dense title scores


class TwoStageRecommender(Recommender):
    """Candidate generation from several sources followed by a LambdaRank ranker."""

    name = "two_stage"
    uses_titles = True

    def __init__(self, per_source: int = 1000, popular_candidates: int = 100, audio_candidates: int = 100,
                 ranker_playlists: int = 2000, ranker_negatives: int = 200, refit: bool = True, index_min_count: int = 2,
                 title_seeds: int = 10,
                 query_ef: int = 2000, seed: int = 0, als: dict | None = None, item2vec: dict | None = None,
                 cooc: dict | None = None, title: dict | None = None, knn: dict | None = None,
                 ranker: dict | None = None):
        super().__init__(per_source=per_source, popular_candidates=popular_candidates,
                         audio_candidates=audio_candidates, ranker_playlists=ranker_playlists,
                         ranker_negatives=ranker_negatives, refit=refit, title_seeds=title_seeds,
                         index_min_count=index_min_count, query_ef=query_ef, seed=seed, als=als or {},
                         item2vec=item2vec or {}, cooc=cooc or {}, title=title or {}, knn=knn or {},
                         ranker=ranker or {})
        self.signals_: Signals | None = None
        self.indexes_: dict[str, VectorIndex] = {}
        self.ranker_: Ranker | None = None
        self.report_: dict = {}

    # Training

    def fit(self, user_items: sp.csr_matrix, show_progress: bool = False,
            context: TrainingContext | None = None) -> "TwoStageRecommender":
        if context is None:
            raise ModelError("two_stage needs a TrainingContext with titles and artists; "
                             "train it through tastemaker.pipeline or the CLI")
        user_items = sp.csr_matrix(user_items)
        if len(context.titles) != user_items.shape[0]:
            raise ModelError(f"context has {len(context.titles)} titles for {user_items.shape[0]} rows")
        self.n_items_ = user_items.shape[1]
        self.item_popularity_ = np.asarray((user_items > 0).sum(axis=0)).ravel().astype(np.float32)
        timings: dict[str, float] = {}
        rng = np.random.default_rng(self.params["seed"])

        started = time.perf_counter()
        ranker_rows, seed_rows, hidden = self._ranker_split(user_items, rng)
        reduced = _without(user_items, ranker_rows, hidden)
        self._fit_signals(reduced, context, show_progress, timings, "ranker data")

        started_features = time.perf_counter()
        # Some playlists come without a title, as in the challenge's buckets, so
        # the ranker also learns to rank from the seeds alone.
        has_seeds = np.diff(seed_rows.indptr) > 0
        untitled = has_seeds & (rng.random(len(ranker_rows)) < UNTITLED_SHARE)
        titles = [None if drop else context.titles[r] for r, drop in zip(ranker_rows, untitled)]
        features, labels, groups, recall = self._training_examples(seed_rows, titles, hidden, rng)
        timings["ranker features"] = time.perf_counter() - started_features
        log.info("two_stage: %d ranker examples built in %.1f s", len(labels), timings["ranker features"])
        started_ranker = time.perf_counter()
        self.ranker_ = Ranker(**self.params["ranker"]).fit(features, labels, groups, self._feature_names())
        timings["ranker"] = time.perf_counter() - started_ranker
        log.info("ranker trained on %d playlists, %d candidates", len(groups), len(labels))

        if self.params["refit"]:
            self._fit_signals(user_items, context, show_progress, timings, "all data")
        timings["total"] = time.perf_counter() - started
        self.report_ = {
            "feature_importance": self.ranker_.feature_importance(),
            "ranker_playlists": int(len(groups)),
            "ranker_candidates": int(len(labels)),
            "candidate_recall": recall,
            "fit_seconds": {k: round(v, 2) for k, v in timings.items()},
        }
        return self

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        raise ModelError("two_stage is fitted through fit(user_items, context=...)")

    def _ranker_split(self, user_items: sp.csr_matrix, rng: np.random.Generator
                      ) -> tuple[np.ndarray, sp.csr_matrix, list[set[int]]]:
        """Choose ranker playlists and their seeds as the challenge's buckets do; the rest is hidden."""
        lengths = np.diff(user_items.indptr)
        eligible = np.flatnonzero(lengths >= 1 + MIN_HIDDEN)
        count = min(self.params["ranker_playlists"], len(eligible) // 2)
        if count < 10:
            raise ModelError(f"two_stage needs at least 20 playlists with {1 + MIN_HIDDEN} or more tracks, "
                             f"got {len(eligible)}")
        chosen = np.sort(rng.choice(eligible, size=count, replace=False))
        indptr, indices, hidden = [0], [], []
        for i, row in enumerate(chosen):
            tracks = user_items.indices[user_items.indptr[row]:user_items.indptr[row + 1]]
            fitting = [k for k in SEED_COUNTS if k + MIN_HIDDEN <= len(tracks)]
            k = fitting[i % len(fitting)]
            # Rows of a CSR matrix are in column order, not playlist order, so
            # "first k" cannot be recovered here: every bucket draws at random.
            seeds = np.sort(rng.choice(tracks, size=k, replace=False))
            indices.extend(seeds.tolist())
            indptr.append(len(indices))
            hidden.append(set(np.setdiff1d(tracks, seeds).tolist()))
        seed_rows = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int64),
                                   np.asarray(indptr)), shape=(count, user_items.shape[1]))
        return chosen, seed_rows, hidden

    def _fit_signals(self, matrix: sp.csr_matrix, context: TrainingContext, show_progress: bool,
                     timings: dict[str, float], label: str) -> None:
        p = self.params
        fitted = {}
        for name, cls in (("als", ALSRecommender), ("item2vec", Item2VecRecommender),
                          ("cooc", CooccurrenceRecommender), ("knn", PlaylistKNNRecommender)):
            started = time.perf_counter()
            fitted[name] = cls(**p[name]).fit(matrix, show_progress=show_progress)
            timings[f"{name} ({label})"] = time.perf_counter() - started
            log.info("two_stage: %s fitted on %s in %.1f s", name, label, timings[f"{name} ({label})"])
        started = time.perf_counter()
        title = TitleModel(**p["title"]).fit(context.titles, matrix)
        timings[f"title ({label})"] = time.perf_counter() - started
        popularity = np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.float32)
        self.signals_ = Signals(fitted["als"], fitted["item2vec"], fitted["cooc"].weights_, title,
                                np.asarray(context.track_artist, dtype=np.int64), popularity, context.audio,
                                fitted["knn"], _album_index(context))
        self._cooc = fitted["cooc"]

        started = time.perf_counter()
        indexed = popularity >= p["index_min_count"]
        self.indexes_ = {
            "als": VectorIndex.build(fitted["als"].track_factors, "inner_product", mask=indexed,
                                     query_ef=p["query_ef"], seed=p["seed"]),
            "item2vec": VectorIndex.build(fitted["item2vec"].track_vectors, "cosine",
                                          mask=indexed & fitted["item2vec"].has_vector,
                                          query_ef=p["query_ef"], seed=p["seed"]),
        }
        timings[f"voyager ({label})"] = time.perf_counter() - started
        log.info("two_stage: Voyager indexes built on %s in %.1f s", label, timings[f"voyager ({label})"])

    def _sample_negatives(self, rows: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return a mask keeping every positive and at most ``ranker_negatives`` random negatives per row."""
        limit = self.params["ranker_negatives"]
        priority = rng.random(len(rows))
        priority[labels > 0] = -1.0  # positives sort first and are always kept
        order = np.lexsort((priority, rows))
        starts = np.searchsorted(rows[order], rows[order], side="left")
        position_in_row = np.arange(len(order)) - starts
        positives_in_row = np.bincount(rows, weights=labels, minlength=int(rows.max()) + 1 if len(rows) else 0)
        keep = np.zeros(len(rows), dtype=bool)
        keep[order] = position_in_row < positives_in_row[rows[order]] + limit
        return keep

    def _training_examples(self, seed_rows: sp.csr_matrix, titles: list[str | None], hidden: list[set[int]],
                           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        features, labels, groups, recalls = [], [], [], []
        for start in range(0, seed_rows.shape[0], CHUNK_ROWS):
            rows = seed_rows[start:start + CHUNK_ROWS]
            chunk_titles = titles[start:start + CHUNK_ROWS]
            chunk_hidden = hidden[start:start + CHUNK_ROWS]
            candidates, title_scores, evidence = self._candidates(rows, chunk_titles)
            recalls.append((len(chunk_hidden), candidate_recall(candidates, chunk_hidden)))
            label = np.fromiter((item in chunk_hidden[row] for row, item in zip(candidates.rows, candidates.items)),
                                dtype=np.float32, count=len(candidates))
            feature = build_features(candidates, rows, chunk_titles, self.signals_, title_scores, evidence)
            # A playlist without a hidden track among its candidates teaches
            # LambdaRank nothing. Of the others, all positives are kept with a
            # seeded sample of negatives, which bounds the ranker's training
            # time (it grows with the group sizes).
            positives = np.bincount(candidates.rows, weights=label, minlength=rows.shape[0])
            keep = (positives[candidates.rows] > 0) & self._sample_negatives(candidates.rows, label, rng)
            features.append(feature[keep])
            labels.append(label[keep])
            counts = np.bincount(candidates.rows[keep], minlength=rows.shape[0])
            groups.append(counts[counts > 0])
        total = sum(n for n, _ in recalls)
        recall = {source: round(sum(n * r[source] for n, r in recalls) / total, 4) for source in recalls[0][1]}
        return np.vstack(features), np.concatenate(labels), np.concatenate(groups), recall

    # Candidates and ranking

    def _feature_names(self) -> list[str]:
        return feature_names(self._source_names())

    def _source_names(self) -> tuple[str, ...]:
        names = ["als", "item2vec", "cooc", "knn", "title", "popularity"]
        if self.signals_ is not None and self.signals_.audio is not None:
            names.append("audio")
        return tuple(names)

    def _candidates(self, seed_rows: sp.csr_matrix, titles: list[str | None]
                    ) -> tuple[Candidates, np.ndarray, Evidence]:
        """Return the merged candidates of a chunk of playlists, the chunk's dense title scores, and its evidence.

        The evidence rows are the seeds, except that a playlist without seeds
        takes the ``title_seeds`` tracks its title scores highest: the
        collaborative sources then work from a title alone. Only real seeds
        are removed from the candidates.
        """
        p, signals = self.params, self.signals_
        k = min(p["per_source"], self.n_items_)
        title_scores = signals.title.scores_for_titles(titles).scores
        evidence = Evidence.of(_title_evidence(seed_rows, title_scores, p["title_seeds"]), signals)
        results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        results["als"] = self.indexes_["als"].query(evidence.als_factors, k)
        results["item2vec"] = self.indexes_["item2vec"].query(evidence.centroids, k)
        results["cooc"] = self._cooc.recommend(evidence.rows, N=k, filter_already_liked_items=False)
        results["knn"] = top_n(evidence.neighbour_scores, k)
        results["title"] = top_n(title_scores, k)
        results["popularity"] = tuple(np.repeat(a, seed_rows.shape[0], axis=0) for a in self._most_popular())
        if signals.audio is not None:
            audio_k = min(p["audio_candidates"], self.n_items_)
            results["audio"] = _audio_candidates(signals.audio, evidence.rows, audio_k)
        return merge_candidates(results, seed_rows), title_scores, evidence

    def _most_popular(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the popularity source's (1, k) ids and scores, computed once per set of signals."""
        popularity = self.signals_.popularity
        if getattr(self, "_popular_source", None) is not popularity:
            k = min(self.params["popular_candidates"] + 100, self.n_items_)
            self._popular = top_n(popularity[None, :], k)
            self._popular_source = popularity
        return self._popular

    def recommend(self, user_items: sp.csr_matrix, N: int = 10, filter_already_liked_items: bool = True,
                  titles: list[str | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return the top-N ranked candidates per row; seeds are never returned.

        Rows end in id -1 when fewer than N candidates exist.
        """
        self._check_fitted()
        validate_n(N, self.n_items_)
        user_items = sp.csr_matrix(user_items)
        if user_items.shape[1] != self.n_items_:
            raise ModelError(f"user_items has {user_items.shape[1]} columns but two_stage has {self.n_items_} items")
        titles = list(titles) if titles is not None else [None] * user_items.shape[0]
        ids = np.full((user_items.shape[0], N), -1, dtype=np.int64)
        scores = np.full((user_items.shape[0], N), -np.inf, dtype=np.float32)
        for start in range(0, user_items.shape[0], CHUNK_ROWS):
            rows = user_items[start:start + CHUNK_ROWS]
            chunk_titles = titles[start:start + CHUNK_ROWS]
            candidates, title_scores, evidence = self._candidates(rows, chunk_titles)
            predicted = self.ranker_.predict(build_features(candidates, rows, chunk_titles, self.signals_,
                                                            title_scores, evidence))
            # Best score first; ties go to the lower track index, so rankings are deterministic.
            order = np.lexsort((candidates.items, -predicted, candidates.rows))
            boundaries = np.searchsorted(candidates.rows[order], np.arange(rows.shape[0] + 1))
            # A row without seeds whose title matches nothing has no evidence:
            # it stays empty so that the caller's popularity fallback is flagged.
            no_evidence = (np.diff(rows.indptr) == 0) & ~np.isfinite(title_scores).any(axis=1)
            for r in range(rows.shape[0]):
                if no_evidence[r]:
                    continue
                chosen = order[boundaries[r]:boundaries[r + 1]][:N]
                ids[start + r, :len(chosen)] = candidates.items[chosen]
                scores[start + r, :len(chosen)] = predicted[chosen]
        return ids, scores

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        raise ModelError("two_stage ranks candidates and has no dense scores; call recommend()")

    def _similarities(self, itemids: np.ndarray) -> np.ndarray:
        return self.signals_.item2vec._similarities(itemids)

    # Persistence

    def save(self, folder: Path) -> None:
        self._check_fitted()
        super().save(folder)
        signals = self.signals_
        signals.als.save(folder / "als")
        signals.item2vec.save(folder / "item2vec")
        self._cooc.save(folder / "cooc")
        signals.knn.save(folder / "knn")
        signals.title.save(folder / "title")
        for name, index in self.indexes_.items():
            index.save(folder / f"{name}.voy")
        self.ranker_.save(folder / "ranker.txt")
        state = {
            "indexes": {name: index.settings() for name, index in self.indexes_.items()},
            "feature_names": self._feature_names(),
            "albums": self.signals_.track_album is not None,
            "audio": None if signals.audio is None else {
                "columns": list(signals.audio.columns), "mean": signals.audio.mean.tolist(),
                "std": signals.audio.std.tolist()},
            "report": self.report_,
        }
        (folder / STATE_FILE).write_text(json.dumps(state, indent=2))

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"track_artist": self.signals_.track_artist, "popularity": self.signals_.popularity}
        if self.signals_.track_album is not None:
            arrays["track_album"] = self.signals_.track_album
        if self.signals_.audio is not None:
            arrays["audio_values"] = self.signals_.audio.values
            arrays["audio_has_features"] = self.signals_.audio.has_features
        return arrays

    def _restore(self, folder: Path, n_items: int) -> None:
        try:
            state = json.loads((folder / STATE_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot read {folder / STATE_FILE}: {exc}") from exc
        als = ALSRecommender.load(folder / "als", n_items)
        item2vec = Item2VecRecommender.load(folder / "item2vec", n_items)
        self._cooc = CooccurrenceRecommender.load(folder / "cooc", n_items)
        knn = PlaylistKNNRecommender.load(folder / "knn", n_items)
        title = TitleModel.load(folder / "title", n_items)
        audio = None
        if state.get("audio"):
            meta = state["audio"]
            values = load_array(folder, "audio_values", (n_items, len(meta["columns"])))
            has = load_array(folder, "audio_has_features", (n_items,))
            audio = AudioFeatureMatrix(values, has, tuple(meta["columns"]), np.asarray(meta["mean"]),
                                       np.asarray(meta["std"]))
        self.signals_ = Signals(als, item2vec, self._cooc.weights_, title,
                                load_array(folder, "track_artist", (n_items,)),
                                load_array(folder, "popularity", (n_items,)), audio, knn,
                                load_array(folder, "track_album", (n_items,)) if state.get("albums") else None)
        self.indexes_ = {name: VectorIndex.load(folder / f"{name}.voy", settings, n_items)
                         for name, settings in state["indexes"].items()}
        self.ranker_ = Ranker.load(folder / "ranker.txt", self.params["ranker"], state["feature_names"])
        self.report_ = state.get("report", {})


def _without(matrix: sp.csr_matrix, rows: np.ndarray, hidden: list[set[int]]) -> sp.csr_matrix:
    """Return a copy of ``matrix`` without the hidden entries of the given rows."""
    n_items = matrix.shape[1]
    hidden_keys = np.fromiter((row * n_items + item for row, items in zip(rows, hidden) for item in items),
                              dtype=np.int64)
    coo = matrix.tocoo()
    keep = ~np.isin(coo.row.astype(np.int64) * n_items + coo.col, hidden_keys)
    return sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape)


def _album_index(context: TrainingContext) -> np.ndarray | None:
    """Return the context's album of each track, or None when no track has a known album."""
    if context.track_album is None or not (context.track_album >= 0).any():
        return None
    return np.asarray(context.track_album, dtype=np.int64)


def _title_evidence(seed_rows: sp.csr_matrix, title_scores: np.ndarray, count: int) -> sp.csr_matrix:
    """Return ``seed_rows`` with each row that has no seeds given its title's ``count`` best-scored tracks."""
    empty = np.flatnonzero(np.diff(seed_rows.indptr) == 0)
    if count == 0 or len(empty) == 0:
        return seed_rows
    ids, _ = top_n(title_scores[empty], min(count, title_scores.shape[1]))
    picked_rows = np.repeat(empty, ids.shape[1])[ids.ravel() >= 0]
    picked = ids.ravel()[ids.ravel() >= 0]
    extra = sp.csr_matrix((np.ones(len(picked), dtype=seed_rows.dtype), (picked_rows, picked)), shape=seed_rows.shape)
    return (seed_rows + extra).tocsr()


def _audio_candidates(audio: AudioFeatureMatrix, seed_rows: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.full((seed_rows.shape[0], k), -1, dtype=np.int64)
    scores = np.full((seed_rows.shape[0], k), -np.inf, dtype=np.float32)
    for r in range(seed_rows.shape[0]):
        seeds = seed_rows.indices[seed_rows.indptr[r]:seed_rows.indptr[r + 1]]
        if len(seeds):
            ids[r], scores[r] = nearest_to_seeds(audio, seeds, k)
    return ids, scores
