import json

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.errors import BundleError, InputError, ModelError
from tastemaker.models.title import TitleMatch, TitleModel, title_tokens
from tastemaker.signals.titles import normalise_title, single_letter_variant, title_words


@pytest.mark.parametrize("title, expected", [
    ("chill", "chill"),
    ("chilll", "chill"),
    ("CHILLLLLL", "chill"),
    ("Chill Vibes!!", "chill vibes"),
    ("  chill \t  vibes \n", "chill vibes"),
    ("🔥🔥🔥", ""),
    ("🌴 chill 🌴", "chill"),
    ("", ""),
    (None, ""),
    ("ＲＯＣＫ", "rock"),  # full-width letters, folded by NFKC
    ("Straße", "strasse"),
    ("80's", "80s"),
    ("don’t stop", "dont stop"),
    ("Rock & Roll", "rock roll"),
    ("2000s", "2000s"),
    ("1111", "1111"),  # digits are never shortened
    ("Música Latina", "música latina"),
    ("J-Pop 日本語", "j pop 日本語"),
    ("Русский рок", "русский рок"),
    ("हिंदी गाने", "हिंदी गाने"),  # combining vowel signs are kept
    ("summer'17 ☀️", "summer17"),  # the variation selector after the sun is a mark, but not on a letter
    ("1️⃣ hits", "1 hits"),
    ("cafe\u0301", "café"),  # NFKC composes the accent
])
def test_normalise_title(title, expected):
    assert normalise_title(title) == expected


def test_normalise_title_is_idempotent():
    for title in ("Chilll Vibes!!", "ＲＯＣＫ", "🔥", "summer '17"):
        once = normalise_title(title)
        assert normalise_title(once) == once


def test_title_words():
    assert title_words("Chilll  Vibes!!") == ["chill", "vibes"]
    assert title_words("💯") == []


def test_single_letter_variant():
    assert single_letter_variant("yess") == "yes"
    assert single_letter_variant("yes") == "yes"


def test_title_tokens():
    assert title_tokens("Chill Vibes") == ["chill", "vibes", "=chill vibes"]
    assert title_tokens("chill chill") == ["chill", "=chill chill"]
    assert title_tokens("🎉") == []


# Titles of 6 training playlists over 6 tracks: tracks 0-2 are chill, 3-5 workout.
TITLES = ["chill", "Chill vibes", "chilll", "workout", "Workout Mix", "gym workout 💪"]
PLAYLISTS = np.array([
    [1, 1, 0, 0, 0, 0],
    [1, 0, 1, 0, 0, 0],
    [1, 1, 1, 0, 0, 0],
    [0, 0, 0, 1, 1, 0],
    [0, 0, 0, 1, 0, 1],
    [0, 0, 1, 1, 1, 1],
], dtype=np.float32)


def fit_model(**params) -> TitleModel:
    params.setdefault("min_playlists", 1)
    return TitleModel(**params).fit(TITLES, sp.csr_matrix(PLAYLISTS))


def test_single_word_score_by_hand():
    model = fit_model()
    result = model.scores_for_titles(["chill"])
    # "chill" is in titles 0, 1, 2 and "=chill" in titles 0 and 2, with the same tracks.
    # P(track | chill) = [3, 2, 2, 0, 0, 0] / 3 and P(track | =chill) = [2, 2, 1, 0, 0, 0] / 2.
    idf_word = np.log1p(6 / 3)
    idf_title = np.log1p(6 / 2)
    expected = (idf_word * np.array([3, 2, 2]) / 3 + idf_title * np.array([2, 2, 1]) / 2) / (idf_word + idf_title)
    np.testing.assert_allclose(result.scores[0, :3], expected, rtol=1e-6)
    assert np.all(result.scores[0, 3:] == -np.inf)
    assert result.match == [TitleMatch.MATCHED]


def test_title_ranks_its_own_tracks_first():
    model = fit_model()
    ids, scores, match = model.recommend_titles(["CHILL 🌴", "my workout"], N=3)
    assert set(ids[0].tolist()) == {0, 1, 2}
    assert ids[1, 0] == 3  # in all three workout playlists
    assert match == [TitleMatch.MATCHED, TitleMatch.MATCHED]


def test_repeated_letters_match():
    model = fit_model()
    chilll = model.scores_for_titles(["chilllllll"]).scores
    chill = model.scores_for_titles(["chill"]).scores
    np.testing.assert_array_equal(chilll, chill)


def test_unknown_doubled_word_matches_single_letter_form():
    model = TitleModel(min_playlists=1).fit(["yes", "no"], sp.csr_matrix(np.eye(2, dtype=np.float32)))
    result = model.scores_for_titles(["yesssss"])
    assert result.match == [TitleMatch.MATCHED]
    assert result.tokens == [["yess"]]
    assert result.scores[0, 0] > 0


def test_emoji_only_title_flagged_empty():
    result = fit_model().scores_for_titles(["🔥🔥", None, ""])
    assert result.match == [TitleMatch.EMPTY, TitleMatch.EMPTY, TitleMatch.EMPTY]
    assert np.all(result.scores == -np.inf)


def test_unseen_title_flagged_unknown():
    result = fit_model().scores_for_titles(["bossa nova"])
    assert result.match == [TitleMatch.UNKNOWN]
    assert result.tokens == [[]]
    assert np.all(result.scores == -np.inf)


def test_recommend_titles_pads_unknown_rows():
    ids, scores, match = fit_model().recommend_titles(["bossa nova"], N=2)
    assert ids.tolist() == [[-1, -1]]
    assert match == [TitleMatch.UNKNOWN]


def test_min_playlists_drops_rare_tokens():
    model = fit_model(min_playlists=2)
    assert "chill" in model.vocabulary_
    assert "gym" not in model.vocabulary_
    assert model.scores_for_titles(["gym"]).match == [TitleMatch.UNKNOWN]


def test_top_tracks_caps_each_token():
    model = fit_model(top_tracks=1)
    assert np.diff(model.track_weights_.indptr).max() == 1
    assert model.track_weights_[model.vocabulary_["chill"]].indices.tolist() == [0]


def test_popularity_exponent_favours_typical_tracks():
    # Track 2 is in all six playlists, track 0 only in the two "rain" playlists.
    titles = ["rain", "rain", "sun", "sun", "sun", "sun"]
    X = sp.csr_matrix(np.array([[1, 1, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 1]],
                               dtype=np.float32))
    plain = TitleModel(min_playlists=1).fit(titles, X).scores_for_titles(["rain"]).scores[0]
    lift = TitleModel(min_playlists=1, popularity_exponent=1.0).fit(titles, X).scores_for_titles(["rain"]).scores[0]
    assert plain[2] == plain[0]  # both in every "rain" playlist
    assert lift[0] > lift[2]


def test_untitled_and_empty_playlists_ignored():
    titles = [None, "chill", "🔥", "chill"]
    X = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=np.float32))
    model = TitleModel(min_playlists=1).fit(titles, X)
    # The fourth playlist has no tracks, so "chill" is in one usable playlist.
    assert model.scores_for_titles(["chill"]).scores[0, 0] == pytest.approx(1.0)


def test_fit_rejects_mismatched_titles():
    with pytest.raises(InputError, match="got 2 titles for a matrix of 6 playlists"):
        TitleModel().fit(["a", "b"], sp.csr_matrix(PLAYLISTS))


def test_unfitted_model_raises():
    with pytest.raises(ModelError, match="not fitted"):
        TitleModel().scores_for_titles(["chill"])


def test_save_load_round_trip(tmp_path):
    titles = [*TITLES, "Русский рок", "Русский рок"]
    X = sp.csr_matrix(np.vstack([PLAYLISTS, [[0, 1, 0, 0, 0, 1], [0, 1, 0, 0, 1, 0]]]).astype(np.float32))
    model = TitleModel(min_playlists=1, title_weight=2.0).fit(titles, X)
    model.save(tmp_path)
    vocabulary = json.loads((tmp_path / "vocabulary.json").read_text(encoding="utf-8"))
    assert "=русский рок" in vocabulary
    loaded = TitleModel.load(tmp_path, n_items=6)
    assert loaded.params == model.params
    assert loaded.vocabulary_ == model.vocabulary_
    queries = ["chill", "Русский рок", "workout mix", "🔥", "bossa nova"]
    expected, actual = model.scores_for_titles(queries), loaded.scores_for_titles(queries)
    np.testing.assert_array_equal(actual.scores, expected.scores)
    assert actual.match == expected.match


def test_load_rejects_other_catalogue(tmp_path):
    fit_model().save(tmp_path)
    with pytest.raises(BundleError, match="fitted on 6 tracks but the bundle has 7"):
        TitleModel.load(tmp_path, n_items=7)
