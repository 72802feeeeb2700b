"""Product commands of the ``tastemaker`` CLI, defined on the app of cli.py.

cli.py imports this module at its end, which registers: ``home``,
``home-feedback``, ``discover-weekly``, ``daily-mix``, ``radio``,
``release-radar``, ``smart-shuffle``, ``ope`` and ``generate-bandit-log``.
Every product command takes ``--json`` to print the result objects an HTTP
API would return.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from .cli import app, console, errors, open_store, settings
from .errors import InputError
from .products.listener import Listener, listener_kind, load_listener
from .products.result import ProductResult
from .products.space import TrackSpace, available_kinds, load_space
from .store import Store

UserArgument = Annotated[str, typer.Option(
    "--user", help="playlist:PID for a stored playlist, or a listening user as `recommend --user` takes it "
                   "(hetrec:2, spotify:NAME, or a name unique across sources).")]
ModelOption = Annotated[Optional[str], typer.Option(
    "--model", "-m", help="Model of the bundle that scores tracks; vectors come from ALS when it has none.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON instead of tables.")]
SeedOption = Annotated[int, typer.Option(help="Random seed of the product's draws.")]


# Loading


def space_kind_for(data_dir: Path, user_kind: str | None) -> str:
    """Choose the bundle a user's products come from: plays prefer the listening bundle, the rest need playlists."""
    kinds = available_kinds(data_dir)
    if user_kind == "plays" and "listening" in kinds:
        return "listening"
    if "playlist" in kinds:
        return "playlist"
    if user_kind is None and kinds:
        return kinds[0]
    if user_kind == "artist-plays":
        raise InputError(f"no playlist bundle in {data_dir}: HetRec users are mapped to tracks through artist names, "
                         "which needs a model trained on playlists; ingest MPD playlists and run "
                         "`tastemaker train --model als`")
    if user_kind == "playlist":
        raise InputError(f"no playlist bundle in {data_dir}: playlists as users need a model trained on playlists; "
                         "run `tastemaker train --model als`")
    raise InputError(f"no trained model in {data_dir}: train one with `tastemaker train` (playlists) or "
                     "`tastemaker train-listening` (plays)")


def open_listener(store: Store, user: str, model: str | None = None,
                  before: datetime | None = None) -> tuple[TrackSpace, Listener]:
    kind, _ = listener_kind(store, user)
    space = load_space(settings.data_dir, store, space_kind_for(settings.data_dir, kind), model)
    listener = load_listener(store, space, user, before)
    if listener.unknown:
        errors.print(f"[yellow]note[/]: {len(listener.unknown)} of the listener's "
                     f"{'artists' if listener.kind == 'artist-plays' else 'tracks'} are not in the model's catalogue "
                     "and were left out", highlight=False)
    return space, listener


# Printing


def print_result(result: ProductResult, store: Store, limit: int | None = None) -> None:
    if result.fallback:
        errors.print(f"[yellow]fallback[/]: {result.fallback}", highlight=False)
    metadata = store.track_metadata(result.track_ids)
    table = Table(title=result.title)
    for column in ("#", "artist", "track", "score", "source", "why"):
        table.add_column(column, justify="right" if column in ("#", "score") else "left")
    rows = list(zip(result.track_ids, result.scores, result.sources, result.explanations))
    for rank, (uri, score, source, why) in enumerate(rows[:limit], start=1):
        name, artist = metadata.get(uri, (None, None))
        table.add_row(str(rank), artist or "?", name or uri, "-" if math.isnan(score) else f"{score:.3f}", source,
                      why)
    console.print(table)
    if limit is not None and len(rows) > limit:
        console.print(f"... {len(rows) - limit} more")


def print_json(data) -> None:
    console.print_json(json.dumps(data, default=str))


# Products


@app.command("discover-weekly")
def discover_weekly_command(
    user: UserArgument,
    week: Annotated[Optional[str], typer.Option(help="ISO week as YYYY-Www, for example 2024-W05; default this week.")]
        = None,
    n: Annotated[int, typer.Option("-n", min=1, help="Tracks in the list.")] = 30,
    artist_cap: Annotated[int, typer.Option(min=1, help="Maximum tracks per artist.")] = 2,
    rerank: Annotated[Optional[str], typer.Option(
        help="Re-rank the drawn tracks as NAME:STRENGTH (calibration, mmr, fairness, popularity).")] = None,
    model: ModelOption = None, seed: SeedOption = 0, as_json: JsonOption = False,
) -> None:
    """Thirty tracks new to the listener, at most two per artist, the same all week and new every Monday."""
    from .products.discover_weekly import discover_weekly, iso_week, week_start

    year, number = iso_week(week)
    with open_store(read_only=True) as store:
        space, listener = open_listener(store, user, model, before=week_start(year, number))
        result = discover_weekly(space, listener, (year, number), n, artist_cap, rerank=rerank, seed=seed)
        if as_json:
            print_json(result.to_dict())
            return
        note = f"; plays from {week_start(year, number):%Y-%m-%d} on are left out" if listener.kind == "plays" else ""
        console.print(f"{listener.label}: {len(listener.history)} history tracks known to {space.bundle}{note}")
        print_result(result, store)


@app.command("daily-mix")
def daily_mix_command(
    user: UserArgument,
    mixes: Annotated[int, typer.Option(min=1, max=12, help="Most mixes; the count is chosen from the data.")] = 6,
    n: Annotated[int, typer.Option("-n", min=1, help="Tracks per mix.")] = 30,
    familiar_share: Annotated[float, typer.Option(help="Share of familiar tracks in a mix, from 0 to 1.")] = 0.5,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Print only the first tracks of each mix.")] = None,
    model: ModelOption = None, seed: SeedOption = 0, as_json: JsonOption = False,
) -> None:
    """Mixes of what the listener plays, one per cluster of their history, each blended with new similar tracks."""
    from .products.daily_mix import daily_mixes

    with open_store(read_only=True) as store:
        space, listener = open_listener(store, user, model)
        results = daily_mixes(space, listener, mixes, n, familiar_share, seed)
        if as_json:
            print_json([r.to_dict() for r in results])
            return
        gains = results[0].details.get("silhouette_gains", {})
        console.print(f"{listener.label}: {len(results)} mixes; silhouette gain over random vectors by cluster "
                      "count: " + (", ".join(f"k={k}: {v}" for k, v in gains.items()) or "too few tracks to split"))
        for result in results:
            print_result(result, store, limit)


@app.command("radio")
def radio_command(
    seed_reference: Annotated[str, typer.Option(
        "--seed", help="A track URI, artist:NAME or playlist:PID the station starts from.")],
    user: Annotated[Optional[str], typer.Option(
        "--user", help="Blend in this listener's taste (playlist:PID or a listening user).")] = None,
    skip: Annotated[Optional[list[str]], typer.Option(
        help="Skip a track of the first page, by position (1-based) or URI; repeatable.")] = None,
    listen: Annotated[Optional[list[str]], typer.Option(
        help="Listen to a track of the first page in full, by position or URI; repeatable.")] = None,
    pages: Annotated[Optional[int], typer.Option(
        min=1, help="Pages to serve; default 2 with feedback, else 1. Feedback applies after the first.")] = None,
    page_size: Annotated[int, typer.Option(min=1, help="Tracks per page.")] = 10,
    skip_model: Annotated[bool, typer.Option(
        help="Down-weight likely skips with the model `tastemaker train-skip` saved, when there is one.")] = True,
    hour: Annotated[Optional[int], typer.Option(min=0, max=23, help="Hour of day (UTC) for the skip model.")] = None,
    model: ModelOption = None, as_json: JsonOption = False,
) -> None:
    """Serve an endless station from a seed in pages. --skip and --listen simulate a session's feedback."""
    from .models.skip import SkipModel
    from .products.radio import RadioSession, RadioSettings, resolve_seed

    with open_store(read_only=True) as store:
        listener = None
        if user is not None:
            space, listener = open_listener(store, user, model)
        else:
            space = load_space(settings.data_dir, store, space_kind_for(settings.data_dir, None), model)
        seed = resolve_seed(space, seed_reference, store)
        skipper = None
        folder = settings.data_dir / "skip-model"
        if skip_model and (folder / "skip_model.json").is_file():
            skipper = SkipModel.load(folder)
        session = RadioSession(space, seed, listener, skipper, RadioSettings(page_size=page_size), hour)
        feedback = [(value, "skip") for value in skip or []] + [(value, "listen") for value in listen or []]
        pages = pages or (2 if feedback else 1)
        results = []
        for number in range(pages):
            results.append(session.next_page())
            if number == 0:
                for value, outcome in feedback:
                    session.record(value, outcome)
        if as_json:
            print_json({"pages": [r.to_dict() for r in results], "session": session.to_dict()})
            return
        console.print(f"station {seed.label}: {len(seed.tracks)} seed tracks, "
                      f"skip model {'on' if skipper else 'off (none saved; run `tastemaker train-skip`)'}")
        for number, result in enumerate(results, start=1):
            if number == 2 and feedback:
                console.print("feedback after page 1: " + ", ".join(f"{o} {v}" for v, o in feedback))
            print_result(result, store)


@app.command("release-radar")
def release_radar_command(
    user: UserArgument,
    n: Annotated[int, typer.Option("-n", min=1, help="Tracks in the list.")] = 30,
    window_days: Annotated[int, typer.Option(min=0, help="Days back that count as recent.")] = 28,
    top_artists: Annotated[int, typer.Option(min=1, help="How many of the most played artists to follow.")] = 20,
    release_dates: Annotated[Optional[Path], typer.Option(
        help="CSV with columns track_uri and release_date (YYYY-MM-DD or YYYY); else first-seen dates.")] = None,
    today: Annotated[Optional[str], typer.Option(help="The day to count back from, YYYY-MM-DD; default today.")]
        = None,
    model: ModelOption = None, as_json: JsonOption = False,
) -> None:
    """Recent tracks from the artists the listener plays most."""
    from .products.release_radar import read_release_dates, release_radar
    from .store.products import catalogue_tracks

    day = _parse_day(today)
    dates = read_release_dates(release_dates) if release_dates is not None else None
    with open_store(read_only=True) as store:
        space, listener = open_listener(store, user, model)
        result = release_radar(space, listener, catalogue_tracks(store), n, top_artists, window_days=window_days,
                               release_dates=dates, today=day)
        if as_json:
            print_json(result.to_dict())
            return
        console.print(f"{listener.label}: following {len(result.details.get('artists', []))} artists: "
                      + ", ".join(result.details.get("artists", [])[:10]))
        print_result(result, store)


@app.command("smart-shuffle")
def smart_shuffle_command(
    playlist: Annotated[int, typer.Option(help="The stored playlist (its pid) to weave recommendations into.")],
    every: Annotated[int, typer.Option(min=2, help="One recommendation per this many tracks.")] = 3,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Print only the first tracks.")] = None,
    model: ModelOption = None, as_json: JsonOption = False,
) -> None:
    """Weave recommendations into a playlist, one after every two of its tracks, keeping its order."""
    from .products.smart_shuffle import smart_shuffle

    with open_store(read_only=True) as store:
        name, uris = store.playlist(playlist)
        space = load_space(settings.data_dir, store, space_kind_for(settings.data_dir, "playlist"), model)
        result = smart_shuffle(space, uris, name or f"playlist {playlist}", every, key=f"playlist:{playlist}")
        if as_json:
            print_json(result.to_dict())
            return
        console.print(f"playlist {playlist} ({name!r}): {len(uris)} tracks, {result.details['added']} added")
        print_result(result, store, limit)


# Home


@app.command("home")
def home_command(
    user: UserArgument,
    policy: Annotated[str, typer.Option(
        help="Bandit policy: thompson, epsilon-greedy:E, greedy or random.")] = "thompson",
    hour: Annotated[Optional[int], typer.Option(min=0, max=23, help="Hour of day (UTC); default now.")] = None,
    platform: Annotated[Optional[str], typer.Option(
        help="android, ios, desktop, web or other; default the platform the user plays on most, else web.")] = None,
    cards: Annotated[int, typer.Option(min=1, max=6, help="Cards per shelf.")] = 6,
    log: Annotated[bool, typer.Option(help="Write the shown shelves and cards to the bandit log.")] = True,
    model: ModelOption = None, seed: Annotated[Optional[int], typer.Option(
        help="Seed of the bandit's draws; default fresh randomness each time.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the home page: shelves of cards that contextual bandits order, explore and learn from streams."""
    from .products.home import HomeModels, build_home, fit_models, impression_rows, request_context
    from .products.shelves import Population
    from .rerank.bandit import BanditPolicy
    from .store.bandit import attribute_play_events, log_counts, logged_rows, write_impressions
    from .store.products import catalogue_tracks

    bandit_policy = BanditPolicy.parse(policy)
    with open_store(read_only=not log) as store:
        space, listener = open_listener(store, user, model)
        if log:
            attribute_play_events(store)
        models = fit_models(logged_rows(store, "shelf"), logged_rows(store, "card")) \
            if store.has_table("bandit_log") else HomeModels()
        context = request_context(space, listener, hour, platform)
        page = build_home(space, listener, context, bandit_policy, models,
                          np.random.default_rng(seed), catalogue_tracks(store), Population.from_store(store, space),
                          cards)
        if log:
            write_impressions(store, impression_rows(page))
        counts = log_counts(store) if store.has_table("bandit_log") else {"pages": 0, "rows": 0, "rewarded": 0}
        if as_json:
            print_json(page.to_dict())
            return
        metadata = store.track_metadata([t for s in page.shelves for c in s.cards for t in c.track_ids[:3]])
    console.print(f"home of {listener.label} (page {page.page_id}): segment {context.segment}, hour {context.hour}, "
                  f"platform {context.platform}, policy {page.policy}; the bandits learnt from "
                  f"{models.shelf.observations_} shelf and {models.card.observations_} card rows "
                  f"({counts['pages']} pages logged)")
    for shelf in page.shelves:
        table = Table(title=f"{shelf.position + 1}. {shelf.title} (propensity {shelf.propensity:.3f}): "
                            f"{shelf.explanation}", title_justify="left")
        for column in ("#", "card", "card id", "why", "first tracks", "propensity"):
            table.add_column(column)
        for card in shelf.cards:
            first = "; ".join(_short(metadata, t) for t in card.track_ids[:3])
            table.add_row(str(card.position + 1), card.title, card.card_id, card.explanation, first,
                          f"{card.propensity:.3f}")
        console.print(table)
    if log:
        console.print(f"record a stream with `tastemaker home-feedback {page.page_id} CARD_ID --ms-played MS`")


def _short(metadata: dict, uri: str) -> str:
    name, artist = metadata.get(uri, (None, None))
    return f"{name} ({artist})" if name else uri


@app.command("home-feedback")
def home_feedback_command(
    page: Annotated[str, typer.Argument(help="The page id `tastemaker home` printed.")],
    card: Annotated[str, typer.Argument(help="The card id of the page the listener played from.")],
    ms_played: Annotated[int, typer.Option(min=0, help="Milliseconds played; 30,000 or more is a stream.")],
) -> None:
    """Record what a listener played from a home-page card; streams are the bandits' reward."""
    from .store.bandit import record_stream

    with open_store() as store:
        reward = record_stream(store, page, card, ms_played)
    console.print(f"page {page}, card {card}: {ms_played} ms played, reward {reward:g}")


# Off-policy evaluation


@app.command("ope")
def ope_command(
    log: Annotated[str, typer.Option(
        help="`store` for the bandit log of the store (its shelf order), or a CSV file as "
             "`generate-bandit-log` writes.")],
    policy: Annotated[str, typer.Option(help="Candidate policy: thompson, epsilon-greedy:E, greedy or random.")],
    train_share: Annotated[float, typer.Option(
        help="Share of the log, in log order, that fits the candidate; the rest is evaluated.")] = 0.5,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Estimate a candidate policy's reward from logged decisions: IPS, SNIPS and doubly robust, with 95% intervals."""
    from .evaluation.ope import csv_decisions, evaluate_candidate, read_log_csv
    from .products.home import shelf_decisions
    from .rerank.bandit import BanditPolicy

    candidate = BanditPolicy.parse(policy)
    if log == "store":
        from .store.bandit import logged_rows

        with open_store(read_only=True) as store:
            if not store.has_table("bandit_log"):
                raise InputError(f"the store {store.path} has no bandit log; show home pages with `tastemaker home`")
            decisions = shelf_decisions(logged_rows(store, "shelf"))
        source = f"bandit log of {settings.data_dir} (first shelf of each page)"
    else:
        decisions = csv_decisions(read_log_csv(Path(log)))
        source = log
    estimates, info = evaluate_candidate(decisions, candidate, train_share, seed)
    if as_json:
        print_json({"log": source, "policy": candidate.label, **{k: v for k, v in info.items() if k != "model"},
                    "estimates": {name: {"value": e.value, "standard_error": e.standard_error, "low": e.low,
                                         "high": e.high, **e.details} for name, e in estimates.items()}})
        return
    console.print(f"log: {source}; candidate {candidate.label} fitted on {info['train_decisions']} decisions, "
                  f"evaluated on {info['evaluated_decisions']}; the logging policy's mean reward there: "
                  f"{info['logged_mean_reward']:.4f}")
    table = Table(title=f"estimated reward of {candidate.label}")
    for column in ("estimator", "value", "95% interval", "standard error", "effective decisions"):
        table.add_column(column, justify="left" if column == "estimator" else "right")
    labels = {"ips": "IPS", "snips": "SNIPS (self-normalised)", "dr": "doubly robust"}
    for name, estimate in estimates.items():
        table.add_row(labels[name], f"{estimate.value:.4f}", f"{estimate.low:.4f} to {estimate.high:.4f}",
                      f"{estimate.standard_error:.4f}", f"{estimate.details['effective_decisions']:.0f}")
    console.print(table)


@app.command("generate-bandit-log")
def generate_bandit_log_command(
    out: Annotated[Path, typer.Argument(help="CSV file to write the log to.")],
    policy: Annotated[str, typer.Option(help="Logging policy: thompson, epsilon-greedy:E, greedy or random.")]
        = "epsilon-greedy:0.3",
    decisions: Annotated[int, typer.Option(min=10, help="Decisions to log.")] = 4000,
    warmup: Annotated[int, typer.Option(min=0, help="Rounds of random exploration the logging model learns from "
                                                    "first.")] = 300,
    train_share: Annotated[float, typer.Option(help="Split `ope` will use, for the true values printed.")] = 0.5,
    seed: SeedOption = 0,
) -> None:
    """Write a fixed policy's log in a generated world and print candidate policies' true values (not real data)."""
    from .evaluation.ope import LoggedDecisions, fit_candidate, split_decisions, write_log_csv
    from .rerank.bandit import HOUR_BUCKETS, PLATFORMS, SEGMENTS, BanditPolicy
    from .simulate.bandit_world import generate_bandit_world, log_decisions, new_model, run_online

    logging_policy = BanditPolicy.parse(policy)
    world = generate_bandit_world(seed=seed)
    model = new_model(world)
    if warmup:
        run_online(world, BanditPolicy("random"), warmup, seed=seed + 1, model=model)
    logged = log_decisions(world, model, logging_policy, decisions, np.random.default_rng(seed + 2))
    rng = np.random.default_rng(seed + 3)
    hours = [int(b) * (24 // len(HOUR_BUCKETS)) + int(rng.integers(24 // len(HOUR_BUCKETS))) for b in
             logged.contexts[:, 1]]
    contexts = [(SEGMENTS[s], h, PLATFORMS[p]) for (s, _, p), h in zip(logged.contexts.tolist(), hours)]
    names = [[f"shelf-{a}" for a in range(world.n_actions)]] * len(logged)
    write_log_csv(out, contexts, names, logged.chosen, logged.propensity, logged.reward)
    console.print(f"wrote {len(logged)} decisions of {logging_policy.label} in a generated world (seed {seed}) to "
                  f"{out}; mean reward {logged.reward.mean():.4f}")
    train, _ = split_decisions(LoggedDecisions(logged.features, logged.chosen, logged.propensity, logged.reward),
                               train_share)
    fitted = fit_candidate(train)
    table = Table(title=f"true values of candidates fitted on the first {train_share:g} of the log")
    table.add_column("candidate")
    table.add_column("true expected reward", justify="right")
    for spec in ("thompson", "greedy", "epsilon-greedy:0.1", "random"):
        table.add_row(spec, f"{world.policy_value(fitted, BanditPolicy.parse(spec)):.4f}")
    table.add_row("best action in every context", f"{world.best_value():.4f}")
    console.print(table)


def _parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"invalid --today {text!r}: expected YYYY-MM-DD") from None

