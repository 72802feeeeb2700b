"""Content-to-factor mappers, the cold-track protocol on a synthetic world, and the cold-start command."""

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from conftest import invoke_tastemaker, track_uri
from tastemaker.content.coldstart import (KNN_LABEL, MAPPING_LABEL, RANDOM_LABEL, ColdStartSettings,
                                          _training_matrix, run_cold_start)
from tastemaker.content.mapping import ContentMapper
from tastemaker.errors import InputError
from tastemaker.ingest import ingest_mpd
from tastemaker.ingest.audio_features import ingest_audio_features
from tastemaker.store import Store
from tastemaker.store.audio import AUDIO_FEATURE_COLUMNS

GENRES = 8
TRACKS_PER_GENRE = 120


def synthetic_world(seed: int = 0, playlists: int = 800, length: int = 20):
    """Playlists that each draw from one genre, and audio features that carry the genre and popularity.

    Returns parallel pid and URI arrays and an audio-feature table for every track.
    """
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, TRACKS_PER_GENRE + 1) ** 0.9
    uris = np.array([track_uri(f"g{g}t{t}") for g in range(GENRES) for t in range(TRACKS_PER_GENRE)], dtype=object)
    pids, rows = [], []
    for pid in range(playlists):
        genre = rng.integers(GENRES)
        picks = rng.choice(TRACKS_PER_GENRE, size=length, replace=False, p=weights / weights.sum())
        pids.extend([pid] * length)
        rows.extend((genre * TRACKS_PER_GENRE + picks).tolist())
    centroids = rng.normal(0, 2, size=(GENRES, len(AUDIO_FEATURE_COLUMNS)))
    genre_of = np.repeat(np.arange(GENRES), TRACKS_PER_GENRE)
    values = centroids[genre_of] + rng.normal(0, 0.5, size=(len(uris), len(AUDIO_FEATURE_COLUMNS)))
    values[:, 0] = np.log(np.tile(weights, GENRES)) + rng.normal(0, 0.2, size=len(uris))
    audio = pa.table({"track_uri": uris.tolist(), **{c: values[:, i] for i, c in enumerate(AUDIO_FEATURE_COLUMNS)}})
    return np.asarray(pids), uris[np.asarray(rows)], audio


def test_ridge_recovers_linear_map():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2000, 6))
    weights = rng.normal(size=(6, 4))
    factors = features @ weights + 3.0
    mapper = ContentMapper("ridge", alpha=1e-3).fit(features, factors)
    test = rng.normal(size=(50, 6))
    np.testing.assert_allclose(mapper.predict(test), test @ weights + 3.0, atol=1e-3)


def test_lightgbm_learns_nonlinear_map():
    rng = np.random.default_rng(2)
    features = rng.uniform(-2, 2, size=(3000, 3))
    factors = np.column_stack([np.sin(features[:, 0]), features[:, 1] ** 2, np.abs(features[:, 2])])
    mapper = ContentMapper("lightgbm", components=3).fit(features[:2500], factors[:2500])
    predicted = mapper.predict(features[2500:])
    residual = ((predicted - factors[2500:]) ** 2).sum()
    total = ((factors[2500:] - factors[2500:].mean(axis=0)) ** 2).sum()
    assert 1 - residual / total > 0.9


def test_knn_averages_the_nearest_tracks():
    features = np.array([[0.0], [0.1], [10.0], [10.1]] * 6)
    factors = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 5.0], [0.0, 7.0]] * 6)
    mapper = ContentMapper("knn", neighbours=12).fit(features, factors)
    np.testing.assert_allclose(mapper.predict(np.array([[0.05], [10.05]])), [[2.0, 0.0], [0.0, 6.0]], atol=1e-6)


def test_mapper_rejects_bad_input():
    with pytest.raises(InputError, match="unknown content mapper 'deep'"):
        ContentMapper("deep")
    with pytest.raises(InputError, match="at least 20 tracks"):
        ContentMapper().fit(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(InputError, match="NaN"):
        ContentMapper().fit(np.full((30, 2), np.nan), np.zeros((30, 3)))


def test_training_matrix_drops_cold_tracks_and_hidden_rows():
    matrix = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 0, 1, 1], [0, 1, 1, 1]], dtype=np.float32))
    is_cold = np.array([False, False, True, False])
    train = _training_matrix(matrix, is_cold, np.array([1]), [np.array([0])])
    assert train.toarray().tolist() == [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 0, 1]]


@pytest.fixture(scope="module")
def world_result():
    pids, uris, audio = synthetic_world()
    settings = ColdStartSettings(test_playlists=200, seeds=5, n=50, factors=16, iterations=8, warm_reference=True,
                                 exact_search=True)
    result = run_cold_start(pids, uris, audio, settings)
    result.played_tracks = len(set(uris.tolist()))
    return result


def test_protocol_counts(world_result):
    counts = world_result.counts
    # Every track has features, but the catalogue holds only the tracks some playlist drew.
    assert counts["tracks_with_features"] == world_result.played_tracks
    assert counts["cold_tracks"] == round(0.1 * world_result.played_tracks)
    assert counts["test_playlists"] == 200
    assert counts["warm_tracks"] + counts["cold_tracks"] <= counts["tracks"]
    assert world_result.random_expectation == pytest.approx(50 / (counts["warm_tracks"] + counts["cold_tracks"]))


def test_lightgbm_mapping_beats_random_and_knn(world_result):
    mapping = world_result.row(MAPPING_LABEL.format("lightgbm"))
    assert world_result.ratio_to_random(MAPPING_LABEL.format("lightgbm")) >= 3.0
    assert mapping.cold_recall > world_result.row(RANDOM_LABEL).cold_recall
    assert world_result.row(KNN_LABEL).cold_places == pytest.approx(mapping.cold_places)
    assert mapping.cold_recall > world_result.row(KNN_LABEL).cold_recall


def test_report_lists_every_method(world_result):
    text = world_result.to_markdown()
    for label in ("content mapping (lightgbm)", "content mapping (ridge)", "content mapping (knn)", RANDOM_LABEL,
                  KNN_LABEL, "warm reference"):
        assert f"| {label}" in text
    assert world_result.to_csv().count("\n") == len(world_result.rows) + 1


def test_protocol_is_deterministic():
    pids, uris, audio = synthetic_world(playlists=300)
    settings = ColdStartSettings(test_playlists=50, seeds=5, n=50, factors=8, iterations=4, mappers=("ridge",),
                                 warm_reference=False, exact_search=True)
    first = run_cold_start(pids, uris, audio, settings)
    second = run_cold_start(pids, uris, audio, settings)
    assert [r.cold_recall for r in first.rows] == [r.cold_recall for r in second.rows]


def test_protocol_rejects_bad_settings():
    pids, uris, audio = synthetic_world(playlists=50)
    with pytest.raises(InputError, match="cold share must be between 0 and 1"):
        run_cold_start(pids, uris, audio, ColdStartSettings(cold_share=1.5))
    with pytest.raises(InputError, match="at least 500 other tracks"):
        run_cold_start(pids, uris, audio, ColdStartSettings(seeds=500))


def test_cold_start_command(tmp_path, generated_mpd):
    data_dir = tmp_path / "data"
    with Store.open(data_dir) as store:
        ingest_mpd(store, [generated_mpd])
        uris = [row[0] for row in store.connection.execute(
            "SELECT track_uri FROM tracks ORDER BY track_uri LIMIT 400").fetchall()]
    rng = np.random.default_rng(0)
    lines = ["track_id," + ",".join(AUDIO_FEATURE_COLUMNS)]
    for uri in uris:
        unit = rng.random(7)
        lines.append(f"{uri},{unit[0]:.3f},{unit[1]:.3f},{rng.integers(12)},{-20 * unit[2]:.2f},{rng.integers(2)},"
                     f"{unit[3]:.3f},{unit[4]:.3f},{unit[5]:.3f},{unit[6]:.3f},0.5,{80 + 80 * unit[0]:.1f},"
                     f"{rng.integers(100000, 300000)},4")
    csv_path = tmp_path / "features.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    with Store.open(data_dir) as store:
        ingest_audio_features(store, csv_path)

    out = tmp_path / "reports"
    result = invoke_tastemaker("--data-dir", data_dir, "cold-start", "--test-playlists", "30", "--seeds", "3",
                               "--factors", "8", "--iterations", "3", "--mapper", "ridge", "--no-warm-reference",
                               "--exact-search", "--out", out)
    assert result.exit_code == 0, result.output
    for label in ("content mapping (ridge)", "random ranks", "audio kNN of the seeds"):
        assert label in result.output
    assert len(list(out.glob("cold-start-*.md"))) == 1
    assert len(list(out.glob("cold-start-*.csv"))) == 1


def test_cold_start_command_needs_audio_features(trained_dir):
    result = invoke_tastemaker("--data-dir", trained_dir, "cold-start")
    assert isinstance(result.exception, InputError)
    assert "has no audio features" in str(result.exception)
