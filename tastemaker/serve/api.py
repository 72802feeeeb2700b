"""Routes for recommendations, continuation, similar tracks, feedback, bundles, reports, health and metrics."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Callable

import numpy as np
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from ..errors import StoreError
from ..pipeline import continue_seed_lists
from ..products.common import apply_rerank, model_candidates
from ..products.continuation import FALLBACK_PADDED, RERANK_POOL
from ..products.explain import because
from ..products.listener import playlist_listener
from ..rerank import parse_rerank_spec
from .feedback import CONFLICT, NewEvent
from .history import validate_user
from .metrics import CONTENT_TYPE
from .middleware import REQUEST_ID
from .registry import Served
from .schemas import (
    ContinuationRequest,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    HealthResponse,
    ListResponse,
    ReloadResponse,
    ReportsResponse,
    UsersResponse,
)
from .service import ApiError, Service, UserView

router = APIRouter()

FEEDBACK_TIMEOUT_SECONDS = 10.0
POPULAR_EXPLANATION = "popular with everyone"
REPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
REPORT_TYPES = {".png": "image/png", ".md": "text/markdown; charset=utf-8", ".csv": "text/csv; charset=utf-8",
                ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml"}
ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 413, 415, 422, 503)}


# Dependencies are coroutines so that FastAPI runs them on the event loop instead of a worker thread.


async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]
UserQuery = Annotated[str, Query(min_length=1, max_length=200,
                                 description="playlist:PID, SOURCE:NAME (hetrec:2, spotify:alice) or a name")]
NQuery = Annotated[int, Query(ge=1, description="Number of tracks")]
RerankQuery = Annotated[str | None, Query(max_length=64, description="Re-rank as NAME:STRENGTH, for example mmr:0.3")]


async def require_api_key(service: ServiceDep, authorization: Annotated[str | None, Header()] = None,
                          x_api_key: Annotated[str | None, Header()] = None) -> None:
    service.check_api_key(authorization, x_api_key)


async def require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "unsupported media type", f"the request body must be JSON sent with Content-Type "
                                                      f"application/json, got {content_type or 'none'!r}")


def wants_fresh(cache_control: str | None) -> bool:
    """True when the client sent ``Cache-Control: no-cache``, which makes the service compute the response again."""
    return bool(cache_control) and "no-cache" in cache_control.lower()


def with_request_id(data: dict) -> dict:
    return {**data, "request_id": REQUEST_ID.get()}


def check_rerank(rerank: str | None) -> None:
    if rerank is not None:
        parse_rerank_spec(rerank)


async def cached_or_computed(service: Service, served: Served, key: tuple, cache_control: str | None,
                             compute: Callable[[], dict]) -> dict:
    """Return the served bundle's cached response for ``key``, or run ``compute`` on a worker thread and cache it.

    A cache hit never leaves the event loop; a model never runs on it.
    """
    result = None if wants_fresh(cache_control) else served.results.get(key)
    if result is None:
        result = await run_in_threadpool(_compute_in_slot, service, compute)
        served.results.put(key, result)
    return with_request_id(result)


def _compute_in_slot(service: Service, compute: Callable[[], dict]) -> dict:
    with service.compute():
        return compute()


# Recommendations


@router.get("/v1/recommendations", response_model=ListResponse, responses=ERRORS, tags=["recommendations"])
async def recommendations(service: ServiceDep, user: UserQuery, n: NQuery = 10, rerank: RerankQuery = None,
                          cache_control: Annotated[str | None, Header()] = None) -> dict:
    """Recommend N tracks the user has not played, from their stored history and feedback."""
    served = service.registry.current()
    service.check_n(n, served)
    check_rerank(rerank)
    reference = validate_user(user)
    key = ("recommendations", reference, service.feedback.version(reference), n, rerank)
    return await cached_or_computed(
        service, served, key, cache_control,
        lambda: recommend_for(service, served, service.user_view(served, reference), n, rerank))


def recommend_for(service: Service, served: Served, view: UserView, n: int, rerank: str | None) -> dict:
    """Compute a user's recommendations: the model's best unplayed tracks, completed with popular ones."""
    space, listener = served.space, view.listener
    pool = max(n, RERANK_POOL) if rerank else n
    ids, scores, fallback = model_candidates(space, listener, pool)
    score_of = dict(zip(ids.tolist(), scores.tolist()))
    if rerank:
        ids = apply_rerank(space, ids, scores, n, rerank, listener)
    ids = ids[:n]
    scores = np.array([score_of[i] for i in ids.tolist()], dtype=np.float64)
    sources = [served.model_name if fallback is None else "popularity fallback"] * len(ids)
    explanations = because(space, listener, ids, "recommended for you") if fallback is None \
        else [POPULAR_EXPLANATION] * len(ids)
    if len(ids) < n:
        exclude = listener.played.copy()
        exclude[ids] = True
        order = space.popularity_order()
        extra = order[~exclude[order]][: n - len(ids)]
        ids = np.concatenate([ids, extra])
        scores = np.concatenate([scores, np.full(len(extra), np.nan)])
        sources += ["popularity fallback"] * len(extra)
        explanations += [POPULAR_EXPLANATION] * len(extra)
        if len(extra) and fallback is None:
            fallback = FALLBACK_PADDED
    if view.is_unknown:
        fallback = (f"user {view.reference!r} is not in the store and has sent no feedback: most popular tracks "
                    "instead")
    track_ids = space.tracks.external(ids)
    return {
        "bundle": served.name, "model": served.model_name, "product": "recommendations",
        "title": f"Recommended for {view.reference}", "user": view.reference, "fallback": fallback,
        "unknown": view.unknown_ids,
        "details": {"history_tracks": len(listener.history), "feedback_events": len(view.feedback),
                    "history_not_in_bundle": len(listener.unknown), "rerank": rerank},
        "items": service.items(served, track_ids, scores.tolist(), sources, explanations),
    }


@router.post("/v1/continuation", response_model=ListResponse, responses=ERRORS, tags=["recommendations"],
             dependencies=[Depends(require_json)])
async def continuation(service: ServiceDep, body: ContinuationRequest,
                       cache_control: Annotated[str | None, Header()] = None) -> dict:
    """Continue a playlist given by its seed tracks and an optional title; unknown seeds are listed."""
    served = service.registry.current()
    service.check_n(body.n, served, "body")
    check_rerank(body.rerank)
    key = ("continuation", tuple(body.seeds), body.title, body.n, body.rerank)
    return await cached_or_computed(service, served, key, cache_control, lambda: continue_for(service, served, body))


def continue_for(service: Service, served: Served, body: ContinuationRequest) -> dict:
    space = served.space
    continuation = continue_seed_lists(served.bundle, [body.seeds], body.n, served.model_name, [body.title],
                                       body.rerank)[0]
    playlist = playlist_listener(space, body.seeds, "request", "the request")
    ids = np.array([space.tracks.index(t) for t in continuation.track_ids], dtype=np.int64)
    from_model = np.array([s != "popularity fallback" for s in continuation.sources], dtype=bool)
    explanations: list[str] = [POPULAR_EXPLANATION] * len(ids)
    if from_model.any():
        if playlist.is_cold:
            texts = [f"goes with the title {body.title!r}"] * int(from_model.sum())
        else:
            texts = because(space, playlist, ids[from_model], "continues the playlist")
        for position, text in zip(np.flatnonzero(from_model).tolist(), texts):
            explanations[position] = text
    return {
        "bundle": served.name, "model": served.model_name, "product": "continuation",
        "title": body.title or "Playlist continuation", "user": None, "fallback": continuation.fallback,
        "unknown": continuation.unknown_seeds,
        "details": {"seeds": len(body.seeds), "known_seeds": len(body.seeds) - len(continuation.unknown_seeds),
                    "rerank": body.rerank},
        "items": service.items(served, continuation.track_ids, continuation.scores, continuation.sources,
                               explanations),
    }


@router.get("/v1/similar", response_model=ListResponse, responses=ERRORS, tags=["recommendations"])
async def similar(service: ServiceDep, track: Annotated[str, Query(min_length=1, max_length=200)], n: NQuery = 10,
                  cache_control: Annotated[str | None, Header()] = None) -> dict:
    """Return the N tracks nearest to a track by cosine of the bundle's track vectors."""
    served = service.registry.current()
    service.check_n(n, served)
    key = ("similar", track, n)
    return await cached_or_computed(service, served, key, cache_control, lambda: similar_to(service, served, track, n))


def similar_to(service: Service, served: Served, track: str, n: int) -> dict:
    space = served.space
    item = space.tracks.get(track)
    has_vector = item >= 0 and bool(np.any(space.vectors[item] != 0))
    fallback, unknown = None, []
    if has_vector:
        exclude = np.zeros(len(space), dtype=bool)
        exclude[item] = True
        ids, cosines = space.nearest(space.vectors[item], n, exclude)
        label = space.label(item)
        explanations = [f"cosine {c:.2f} to {label}" for c in cosines.tolist()]
        sources = ["track vectors"] * len(ids)
        scores = cosines.tolist()
    else:
        if item < 0:
            unknown = [track]
            fallback = f"track {track!r} is not in bundle {served.name}: most popular tracks instead"
        else:
            fallback = f"track {track!r} has no vector in bundle {served.name}: most popular tracks instead"
        order = space.popularity_order()
        ids = order[order != item][:n]
        explanations = [POPULAR_EXPLANATION] * len(ids)
        sources = ["popularity fallback"] * len(ids)
        scores = [float("nan")] * len(ids)
    return {
        "bundle": served.name, "model": served.model_name, "product": "similar", "title": f"Similar to {track}",
        "user": None, "fallback": fallback, "unknown": unknown, "details": {"track": service.track(served, track)},
        "items": service.items(served, space.tracks.external(ids), scores, sources, explanations),
    }


# Feedback


@router.post("/v1/feedback", status_code=201, response_model=FeedbackResponse, responses=ERRORS, tags=["feedback"],
             dependencies=[Depends(require_api_key), Depends(require_json)])
async def feedback(service: ServiceDep, body: FeedbackRequest, response: Response) -> dict:
    """Record a play, skip, like or add-to-playlist; 201 when stored, 200 for a retry of a stored event.

    The event is in the fsynced log before the response is sent, and the
    user's next recommendations fold it in.
    """
    user = validate_user(body.user)
    event = NewEvent(body.event_id, user, body.track_id, body.type, body.ms_played,
                     body.client_time.isoformat() if body.client_time else None, body.context)
    future = asyncio.wrap_future(service.feedback.submit(event))
    try:
        # shield keeps a timed-out wait from cancelling the write: a retry then finds the event stored.
        outcome = await asyncio.wait_for(asyncio.shield(future), FEEDBACK_TIMEOUT_SECONDS)
    except TimeoutError:
        service.metrics.count_event("feedback", "timeout")
        raise ApiError(503, "service unavailable", f"event {body.event_id!r} was not confirmed within "
                                                   f"{FEEDBACK_TIMEOUT_SECONDS:g} s; retry with the same event_id, "
                                                   "which is stored at most once") from None
    except StoreError as exc:
        service.metrics.count_event("feedback", "failed")
        raise ApiError(503, "service unavailable", f"{exc}; retry with the same event_id") from exc
    service.metrics.count_event("feedback", outcome.status)
    stored = outcome.event
    if outcome.status == CONFLICT:
        raise ApiError(409, "conflict", f"event id {body.event_id!r} is already stored for another event (user "
                                        f"{stored.user!r}, track {stored.track_id!r}, type {stored.type}); give "
                                        "each event its own id, and repeat the same content when retrying")
    if outcome.status != "accepted":
        response.status_code = 200
    served = service.registry.peek()
    folded_in = served is not None and stored.track_id in served.space.tracks
    return {
        "request_id": REQUEST_ID.get(), "event_id": stored.event_id, "status": outcome.status,
        "sequence": stored.sequence, "received_at": stored.received_at,
        "user_events": len(service.feedback.events_for(stored.user)), "folded_in": folded_in,
        "unknown": [] if folded_in else [stored.track_id],
    }


# Bundles, users and reports


@router.post("/v1/bundles/reload", response_model=ReloadResponse, responses=ERRORS, tags=["service"],
             dependencies=[Depends(require_api_key)])
async def reload_bundle(service: ServiceDep) -> dict:
    """Load the bundle that ``current`` names now, even one that failed before; the old one serves meanwhile."""
    swapped = await run_in_threadpool(service.registry.check, True)
    served = service.registry.peek()
    return {"request_id": REQUEST_ID.get(), "swapped": swapped, "bundle": served.name if served else None,
            "last_load_failure": failure_out(service)}


def failure_out(service: Service) -> dict | None:
    failure = service.registry.last_failure
    if failure is None:
        return None
    return {"bundle": failure.bundle, "error": failure.error, "at": failure.at.isoformat(timespec="seconds")}


@router.get("/v1/users", response_model=UsersResponse, responses=ERRORS, tags=["service"])
def users(service: ServiceDep) -> dict:
    """List some stored users to try: the longest playlists of a playlist bundle."""
    served = service.registry.current()
    return {"bundle": served.name, "kind": served.kind, "users": served.sample_users}


@router.get("/v1/reports", response_model=ReportsResponse, tags=["reports"])
def reports(service: ServiceDep) -> dict:
    """List the report folders under ``<data dir>/reports`` (audit, simulation) with their plots."""
    root = service.settings.reports_dir
    found = []
    if root.is_dir():
        for folder in sorted(root.iterdir(), key=lambda p: p.name, reverse=True):
            if not folder.is_dir() or not REPORT_NAME.match(folder.name):
                continue
            files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in REPORT_TYPES
                           and REPORT_NAME.match(p.name))
            if not files:
                continue
            found.append({"name": folder.name, "title": report_title(files, folder.name),
                          "plots": [f"/v1/reports/{folder.name}/{p.name}" for p in files if p.suffix == ".png"],
                          "files": [f"/v1/reports/{folder.name}/{p.name}" for p in files]})
    return {"reports": found}


def report_title(files: list, default: str) -> str:
    for path in files:
        if path.suffix == ".md":
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return default


@router.get("/v1/reports/{name}/{file}", tags=["reports"], responses=ERRORS)
def report_file(service: ServiceDep, name: str, file: str) -> FileResponse:
    """Return one file of a report: a PNG plot, the Markdown, HTML or a CSV table."""
    root = service.settings.reports_dir.resolve()
    suffix = "." + file.rsplit(".", 1)[-1] if "." in file else ""
    if not REPORT_NAME.match(name) or not REPORT_NAME.match(file) or suffix not in REPORT_TYPES:
        raise ApiError(404, "not found", f"no report file {name}/{file}: names are letters, digits, '.', '_' and "
                                         f"'-', and the types served are {', '.join(REPORT_TYPES)}")
    path = (root / name / file).resolve()
    if path.parent.parent != root or not path.is_file():
        raise ApiError(404, "not found", f"no report file {name}/{file} in {service.settings.reports_dir}; list "
                                         "the reports with GET /v1/reports")
    return FileResponse(path, media_type=REPORT_TYPES[suffix])


# Health and metrics


@router.get("/health", response_model=HealthResponse, tags=["service"],
            responses={503: {"model": HealthResponse}})
def health(service: ServiceDep, response: Response) -> dict:
    """Return 200 with the served bundle, or 503 while no bundle is loaded."""
    served = service.registry.peek()
    if served is None:
        response.status_code = 503
    return {"status": "ok" if served else "no-bundle", "bundle": served.name if served else None,
            "model": served.model_name if served else None, "kind": service.settings.bundle_kind,
            "n_tracks": len(served.space) if served else None,
            "loaded_at": served.loaded_at.isoformat(timespec="seconds") if served else None,
            "feedback_events": len(service.feedback), "feedback_log": str(service.feedback.path),
            "last_load_failure": failure_out(service)}


@router.get("/metrics", response_class=PlainTextResponse, tags=["service"])
def metrics(service: ServiceDep) -> PlainTextResponse:
    """Return the Prometheus text exposition of requests, bundle loads, feedback and caches."""
    served = service.registry.peek()
    registry = service.registry
    gauges = [
        ("tastemaker_bundle_loads", "Bundles loaded since the service started.", "", registry.loads),
        ("tastemaker_bundle_load_failures", "Bundles that failed to load since the service started.", "",
         registry.failures),
        ("tastemaker_feedback_log_events", "Events in the feedback log.", "", len(service.feedback)),
        ("tastemaker_feedback_log_users", "Users with events in the feedback log.", "",
         service.feedback.user_count()),
        ("tastemaker_feedback_log_fsyncs", "fsync calls of the feedback log since the service started.", "",
         service.feedback.fsyncs),
    ]
    if served is not None:
        from .metrics import labels

        gauges += [
            ("tastemaker_bundle_info", "The served bundle; the value is always 1.",
             labels(bundle=served.name, model=served.model_name, kind=served.kind), 1),
            ("tastemaker_bundle_loaded_timestamp_seconds", "When the served bundle was swapped in (Unix time).", "",
             served.loaded_at.timestamp()),
            ("tastemaker_bundle_load_seconds", "How long loading the served bundle took.", "", served.load_seconds),
            ("tastemaker_bundle_tracks", "Tracks in the served bundle.", "", len(served.space)),
        ]
        for name, cache in (("histories", served.histories), ("listeners", served.listeners),
                            ("results", served.results)):
            gauges += [
                ("tastemaker_cache_entries", "Entries in a cache of the served bundle.", labels(cache=name),
                 len(cache)),
                ("tastemaker_cache_hits", "Cache hits since the bundle was loaded.", labels(cache=name), cache.hits),
                ("tastemaker_cache_misses", "Cache misses since the bundle was loaded.", labels(cache=name),
                 cache.misses),
            ]
    return PlainTextResponse(service.metrics.render(gauges), media_type=CONTENT_TYPE)


# The load test's baseline

BARE_ITEMS = [{"track_id": f"bare:{i}", "name": None, "artist": None, "score": float(-i), "source": "constant",
               "explanation": None} for i in range(500)]


async def bare(n: NQuery = 10) -> dict:
    """Return a constant list through the same app and middleware, without any model or store."""
    return {"request_id": REQUEST_ID.get(), "bundle": "none", "model": "none", "product": "bare", "title": "bare",
            "user": None, "fallback": None, "unknown": [], "details": {}, "items": BARE_ITEMS[:min(n, 500)]}


def add_bare_route(target: APIRouter) -> None:
    target.add_api_route("/v1/bare", bare, methods=["GET"], response_model=ListResponse, include_in_schema=False)
