"""Whole jobs through the command line: a challenge submission on generated data, and the real MPD sample."""

from __future__ import annotations

import csv
import re

import pytest

from conftest import invoke_tastemaker, require_shared, run_tastemaker, track_uri, write_json
from tastemaker.store import Store

TRACK_URI = re.compile(r"spotify:track:[0-9A-Za-z]{22}")
PYTHON_WARNING = re.compile(r"\b\w*Warning: ")  # how the warnings module prints, e.g. "RuntimeWarning: ..."
SUBMISSION_TRACKS = 500


def popularity_top(playlists: list[dict], n: int) -> list[str]:
    """Return the n tracks found in the most playlists, ties broken by URI, as counted from the JSON."""
    counts: dict[str, int] = {}
    for playlist in playlists:
        for uri in {t["track_uri"] for t in playlist["tracks"]}:
            counts[uri] = counts.get(uri, 0) + 1
    return sorted(counts, key=lambda uri: (-counts[uri], uri))[:n]


# Challenge submission on generated data


@pytest.fixture(scope="module")
def submission(tmp_path_factory, trained_dir, generated_playlists):
    """Continue a hand-made challenge set with the trained bundle.

    Returns the challenge playlists, the command's result, the submission's lines and its path.
    """
    folder = tmp_path_factory.mktemp("challenge")
    long_playlist = next(p for p in generated_playlists if len(p["tracks"]) >= 30)
    first, second = generated_playlists[0], generated_playlists[1]
    challenge = [
        {"pid": 1_000_000, "name": "first five", "num_samples": 5, "num_holdouts": 20,
         "tracks": first["tracks"][:5]},
        {"pid": 1_000_001, "name": "one seed", "num_samples": 1, "num_holdouts": 20,
         "tracks": second["tracks"][:1]},
        {"pid": 1_000_002, "name": "road trip", "num_samples": 0, "num_holdouts": 20, "tracks": []},
        {"pid": 1_000_003, "name": "ten scattered", "num_samples": 10, "num_holdouts": 20,
         "tracks": long_playlist["tracks"][::3][:10]},
        {"pid": 1_000_004, "name": "unknown seeds", "num_samples": 2, "num_holdouts": 20,
         "tracks": [{"pos": 0, "track_uri": track_uri("unknown1")}, {"pos": 1, "track_uri": track_uri("unknown2")}]},
        {"pid": 1_000_005, "num_samples": 0, "num_holdouts": 20, "tracks": []},
    ]
    path = write_json(folder / "challenge_set.json",
                      {"date": "2018-01-16", "version": "v1", "name": "challenge_set", "playlists": challenge})
    out = folder / "submission.csv"
    result = run_tastemaker("--data-dir", trained_dir, "continue", "--challenge", path, "--out", out,
                            "--team-info", "Test Team,team@example.org", cwd=folder)
    lines = out.read_text().splitlines() if out.exists() else []
    return challenge, result, lines, out


def submission_rows(lines: list[str]) -> dict[int, list[str]]:
    return {int(line.split(",")[0]): line.split(",")[1:] for line in lines[1:]}


def test_continue_exit_clean(submission):
    _, result, _, out = submission
    assert result.exit_code == 0, result.raw
    assert "Traceback" not in result.raw
    assert not PYTHON_WARNING.search(result.raw)
    assert f"submission written: {out} (6 playlists, 3 from the fallback)" in result.output


def test_submission_team_info(submission):
    _, _, lines, _ = submission
    assert lines[0] == "team_info,Test Team,team@example.org"


def test_submission_pids_in_order(submission):
    challenge, _, lines, _ = submission
    assert [int(line.split(",")[0]) for line in lines[1:]] == [p["pid"] for p in challenge]


def test_submission_500_distinct(submission):
    _, _, lines, _ = submission
    for pid, uris in submission_rows(lines).items():
        assert len(uris) == SUBMISSION_TRACKS, f"pid {pid}"
        assert len(set(uris)) == SUBMISSION_TRACKS, f"pid {pid} repeats a track"


def test_submission_uris_valid(submission, generated_playlists):
    _, _, lines, _ = submission
    catalogue = {t["track_uri"] for p in generated_playlists for t in p["tracks"]}
    for pid, uris in submission_rows(lines).items():
        malformed = [uri for uri in uris if not TRACK_URI.fullmatch(uri)]
        assert not malformed, f"pid {pid}: {malformed[:3]}"
        unknown = set(uris) - catalogue
        assert not unknown, f"pid {pid}: tracks outside the catalogue: {sorted(unknown)[:3]}"


def test_submission_no_seeds(submission):
    challenge, _, lines, _ = submission
    rows = submission_rows(lines)
    for playlist in challenge:
        seeds = {t["track_uri"] for t in playlist["tracks"]}
        assert not seeds & set(rows[playlist["pid"]]), f"pid {playlist['pid']} repeats a seed"


def test_submission_fallback_is_popularity(submission, generated_playlists):
    _, _, lines, _ = submission
    rows = submission_rows(lines)
    expected = popularity_top(generated_playlists, SUBMISSION_TRACKS)
    for pid in (1_000_002, 1_000_004, 1_000_005):
        assert rows[pid] == expected, f"pid {pid}"


def test_submission_seeded_rows_personal(submission, generated_playlists):
    _, _, lines, _ = submission
    rows = submission_rows(lines)
    popular = popularity_top(generated_playlists, SUBMISSION_TRACKS)
    for pid in (1_000_000, 1_000_001, 1_000_003):
        assert rows[pid] != popular, f"pid {pid} got the popularity list"


def test_recommend_shows_names(tmp_path, trained_dir, generated_playlists):
    result = run_tastemaker("--data-dir", trained_dir, "recommend", "--playlist", "0", "-n", "5", cwd=tmp_path)

    assert result.exit_code == 0, result.raw
    # A fresh process loads the bundle before anything else touches BLAS.
    assert not PYTHON_WARNING.search(result.raw)
    assert f"playlist 0: {generated_playlists[0]['name']!r}, {len(generated_playlists[0]['tracks'])} tracks" \
        in result.output
    names = {t["track_uri"]: t["track_name"] for p in generated_playlists for t in p["tracks"]}
    listed_uris = TRACK_URI.findall(result.raw)
    assert len(listed_uris) == 5
    for uri in listed_uris:
        assert names[uri] in result.raw, uri


# The real MPD sample


@pytest.mark.slow
def test_mpd_sample_pipeline(tmp_path):
    sample = require_shared("mpd-sample")
    data_dir = tmp_path / "data"

    ingested = invoke_tastemaker("--data-dir", data_dir, "ingest", "mpd", sample)
    assert ingested.exit_code == 0, ingested.raw

    reports = tmp_path / "reports"
    evaluated = invoke_tastemaker("--data-dir", data_dir, "evaluate", "--model", "popularity", "--model", "als",
                                  "--test-playlists", "200", "--seeds", "10", "--out", reports)
    assert evaluated.exit_code == 0, evaluated.raw
    (report,) = reports.glob("evaluation-*.csv")
    with report.open() as handle:
        rows = list(csv.DictReader(handle))
    overall = {row["model"]: row for row in rows if row["bucket"] == "overall"}
    assert {row["bucket"] for row in rows} == {"first-10", "random-10", "overall"}
    assert overall["popularity"]["playlists"] == "200"
    popularity = float(overall["popularity"]["r_precision"])
    als = float(overall["als"]["r_precision"])
    assert popularity > 0
    assert als >= 4 * popularity, f"ALS R-precision {als:.4f} vs popularity {popularity:.4f}"

    # The evaluation above used the default ALS; this bundle only feeds the display check, so a smaller
    # ALS keeps the test short.
    trained = invoke_tastemaker("--data-dir", data_dir, "train", "--model", "als", "--model", "popularity",
                                "--param", "als.factors=32", "--param", "als.iterations=5")
    assert trained.exit_code == 0, trained.raw

    with Store.open(data_dir, read_only=True) as store:
        pid = store.playlists("mpd").column("pid")[0].as_py()
    recommended = run_tastemaker("--data-dir", data_dir, "recommend", "--playlist", pid, "-n", "10", cwd=tmp_path)
    assert recommended.exit_code == 0, recommended.raw
    listed_uris = TRACK_URI.findall(recommended.raw)
    assert len(listed_uris) == 10
    with Store.open(data_dir, read_only=True) as store:
        names = store.track_metadata(listed_uris)
    for uri in listed_uris:
        track_name, artist = names[uri]
        assert track_name in recommended.raw, uri
        assert artist in recommended.raw, uri
