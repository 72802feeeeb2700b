"""The feedback loop, its policies, the event store, the experiment across seeds, its report and the CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.audit.simulation_report import homogenisation_sentence, write_simulation_report
from tastemaker.errors import InputError
from tastemaker.simulate.choice import ChoiceModel
from tastemaker.simulate.experiment import ExperimentSettings, run_experiment
from tastemaker.simulate.loop import LoopSettings, MemoryEvents, StoreEvents, boosted_artists, run_policy
from tastemaker.simulate.policies import LoopState, make_policy
from tastemaker.simulate.world import WorldParams, generate_world
from tastemaker.store import Store
from tastemaker.store.simulation import event_count, reward_counts, round_metrics

from conftest import invoke_tastemaker

WORLD = WorldParams(n_users=80, n_tracks=400, n_genres=5, factors=8, initial_plays=8, seed=1)
LOOP = LoopSettings(rounds=4, slate_size=5, seed=1)
POLICIES = ["popularity", "random", "oracle", "als", "als-explore:0.3", "als+calibration:0.5", "als+mmr:0.5",
            "als+fairness:0.5", "als+popularity:0.5", "paid-boost:0.5"]


@pytest.fixture(scope="module")
def world():
    return generate_world(WORLD)


@pytest.fixture(scope="module")
def choice(world):
    return ChoiceModel.calibrated(world, seed=1)


# Policies


@pytest.mark.parametrize("spec", POLICIES)
def test_policy_never_recommends_played_tracks(world, spec):
    rng = np.random.default_rng(0)
    seen = sp.csr_matrix((rng.random((80, 400)) < 0.1).astype(np.float32))
    rewards = seen.multiply(rng.random((80, 400)) < 0.5).tocsr()
    policy = make_policy(spec)
    policy.start(world, np.random.default_rng(1), boosted_artists(world, 0.05, 1))
    slates = policy.recommend(LoopState(1, rewards, seen), 5)
    assert slates.shape == (80, 5)
    assert (slates >= 0).all()
    for user in range(80):
        assert len(set(slates[user].tolist())) == 5
        assert not seen[user, slates[user]].toarray().any()


@pytest.mark.parametrize("spec, label", [
    ("als-explore", "als-explore:0.2"),
    ("als+mmr:0.25", "als+mmr:0.25"),
    ("paid-boost", "paid-boost:0.3"),
])
def test_make_policy_labels(spec, label):
    assert make_policy(spec).label == label


@pytest.mark.parametrize("spec, message", [
    ("greedy", "invalid policy 'greedy'"),
    ("als:0.3", "als takes no parameter"),
    ("als+mmr", "give a strength"),
    ("als+shuffle:0.3", "unknown re-ranker 'shuffle'"),
    ("als-explore:high", "'high' is not a number"),
    ("als-explore:1.5", "strength must be a number from 0 to 1"),
    ("paid-boost:-1", "boost must be a non-negative number"),
])
def test_make_policy_rejects(spec, message):
    with pytest.raises(InputError, match=message):
        make_policy(spec)


def test_oracle_slates_are_best_unplayed(world):
    policy = make_policy("oracle")
    policy.start(world, np.random.default_rng(0), np.array([0]))
    empty = sp.csr_matrix((80, 400), dtype=np.float32)
    slates = policy.recommend(LoopState(1, empty, empty), 3)
    assert np.array_equal(slates[0], np.argsort(-world.utility_matrix()[0], kind="stable")[:3])


# Loop


def test_run_policy_rows_and_metrics(world, choice):
    result = run_policy(world, choice, make_policy("als"), LOOP)
    assert [row["round"] for row in result.rows] == [1, 2, 3, 4]
    for row in result.rows:
        assert 0 <= row["jaccard"] <= 1
        assert 0 <= row["artist_gini"] <= 1
        assert 0 <= row["tail_share"] <= 1
        assert row["plays_per_user"] > 0
        assert row["seconds"] > 0
    jaccard = [row["jaccard"] for row in result.rows]
    assert jaccard == sorted(jaccard)
    assert set(result.seconds) == {"policy", "choice", "events", "metrics"}


def test_run_policy_reproducible(world, choice):
    first = run_policy(world, choice, make_policy("als+mmr:0.5"), LOOP)
    second = run_policy(world, choice, make_policy("als+mmr:0.5"), LOOP)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in first.rows]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in second.rows]


def test_store_events_match_memory(world, choice, tmp_path):
    with Store.open(tmp_path / "data") as store:
        stored = run_policy(world, choice, make_policy("als"), LOOP, StoreEvents(store), run_id="als-test")
        count = event_count(store, "als-test")
        users, tracks, counts = reward_counts(store, "als-test", "stream")
        metrics = round_metrics(store)
    memory = run_policy(world, choice, make_policy("als"), LOOP, MemoryEvents())
    assert [r["jaccard"] for r in stored.rows] == [r["jaccard"] for r in memory.rows]
    assert count >= WORLD.n_users * WORLD.initial_plays
    assert counts.sum() > 0
    assert metrics.num_rows == LOOP.rounds * (len(stored.rows[0]) - 1)
    assert set(metrics.column("metric").to_pylist()) == set(stored.rows[0]) - {"round"}


def test_store_run_is_replaced_on_rerun(world, choice, tmp_path):
    with Store.open(tmp_path / "data") as store:
        run_policy(world, choice, make_policy("random"), LOOP, StoreEvents(store), run_id="again")
        first = event_count(store, "again")
        run_policy(world, choice, make_policy("random"), LOOP, StoreEvents(store), run_id="again")
        assert event_count(store, "again") == first


def test_completion_reward_counts_fewer_plays(world, choice, tmp_path):
    with Store.open(tmp_path / "data") as store:
        run_policy(world, choice, make_policy("als"), LOOP, StoreEvents(store), run_id="r")
        streams = reward_counts(store, "r", "stream")[2].sum()
        completions = reward_counts(store, "r", "completion")[2].sum()
        with pytest.raises(InputError, match="reward must be one of"):
            reward_counts(store, "r", "likes")
    assert 0 < completions < streams


def test_paid_boost_raises_paid_exposure(world, choice):
    settings = LoopSettings(rounds=2, slate_size=5, seed=1, boosted_share=0.05)
    plain = run_policy(world, choice, make_policy("als"), settings)
    boosted = run_policy(world, choice, make_policy("paid-boost:1"), settings)
    assert boosted.rows[-1]["paid_exposure_share"] > plain.rows[-1]["paid_exposure_share"] + 0.1


def test_fairness_policy_lowers_artist_gini(world, choice):
    plain = run_policy(world, choice, make_policy("als"), LOOP)
    fair = run_policy(world, choice, make_policy("als+fairness:1"), LOOP)
    assert fair.rows[-1]["artist_gini"] < plain.rows[-1]["artist_gini"]


@pytest.mark.parametrize("settings, message", [
    (LoopSettings(rounds=0), "rounds must be a positive integer"),
    (LoopSettings(slate_size=401), "must not exceed the world's 400 tracks"),
    (LoopSettings(reward="likes"), "reward must be one of"),
    (LoopSettings(boosted_share=0.0), "boosted_share"),
])
def test_loop_settings_rejected(world, choice, settings, message):
    with pytest.raises(InputError, match=message):
        run_policy(world, choice, make_policy("random"), settings)


# Experiment and report


@pytest.fixture(scope="module")
def experiment():
    settings = ExperimentSettings(policies=("als", "random", "als+popularity:0.8"), seeds=(0, 1),
                                  world=WorldParams(n_users=60, n_tracks=300, n_genres=4, factors=8,
                                                    initial_plays=6),
                                  loop=LoopSettings(rounds=3, slate_size=5))
    return run_experiment(settings)


def test_experiment_runs_every_policy_and_seed(experiment):
    assert len(experiment.runs) == 6
    assert {(r.policy, r.seed) for r in experiment.runs} == {(p, s) for p in ("als", "random", "als+popularity:0.8")
                                                              for s in (0, 1)}
    rewards = {(r.reward, r.seed) for r in experiment.reward_runs}
    assert rewards == {("stream", 0), ("stream", 1), ("completion", 0), ("completion", 1)}


def test_experiment_summary(experiment):
    rows = {row["policy"]: row for row in experiment.summary()}
    assert rows["als"]["utility_vs_als"] == pytest.approx(0.0)
    assert rows["als"]["seeds"] == 2
    assert rows["random"]["total_utility"] < rows["als"]["total_utility"]
    assert rows["als"]["jaccard_rise_sd"] >= 0


def test_experiment_fit_check(experiment):
    check = experiment.fit_check
    assert check["generated_track_curve"].s > 0
    assert check["generated_early_skip_rate"] == pytest.approx(check["real_early_skip_rate"], abs=0.08)


def test_homogenisation_sentence(experiment):
    sentence = homogenisation_sentence(experiment)
    assert sentence.startswith("Under pure ALS exploitation the mean pairwise Jaccard goes from")
    assert "Random recommendations" in sentence


def test_simulation_report_files(experiment, tmp_path):
    files = write_simulation_report(experiment, tmp_path)
    names = {p.name for p in files.values()}
    assert {"simulation.md", "simulation.html", "rounds.csv", "summary.csv", "rewards.csv", "fit.csv",
            "popularity-fit.csv", "rounds.png", "homogenisation.png", "tradeoff.png", "rewards.png",
            "popularity-fit.png"} == names
    with (tmp_path / "rounds.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 * 3
    markdown = (tmp_path / "simulation.md").read_text()
    assert "## Policies across seeds" in markdown
    assert "## Reward: streamed 30 seconds against listened to the end" in markdown
    assert (tmp_path / "homogenisation.png").read_bytes()[:4] == b"\x89PNG"


# CLI


def test_cli_simulate(tmp_path):
    out = tmp_path / "report"
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "simulate", "--users", "40", "--tracks", "200",
                               "--rounds", "2", "--seed", "0", "--policy", "als", "--policy", "random",
                               "--calibration", "builtin", "--out", out, "--no-plots")
    assert result.exit_code == 0, result.output
    assert "Under pure ALS exploitation" in result.output
    assert (out / "summary.csv").exists()
    with Store.open(tmp_path / "data", read_only=True) as store:
        assert round_metrics(store).num_rows > 0


@pytest.mark.parametrize("args, message", [
    (["--policy", "greedy"], "invalid policy 'greedy'"),
    (["--reward", "likes"], "invalid --reward 'likes'"),
    (["--calibration", "spotify"], "invalid --calibration 'spotify'"),
    (["--events", "disk"], "invalid --events 'disk'"),
    (["--slate-size", "500", "--tracks", "100"], "larger than --tracks"),
])
def test_cli_simulate_rejects(tmp_path, args, message):
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "simulate", *args)
    assert isinstance(result.exception, InputError)
    assert message in str(result.exception)


def test_cli_simulate_store_calibration_needs_playlists(tmp_path):
    result = invoke_tastemaker("--data-dir", tmp_path / "data", "simulate", "--calibration", "store",
                               "--users", "20", "--tracks", "100", "--rounds", "1", "--seed", "0")
    assert isinstance(result.exception, InputError)
    assert "too few playlist tracks" in str(result.exception)
