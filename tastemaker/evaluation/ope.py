"""Off-policy evaluation: a candidate policy's expected reward estimated from another policy's logged decisions.

Each logged decision has candidates (feature rows), the candidate the
logging policy chose, the propensity it chose it with, and the reward.
With the target policy's choice probabilities ``pi`` and importance weights
``w_i = pi(a_i | x_i) / p_i``:

- IPS (inverse propensity scoring): ``mean(w_i * r_i)``, unbiased when
  every propensity is right and above 0 wherever the target can choose.
- SNIPS (self-normalised IPS): ``sum(w_i * r_i) / sum(w_i)``, slightly
  biased but with less variance.
- DR (doubly robust): ``mean(sum_a pi(a | x_i) q(x_i, a) + w_i * (r_i -
  q(x_i, a_i)))`` with a reward model q; unbiased when either the
  propensities or q are right.

Intervals are normal approximations at the given z (1.96 for 95%): the
standard error of the mean of the per-decision terms for IPS and DR, and
the delta-method standard error for SNIPS. They assume independent
decisions and enough of them that the mean is near normal; with few
decisions or very large weights they are too narrow.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

ESTIMATORS = ("ips", "snips", "dr")
Z_95 = 1.959963984540054


@dataclass
class LoggedDecisions:
    """Logged bandit decisions.

    Attributes
    ----------
    features : list of ndarray
        Per decision, the candidates' feature rows, shape (n_candidates, d).
    chosen : ndarray of int64
        Index of the logged choice among its decision's candidates.
    propensity : ndarray
        Probability the logging policy gave that choice, in (0, 1].
    reward : ndarray
        Observed reward of the choice.
    contexts : ndarray or None
        Optional per-decision context, kept for reports.
    actions : list of list of str or None
        Optional candidate names per decision.
    """

    features: list[np.ndarray]
    chosen: np.ndarray
    propensity: np.ndarray
    reward: np.ndarray
    contexts: np.ndarray | None = None
    actions: list[list[str]] | None = None

    def __post_init__(self) -> None:
        n = len(self.features)
        self.chosen = np.asarray(self.chosen, dtype=np.int64)
        self.propensity = np.asarray(self.propensity, dtype=np.float64)
        self.reward = np.asarray(self.reward, dtype=np.float64)
        if not (len(self.chosen) == len(self.propensity) == len(self.reward) == n):
            raise InputError(f"features, chosen, propensity and reward must have one entry per decision, got "
                             f"{n}, {len(self.chosen)}, {len(self.propensity)} and {len(self.reward)}")
        for i in range(n):
            if not 0 <= self.chosen[i] < len(self.features[i]):
                raise InputError(f"decision {i}: chosen candidate {self.chosen[i]} is not among its "
                                 f"{len(self.features[i])} candidates")
        bad = np.flatnonzero(~((self.propensity > 0) & (self.propensity <= 1)))
        if len(bad):
            raise InputError(f"decision {int(bad[0])}: propensity {float(self.propensity[bad[0]])!r} is not in (0, 1]; "
                             "log the probability the policy chose the shown action with")
        if not np.all(np.isfinite(self.reward)):
            raise InputError("rewards must be finite numbers")

    def __len__(self) -> int:
        return len(self.features)

    def subset(self, rows: np.ndarray) -> "LoggedDecisions":
        rows = np.asarray(rows, dtype=np.int64)
        return LoggedDecisions([self.features[i] for i in rows], self.chosen[rows], self.propensity[rows],
                               self.reward[rows], None if self.contexts is None else self.contexts[rows],
                               None if self.actions is None else [self.actions[i] for i in rows])

    def chosen_features(self) -> np.ndarray:
        return np.array([f[c] for f, c in zip(self.features, self.chosen)])


@dataclass
class Estimate:
    """One estimator's value with its standard error and confidence interval."""

    estimator: str
    value: float
    standard_error: float
    low: float
    high: float
    decisions: int
    details: dict = field(default_factory=dict)

    def covers(self, truth: float) -> bool:
        return self.low <= truth <= self.high


def _interval(name: str, value: float, standard_error: float, n: int, z: float) -> Estimate:
    return Estimate(name, float(value), float(standard_error), float(value - z * standard_error),
                    float(value + z * standard_error), n)


def ips(rewards: np.ndarray, weights: np.ndarray, z: float = Z_95) -> Estimate:
    terms = np.asarray(weights) * np.asarray(rewards)
    return _interval("ips", terms.mean(), _standard_error(terms), len(terms), z)


def snips(rewards: np.ndarray, weights: np.ndarray, z: float = Z_95) -> Estimate:
    weights, rewards = np.asarray(weights, dtype=np.float64), np.asarray(rewards, dtype=np.float64)
    total = weights.sum()
    if total <= 0:
        return Estimate("snips", float("nan"), float("nan"), float("nan"), float("nan"), len(weights),
                        {"reason": "the target policy never chooses a logged action"})
    value = float(weights @ rewards / total)
    # Delta method: the influence of decision i is w_i (r_i - value) / mean(w).
    influence = weights * (rewards - value) / weights.mean()
    return _interval("snips", value, _standard_error(influence), len(weights), z)


def doubly_robust(rewards: np.ndarray, weights: np.ndarray, direct: np.ndarray, predicted_logged: np.ndarray,
                  z: float = Z_95) -> Estimate:
    terms = np.asarray(direct) + np.asarray(weights) * (np.asarray(rewards) - np.asarray(predicted_logged))
    return _interval("dr", terms.mean(), _standard_error(terms), len(terms), z)


def _standard_error(terms: np.ndarray) -> float:
    if len(terms) < 2:
        return float("inf")
    return float(np.std(terms, ddof=1) / np.sqrt(len(terms)))


def evaluate_policy(logged: LoggedDecisions, target_probabilities: list[np.ndarray], reward_model=None,
                    z: float = Z_95) -> dict[str, Estimate]:
    """Estimate the target policy's expected reward with IPS, SNIPS and, given a reward model, DR.

    ``target_probabilities[i][j]`` is the chance the target chooses candidate
    j of decision i. ``reward_model`` has ``predict(features) -> rewards``.
    """
    if len(target_probabilities) != len(logged):
        raise InputError(f"target_probabilities has {len(target_probabilities)} entries for {len(logged)} decisions")
    if len(logged) == 0:
        raise InputError("no logged decisions to evaluate")
    chosen_target = np.array([p[c] for p, c in zip(target_probabilities, logged.chosen)], dtype=np.float64)
    weights = chosen_target / logged.propensity
    estimates = {"ips": ips(logged.reward, weights, z), "snips": snips(logged.reward, weights, z)}
    if reward_model is not None:
        direct = np.zeros(len(logged))
        predicted_logged = np.zeros(len(logged))
        for i, (features, probabilities) in enumerate(zip(logged.features, target_probabilities)):
            predicted = np.asarray(reward_model.predict(features), dtype=np.float64)
            direct[i] = float(np.asarray(probabilities) @ predicted)
            predicted_logged[i] = predicted[logged.chosen[i]]
        estimates["dr"] = doubly_robust(logged.reward, weights, direct, predicted_logged, z)
        estimates["dr"].details["direct_method"] = float(direct.mean())
    for estimate in estimates.values():
        estimate.details.update({"mean_weight": float(weights.mean()), "max_weight": float(weights.max()),
                                 "effective_decisions": float(weights.sum() ** 2 / max((weights ** 2).sum(), 1e-300))})
    return estimates


# Logs as CSV files

CSV_COLUMNS = ("decision_id", "segment", "hour", "platform", "action", "chosen", "propensity", "reward")


@dataclass
class CsvLog:
    """A bandit log read from CSV: decisions with their context and candidate action names."""

    decision_ids: list[str]
    contexts: list[tuple[str, int, str]]
    actions: list[list[str]]
    chosen: np.ndarray
    propensity: np.ndarray
    reward: np.ndarray

    @property
    def action_names(self) -> list[str]:
        return sorted({a for names in self.actions for a in names})


def read_log_csv(path: str | Path) -> CsvLog:
    """Read a bandit log with one row per candidate, decisions in the file's order.

    Columns: decision_id, segment, hour, platform, action, chosen (0 or 1),
    and propensity and reward, which are read from the chosen row only.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the bandit log ({exc})") from exc
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"{path}: missing columns {', '.join(missing)}; a bandit log has {', '.join(CSV_COLUMNS)}")

    order: list[str] = []
    rows: dict[str, dict] = {}
    for line, record in enumerate(reader, start=2):
        decision = record["decision_id"].strip()
        if not decision:
            raise InputError(f"{path}, line {line}, field 'decision_id': missing value")
        entry = rows.get(decision)
        if entry is None:
            entry = rows[decision] = {"context": _csv_context(path, line, record), "actions": [], "chosen": None}
            order.append(decision)

        action = record["action"].strip()
        if action in entry["actions"]:
            raise InputError(f"{path}, line {line}, field 'action': {action!r} appears twice in decision {decision}")
        entry["actions"].append(action)
        if record["chosen"].strip() not in ("1", "true", "True"):
            continue
        if entry["chosen"] is not None:
            raise InputError(f"{path}, line {line}, field 'chosen': decision {decision} has two chosen rows")
        try:
            entry["chosen"] = (len(entry["actions"]) - 1, float(record["propensity"]), float(record["reward"]))
        except ValueError:
            raise InputError(f"{path}, line {line}: invalid propensity {record['propensity']!r} or reward "
                             f"{record['reward']!r}; expected numbers") from None

    if not order:
        raise InputError(f"{path}: the bandit log has no rows")
    unchosen = [d for d in order if rows[d]["chosen"] is None]
    if unchosen:
        raise InputError(f"{path}, decision {unchosen[0]}: no row has chosen=1; mark the shown action")
    chosen = [rows[d]["chosen"] for d in order]
    return CsvLog(order, [rows[d]["context"] for d in order], [rows[d]["actions"] for d in order],
                  np.array([c[0] for c in chosen]), np.array([c[1] for c in chosen]), np.array([c[2] for c in chosen]))


def _csv_context(path: Path, line: int, record: dict) -> tuple[str, int, str]:
    try:
        return record["segment"].strip(), int(record["hour"]), record["platform"].strip()
    except ValueError:
        raise InputError(f"{path}, line {line}, field 'hour': invalid value {record['hour']!r}; expected an "
                         "integer from 0 to 23") from None


def write_log_csv(path: str | Path, contexts: list[tuple[str, int, str]], actions: list[list[str]],
                  chosen: np.ndarray, propensity: np.ndarray, reward: np.ndarray) -> None:
    """Write decisions in the CSV layout ``read_log_csv`` reads."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for i, (context, names) in enumerate(zip(contexts, actions)):
            for j, name in enumerate(names):
                is_chosen = j == chosen[i]
                writer.writerow([i, context[0], context[1], context[2], name, int(is_chosen),
                                 f"{propensity[i]:.6g}" if is_chosen else "", f"{reward[i]:g}" if is_chosen else ""])


def csv_decisions(log: CsvLog) -> LoggedDecisions:
    """Turn a CSV log into decisions whose features cross the context with a one-hot of the action name.

    The one-hot follows the sorted action names of the whole file, so
    candidates with one name share their features across decisions.
    """
    from ..rerank.bandit import HOUR_BUCKETS, PLATFORMS, SEGMENTS, context_vectors, joint_features

    names = log.action_names
    index = {name: i for i, name in enumerate(names)}
    for i, (segment, hour, platform) in enumerate(log.contexts):
        if segment not in SEGMENTS or platform not in PLATFORMS or not 0 <= hour <= 23:
            raise InputError(f"decision {log.decision_ids[i]}: invalid context ({segment!r}, {hour!r}, {platform!r}); "
                             f"segment must be one of {', '.join(SEGMENTS)}, hour 0 to 23, platform one of "
                             f"{', '.join(PLATFORMS)}")
    contexts = context_vectors([SEGMENTS.index(c[0]) for c in log.contexts],
                               [c[1] // (24 // len(HOUR_BUCKETS)) for c in log.contexts],
                               [PLATFORMS.index(c[2]) for c in log.contexts])
    features = []
    for context, actions in zip(contexts, log.actions):
        one_hot = np.zeros((len(actions), len(names)))
        one_hot[np.arange(len(actions)), [index[a] for a in actions]] = 1.0
        features.append(joint_features(context, one_hot, None, 0))
    return LoggedDecisions(features, log.chosen, log.propensity, log.reward,
                           np.array(log.contexts, dtype=object), log.actions)


def fit_candidate(decisions: LoggedDecisions):
    """Fit a candidate policy's model on logged decisions: ridge regression of reward on the chosen features."""
    from ..rerank.bandit import LinearBandit

    model = LinearBandit(decisions.features[0].shape[1])
    return model.update(decisions.chosen_features(), decisions.reward)


def split_decisions(decisions: LoggedDecisions, train_share: float) -> tuple[LoggedDecisions, LoggedDecisions]:
    """Split logged decisions in log order: the first ``train_share`` fit the candidate, the rest evaluate it."""
    if not 0 < train_share < 1:
        raise InputError(f"train share must be between 0 and 1, got {train_share!r}")
    cut = int(round(train_share * len(decisions)))
    if cut < 1 or cut >= len(decisions):
        raise InputError(f"{len(decisions)} logged decisions are too few to split at {train_share:g}; log more")
    return decisions.subset(np.arange(cut)), decisions.subset(np.arange(cut, len(decisions)))


def evaluate_candidate(decisions: LoggedDecisions, policy, train_share: float = 0.5, seed: int = 0,
                       z: float = Z_95) -> tuple[dict[str, Estimate], dict]:
    """Fit ``policy`` (a rerank.bandit.BanditPolicy) on the first part of the log and estimate its value on the rest.

    The fitted model is also DR's reward model. Returns the estimates and
    facts about the split, including the logging policy's mean reward on
    the evaluated part.
    """
    from ..rerank.bandit import first_choice_probabilities

    train, test = split_decisions(decisions, train_share)
    model = fit_candidate(train)
    rng = np.random.default_rng(seed)
    target = [first_choice_probabilities(model, features, policy, None, rng) for features in test.features]
    estimates = evaluate_policy(test, target, model, z)
    info = {"train_decisions": len(train), "evaluated_decisions": len(test),
            "logged_mean_reward": float(test.reward.mean()), "model": model}
    return estimates, info
