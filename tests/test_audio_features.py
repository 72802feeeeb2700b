import gzip
import json

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from tastemaker.errors import InputError
from tastemaker.ingest import ingest_mpd
from tastemaker.ingest.audio_features import ingest_audio_features
from tastemaker.signals import IdMap
from tastemaker.signals.audio import (CONTINUOUS_FEATURES, audio_feature_matrix, distance_to_seeds,
                                      distance_to_seeds_pairs, nearest_to_seeds)
from tastemaker.store import Store
from tastemaker.store.audio import AUDIO_FEATURE_COLUMNS, audio_coverage, read_audio_features

HEADER = "track_id," + ",".join(AUDIO_FEATURE_COLUMNS) + ",track_name"
VALUES = "0.5,0.6,5,-7.5,1,0.05,0.2,0.0,0.1,0.4,120.0,200000,4"
ID_A = "A" * 22
ID_B = "B" * 22
ID_C = "C" * 22
ID_D = "D" * 22


def features_row(key: str, values: str = VALUES, name: str = "song") -> str:
    return f"{key},{values},{name}"


def write_csv(path, lines):
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "data") as opened:
        yield opened


def test_ingest_counts_add_up(store, tmp_path):
    path = write_csv(tmp_path / "features.csv", [
        features_row(ID_A),
        features_row(f"spotify:track:{ID_B}"),  # a full URI in the key column
        features_row("not-a-track-id"),
        features_row(ID_C, VALUES.replace("0.6", "loud", 1)),
        features_row(ID_A, VALUES.replace("0.5", "0.9", 1)),  # repeats A: merged, first row wins
        features_row(ID_D, VALUES.replace("0.6", "", 1)),
        features_row(ID_D, VALUES.replace("0.6", "1.6", 1)),
        features_row(ID_D, VALUES.replace(",5,", ",5.5,", 1)),
        f"{ID_D},0.5",
        "",  # blank lines are not records
    ])
    report = ingest_audio_features(store, path)
    assert report.rows_read == 9
    assert report.rows_loaded == 2
    assert report.rows_merged == 1
    assert report.merged_already_stored == 0
    assert report.rows_rejected == 6
    assert report.rows_read == report.rows_loaded + report.rows_merged + report.rows_rejected
    assert report.reasons == {"malformed track id": 1, "non-numeric value": 1, "missing value": 1,
                              "value out of range": 1, "non-integer value": 1, "wrong number of fields": 1}
    assert "line 4, field 'track_id': malformed track id" in report.examples[0]


def test_ingest_stores_features_and_rejects(store, tmp_path):
    path = write_csv(tmp_path / "features.csv", [
        features_row(ID_A), features_row(ID_A, VALUES.replace("0.5", "0.9", 1)),
        features_row(ID_C, VALUES.replace("0.6", "loud", 1)),
    ])
    ingest_audio_features(store, path)
    table = read_audio_features(store)
    assert table.column("track_uri").to_pylist() == [f"spotify:track:{ID_A}"]
    assert table.column("danceability").to_pylist() == [0.5]
    assert table.column("duration_ms").to_pylist() == [200000]
    rejects = store.connection.execute("SELECT record_index, field, value, reason FROM rejects").fetchall()
    assert rejects == [(2, "energy", "loud", "non-numeric value")]


def test_second_ingest_merges_everything(store, tmp_path):
    path = write_csv(tmp_path / "features.csv", [features_row(ID_A), features_row(ID_B), features_row("bad")])
    ingest_audio_features(store, path)
    again = ingest_audio_features(store, path)
    assert again.rows_loaded == 0
    assert again.rows_merged == 2
    assert again.merged_already_stored == 2
    assert again.rows_rejected == 1
    assert store.connection.execute("SELECT count(*) FROM rejects").fetchall() == [(1,)]
    assert read_audio_features(store).num_rows == 2


def test_stored_features_not_overwritten(store, tmp_path):
    ingest_audio_features(store, write_csv(tmp_path / "first.csv", [features_row(ID_A)]))
    changed = write_csv(tmp_path / "second.csv", [features_row(ID_A, VALUES.replace("0.5", "0.9", 1))])
    report = ingest_audio_features(store, changed)
    assert report.merged_already_stored == 1
    assert read_audio_features(store).column("danceability").to_pylist() == [0.5]


def test_key_column_by_name_and_extra_columns(store, tmp_path):
    path = tmp_path / "features.csv"
    path.write_text("Name,Spotify URI," + ",".join(c.upper() for c in AUDIO_FEATURE_COLUMNS) + "\n"
                    f"x,spotify:track:{ID_A},{VALUES}\n", encoding="utf-8")
    with pytest.raises(InputError, match="no track id column found"):
        ingest_audio_features(store, path)
    report = ingest_audio_features(store, path, key_column="spotify uri")
    assert report.rows_loaded == 1


def test_gzipped_csv_with_bom(store, tmp_path):
    path = tmp_path / "features.csv.gz"
    path.write_bytes(gzip.compress(("\ufeff" + HEADER + "\n" + features_row(ID_A) + "\n").encode("utf-8")))
    assert ingest_audio_features(store, path).rows_loaded == 1


def test_missing_feature_column_rejected(store, tmp_path):
    path = tmp_path / "features.csv"
    path.write_text("track_id,danceability\n" + ID_A + ",0.5\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing feature columns energy, key"):
        ingest_audio_features(store, path)


def test_empty_file_rejected(store, tmp_path):
    path = tmp_path / "features.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="the file is empty"):
        ingest_audio_features(store, path)


def test_invalid_utf8_rejected(store, tmp_path):
    path = tmp_path / "features.csv"
    path.write_bytes((HEADER + "\n").encode() + b"\xff\xfe\n")
    with pytest.raises(InputError, match="invalid UTF-8"):
        ingest_audio_features(store, path)


@pytest.mark.parametrize("value", ["nan", "inf", "1_0", "0x1F"])
def test_special_numbers_rejected(store, tmp_path, value):
    path = write_csv(tmp_path / "features.csv", [features_row(ID_A, VALUES.replace("-7.5", value, 1))])
    report = ingest_audio_features(store, path)
    assert report.reasons == {"non-numeric value": 1}


def test_coverage_against_playlists(store, tmp_path):
    tracks = [{"track_uri": f"spotify:track:{key}", "track_name": "t", "artist_name": "a"}
              for key in (ID_A, ID_B, ID_C)]
    slice_path = tmp_path / "mpd.slice.0-1.json"
    slice_path.write_text(json.dumps({"playlists": [
        {"pid": 0, "name": "one", "num_tracks": 3, "tracks": tracks},
        {"pid": 1, "name": "two", "num_tracks": 1, "tracks": tracks[:1]},
    ]}), encoding="utf-8")
    ingest_mpd(store, [slice_path])
    report = ingest_audio_features(store, write_csv(tmp_path / "features.csv", [
        features_row(ID_A), features_row(ID_D)]))
    # A is 1 of 3 catalogue tracks and 2 of 4 playlist rows; D is in no playlist.
    assert (report.coverage.tracks, report.coverage.tracks_with_features) == (3, 1)
    assert (report.coverage.occurrences, report.coverage.occurrences_with_features) == (4, 2)
    assert report.coverage.track_share == pytest.approx(1 / 3)
    assert report.coverage.occurrence_share == pytest.approx(0.5)
    assert audio_coverage(store) == report.coverage


def feature_table(rows: dict[str, list[float]]) -> pa.Table:
    """Build a stored-features table; each value list follows AUDIO_FEATURE_COLUMNS."""
    columns = {"track_uri": list(rows)}
    for position, name in enumerate(AUDIO_FEATURE_COLUMNS):
        columns[name] = [values[position] for values in rows.values()]
    return pa.table(columns)


def base_values(**changes) -> list[float]:
    values = dict(zip(AUDIO_FEATURE_COLUMNS, [0.5, 0.5, 5, -7.0, 1, 0.1, 0.2, 0.0, 0.1, 0.5, 120.0, 200000, 4]))
    values.update(changes)
    return [values[c] for c in AUDIO_FEATURE_COLUMNS]


def test_feature_matrix_z_scores_by_hand():
    tracks = IdMap(["t0", "t1", "t2"])
    table = feature_table({"t2": base_values(energy=0.2), "t0": base_values(energy=0.8), "other": base_values()})
    features = audio_feature_matrix(tracks, table, columns=("energy", "tempo"))
    assert features.has_features.tolist() == [True, False, True]
    # energy 0.8 and 0.2: mean 0.5, population std 0.3. tempo is constant, so its std becomes 1.
    np.testing.assert_allclose(features.values[:, 0], [1.0, 0.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(features.values[:, 1], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(features.mean, [0.5, 120.0])
    np.testing.assert_allclose(features.std, [0.3, 1.0])


def test_feature_matrix_rejects_unknown_column():
    with pytest.raises(InputError, match="unknown audio feature 'mood'"):
        audio_feature_matrix(IdMap(["t0"]), feature_table({"t0": base_values()}), columns=("mood",))


def test_default_columns_leave_out_category_codes():
    assert "key" not in CONTINUOUS_FEATURES
    assert "mode" not in CONTINUOUS_FEATURES
    assert "time_signature" not in CONTINUOUS_FEATURES
    assert len(CONTINUOUS_FEATURES) == 10


def energy_catalogue():
    """Five tracks with energy 0.0, 0.1, 0.5, 0.9 and none; only energy is used."""
    tracks = IdMap(["t0", "t1", "t2", "t3", "t4"])
    table = feature_table({f"t{i}": base_values(energy=e) for i, e in enumerate([0.0, 0.1, 0.5, 0.9])})
    return audio_feature_matrix(tracks, table, columns=("energy",))


def test_nearest_to_seeds_euclidean():
    features = energy_catalogue()
    ids, scores = nearest_to_seeds(features, [0], N=5)
    assert ids.tolist() == [1, 2, 3, -1, -1]
    assert np.all(np.diff(scores[:3]) < 0)
    assert scores[3] == -np.inf


def test_nearest_to_seeds_can_include_seeds():
    ids, _ = nearest_to_seeds(energy_catalogue(), [0], N=2, exclude_seeds=False)
    assert ids.tolist() == [0, 1]


def test_nearest_to_seeds_without_features():
    ids, scores = nearest_to_seeds(energy_catalogue(), [4], N=3)
    assert ids.tolist() == [-1, -1, -1]
    assert np.all(scores == -np.inf)


def test_nearest_to_seeds_invalid_metric():
    with pytest.raises(InputError, match="unknown metric 'manhattan'"):
        nearest_to_seeds(energy_catalogue(), [0], N=2, metric="manhattan")


def test_distance_to_seeds_by_hand():
    features = energy_catalogue()
    std = features.std[0]
    distances = distance_to_seeds(features, [0, 3, 4], [1, 2, 4])
    # Seeds 0 and 3 have energy 0.0 and 0.9 (seed 4 has none): their mean is 0.45.
    np.testing.assert_allclose(distances[:2], [0.35 / std, 0.05 / std], rtol=1e-5)
    assert np.isnan(distances[2])


def test_distance_to_seeds_without_seed_features_is_nan():
    assert np.isnan(distance_to_seeds(energy_catalogue(), [4], [0, 1])).all()


def test_cosine_distance():
    tracks = IdMap(["t0", "t1", "t2"])
    table = feature_table({"t0": base_values(energy=0.9, valence=0.9), "t1": base_values(energy=0.9, valence=0.1),
                           "t2": base_values(energy=0.1, valence=0.9)})
    features = audio_feature_matrix(tracks, table, columns=("energy", "valence"))
    distances = distance_to_seeds(features, [0], [0, 1, 2], metric="cosine")
    assert distances[0] == pytest.approx(0.0, abs=1e-6)
    assert distances[1] > 0
    assert distances[2] > 0


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_distance_pairs_match_single(metric):
    features = energy_catalogue()
    seed_rows = sp.csr_matrix(np.array([[1, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 1, 1, 0, 0]], dtype=np.float32))
    pair_rows = np.array([0, 0, 1, 2, 2])
    pair_items = np.array([1, 4, 0, 3, 0])
    paired = distance_to_seeds_pairs(features, seed_rows, pair_rows, pair_items, metric=metric)
    for position, (row, item) in enumerate(zip(pair_rows, pair_items)):
        single = distance_to_seeds(features, seed_rows[row].indices, [item], metric=metric)[0]
        np.testing.assert_allclose(paired[position], single, rtol=1e-5, atol=1e-6)


def test_oversized_field_rejected(store, tmp_path):
    path = write_csv(tmp_path / "features.csv", [features_row(ID_A, name="x" * 200_000)])
    with pytest.raises(InputError, match="line 2: invalid CSV"):
        ingest_audio_features(store, path)
    assert read_audio_features(store).num_rows == 0


def test_blank_lines_before_header(store, tmp_path):
    path = tmp_path / "features.csv"
    path.write_text("\n\n" + HEADER + "\n" + features_row(ID_A) + "\n", encoding="utf-8")
    assert ingest_audio_features(store, path).rows_loaded == 1
