"""The FastAPI app: routes, error handlers, middleware, the web page and the start and stop of the service.

Every error body has the same shape (``ErrorResponse``): the HTTP reason,
a message naming the field and value and what to do, and the request id.
Invalid fields get 422 and other invalid input 400. A missing API key gets
401 and a wrong one 403. An event id reused for another event gets 409, a
body over the limit 413 and a body that is not JSON 415. While no bundle is
loaded, or a writer locks the store, requests get 503.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from .. import __version__
from ..errors import BundleError, InputError, StoreError, TastemakerError
from . import api, products_api
from .middleware import REQUEST_ID, ServiceMiddleware
from .registry import ModelRegistry, NoBundle, StoreBusy
from .service import ApiError, Service
from .settings import ServeSettings

log = logging.getLogger(__name__)

WEB_DIR = Path(str(files("tastemaker.serve") / "web"))
MAX_SHOWN_VALUE = 100


def create_app(settings: ServeSettings, registry: ModelRegistry | None = None) -> FastAPI:
    """Build the app; the bundle loads and the feedback log opens when the app starts (its lifespan)."""
    service = Service(settings, registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.feedback.open()
        service.registry.start()
        log.info("tastemaker %s serving %s bundles of %s", __version__, settings.bundle_kind, settings.data_dir)
        try:
            yield
        finally:
            service.registry.stop()
            service.feedback.close()
            log.info("tastemaker service stopped")

    # Swagger UI and ReDoc load their scripts from a CDN, so they are off; /openapi.json describes the API.
    app = FastAPI(title="tastemaker", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Music recommendations, products and feedback from the current tastemaker bundle.")
    app.state.service = service
    app.include_router(api.router)
    app.include_router(products_api.router)
    if settings.bare_endpoint:
        api.add_bare_route(app.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    add_error_handlers(app)
    app.add_middleware(ServiceMiddleware, max_body_bytes=settings.max_body_bytes, metrics=service.metrics)
    return app


class RepeatLimiter:
    """Let one log record per distinct key through every ``seconds``, counting the ones held back."""

    def __init__(self, seconds: float = 10.0):
        self.seconds = seconds
        self._last: dict[tuple, float] = {}
        self._held: dict[tuple, int] = {}
        self._lock = threading.Lock()

    def allow(self, key: tuple) -> tuple[bool, int]:
        """Return whether to log now and how many were held back since the last record of this key."""
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -self.seconds) < self.seconds:
                self._held[key] = self._held.get(key, 0) + 1
                return False, 0
            self._last[key] = now
            return True, self._held.pop(key, 0)


repeats = RepeatLimiter()


def error_response(status: int, error: str, message: str, details: list | None = None,
                   headers: dict | None = None) -> JSONResponse:
    request_id = REQUEST_ID.get()
    if status >= 500:
        allowed, held = repeats.allow((status, message))
        if allowed:
            log.error("request %s: %d %s: %s%s", request_id, status, error, message,
                      f" ({held} more like it in the last {repeats.seconds:g} s)" if held else "")
    else:
        log.debug("request %s: %d %s: %s", request_id, status, error, message)
    return JSONResponse({"error": error, "message": message, "request_id": request_id, "details": details or []},
                        status_code=status, headers=headers)


def describe_validation_error(error: dict) -> str:
    """Say which field failed, with its value, e.g. ``query field 'n' = 0: Input should be greater than ...``."""
    location = list(error.get("loc", ()))
    where = location.pop(0) if location else "request"
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path:
            path += f".{part}"
        else:
            path = str(part)
    message = error.get("msg", "invalid")
    if error.get("type") == "missing":
        return f"{where} field {path!r} is missing"
    if error.get("type") == "json_invalid":
        return f"the {where} is not valid JSON: {error.get('ctx', {}).get('error', message)}"
    if not path:
        return f"{where}: {message}"
    value = repr(error.get("input"))
    if len(value) > MAX_SHOWN_VALUE:
        value = value[:MAX_SHOWN_VALUE] + "..."
    return f"{where} field {path!r} = {value}: {message}"


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
        return error_response(422, "invalid request", "; ".join(describe_validation_error(e) for e in errors),
                              details)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.message, headers=exc.headers)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> JSONResponse:
        return error_response(400, "bad request", str(exc))

    @app.exception_handler(NoBundle)
    @app.exception_handler(StoreBusy)
    @app.exception_handler(StoreError)
    @app.exception_handler(BundleError)
    async def unavailable(request: Request, exc: TastemakerError) -> JSONResponse:
        return error_response(503, "service unavailable", str(exc), headers={"Retry-After": "5"})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        reasons = {404: "not found", 405: "method not allowed", 413: "request body too large"}
        message = exc.detail
        if exc.status_code == 404 and message == "Not Found":
            message = f"no endpoint at {request.url.path}; the endpoints are listed in /openapi.json"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return error_response(exc.status_code, reasons.get(exc.status_code, "error"), str(message),
                              headers=getattr(exc, "headers", None))
