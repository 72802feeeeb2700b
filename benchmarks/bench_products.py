"""Measure the home page's bandits and Radio's adaptation.

1. Off-policy evaluation. In each of ``--runs`` seeded generated worlds
   (tastemaker.simulate.bandit_world), an epsilon-greedy logging policy
   (epsilon 0.3, its model warmed on 300 random rounds and then fixed) logs
   ``--decisions`` decisions. Candidates fitted on the first half are
   estimated on the second half with IPS, SNIPS and doubly robust, and
   compared with their true value: coverage of the 95% interval, bias,
   variance and RMSE of each estimator.
2. Regret. Thompson sampling, greedy (no exploration), epsilon-greedy 0.1
   and random learn online for ``--rounds`` rounds in ``--regret-seeds``
   worlds; the mean cumulative regret curves are plotted. Worlds with
   disjoint per-action features come first, then worlds with one feature
   shared by all actions, as the home page's position column is.
3. Radio, with ``--data-dir`` naming a data directory with a trained
   playlist bundle. In stations seeded by popular tracks, one track of the
   first page is skipped or listened to. The ranks of its five nearest
   neighbours on the next page's ranking are compared with those of the
   same station without the feedback.

Usage: python benchmarks/bench_products.py [--out docs/products] [--data-dir tastemaker-data/mpd-sample]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from tastemaker.evaluation.ope import evaluate_policy, fit_candidate, split_decisions
from tastemaker.rerank.bandit import BanditPolicy
from tastemaker.simulate.bandit_world import generate_bandit_world, log_decisions, new_model, run_online

TARGETS = ("greedy", "epsilon-greedy:0.1", "thompson", "random")
ONLINE = ("thompson", "greedy", "epsilon-greedy:0.1", "random")


def ope_runs(runs: int, decisions: int) -> list[dict]:
    rows = []
    for seed in range(runs):
        world = generate_bandit_world(seed=seed)
        warm = new_model(world)
        run_online(world, BanditPolicy("random"), 300, seed=seed + 10_000, model=warm)
        logged = log_decisions(world, warm, BanditPolicy("epsilon-greedy", 0.3), decisions,
                               np.random.default_rng(seed + 20_000))
        train, test = split_decisions(logged, 0.5)
        model = fit_candidate(train)
        cells = world.cell_index(*test.contexts.T)
        for spec in TARGETS:
            policy = BanditPolicy.parse(spec)
            shares = world.choice_shares(model, policy, seed=seed)
            truth = world.policy_value(model, policy, shares=shares)
            estimates = evaluate_policy(test, [shares[c] for c in cells], model)
            for name, estimate in estimates.items():
                rows.append({"seed": seed, "target": spec, "estimator": name, "truth": truth,
                             "value": estimate.value, "low": estimate.low, "high": estimate.high,
                             "covered": estimate.covers(truth)})
        if (seed + 1) % 10 == 0:
            print(f"  OPE: {seed + 1} of {runs} runs", file=sys.stderr)
    return rows


def summarise_ope(rows: list[dict]) -> list[dict]:
    summary = []
    for spec in TARGETS:
        for name in ("ips", "snips", "dr"):
            part = [r for r in rows if r["target"] == spec and r["estimator"] == name]
            errors = np.array([r["value"] - r["truth"] for r in part])
            summary.append({
                "target": spec, "estimator": name, "runs": len(part),
                "covered": int(sum(r["covered"] for r in part)),
                "bias": float(errors.mean()), "variance": float(errors.var(ddof=1)),
                "rmse": float(np.sqrt((errors ** 2).mean())),
                "mean_interval_width": float(np.mean([r["high"] - r["low"] for r in part])),
                "mean_truth": float(np.mean([r["truth"] for r in part])),
            })
    return summary


def regret_curves(seeds: int, rounds: int, shared_intercept: bool) -> dict[str, np.ndarray]:
    curves = {}
    for spec in ONLINE:
        runs = []
        for seed in range(seeds):
            world = generate_bandit_world(seed=seed, shared_intercept=shared_intercept)
            runs.append(np.cumsum(run_online(world, BanditPolicy.parse(spec), rounds, seed=seed + 30_000)))
        curves[spec] = np.array(runs)
        print(f"  regret ({'shared' if shared_intercept else 'disjoint'}): {spec} done", file=sys.stderr)
    return curves


def plot_regret(curves: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.2), sharey=True)
    for axis, (title, by_policy) in zip(np.atleast_1d(axes), curves.items()):
        for spec, runs in by_policy.items():
            mean = runs.mean(axis=0)
            error = runs.std(axis=0, ddof=1) / np.sqrt(len(runs))
            rounds = np.arange(1, len(mean) + 1)
            axis.plot(rounds, mean, label=spec)
            axis.fill_between(rounds, mean - 1.96 * error, mean + 1.96 * error, alpha=0.2)
        axis.set_title(title)
        axis.set_xlabel("round")
        axis.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("cumulative expected regret")
    np.atleast_1d(axes)[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def radio_measurement(data_dir: Path, stations: int, seed: int = 0) -> dict:
    from tastemaker.products.radio import RadioSeed, RadioSession, RadioSettings
    from tastemaker.products.space import load_space
    from tastemaker.store import Store

    with Store.open(data_dir, read_only=True) as store:
        space = load_space(data_dir, store, "playlist")
    rng = np.random.default_rng(seed)
    popular = space.popularity_order()[:2000]
    result = {}
    for outcome in ("skip", "listen"):
        changes, on_page = [], [0, 0]
        for track in rng.choice(popular, size=stations, replace=False):
            sessions = []
            for _ in range(2):
                session = RadioSession(space, RadioSeed(np.array([track]), "seed", "seed"),
                                       settings=RadioSettings(candidate_pool=2000))
                session.next_page()
                sessions.append(session)
            position = int(rng.integers(1, 11))
            sessions[1].record(position, outcome)
            neighbours = space.neighbours(sessions[1].served[position - 1], 5, sessions[0].excluded())
            ranks = []
            for session in sessions:
                order = session.ranking()[0].tolist()
                ranks.append(np.array([order.index(n) if n in order else len(order) for n in neighbours]))
            changes.append(float(ranks[1].mean() - ranks[0].mean()))
            on_page[0] += int((ranks[0] < 10).sum())
            on_page[1] += int((ranks[1] < 10).sum())
        changes_array = np.array(changes)
        result[outcome] = {"stations": stations, "mean_rank_change": float(changes_array.mean()),
                           "share_worse": float((changes_array > 0).mean()),
                           "share_better": float((changes_array < 0).mean()),
                           "neighbours_on_next_page_without": on_page[0] / stations,
                           "neighbours_on_next_page_with": on_page[1] / stations}
    result["bundle"] = space.bundle
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/products"))
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--decisions", type=int, default=4000)
    parser.add_argument("--regret-seeds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--data-dir", type=Path, default=None, help="Data directory for the Radio measurement.")
    parser.add_argument("--stations", type=int, default=200)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"machine": f"{platform.machine()}, {platform.processor() or 'unknown CPU'}, "
                               f"Python {platform.python_version()}"}

    started = time.perf_counter()
    rows = ope_runs(args.runs, args.decisions)
    report["ope"] = summarise_ope(rows)
    report["ope_seconds"] = time.perf_counter() - started
    print(f"\nOff-policy evaluation, {args.runs} runs of {args.decisions} logged decisions (half fit, half "
          "evaluated):\n")
    print("| candidate | estimator | covered | bias | variance | RMSE | mean 95% width | mean true value |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in report["ope"]:
        print(f"| {r['target']} | {r['estimator']} | {r['covered']}/{r['runs']} | {r['bias']:+.4f} | "
              f"{r['variance']:.6f} | {r['rmse']:.4f} | {r['mean_interval_width']:.4f} | {r['mean_truth']:.4f} |")

    started = time.perf_counter()
    curves = {"disjoint features per action": regret_curves(args.regret_seeds, args.rounds, False),
              "one feature shared by all actions": regret_curves(args.regret_seeds, args.rounds, True)}
    report["regret_seconds"] = time.perf_counter() - started
    plot_regret(curves, args.out / "regret.png")
    report["regret"] = {}
    checkpoints = sorted({min(1000, args.rounds), args.rounds})
    print(f"\nCumulative regret, mean over {args.regret_seeds} worlds (standard deviation), {args.rounds} rounds:\n")
    columns = " | ".join(f"after {c}" for c in checkpoints)
    print(f"| features | policy | {columns} | worlds where Thompson is lower |")
    print("|---|---|" + "---:|" * (len(checkpoints) + 1))
    for title, by_policy in curves.items():
        report["regret"][title] = {}
        for spec, runs in by_policy.items():
            values = {c: (float(runs[:, c - 1].mean()), float(runs[:, c - 1].std(ddof=1))) for c in checkpoints}
            lower = int((by_policy["thompson"][:, -1] < runs[:, -1]).sum()) if spec != "thompson" else None
            report["regret"][title][spec] = {"checkpoints": {str(c): v for c, v in values.items()},
                                             "worlds_thompson_lower": lower}
            cells = " | ".join(f"{m:.1f} ({s:.1f})" for m, s in values.values())
            print(f"| {title} | {spec} | {cells} | {'-' if lower is None else f'{lower}/{args.regret_seeds}'} |")

    if args.data_dir is not None:
        started = time.perf_counter()
        report["radio"] = radio_measurement(args.data_dir, args.stations)
        report["radio_seconds"] = time.perf_counter() - started
        print(f"\nRadio on {report['radio']['bundle']}, {args.stations} stations per outcome:\n")
        print("| feedback | mean rank change of the 5 nearest neighbours | stations where they fell | "
              "neighbours on the next page without / with |")
        print("|---|---:|---:|---:|")
        for outcome in ("skip", "listen"):
            r = report["radio"][outcome]
            print(f"| {outcome} | {r['mean_rank_change']:+.1f} | {r['share_worse']:.0%} | "
                  f"{r['neighbours_on_next_page_without']:.2f} / {r['neighbours_on_next_page_with']:.2f} |")

    (args.out / "bench_products.json").write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {args.out / 'bench_products.json'} and {args.out / 'regret.png'}")


if __name__ == "__main__":
    main()
