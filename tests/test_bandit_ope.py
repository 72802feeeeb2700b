"""Off-policy estimators on hand-computed cases, on generated worlds with known truth, and the CSV log format."""

from __future__ import annotations

import numpy as np
import pytest

from tastemaker.errors import InputError
from tastemaker.evaluation.ope import (
    LoggedDecisions,
    csv_decisions,
    evaluate_candidate,
    evaluate_policy,
    fit_candidate,
    ips,
    read_log_csv,
    snips,
    split_decisions,
    write_log_csv,
)
from tastemaker.rerank.bandit import BanditPolicy, first_choice_probabilities
from tastemaker.simulate.bandit_world import generate_bandit_world, log_decisions, new_model, run_online


def test_ips_and_snips_by_hand():
    rewards = np.array([1.0, 0.0, 1.0, 1.0])
    weights = np.array([2.0, 0.5, 0.0, 1.5])
    assert ips(rewards, weights).value == pytest.approx((2 + 0 + 0 + 1.5) / 4)
    assert snips(rewards, weights).value == pytest.approx(3.5 / 4.0)
    estimate = ips(rewards, weights)
    assert estimate.standard_error == pytest.approx(np.std([2, 0, 0, 1.5], ddof=1) / 2)
    assert estimate.low == pytest.approx(estimate.value - 1.959963984540054 * estimate.standard_error)


def test_same_policy_gives_logged_mean():
    rng = np.random.default_rng(0)
    features = [np.eye(3) for _ in range(50)]
    propensity = rng.dirichlet(np.ones(3), size=50)
    chosen = np.array([rng.choice(3, p=p) for p in propensity])
    rewards = rng.random(50)
    logged = LoggedDecisions(features, chosen, propensity[np.arange(50), chosen], rewards)
    estimates = evaluate_policy(logged, list(propensity))
    assert estimates["ips"].value == pytest.approx(rewards.mean())
    assert estimates["snips"].value == pytest.approx(rewards.mean())


class ExactModel:
    """A reward model that predicts the true expected reward of every candidate: its feature row's first column."""

    def predict(self, features):
        return np.asarray(features)[:, 0]


def test_doubly_robust_exact_model():
    rng = np.random.default_rng(1)
    features, chosen, target = [], [], []
    for _ in range(30):
        values = rng.random((4, 1))
        features.append(values)
        chosen.append(int(rng.integers(4)))
        target.append(rng.dirichlet(np.ones(4)))
    rewards = np.array([f[c, 0] for f, c in zip(features, chosen)])
    logged = LoggedDecisions(features, np.array(chosen), np.full(30, 0.25), rewards)
    truth = np.mean([t @ f[:, 0] for t, f in zip(target, features)])
    estimates = evaluate_policy(logged, target, ExactModel())
    assert estimates["dr"].value == pytest.approx(truth)
    assert estimates["dr"].details["direct_method"] == pytest.approx(truth)


def test_logged_decisions_reject_bad_propensity():
    with pytest.raises(InputError, match=r"decision 1: propensity 0.0 is not in \(0, 1\]"):
        LoggedDecisions([np.eye(2), np.eye(2)], [0, 1], [0.5, 0.0], [1.0, 0.0])
    with pytest.raises(InputError, match="decision 0: chosen candidate 2 is not among its 2 candidates"):
        LoggedDecisions([np.eye(2)], [2], [0.5], [1.0])


def logged_world(seed: int, decisions: int = 1000):
    world = generate_bandit_world(seed=seed)
    warm = new_model(world)
    run_online(world, BanditPolicy("random"), 200, seed=seed + 100, model=warm)
    logged = log_decisions(world, warm, BanditPolicy("epsilon-greedy", 0.3), decisions, np.random.default_rng(seed))
    return world, logged


def test_intervals_cover_true_value_in_generated_worlds():
    covered = {"ips": 0, "snips": 0, "dr": 0}
    runs = 20
    for seed in range(runs):
        world, logged = logged_world(seed)
        train, test = split_decisions(logged, 0.5)
        target = fit_candidate(train)
        truth = world.policy_value(target, BanditPolicy("greedy"))
        probabilities = [first_choice_probabilities(target, f, BanditPolicy("greedy")) for f in test.features]
        for name, estimate in evaluate_policy(test, probabilities, target).items():
            covered[name] += estimate.covers(truth)
    # At 95% coverage, 16 or more of 20 runs cover with probability above 0.98.
    assert all(count >= 16 for count in covered.values()), covered


def test_evaluate_candidate_close_to_truth():
    world, logged = logged_world(42, 3000)
    estimates, info = evaluate_candidate(logged, BanditPolicy("epsilon-greedy", 0.1))
    truth = world.policy_value(info["model"], BanditPolicy("epsilon-greedy", 0.1))
    assert info["train_decisions"] == 1500
    assert abs(estimates["dr"].value - truth) < 4 * estimates["dr"].standard_error
    assert estimates["snips"].standard_error < estimates["ips"].standard_error


def test_csv_log_round_trip(tmp_path):
    world, logged = logged_world(3, 60)
    contexts = [("heavy-niche", 7, "ios")] * len(logged)
    names = [[f"shelf-{a}" for a in range(world.n_actions)]] * len(logged)
    path = tmp_path / "log.csv"
    write_log_csv(path, contexts, names, logged.chosen, logged.propensity, logged.reward)
    read = read_log_csv(path)
    assert read.chosen.tolist() == logged.chosen.tolist()
    np.testing.assert_allclose(read.propensity, logged.propensity, rtol=1e-5)
    assert read.reward.tolist() == logged.reward.tolist()
    decisions = csv_decisions(read)
    assert decisions.features[0].shape == (world.n_actions, world.n_features)


@pytest.mark.parametrize("rows, message", [
    ("decision_id,segment,hour\n", "missing columns platform, action, chosen, propensity, reward"),
    ("decision_id,segment,hour,platform,action,chosen,propensity,reward\n"
     "1,heavy-niche,5,ios,a,0,,\n", "decision 1: no row has chosen=1"),
    ("decision_id,segment,hour,platform,action,chosen,propensity,reward\n"
     "1,heavy-niche,5,ios,a,1,0.5,1\n1,heavy-niche,5,ios,b,1,0.5,0\n", "line 3, field 'chosen': decision 1 has two"),
    ("decision_id,segment,hour,platform,action,chosen,propensity,reward\n"
     "1,heavy-niche,noon,ios,a,1,0.5,1\n", "line 2, field 'hour': invalid value 'noon'"),
])
def test_csv_log_errors(tmp_path, rows, message):
    path = tmp_path / "bad.csv"
    path.write_text(rows)
    with pytest.raises(InputError, match=message):
        read_log_csv(path)


def test_csv_log_invalid_context(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("decision_id,segment,hour,platform,action,chosen,propensity,reward\n"
                    "1,casual,5,ios,a,1,0.5,1\n")
    with pytest.raises(InputError, match="decision 1: invalid context"):
        csv_decisions(read_log_csv(path))
