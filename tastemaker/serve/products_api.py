"""Routes for the products: home, Discover Weekly, Daily Mix, Release Radar, Radio and Smart Shuffle.

Each route calls the product's function from ``tastemaker.products`` on the
served bundle's track space and the user's listener with their feedback
folded in. A product that comes back empty for a stated reason (a cold or
unknown user) is filled with the most popular unplayed tracks and keeps the
reason in ``fallback``, so a list is never empty without one.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query

from ..errors import InputError
from ..products.daily_mix import daily_mixes
from ..products.discover_weekly import discover_weekly, iso_week, week_start
from ..products.home import build_home, request_context
from ..products.listener import Listener, is_playlist_reference, playlist_id
from ..products.radio import ARTIST_PREFIX, RadioSeed, RadioSession, RadioSettings, resolve_seed
from ..products.release_radar import release_radar
from ..products.result import ProductResult
from ..products.smart_shuffle import smart_shuffle
from ..rerank.bandit import PLATFORMS, BanditPolicy
from .api import ERRORS, POPULAR_EXPLANATION, NQuery, RerankQuery, ServiceDep, UserQuery, check_rerank, require_json
from .middleware import REQUEST_ID
from .registry import Served
from .schemas import DailyMixResponse, HomeResponse, ListResponse, RadioRequest, RadioResponse, SmartShuffleRequest
from .service import ApiError, Service, UserView

router = APIRouter(tags=["products"])

CARD_TRACKS_SHOWN = 5
SeedQuery = Annotated[int, Query(ge=0, le=2**31 - 1, description="Seed of the product's random draws")]


def unknown_user_reason(view: UserView) -> str:
    return f"user {view.reference!r} is not in the store and has sent no feedback"


def product_response(service: Service, served: Served, view: UserView | None, result: ProductResult, n: int,
                     listener: Listener | None = None) -> dict:
    """Return a product result as a response, filling an empty result with popular tracks (see the module docstring)."""
    listener = listener or (view.listener if view else None)
    fallback = result.fallback
    items = service.product_items(served, result)
    if not items and n > 0:
        exclude = listener.played if listener is not None else np.zeros(len(served.space), dtype=bool)
        order = served.space.popularity_order()
        popular = order[~exclude[order]][:n]
        items = service.items(served, served.space.tracks.external(popular), [float("nan")] * len(popular),
                              ["popularity fallback"] * len(popular), [POPULAR_EXPLANATION] * len(popular))
        fallback = f"{fallback or 'the product has no tracks for this listener'}: most popular tracks instead"
    if view is not None and view.is_unknown:
        fallback = f"{unknown_user_reason(view)}; {fallback}" if fallback else unknown_user_reason(view)
    return {"request_id": REQUEST_ID.get(), "bundle": served.name, "model": served.model_name,
            "product": result.product, "title": result.title, "user": view.reference if view else None,
            "fallback": fallback, "unknown": view.unknown_ids if view else [], "details": result.details,
            "items": items}


# Lists for a user


@router.get("/v1/discover-weekly", response_model=ListResponse, responses=ERRORS)
def discover_weekly_route(service: ServiceDep, user: UserQuery, n: NQuery = 30,
                          week: Annotated[str | None, Query(max_length=8, description="ISO week YYYY-Www")] = None,
                          artist_cap: Annotated[int, Query(ge=1, le=100)] = 2, rerank: RerankQuery = None,
                          seed: SeedQuery = 0) -> dict:
    """Return tracks new to the listener, at most ``artist_cap`` per artist, the same all week.

    Plays from Monday 00:00 UTC of the week on are left out of the history.
    """
    served = service.registry.current()
    service.check_n(n, served)
    check_rerank(rerank)
    year, number = iso_week(week)
    view = service.user_view(served, user, before=week_start(year, number))
    with service.compute():
        result = discover_weekly(served.space, view.listener, (year, number), n, artist_cap, rerank=rerank,
                                 seed=seed)
    return product_response(service, served, view, result, n)


@router.get("/v1/daily-mix", response_model=DailyMixResponse, responses=ERRORS)
def daily_mix_route(service: ServiceDep, user: UserQuery, n: NQuery = 30,
                    mixes: Annotated[int, Query(ge=1, le=12, description="Maximum number of mixes")] = 6,
                    familiar_share: Annotated[float, Query(ge=0, le=1)] = 0.5, seed: SeedQuery = 0) -> dict:
    """Mixes of what the listener plays, one per cluster of their history, each blended with new similar tracks."""
    served = service.registry.current()
    service.check_n(n, served)
    view = service.user_view(served, user)
    with service.compute():
        results = daily_mixes(served.space, view.listener, mixes, n, familiar_share, seed)
    return {"request_id": REQUEST_ID.get(), "bundle": served.name, "model": served.model_name,
            "user": view.reference, "unknown": view.unknown_ids,
            "mixes": [product_response(service, served, view, result, n) for result in results]}


@router.get("/v1/release-radar", response_model=ListResponse, responses=ERRORS)
def release_radar_route(service: ServiceDep, user: UserQuery, n: NQuery = 30,
                        window_days: Annotated[int, Query(ge=0, le=3650)] = 28,
                        top_artists: Annotated[int, Query(ge=1, le=200)] = 20,
                        today: Annotated[date | None, Query(description="Day to count back from, YYYY-MM-DD")] = None
                        ) -> dict:
    """Recent tracks from the artists the listener plays most."""
    served = service.registry.current()
    service.check_n(n, served)
    view = service.user_view(served, user)
    with service.compute():
        result = release_radar(served.space, view.listener, served.catalogue, n, top_artists,
                               window_days=window_days, today=today)
    return product_response(service, served, view, result, n)


@router.get("/v1/home", response_model=HomeResponse, responses=ERRORS)
def home_route(service: ServiceDep, user: UserQuery,
               policy: Annotated[str, Query(max_length=32, description="thompson, epsilon-greedy:E, greedy or random")]
               = "thompson",
               hour: Annotated[int | None, Query(ge=0, le=23, description="Hour of day (UTC); default now")] = None,
               platform: Annotated[Literal[PLATFORMS] | None, Query()] = None,
               cards: Annotated[int, Query(ge=1, le=6, description="Cards per shelf")] = 6,
               seed: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="Seed of the bandits' draws")]
               = None) -> dict:
    """Build the home page: shelves of cards with explanations, ordered by the contextual bandits.

    NOTE: the shown shelves are not written to the store's bandit log; the
    bandits learn from what `tastemaker home` logs.
    """
    served = service.registry.current()
    bandit_policy = BanditPolicy.parse(policy)
    view = service.user_view(served, user)
    space = served.space
    with service.compute():
        context = request_context(space, view.listener, hour, platform)
        page = build_home(space, view.listener, context, bandit_policy, served.home_models,
                          np.random.default_rng(seed), served.catalogue, served.population, cards)
    fallback = None
    if view.is_unknown:
        fallback = f"{unknown_user_reason(view)}: the shelves show popular tracks"
    elif view.listener.is_cold:
        fallback = "none of the listener's history is in the bundle: the shelves show popular tracks"
    data = page.to_dict()
    for shelf in data["shelves"]:
        for card in shelf["cards"]:
            card["tracks"] = [service.track(served, t) for t in card["track_ids"][:CARD_TRACKS_SHOWN]]
    return {"request_id": REQUEST_ID.get(), "bundle": served.name, "model": served.model_name,
            "user": view.reference, "unknown": view.unknown_ids, "fallback": fallback, "page_id": data["page_id"],
            "policy": data["policy"], "context": data["context"], "shelves": data["shelves"]}


# Radio


@router.post("/v1/radio", response_model=RadioResponse, responses=ERRORS, dependencies=[Depends(require_json)])
def radio_route(service: ServiceDep, body: RadioRequest) -> dict:
    """Serve the next page of a station: start one from ``seed``, or continue ``state`` after ``feedback``.

    The client keeps the state between pages and sends it back unchanged.
    Feedback on a served track (skip or listen) steers the next page away
    from or towards it. Post the same events to /v1/feedback to record them.
    """
    served = service.registry.current()
    space = served.space
    view = service.user_view(served, body.user) if body.user else None
    listener = view.listener if view else None
    unknown = list(view.unknown_ids) if view else []
    if body.state is None:
        seed, fallback, unknown_seed = station_seed(service, served, body.seed)
        unknown += unknown_seed
        session = RadioSession(space, seed, listener, served.skip_model, RadioSettings(page_size=body.page_size))
    else:
        fallback = body.state.fallback
        session = restore_session(service, served, body, listener)
    with service.compute():
        page = session.next_page()
    if view is not None and view.is_unknown:
        page.fallback = f"{unknown_user_reason(view)}; the station plays from its seed alone" \
            if page.fallback is None else page.fallback
    state = {**session.to_dict(), "bundle": served.name, "fallback": fallback}
    response = product_response(service, served, None, page, 0, listener)
    return {**response, "user": view.reference if view else None, "unknown": unknown,
            "fallback": page.fallback or fallback, "state": state}


def station_seed(service: Service, served: Served, reference: str) -> tuple[RadioSeed, str | None, list[str]]:
    """Resolve a station's seed; an unknown seed starts the station from the most popular track instead, flagged."""
    space = served.space
    reference = reference.strip()
    if is_playlist_reference(reference):
        playlist_id(reference)
    try:
        if is_playlist_reference(reference):
            with service.registry.read_store() as store:
                return resolve_seed(space, reference, store), None, []
        return resolve_seed(space, reference), None, []
    except InputError as exc:
        top = space.popularity_order()[:1000]
        top = top[np.any(space.vectors[top] != 0, axis=1)]
        if len(top) == 0:
            raise
        item = int(top[0])
        kind = "artist" if reference.startswith(ARTIST_PREFIX) else "seed"
        reason = f"{kind} {reference!r} cannot seed a station ({exc}): the station starts from the most popular track"
        return (RadioSeed(np.array([item], dtype=np.int64), space.label(item), space.tracks.ids[item]), reason,
                [reference])


def restore_session(service: Service, served: Served, body: RadioRequest, listener: Listener | None) -> RadioSession:
    state = body.state.model_dump()
    try:
        if is_playlist_reference(state["seed"]):
            with service.registry.read_store() as store:
                session = RadioSession.from_dict(served.space, state, store, listener, served.skip_model)
        else:
            session = RadioSession.from_dict(served.space, state, None, listener, served.skip_model)
    except InputError as exc:
        if body.state.bundle != served.name:
            raise ApiError(409, "conflict", f"the station was started on bundle {body.state.bundle}, and bundle "
                                            f"{served.name} now serves, which cannot continue it ({exc}); start a new "
                                            "station") from exc
        raise
    for position, item in enumerate(body.feedback):
        try:
            session.record(item.track_id, item.outcome)
        except InputError as exc:
            raise ApiError(422, "invalid request", f"body field 'feedback[{position}].track_id' = "
                                                   f"{item.track_id!r}: {exc}") from exc
    return session


# Smart Shuffle


@router.post("/v1/smart-shuffle", response_model=ListResponse, responses=ERRORS,
             dependencies=[Depends(require_json)])
def smart_shuffle_route(service: ServiceDep, body: SmartShuffleRequest) -> dict:
    """Weave recommendations into a playlist's tracks, one after every ``every - 1`` of them, keeping its order."""
    served = service.registry.current()
    with service.compute():
        result = smart_shuffle(served.space, body.track_ids, body.title or "playlist", body.every, key="request")
    unknown = [t for t in dict.fromkeys(body.track_ids) if t not in served.space.tracks]
    response = product_response(service, served, None, result, 0)
    return {**response, "unknown": unknown}
