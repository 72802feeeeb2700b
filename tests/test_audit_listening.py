"""The audit on listening users: HetRec play counts and generated Spotify play events, through code and the CLI."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from conftest import invoke_tastemaker
from listening_fixtures import extended_play, write_records
from tastemaker.audit.listening_data import listening_audit_data
from tastemaker.audit.report import write_audit_report
from tastemaker.audit.run import AuditSettings, model_input, run_audit, user_groups
from tastemaker.errors import InputError
from tastemaker.generate_listening import generate_listening, write_extended_history
from tastemaker.ingest.hetrec import ingest_hetrec
from tastemaker.ingest.names import synthetic_artist_uri
from tastemaker.store import Store

HETREC_HEADERS = {
    "artists.dat": "id\tname\turl\tpictureURL",
    "tags.dat": "tagID\ttagValue",
    "user_artists.dat": "userID\tartistID\tweight",
    "user_taggedartists.dat": "userID\tartistID\ttagID\tday\tmonth\tyear",
    "user_friends.dat": "userID\tfriendID",
}
# A hand-made HetRec world. Users 1-4 are mainstream: each plays the popular
# artists 1, 2 and 3. Users 5-8 are niche: each plays three artists nobody
# else plays. Users 9-11 play two popular artists each, too few to be
# audited with a hold-out of 1 and 2 training items, so they stay whole in
# training and keep every popular artist's training popularity at 2 or more,
# above the niche artists' 1, whichever items the hold-out draws.
POPULAR = (1, 2, 3)
NICHE = {5: (11, 12, 13), 6: (14, 15, 16), 7: (17, 18, 19), 8: (20, 21, 22)}
BACKGROUND = {9: (1, 2), 10: (2, 3), 11: (1, 3)}
# Every user plays an artist this many times, so its confidence weight depends on the artist only.
PLAYS = {artist: 10 * artist for artist in (*POPULAR, *[a for artists in NICHE.values() for a in artists])}
# (user, artist, tag): artist 1 is tagged rock twice and pop once.
TAGGINGS = [(1, 1, 1), (2, 1, 1), (3, 1, 2), (1, 2, 2), (5, 11, 3), (6, 14, 3)]
TAGS = {1: "rock", 2: "pop", 3: "folk"}


def write_hetrec(folder):
    artists = [f"{a}\tArtist {a}\thttp://x\thttp://y" for a in PLAYS]
    plays = [f"{u}\t{a}\t{PLAYS[a]}" for u in range(1, 5) for a in POPULAR]
    plays += [f"{u}\t{a}\t{PLAYS[a]}" for u, artists_of in NICHE.items() for a in artists_of]
    plays += [f"{u}\t{a}\t{PLAYS[a]}" for u, artists_of in BACKGROUND.items() for a in artists_of]
    contents = {
        "artists.dat": artists,
        "tags.dat": [f"{t}\t{name}" for t, name in TAGS.items()],
        "user_artists.dat": plays,
        "user_taggedartists.dat": [f"{u}\t{a}\t{t}\t1\t4\t2009" for u, a, t in TAGGINGS],
        "user_friends.dat": [],
    }
    folder.mkdir(parents=True)
    for name, header in HETREC_HEADERS.items():
        (folder / name).write_text("\n".join([header, *contents[name]]) + "\n", encoding="utf-8")
    return folder


def artist_index(data, artist: int) -> int:
    return data.tracks.get(synthetic_artist_uri(f"Artist {artist}"))


@pytest.fixture(scope="module")
def hetrec_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hetrec") / "data"
    with Store.open(data_dir) as store:
        ingest_hetrec(store, write_hetrec(data_dir.parent / "hetrec"))
    return data_dir


@pytest.fixture(scope="module")
def hetrec_data(hetrec_dir):
    with Store.open(hetrec_dir, read_only=True) as store:
        return listening_audit_data(store, "hetrec", holdout=1, min_train=2, seed=3, categories="tag")


# HetRec play counts


def test_hetrec_audits_users_with_enough_items(hetrec_data):
    assert hetrec_data.histories.shape[0] == 8
    assert hetrec_data.train.shape[0] == 11
    assert hetrec_data.description["users_skipped"] == 3
    assert hetrec_data.description["items"] == "artists"


def test_hetrec_hidden_one_artist_outside_history(hetrec_data):
    for row, hidden in enumerate(hetrec_data.hidden):
        history = set(hetrec_data.histories[row].indices.tolist())
        assert len(hidden) == 1
        assert len(history) == 2
        assert not hidden & history
        assert not hidden & set(hetrec_data.weighted_histories[row].indices.tolist())


def test_hetrec_hidden_completes_user_artists(hetrec_data):
    owners = [set(POPULAR)] * 4 + [set(artists) for artists in NICHE.values()]
    by_index = {artist_index(hetrec_data, a): a for a in PLAYS}
    for row, hidden in enumerate(hetrec_data.hidden):
        history = {by_index[i] for i in hetrec_data.histories[row].indices.tolist()}
        owner = next(artists for artists in owners if history <= artists)
        owners.remove(owner)
        (missing,) = owner - history
        index = artist_index(hetrec_data, missing)
        if index >= 0:
            assert hidden == {index}
        else:
            # Only this user plays the hidden artist, so no training row contains it.
            assert min(hidden) < -1
    assert owners == []


def test_hetrec_mainstream_niche_split(hetrec_data):
    popular = {artist_index(hetrec_data, a) for a in POPULAR}
    labels = user_groups(hetrec_data.histories, hetrec_data.train.getnnz(axis=0).astype(np.float64))
    for row, label in enumerate(labels):
        history = set(hetrec_data.histories[row].indices.tolist())
        assert label == ("mainstream" if history <= popular else "niche")
    assert (labels == "mainstream").sum() == 4


def test_hetrec_items_are_their_own_artists(hetrec_data):
    assert hetrec_data.n_artists == hetrec_data.n_items
    assert hetrec_data.track_artist.tolist() == list(range(hetrec_data.n_items))
    assert np.isnan(hetrec_data.durations_ms).all()


def test_hetrec_tag_categories(hetrec_data):
    assert hetrec_data.category_kind == "tag"
    row = hetrec_data.item_categories[artist_index(hetrec_data, 1)].toarray().ravel()
    # Artist 1: rock from two users, pop from one.
    assert sorted(row[row > 0].tolist()) == pytest.approx([1 / 3, 2 / 3])
    assert hetrec_data.item_categories[artist_index(hetrec_data, 12)].nnz == 0


def test_hetrec_confidence_weights(hetrec_data):
    # Confidence 1 + alpha * log(1 + plays / epsilon) with the defaults alpha 1 and epsilon 1.
    weighted = hetrec_data.weighted_train.tocoo()
    by_index = {artist_index(hetrec_data, a): a for a in PLAYS}
    for column, value in zip(weighted.col, weighted.data):
        assert value == pytest.approx(1 + math.log1p(PLAYS[by_index[column]]), rel=1e-6)
    assert set(hetrec_data.train.data.tolist()) == {1.0}
    assert (hetrec_data.weighted_train != 0).toarray().tolist() == (hetrec_data.train != 0).toarray().tolist()


def test_model_input_feeds_als_confidence(hetrec_data):
    train, histories, params = model_input(hetrec_data, "als", {"model": "als", "factors": 4})
    assert train is hetrec_data.weighted_train
    assert histories is hetrec_data.weighted_histories
    assert params == {"alpha": 1.0, "factors": 4}
    assert model_input(hetrec_data, "als", {"alpha": 5.0})[2] == {"alpha": 5.0}
    train, histories, params = model_input(hetrec_data, "itemknn", {"model": "itemknn"})
    assert train is hetrec_data.train
    assert histories is hetrec_data.histories
    assert params == {}


def test_hetrec_popularity_ndcg_by_group(hetrec_data):
    # A mainstream user's one hidden artist is the only popular artist outside their history, so the
    # popularity model ranks it first (NDCG 1). A niche user's hidden artist has popularity 1 or 0 and
    # ranks below the popular artists, outside a list of 1.
    result = run_audit(hetrec_data, [("popularity", {"model": "popularity"})],
                       AuditSettings(N=1, candidates=3, reference_factors=4))
    by_group = {row["group"]: row for row in result.select("popularity", "none")}
    assert by_group["mainstream"]["ndcg"] == pytest.approx(1.0)
    assert by_group["niche"]["ndcg"] == 0.0
    assert by_group["all"]["ndcg"] == pytest.approx(0.5)
    assert by_group["all"]["users"] == 8


def test_hetrec_data_needs_counts(tmp_path):
    path = write_records(tmp_path / "Streaming_History_Audio_2021.json", [extended_play(1)])
    invoke_tastemaker("--data-dir", tmp_path / "data", "ingest", "spotify-extended", path)
    with Store.open(tmp_path / "data", read_only=True) as store:
        with pytest.raises(InputError, match="has no HetRec play counts to audit"):
            listening_audit_data(store, "hetrec")


# Generated play events


@pytest.fixture(scope="module")
def generated():
    return generate_listening(n_users=30, n_tracks=300, n_artists=30, sessions_per_user=12, seed=11)


def most_played(generated) -> str:
    return generated.track_uris[np.bincount(generated.track).argmax()]


@pytest.fixture(scope="module")
def plays_dir(tmp_path_factory, generated):
    folder = tmp_path_factory.mktemp("plays")
    write_extended_history(generated, folder / "export")
    result = invoke_tastemaker("--data-dir", folder / "data", "ingest", "spotify-extended", folder / "export")
    assert result.exit_code == 0, result.raw
    with Store.open(folder / "data") as store:
        store.connection.execute("UPDATE tracks SET duration_ms = 181000 WHERE track_uri = ?",
                                 [most_played(generated)])
    return folder / "data"


@pytest.fixture(scope="module")
def plays_data(plays_dir):
    with Store.open(plays_dir, read_only=True) as store:
        return listening_audit_data(store, "auto", holdout=4, min_train=5)


def expected_hidden(generated, holdout: int, min_train: int) -> list[frozenset[str]]:
    """Return each user's last ``holdout`` newly streamed tracks, ordered by first play, from the generator."""
    hidden = []
    for user in range(len(generated.user_names)):
        mine = np.flatnonzero(generated.user == user)
        mine = mine[np.argsort(generated.ts[mine], kind="stable")]
        first_play: dict[str, int] = {}
        streamed: set[str] = set()
        for play in mine:
            uri = generated.track_uris[generated.track[play]]
            first_play.setdefault(uri, int(generated.ts[play]))
            # Generated plays that are not skipped last at least 36 s, past the 30-second threshold.
            if not generated.skipped[play]:
                streamed.add(uri)
        if len(streamed) < holdout + min_train:
            continue
        hidden.append(frozenset(sorted(streamed, key=first_play.get)[-holdout:]))
    return hidden


def test_plays_hidden_are_last_streamed(plays_data, generated):
    assert plays_data.description["kind"] == "temporal"
    tracks = plays_data.tracks
    found = sorted((tuple(sorted(tracks.ids[i] for i in hidden if i >= 0)), sum(1 for i in hidden if i < 0))
                   for hidden in plays_data.hidden)
    expected = sorted((tuple(sorted(uri for uri in hidden if uri in tracks)),
                       sum(1 for uri in hidden if uri not in tracks)) for hidden in expected_hidden(generated, 4, 5))
    assert len(found) > 10
    assert found == expected


def test_plays_hidden_never_in_history(plays_data):
    for row, hidden in enumerate(plays_data.hidden):
        assert len(hidden) == 4
        assert not hidden & set(plays_data.histories[row].indices.tolist())
        assert not hidden & set(plays_data.weighted_histories[row].indices.tolist())


def test_plays_skips_only_in_weighted_rows(plays_data):
    # A track a user skipped more than streamed has a negative confidence: ALS reads it, the binary rows omit it.
    negative = plays_data.weighted_train.copy()
    negative.data = (negative.data < 0).astype(np.float32)
    negative.eliminate_zeros()
    assert negative.nnz > 0
    assert plays_data.train.multiply(negative).nnz == 0


def test_plays_track_artist_map(plays_data, generated):
    name_of = dict(zip(generated.track_uris.tolist(), generated.artist_names[generated.track_artist].tolist()))
    pairs = {(int(plays_data.track_artist[i]), name_of[uri]) for i, uri in enumerate(plays_data.tracks.ids)}
    assert len(pairs) == plays_data.n_artists == len({name for _, name in pairs})
    assert (plays_data.track_artist >= 0).all()
    assert plays_data.category_kind == "artist"


def test_plays_durations_where_known(plays_data, generated):
    known = plays_data.tracks.get(most_played(generated))
    assert known >= 0
    assert plays_data.durations_ms[known] == 181000
    assert np.isnan(np.delete(plays_data.durations_ms, known)).all()


def test_plays_artist_level(plays_dir, generated):
    with Store.open(plays_dir, read_only=True) as store:
        data = listening_audit_data(store, "plays", level="artist", holdout=2, min_train=3)
    assert data.description["items"] == "artists"
    assert set(data.tracks.ids) <= {synthetic_artist_uri(name) for name in generated.artist_names}
    assert data.n_artists == data.n_items


def test_plays_max_users_sample(plays_dir, plays_data):
    with Store.open(plays_dir, read_only=True) as store:
        sample = listening_audit_data(store, "plays", holdout=4, min_train=5, max_users=5)
    assert sample.histories.shape[0] == 5
    assert sample.train.shape == plays_data.train.shape
    every = {tuple(plays_data.histories[r].indices.tolist()) for r in range(plays_data.histories.shape[0])}
    assert {tuple(sample.histories[r].indices.tolist()) for r in range(5)} <= every


def test_plays_audit_report(plays_data, tmp_path):
    models = [("popularity", {"model": "popularity"}), ("als", {"model": "als", "factors": 8, "iterations": 5}),
              ("itemknn", {"model": "itemknn"})]
    result = run_audit(plays_data, models, AuditSettings(N=10, candidates=30, reference_factors=8),
                       reranks=[("calibration", 0.5)], frontier_models=["als"], frontier_strengths=(0.3, 1.0))

    users = plays_data.histories.shape[0]
    for model in ("popularity", "als", "itemknn"):
        groups = {row["group"]: row["users"] for row in result.select(model, "none")}
        assert groups["all"] == users
        assert groups["mainstream"] + groups["niche"] == users
    files = write_audit_report(result, tmp_path / "report")
    assert (tmp_path / "report" / "frontier-als.png").stat().st_size > 0
    text = files["markdown"].read_text()
    assert f"audited rows: {users} listening users" in text
    assert "ALS is fitted on confidence weights" in text
    with open(files["audit_csv"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["model"] for row in rows} == {"popularity", "als", "itemknn"}


# The CLI


def test_cli_audit_listening(plays_dir, tmp_path):
    result = invoke_tastemaker("--data-dir", plays_dir, "audit", "--users", "listening", "-m", "popularity",
                               "-m", "als", "-p", "als.factors=8", "-n", "10", "--candidates", "30",
                               "--holdout", "4", "--strengths", "0.5", "--out", tmp_path / "out", "--no-plots")
    assert result.exit_code == 0, result.raw
    assert "frontier of als:" in result.output
    text = (tmp_path / "out" / "audit.md").read_text()
    assert "Temporal leave-last-out" in text


@pytest.mark.parametrize(("args", "message"), [
    (["--users", "crowd"], "invalid --users 'crowd': choose one of playlists, listening, plays, hetrec"),
    (["--users", "listening", "--bucket", "first-5"], "--bucket applies to playlists only"),
    (["--holdout", "3"], "--holdout applies to listening users only"),
    (["--users", "hetrec", "--level", "artist"], "--level applies to play events only"),
    (["--users", "plays", "--level", "album"], "invalid --level 'album': choose track or artist"),
])
def test_cli_audit_option_errors(tmp_path, args, message):
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "audit", *args)
    assert isinstance(result.exception, InputError)
    assert message in str(result.exception)


def test_cli_audit_store_without_listening(trained_dir, tmp_path):
    result = invoke_tastemaker("--data-dir", trained_dir, "audit", "--users", "listening", "--out", tmp_path)
    assert isinstance(result.exception, InputError)
    assert "has no listening data (play events or HetRec play counts) to audit" in str(result.exception)
    assert "`tastemaker ingest hetrec FOLDER`" in str(result.exception)


def test_cli_audit_plays_on_hetrec_store(hetrec_dir, tmp_path):
    result = invoke_tastemaker("--data-dir", hetrec_dir, "audit", "--users", "plays", "--out", tmp_path)
    assert isinstance(result.exception, InputError)
    assert "has no play events to audit" in str(result.exception)
