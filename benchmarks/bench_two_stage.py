"""Two-stage benchmark: quality against every single model, candidate recall, retrieval and latency.

On one RecSys Challenge 2018 style split (all buckets) it prints:

* R-precision, NDCG and clicks of the two-stage model and of each single
  model, overall and per bucket, and the two-stage gain over the best one;
* candidate recall at 1,000 of each source and of the merged candidates;
* Voyager recall@100 against exact numpy search, and its query time;
* time to fit each stage, continuation latency for one playlist at a time
  (median and p95, ranker on), bundle size on disk and peak memory.

Usage::

    .venv/bin/python benchmarks/bench_two_stage.py --data ../shared/data/mpd-sample \\
        --audio ../shared/data/audio-features/audio_features_union.csv
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SINGLE_MODELS = ("popularity", "als", "bpr", "itemknn", "ease", "item2vec", "cooc", "playlist_knn")
SEED_BUCKETS = {"5": ("first-5", "random-5"), "10": ("first-10", "random-10"), "25": ("first-25", "random-25")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mpd-sample"))
    parser.add_argument("--audio", type=Path, default=Path("../shared/data/audio-features/audio_features_union.csv"))
    parser.add_argument("--test-playlists", type=int, default=1000)
    parser.add_argument("--models", default=",".join(SINGLE_MODELS))
    parser.add_argument("--latency-playlists", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("gensim", "implicit"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from tastemaker.evaluation import make_split
    from tastemaker.evaluation.evaluate import score_lists
    from tastemaker.ingest import ingest_mpd
    from tastemaker.ingest.audio_features import ingest_audio_features
    from tastemaker.models import TwoStageRecommender, model_class
    from tastemaker.pipeline import load_catalogue, playlist_names
    from tastemaker.products.continuation import continue_rows, popularity_order
    from tastemaker.retrieval.index import measure_recall
    from tastemaker.retrieval.merge import candidate_recall
    from tastemaker.signals import PlaylistTracks
    from tastemaker.store import Store

    print(f"machine: {platform.machine()}, 2 cores shared, Python {platform.python_version()}")
    print(f"command: {' '.join(sys.argv)}\n")
    with tempfile.TemporaryDirectory() as data_dir:
        with Store.open(data_dir) as store:
            ingest_mpd(store, [args.data])
            if args.audio.exists():
                ingest_audio_features(store, args.audio)
            pids, uris = store.playlist_track_pairs()
            names = playlist_names(store)
            catalogue = load_catalogue(store)
        split = make_split(pids, uris, names, args.test_playlists, seed=0)
        data = PlaylistTracks.from_pairs(split.train_pids, split.train_uris)
        context = catalogue.context(data, names)
        rows, _ = data.rows_for([t.seeds for t in split.test])
        titles = [t.name for t in split.test]
        hidden = [set(t.hidden) for t in split.test]
        buckets = [t.bucket for t in split.test]
        print(f"split: {split.describe()}\n")

        def evaluate_model(model) -> dict:
            ids, _, _, _ = continue_rows(model, rows, 500, popularity_order(model.item_popularity_), titles)
            recommended = data.tracks.ids[np.where(ids >= 0, ids, 0)]
            recommended[ids < 0] = None
            return score_lists(recommended, hidden, buckets, 500)

        results, fit_seconds = {}, {}
        started = time.perf_counter()
        two_stage = TwoStageRecommender().fit(data.matrix, context=context)
        fit_seconds["two_stage"] = time.perf_counter() - started
        results["two_stage"] = evaluate_model(two_stage)
        for name in args.models.split(","):
            started = time.perf_counter()
            model = model_class(name)().fit(data.matrix, context=context)
            fit_seconds[name] = time.perf_counter() - started
            results[name] = evaluate_model(model)
            del model

        print_quality(results, fit_seconds)
        print("two-stage fit, seconds per stage:", json.dumps(two_stage.report_["fit_seconds"]))
        print("feature importance (share of gain):", json.dumps(dict(list(two_stage.report_["feature_importance"].items())[:12])))

        # Candidate recall at 1,000 on the test playlists.
        per_source = two_stage.params["per_source"]
        two_stage.params["per_source"] = 1000
        test_hidden = [set(data.tracks.indices(t.hidden)[0].tolist()) for t in split.test]
        recalls, unions = [], []
        for start in range(0, rows.shape[0], 128):
            candidates, _, _ = two_stage._candidates(rows[start:start + 128], titles[start:start + 128])
            count = min(128, rows.shape[0] - start)
            recalls.append((count, candidate_recall(candidates, test_hidden[start:start + 128], top=1000)))
            unions.append((count, candidate_recall(candidates, test_hidden[start:start + 128])["merged"]))
        two_stage.params["per_source"] = per_source
        total = sum(n for n, _ in recalls)
        recall = {s: sum(n * r[s] for n, r in recalls) / total for s in recalls[0][1]}
        union = sum(n * r for n, r in unions) / total
        best_single = max((v, s) for s, v in recall.items() if s != "merged")
        print("\ncandidate recall@1000 on the test playlists (hidden tracks in the catalogue):")
        for source, value in recall.items():
            label = "merged, first 1000 by best rank" if source == "merged" else source
            print(f"  {label:<32}{value:8.4f}")
        print(f"  {'merged, union of every source':<32}{union:8.4f}")
        print(f"  union / best single source ({best_single[1]}): {union / best_single[0]:.2f}x; first 1000 by best "
              f"rank / best single source: {recall['merged'] / best_single[0]:.2f}x (target at least 1.2x)")

        # Voyager against exact search.
        seeded = np.diff(rows.indptr) > 0
        queries_als = two_stage.signals_.als.user_factors_for(rows[seeded][:300])
        queries_i2v, valid = two_stage.signals_.item2vec.row_vectors(rows[seeded][:300])
        indexed = two_stage.signals_.popularity >= two_stage.params["index_min_count"]
        print("\nVoyager recall@100 against exact search over the indexed tracks:")
        for label, index, vectors, queries, mask in (
                ("als (inner product)", two_stage.indexes_["als"], two_stage.signals_.als.track_factors,
                 queries_als, indexed),
                ("item2vec (cosine)", two_stage.indexes_["item2vec"], two_stage.signals_.item2vec.track_vectors,
                 queries_i2v[valid], indexed & two_stage.signals_.item2vec.has_vector)):
            measured = measure_recall(index, vectors, queries, 100, mask)
            print(f"  {label:<22} recall {measured['recall']:.4f}, query median {measured['median_ms']:.2f} ms, "
                  f"p95 {measured['p95_ms']:.2f} ms, {mask.sum()} of {len(mask)} tracks indexed")

        # Latency of one continuation at a time, ranker on, over playlists spread across every bucket.
        timings, seeded = [], []
        order = popularity_order(two_stage.item_popularity_)
        for r in np.linspace(0, rows.shape[0] - 1, min(args.latency_playlists, rows.shape[0])).astype(int):
            started = time.perf_counter()
            continue_rows(two_stage, rows[r:r + 1], 500, order, titles[r:r + 1])
            timings.append((time.perf_counter() - started) * 1000)
            seeded.append(rows[r].nnz > 0)
        timings, seeded = np.asarray(timings), np.asarray(seeded)
        print(f"\ncontinuation latency, one playlist of 500 tracks over {len(timings)} playlists of every bucket: "
              f"median {np.median(timings):.1f} ms, p95 {np.percentile(timings, 95):.1f} ms "
              f"(target p95 at most 50 ms)")
        for label, mask in (("with seeds", seeded), ("title only", ~seeded)):
            if mask.any():
                print(f"  {label:<11} {mask.sum():4d} playlists: median {np.median(timings[mask]):.1f} ms, "
                      f"p95 {np.percentile(timings[mask], 95):.1f} ms")

        bundle = Path(data_dir) / "bench-bundle"
        two_stage.save(bundle)
        size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"two-stage bundle on disk: {size / 2**20:.0f} MiB; peak resident memory of this run: {peak:.0f} MiB")


def print_quality(results: dict, fit_seconds: dict) -> None:
    models = list(results)
    buckets = list(next(iter(results.values())))
    for metric in ("r_precision", "ndcg", "clicks"):
        print(f"{metric}")
        print(f"  {'bucket':<12}" + "".join(f"{m:>13}" for m in models))
        for bucket in buckets:
            print(f"  {bucket:<12}" + "".join(f"{results[m][bucket][metric]:13.4f}" for m in models))
        print()
    print("fit seconds: " + ", ".join(f"{m} {s:.1f}" for m, s in fit_seconds.items()))
    singles = [m for m in models if m != "two_stage"]
    print("\ntwo-stage gain over the best single model of this run:")
    groups = {"overall": ("overall",), **{f"{k}-seed": v for k, v in SEED_BUCKETS.items()}}
    for metric in ("r_precision", "ndcg"):
        for label, members in groups.items():
            def value(model):
                return np.mean([results[model][b][metric] for b in members if b in results[model]])
            best = max(singles, key=value)
            print(f"  {metric:<12} {label:<8} two_stage {value('two_stage'):.4f} vs {best} {value(best):.4f}: "
                  f"{100 * (value('two_stage') / value(best) - 1):+.1f}% (target at least +10%)")
    if "title" in results["two_stage"] and "popularity" in results:
        ratio = results["two_stage"]["title"]["r_precision"] / results["popularity"]["title"]["r_precision"]
        print(f"  title-only bucket: two_stage / popularity R-precision {ratio:.2f}x (target at least 2x)")


if __name__ == "__main__":
    main()
