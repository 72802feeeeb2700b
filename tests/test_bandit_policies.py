"""The contextual bandit: posterior, policies, propensities and regret in generated worlds."""

from __future__ import annotations

import numpy as np
import pytest

from tastemaker.errors import InputError
from tastemaker.rerank.bandit import (
    CONTEXT_SIZE,
    HOUR_BUCKETS,
    PLATFORMS,
    SEGMENTS,
    BanditContext,
    BanditPolicy,
    LinearBandit,
    joint_features,
    platform_family,
    position_probabilities,
    rank,
)
from tastemaker.simulate.bandit_world import BanditWorld, generate_bandit_world, run_online


def trained_model(seed: int = 0, n: int = 200, d: int = 5) -> tuple[LinearBandit, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    r = (rng.random(n) < 0.3).astype(float)
    return LinearBandit(d, prior_variance=2.0, noise_variance=0.1).update(X, r), X, r


def test_posterior_mean_is_ridge_solution():
    model, X, r = trained_model()
    expected = np.linalg.solve(X.T @ X / 0.1 + np.eye(5) / 2.0, X.T @ r / 0.1)
    np.testing.assert_allclose(model.mean, expected, rtol=1e-8)
    np.testing.assert_allclose(model.predict(X[:3]), X[:3] @ expected, rtol=1e-8)


def test_thompson_draws_have_posterior_covariance():
    model, X, _ = trained_model()
    draws = model.sample(np.random.default_rng(1), 40_000)
    covariance = np.linalg.inv(X.T @ X / 0.1 + np.eye(5) / 2.0)
    np.testing.assert_allclose(draws.mean(axis=0), model.mean, atol=4 * np.sqrt(covariance.diagonal().max() / 40_000))
    np.testing.assert_allclose(np.cov(draws.T), covariance, atol=0.05 * np.abs(covariance).max())


@pytest.mark.parametrize("spec", ["thompson", "epsilon-greedy:0.3", "greedy", "random"])
def test_position_probabilities_match_rank_frequencies(spec):
    policy = BanditPolicy.parse(spec)
    model, X, _ = trained_model(seed=2)
    candidates = X[:4]
    relevance = np.array([0.1, 0.9, 0.5, 0.3])
    shares = position_probabilities(model, candidates, policy, relevance, rng=np.random.default_rng(3),
                                    samples=4000)
    rng = np.random.default_rng(4)
    counts = np.zeros((4, 4))
    for _ in range(4000):
        counts[rank(model, candidates, policy, rng, relevance), np.arange(4)] += 1
    np.testing.assert_allclose(shares.sum(axis=0), 1.0)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    np.testing.assert_allclose(counts / 4000, shares, atol=0.035)


def test_epsilon_greedy_probabilities_are_exact():
    model, X, _ = trained_model(seed=5)
    shares = position_probabilities(model, X[:5], BanditPolicy("epsilon-greedy", 0.2))
    greedy = np.argsort(-model.predict(X[:5]), kind="stable")
    for position, item in enumerate(greedy):
        assert shares[item, position] == pytest.approx(0.8 + 0.2 / 5)
    assert shares[greedy[0], 1] == pytest.approx(0.2 / 5)


def test_shown_order_never_has_zero_propensity():
    model = LinearBandit(3, prior_variance=1e-6)
    model.update(np.eye(3) * 10, np.array([1.0, 0.0, 0.0]))
    shown = np.array([2, 1, 0])
    shares = position_probabilities(model, np.eye(3), BanditPolicy("thompson"), shown=shown,
                                    rng=np.random.default_rng(0), samples=100)
    assert (shares[shown, np.arange(3)] > 0).all()


def test_policy_specs():
    assert BanditPolicy.parse("epsilon-greedy").epsilon == 0.1
    assert BanditPolicy.parse("epsilon-greedy:0.25").label == "epsilon-greedy:0.25"
    with pytest.raises(InputError, match="unknown bandit policy 'ucb'"):
        BanditPolicy.parse("ucb")
    with pytest.raises(InputError, match="greedy takes no parameter"):
        BanditPolicy.parse("greedy:0.1")
    with pytest.raises(InputError, match="epsilon 'x' is not a number"):
        BanditPolicy.parse("epsilon-greedy:x")
    with pytest.raises(InputError, match="epsilon must be a number from 0 to 1, got 1.5"):
        BanditPolicy.parse("epsilon-greedy:1.5")


def test_context_vector_and_validation():
    context = BanditContext("heavy-niche", 19, "ios")
    vector = context.vector()
    assert len(vector) == CONTEXT_SIZE
    assert vector.sum() == 4
    assert vector[1 + SEGMENTS.index("heavy-niche")] == 1
    assert vector[1 + len(SEGMENTS) + HOUR_BUCKETS.index("evening")] == 1
    assert vector[1 + len(SEGMENTS) + len(HOUR_BUCKETS) + PLATFORMS.index("ios")] == 1
    with pytest.raises(InputError, match="hour must be an integer from 0 to 23, got 24"):
        BanditContext("heavy-niche", 24, "ios")
    with pytest.raises(InputError, match="platform must be one of"):
        BanditContext("heavy-niche", 3, "tv")
    assert [platform_family(p) for p in ("android", "windows", "web_player", None, "cast")] == \
        ["android", "desktop", "web", "other", "other"]


def test_joint_features_cross_context_and_items():
    features = joint_features(np.array([1.0, 2.0]), np.array([[1.0, 0.0], [0.0, 3.0]]), [0, 5], 3)
    assert features.tolist() == [[1, 0, 2, 0, 1, 0, 0], [0, 3, 0, 6, 0, 0, 1]]
    assert joint_features(np.array([1.0]), np.eye(2), None, 0).tolist() == [[1, 0], [0, 1]]


def one_context_world(rates: tuple[float, float]) -> BanditWorld:
    """A world of a single context (one segment, hour bucket and platform) where the actions earn at ``rates``."""
    logits = np.broadcast_to(np.log(np.array(rates) / (1 - np.array(rates))),
                             (len(SEGMENTS), len(HOUR_BUCKETS), len(PLATFORMS), 2)).copy()
    only = [np.eye(count)[0] for count in (len(SEGMENTS), len(PLATFORMS), len(HOUR_BUCKETS))]
    return BanditWorld(2, only[0], only[1], logits, hour_share=only[2])


def test_greedy_sticks_thompson_explores():
    # In one context the first action's estimate stays above the untried
    # action's 0 once it has earned anything, so greedy never tries the
    # second; Thompson sampling tries both.
    world = one_context_world((0.3, 0.6))
    regret = {name: np.mean([run_online(world, BanditPolicy.parse(name), 600, seed=s).sum() for s in range(2)])
              for name in ("thompson", "greedy", "random")}
    assert regret["greedy"] == pytest.approx(0.3 * 600, rel=0.05)
    assert regret["thompson"] < regret["random"] < regret["greedy"]


def test_thompson_learns_in_generated_world():
    world = generate_bandit_world(seed=11)
    thompson = run_online(world, BanditPolicy("thompson"), 1200, seed=1)
    random = run_online(world, BanditPolicy("random"), 1200, seed=1)
    assert thompson.sum() < 0.7 * random.sum()
    # Its regret per round falls as it learns; random's does not.
    assert thompson[600:].sum() < 0.75 * thompson[:600].sum()
    assert thompson[600:].sum() < 0.5 * random[600:].sum()
