"""Cold-start benchmark: audio decoding throughput, the cold-track protocol, onboarding, tags and title words.

It prints:

* decoding and feature-extraction throughput in seconds of audio per
  second of wall time, per codec (wav, flac, ogg Vorbis, mp3), on generated
  44.1 kHz audio, and a folder ingest with one and with two worker processes;
* the cold-track protocol (see ``tastemaker.content.coldstart``) on the MPD
  sample with the audio-feature table: recall@500 of cold tracks for each
  content mapper, random ranks, audio kNN of the seeds and the warm reference;
* onboarding from three liked artists against the most popular tracks, by
  artist co-occurrence closeness, on listeners drawn from held-out playlists;
* HetRec tag similarity against playlist co-occurrence for the artists in both;
* title-only continuation of held-out playlists whose title words are all
  unknown to the title model, with and without title word vectors.

Usage::

    .venv/bin/python benchmarks/bench_cold_start.py --data ../shared/data/mpd-sample \\
        --audio ../shared/data/audio-features/audio_features_union.csv \\
        --hetrec ../shared/data/lastfm-hetrec2011-2k
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

CODECS = (("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"), ("ogg", "OGG", "VORBIS"), ("mp3", "MP3", "MPEG_LAYER_III"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mpd-sample"))
    parser.add_argument("--audio", type=Path, default=Path("../shared/data/audio-features/audio_features_union.csv"))
    parser.add_argument("--hetrec", type=Path, default=Path("../shared/data/lastfm-hetrec2011-2k"))
    parser.add_argument("--files-per-codec", type=int, default=8)
    parser.add_argument("--seconds-per-file", type=float, default=60.0)
    parser.add_argument("--test-playlists", type=int, default=1000)
    parser.add_argument("--triples", type=int, default=200)
    parser.add_argument("--title-artists", type=int, default=0,
                        help="Artist tokens added to each title's sentence for the word vectors.")
    parser.add_argument("--skip", action="append", default=[],
                        help="Part to skip: decoding, cold-start, onboarding, tags, titles; repeatable.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("gensim", "implicit", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    print(f"machine: {platform.machine()}, 2 cores shared with other jobs, Python {platform.python_version()}")

    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        if "decoding" not in args.skip:
            bench_decoding(root, args.files_per_codec, args.seconds_per_file)
        needs_store = {"cold-start", "onboarding", "tags", "titles"} - set(args.skip)
        if needs_store:
            data_dir = root / "data"
            ingest_sample(data_dir, args.data, args.audio, args.hetrec)
        if "cold-start" not in args.skip:
            bench_cold_start(data_dir, args.test_playlists)
        if "onboarding" not in args.skip:
            bench_onboarding(data_dir, args.triples)
        if "tags" not in args.skip:
            bench_tags(data_dir)
        if "titles" not in args.skip:
            bench_titles(data_dir, args.test_playlists, args.title_artists)


def music_like(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Return chords, a drum-like click at 120 BPM and some noise: enough structure for every feature."""
    t = np.arange(int(seconds * rate)) / rate
    chord = sum(np.sin(2 * np.pi * f * t) for f in rng.choice([220.0, 261.6, 329.6, 392.0, 440.0], 3, replace=False))
    clicks = np.zeros_like(t)
    for start in np.arange(0, seconds, 0.5):
        i = int(start * rate)
        clicks[i:i + 400] += rng.standard_normal(min(400, len(t) - i)) * np.hanning(400)[: min(400, len(t) - i)]
    signal = 0.2 * chord + 0.5 * clicks + 0.02 * rng.standard_normal(len(t))
    return (0.8 * signal / np.abs(signal).max()).astype(np.float32)


def bench_decoding(root: Path, files_per_codec: int, seconds: float) -> None:
    import soundfile

    from tastemaker.content.features import extract_file, read_audio
    from tastemaker.ingest.audio_files import ingest_audio_files
    from tastemaker.store import Store

    rate, rng = 44100, np.random.default_rng(0)
    folder = root / "audio"
    folder.mkdir()
    for suffix, format, subtype in CODECS:
        for i in range(files_per_codec):
            samples = music_like(seconds, rate, rng)
            with soundfile.SoundFile(str(folder / f"{suffix}-{i}.{suffix}"), "w", rate, 1, format=format,
                                     subtype=subtype) as handle:
                for start in range(0, len(samples), rate // 2):  # see the tests: big Vorbis writes can crash
                    handle.write(samples[start:start + rate // 2])
    extract_file(folder / "wav-0.wav")  # librosa compiles its numba functions on first use

    print(f"\n## Decoding throughput ({files_per_codec} files of {seconds:.0f} s per codec, 44.1 kHz mono)\n")
    print("| codec | decode only (s audio / s) | decode + features (s audio / s) |")
    print("|---|---:|---:|")
    for suffix, _, _ in CODECS:
        paths = sorted(folder.glob(f"*.{suffix}"))
        started = time.perf_counter()
        audio = sum(read_audio(p)[2] for p in paths)
        decode = time.perf_counter() - started
        started = time.perf_counter()
        for path in paths:
            extract_file(path)
        full = time.perf_counter() - started
        print(f"| {suffix} | {audio / decode:.0f} | {audio / full:.1f} |")

    print("\n| folder ingest | files | s of audio | wall s (pool start included) | s audio / s | workers busy |")
    print("|---|---:|---:|---:|---:|---:|")
    for workers in (1, 2):
        with Store.open(root / f"ingest-{workers}") as store:
            started = time.perf_counter()
            report = ingest_audio_files(store, [folder], workers=workers)
            wall = time.perf_counter() - started
        print(f"| {workers} worker(s) | {report.loaded} | {report.audio_seconds:.0f} | {wall:.1f} | "
              f"{report.audio_seconds / wall:.1f} | {report.parallelism:.2f} |")


def ingest_sample(data_dir: Path, mpd: Path, audio: Path, hetrec: Path) -> None:
    from tastemaker.ingest import ingest_mpd
    from tastemaker.ingest.audio_features import ingest_audio_features
    from tastemaker.ingest.hetrec import ingest_hetrec
    from tastemaker.store import Store

    started = time.perf_counter()
    with Store.open(data_dir) as store:
        ingest_mpd(store, [mpd])
        coverage = ingest_audio_features(store, audio).coverage
        if hetrec.is_dir():
            ingest_hetrec(store, hetrec)
    print(f"\ningested {mpd}, {audio} and {hetrec} in {time.perf_counter() - started:.0f} s; audio features cover "
          f"{coverage.tracks_with_features} of {coverage.tracks} catalogue tracks")


def bench_cold_start(data_dir: Path, test_playlists: int) -> None:
    from tastemaker.content.coldstart import ColdStartSettings, run_cold_start
    from tastemaker.store import Store
    from tastemaker.store.audio import read_audio_features

    with Store.open(data_dir, read_only=True) as store:
        pids, uris = store.playlist_track_pairs(source="mpd")
        audio = read_audio_features(store)
    settings = ColdStartSettings(test_playlists=test_playlists)
    started = time.perf_counter()
    result = run_cold_start(pids, uris, audio, settings)
    print(f"\n## Cold-track protocol ({time.perf_counter() - started:.0f} s)\n")
    print(result.to_markdown())


def held_out_triples(data, content_model, held_out: np.ndarray, count: int, rng) -> list[list[int]]:
    """Draw three distinct known artists, each with played tracks, from each of ``count`` held-out playlists."""
    playable = set(np.unique(content_model.track_artist[(content_model.popularity > 0)
                                                        & (content_model.track_artist >= 0)]).tolist())
    triples = []
    for row in held_out:
        items = data.matrix.indices[data.matrix.indptr[row]:data.matrix.indptr[row + 1]]
        positions = np.asarray([content_model.tracks.get(u) for u in data.tracks.ids[items]], dtype=np.int64)
        artists = sorted({int(a) for a in content_model.track_artist[positions[positions >= 0]] if a in playable})
        if len(artists) >= 3:
            triples.append(sorted(rng.choice(artists, size=3, replace=False).tolist()))
        if len(triples) == count:
            break
    return triples


def bench_onboarding(data_dir: Path, count: int) -> None:
    from tastemaker.content.evaluation import evaluate_onboarding, playlist_artist_matrix
    from tastemaker.content.model import fit_content_model
    from tastemaker.signals import PlaylistTracks
    from tastemaker.store import Store

    rng = np.random.default_rng(0)
    with Store.open(data_dir, read_only=True) as store:
        pids, uris = store.playlist_track_pairs(source="mpd")
        data = PlaylistTracks.from_pairs(pids, uris)
        held_out_rows = rng.permutation(data.matrix.shape[0])[: max(count * 2, 500)]
        held_out_pids = np.asarray([int(p) for p in data.playlists.ids[held_out_rows]])
        started = time.perf_counter()
        model = fit_content_model(store, factors=64, exclude_pids=held_out_pids)
        fit_seconds = time.perf_counter() - started
    training = ~np.isin(np.arange(data.matrix.shape[0]), held_out_rows)
    coo = data.matrix[training].tocoo()
    positions = np.asarray([model.tracks.get(u) for u in data.tracks.ids], dtype=np.int64)
    artists = playlist_artist_matrix(coo.row, positions[coo.col], model.track_artist, len(model.artists))
    triples = held_out_triples(data, model, held_out_rows, count, rng)
    started = time.perf_counter()
    evaluation = evaluate_onboarding(model, artists, triples, n=50)
    print(f"\n## Onboarding from three liked artists (content model fitted in {fit_seconds:.0f} s, "
          f"{len(held_out_pids)} playlists held out)\n")
    print(f"{evaluation.triples} listeners, each three artists of one held-out playlist; 50 recommendations, tracks "
          "by the three left out of both lists. Closeness: mean playlist co-occurrence cosine of a list's artists "
          "to the three, on the training playlists.\n")
    print("| list | closeness | listeners where it is closer |")
    print("|---|---:|---:|")
    print(f"| onboarding (ALS fold-in) | {evaluation.onboarding_closeness:.4f} | {evaluation.onboarding_wins} |")
    print(f"| most popular tracks | {evaluation.popularity_closeness:.4f} | "
          f"{evaluation.triples - evaluation.onboarding_wins} |")
    print(f"\ncontent-based share of the recommendations: {evaluation.content_based_share:.3f}; "
          f"evaluation {time.perf_counter() - started:.0f} s")


def bench_tags(data_dir: Path) -> None:
    from tastemaker.content.evaluation import closeness_to, playlist_artist_matrix
    from tastemaker.content.tags import ArtistTags, link_to_catalogue
    from tastemaker.signals import PlaylistTracks
    from tastemaker.store import Store
    from tastemaker.store.content import artist_tag_counts, catalogue_artists

    with Store.open(data_dir, read_only=True) as store:
        counts = artist_tag_counts(store)
        if counts.num_rows == 0:
            print("\nno HetRec tags ingested; tag benchmark skipped")
            return
        catalogue = catalogue_artists(store)
        pids, uris = store.playlist_track_pairs(source="mpd")
        track_artists = store.track_artists()
    tags = ArtistTags.from_counts(counts)
    links = link_to_catalogue(tags, catalogue)
    data = PlaylistTracks.from_pairs(pids, uris)
    keys = catalogue.column("artist").to_pylist()
    row_of_key = {k: i for i, k in enumerate(keys)}
    artist_of_track = dict(zip(track_artists.column("track_uri").to_pylist(), track_artists.column("artist").to_pylist()))
    track_artist = np.asarray([row_of_key.get(artist_of_track.get(u), -1) for u in data.tracks.ids], dtype=np.int64)
    coo = data.matrix.tocoo()
    artists = playlist_artist_matrix(coo.row, coo.col, track_artist, len(keys))
    in_playlists = np.asarray(artists.sum(axis=0)).ravel() >= 5
    linked = np.flatnonzero((links >= 0) & in_playlists)
    rng = np.random.default_rng(0)
    sample = rng.choice(linked, size=min(300, len(linked)), replace=False)
    by_tags, at_random = [], []
    for artist in sample:
        similarity = tags.similarity([links[artist]])[0][links[linked]]
        similarity[linked == artist] = -np.inf
        nearest = linked[np.argsort(-similarity, kind="stable")[:10]]
        closeness = closeness_to(artists, [int(artist)])
        by_tags.append(closeness[nearest].mean())
        at_random.append(closeness[rng.choice(linked[linked != artist], size=10, replace=False)].mean())
    print(f"\n## HetRec tags as artist descriptors\n\n{len(linked)} catalogue artists in 5 or more playlists have "
          f"HetRec tags (linked by normalised name). For {len(sample)} of them, mean playlist co-occurrence cosine "
          f"to their 10 nearest artists by tags: {np.mean(by_tags):.4f}; to 10 random linked artists: "
          f"{np.mean(at_random):.4f}.")


def bench_titles(data_dir: Path, test_playlists: int, max_artists: int = 0) -> None:
    from tastemaker.content.title_vectors import TitleVectors
    from tastemaker.models.title import TitleMatch, TitleModel
    from tastemaker.pipeline import playlist_names
    from tastemaker.signals import PlaylistTracks
    from tastemaker.signals.titles import title_words
    from tastemaker.store import Store

    rng = np.random.default_rng(0)
    with Store.open(data_dir, read_only=True) as store:
        pids, uris = store.playlist_track_pairs(source="mpd")
        names = playlist_names(store)
        artist_names = dict(store.connection.execute("SELECT track_uri, artist_name FROM tracks").fetchall())
    data = PlaylistTracks.from_pairs(pids, uris)
    titles = [names.get(int(p)) for p in data.playlists.ids]
    test = rng.permutation(len(titles))[:test_playlists]
    train = np.setdiff1d(np.arange(len(titles)), test)
    matrix = data.matrix[train]
    started = time.perf_counter()
    model = TitleModel().fit([titles[i] for i in train], matrix)
    playlist_artists = []
    for row in train:
        items = data.matrix.indices[data.matrix.indptr[row]:data.matrix.indptr[row + 1]]
        playlist_artists.append([artist_names.get(u) for u in data.tracks.ids[items]])
    vectors = TitleVectors(max_artists=max_artists).fit([titles[i] for i in train], playlist_artists)
    fit_seconds = time.perf_counter() - started
    vocabulary = {t for t in model.vocabulary_ if not t.startswith("=")}
    test_titles = [titles[i] for i in test]
    _, matches, _ = model.title_query(test_titles)
    unknown = [i for i, m in zip(test, matches) if m == TitleMatch.UNKNOWN]
    expanded, replaced_any = [], 0
    for i in unknown:
        title, replaced = vectors.expand_title(titles[i], vocabulary)
        expanded.append(title)
        replaced_any += bool(replaced)
    popularity = np.asarray(matrix.sum(axis=0)).ravel()
    popular = set(np.argsort(-popularity, kind="stable")[:500].tolist())
    ids, _, expanded_matches = model.recommend_titles(expanded, N=500) if expanded else (np.zeros((0, 500)), None, [])
    popular_order = np.argsort(-popularity, kind="stable")[:1000].tolist()
    recall_fallback, recall_vectors = [], []
    for k, i in enumerate(unknown):
        hidden = set(data.matrix.indices[data.matrix.indptr[i]:data.matrix.indptr[i + 1]].tolist())
        recall_fallback.append(len(hidden & popular) / len(hidden))
        chosen = popular
        if expanded_matches[k] == TitleMatch.MATCHED:
            # As a continuation does, a short title list is completed with the most popular tracks.
            own = [item for item in ids[k].tolist() if item >= 0]
            chosen = set((own + [item for item in popular_order if item not in set(own)])[:500])
        recall_vectors.append(len(hidden & chosen) / len(hidden))
    print(f"\n## Title words ({fit_seconds:.0f} s to fit the title model and the word vectors)\n")
    print(f"Of {len(test_titles)} held-out playlists, {len(unknown)} have titles whose words the title model never "
          f"saw ({sum(bool(title_words(titles[i])) for i in unknown)} with at least one word); word vectors found "
          f"a stand-in for a word in {replaced_any} (artist tokens per title: {max_artists}). Title-only "
          f"recall@500 on those {len(unknown)}: most popular tracks {np.mean(recall_fallback) if unknown else 0:.4f}, "
          f"title model on the expanded titles, completed with the most popular tracks, "
          f"{np.mean(recall_vectors) if unknown else 0:.4f}.")
    for i in unknown[:10]:
        print(f"  {titles[i]!r} -> {vectors.expand_title(titles[i], vocabulary)[0]!r}")


if __name__ == "__main__":
    main()
