"""Onboarding new listeners: fold-in, the content model bundle, tags, title vectors and the commands."""

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from conftest import invoke_tastemaker
from tastemaker.content.evaluation import evaluate_onboarding, playlist_artist_matrix
from tastemaker.content.model import fit_content_model, load_content_model, write_content_model
from tastemaker.content.onboarding import Onboarder, fold_in
from tastemaker.content.tags import ArtistTags, link_to_catalogue
from tastemaker.content.title_vectors import TitleVectors
from tastemaker.errors import BundleError, InputError
from tastemaker.ingest import ingest_mpd
from tastemaker.ingest.audio_features import ingest_audio_features
from tastemaker.models.implicit_models import ALSRecommender
from tastemaker.signals import PlaylistTracks
from tastemaker.store import Store
from tastemaker.store.audio import AUDIO_FEATURE_COLUMNS

UNPLAYED = 40  # tracks with audio features that no playlist contains


def test_fold_in_matches_implicit():
    rng = np.random.default_rng(0)
    matrix = sp.csr_matrix((rng.random((200, 80)) < 0.1).astype(np.float32))
    als = ALSRecommender(factors=8, iterations=5, regularization=0.1, alpha=5.0).fit(matrix)
    liked = np.array([3, 17, 42])
    row = sp.csr_matrix((np.ones(3, dtype=np.float32), (np.zeros(3, dtype=int), liked)), shape=(1, 80))
    expected = als.user_factors_for(row)[0]
    np.testing.assert_allclose(fold_in(als.track_factors, liked, 5.0, 0.1), expected, rtol=1e-3, atol=1e-5)


def features_csv(path, uris, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["track_id," + ",".join(AUDIO_FEATURE_COLUMNS)]
    for uri in uris:
        u = rng.random(8)
        lines.append(f"{uri},{u[0]:.3f},{u[1]:.3f},{rng.integers(12)},{-20 * u[2]:.2f},{rng.integers(2)},{u[3]:.3f},"
                     f"{u[4]:.3f},{u[5]:.3f},{u[6]:.3f},{u[7]:.3f},{90 + 60 * u[0]:.1f},{rng.integers(100000, 300000)},4")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def content_dir(tmp_path_factory, generated_mpd):
    """A store of the generated playlists with audio features for 300 played and UNPLAYED unplayed tracks."""
    data_dir = tmp_path_factory.mktemp("content") / "data"
    with Store.open(data_dir) as store:
        ingest_mpd(store, [generated_mpd])
        played = [r[0] for r in store.connection.execute(
            "SELECT track_uri FROM tracks ORDER BY track_uri LIMIT 300").fetchall()]
        unplayed = [f"spotify:track:{i:022d}" for i in range(UNPLAYED)]
        ingest_audio_features(store, features_csv(data_dir.parent / "features.csv", played + unplayed))
        model = fit_content_model(store, factors=16, iterations=8)
    write_content_model(data_dir, model)
    return data_dir


@pytest.fixture(scope="module")
def content_model(content_dir):
    return load_content_model(content_dir)


def test_unplayed_tracks_get_mapped_factors(content_model):
    assert content_model.content_based.sum() == UNPLAYED
    assert content_model.tracks.ids[-1] == f"spotify:track:{UNPLAYED - 1:022d}"
    mapped = content_model.factors[content_model.content_based]
    assert np.all(np.linalg.norm(mapped, axis=1) > 0)
    assert len(content_model.index) == int(((content_model.popularity > 0) | content_model.content_based).sum())
    assert content_model.manifest["sources"]["audio features table"]["mapped_tracks"] == UNPLAYED


def test_content_based_recommendations_say_so(content_model):
    first = content_model.tracks.ids[int(np.flatnonzero(content_model.popularity > 0)[0])]
    everything = len(content_model.index) - 1
    result = Onboarder(content_model).recommend(tracks=[first], n=everything)
    content_based = [r for r in result.recommendations if r.content_based]
    assert len(content_based) == UNPLAYED
    assert all(r.explanation.startswith("content-based:") for r in content_based)
    assert all(r.explanation.startswith("collaborative:") for r in result.recommendations if not r.content_based)


def test_liked_artists_beat_popularity_on_closeness(content_dir, content_model):
    with Store.open(content_dir, read_only=True) as store:
        pids, uris = store.playlist_track_pairs()
    data = PlaylistTracks.from_pairs(pids, uris)
    positions = np.asarray([content_model.tracks.get(u) for u in data.tracks.ids], dtype=np.int64)
    coo = data.matrix.tocoo()
    artists = playlist_artist_matrix(coo.row, positions[coo.col], content_model.track_artist,
                                     len(content_model.artists))
    rng = np.random.default_rng(0)
    triples = []
    for row in rng.permutation(artists.shape[0]):
        present = artists.indices[artists.indptr[row]:artists.indptr[row + 1]]
        if len(present) >= 3:
            triples.append(sorted(rng.choice(present, size=3, replace=False).tolist()))
        if len(triples) == 20:
            break
    evaluation = evaluate_onboarding(content_model, artists, triples, n=20)
    assert evaluation.onboarding_closeness > 2 * evaluation.popularity_closeness
    assert evaluation.onboarding_wins >= 18


def test_picks_resolve_and_unknown_ones_are_reported(content_model):
    artist = content_model.artist_names[int(content_model.track_artist[0])]
    result = Onboarder(content_model).recommend(artists=[artist.upper(), "Nobody Anybody"], tracks=["spotify:track:x"],
                                                n=5, exclude_picked_artists=True)
    assert result.unknown == ["artist 'Nobody Anybody'", "track spotify:track:x"]
    assert len(result.recommendations) == 5
    rows = {content_model.tracks.get(r.track_uri) for r in result.recommendations}
    assert int(content_model.track_artist[0]) not in {int(content_model.track_artist[r]) for r in rows}
    with pytest.raises(InputError, match="none of the picks is known"):
        Onboarder(content_model).recommend(artists=["Nobody Anybody"])


def test_altered_bundle_is_rejected(tmp_path, content_dir):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(content_dir, copy)
    bundle = copy / "content-bundles" / (copy / "content-bundles" / "current").read_text().strip()
    factors = np.load(bundle / "factors.npy")
    np.save(bundle / "factors.npy", factors * 2)
    with pytest.raises(BundleError, match="does not match its SHA-256"):
        load_content_model(copy)


def test_artist_tags_similarity_and_link():
    table = pa.table({
        "artist_uri": ["a", "a", "b", "b", "c", "c"],
        "name": ["Alpha", "Alpha", "Beta", "Beta", "Gamma", "Gamma"],
        "tag": ["rock", "indie", "rock", "indie", "jazz", "smooth"],
        "users": [5, 3, 4, 2, 6, 2],
    })
    tags = ArtistTags.from_counts(table)
    similarity = tags.similarity([0])[0]
    assert similarity[0] == pytest.approx(1.0)
    assert similarity[1] > 0.9
    assert similarity[2] == pytest.approx(0.0)
    assert tags.top_tags(2, 1) == ["jazz"]
    catalogue = pa.table({"artist": ["name:The Alpha", "name:Delta"], "name": ["The Alpha", "Delta"]})
    assert link_to_catalogue(tags, catalogue).tolist() == [0, -1]
    with pytest.raises(InputError, match="no artist tags"):
        ArtistTags.from_counts(table.slice(0, 0))


def test_title_vectors_stand_in_for_unseen_words(tmp_path):
    titles, artists = [], []
    for i in range(200):
        if i % 2:
            titles.append(["workout", "gym workout", "workout mix"][i % 3])
            artists.append(["Power Band", "Lift Crew"])
        else:
            titles.append(["chill", "chill vibes", "sunday chill"][i % 3])
            artists.append(["Soft Sound", "Calm Duo"])
    vectors = TitleVectors(vector_size=16, epochs=20).fit(titles, artists)
    expanded, replaced = vectors.expand_title("chillin workouts", {"chill", "workout"}, min_similarity=0.3)
    assert replaced == {"chillin": "chill", "workouts": "workout"}
    assert expanded == "chill workout"
    vectors.save(tmp_path / "vectors")
    loaded = TitleVectors.load(tmp_path / "vectors")
    np.testing.assert_allclose(loaded.vector("chillin"), vectors.vector("chillin"))


def test_onboard_command(content_dir, content_model):
    artist = content_model.artist_names[int(content_model.track_artist[0])]
    result = invoke_tastemaker("--data-dir", content_dir, "onboard", "--artist", artist, "--artist", "Nobody Anybody",
                               "-n", "5")
    assert result.exit_code == 0, result.output
    assert f"pick: artist '{artist}'" in result.output
    assert "artist 'Nobody Anybody' was not found and is ignored" in result.output
    assert result.output.count("collaborative:") + result.output.count("content-based:") == 5


def test_onboard_command_errors(tmp_path, content_dir):
    result = invoke_tastemaker("--data-dir", content_dir, "onboard")
    assert "give at least one --artist NAME or --track URI" in str(result.exception)
    result = invoke_tastemaker("--data-dir", tmp_path, "onboard", "--artist", "x")
    assert isinstance(result.exception, BundleError)
    assert "run `tastemaker train-content` first" in str(result.exception)
