"""ASGI middleware around every request: request id, body size limit, one log line and the request metrics.

The request id is the client's ``X-Request-ID`` when it is a short token,
else a new random one. It is returned in the ``X-Request-ID`` header, is in
every error body and every log line about the request, and is available to
handlers through ``REQUEST_ID``.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.exceptions import HTTPException

from .metrics import Metrics

access_log = logging.getLogger("tastemaker.serve.access")
log = logging.getLogger(__name__)

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
REQUEST_ID_HEADER = b"x-request-id"


class BodyTooLarge(HTTPException):
    """A request body past the limit; an HTTPException so that FastAPI's body parsing passes it on."""

    def __init__(self, limit: int, size: int | None = None):
        seen = f"{size} bytes" if size is not None else "more"
        super().__init__(413, f"the request body has {seen}, more than the limit of {limit} bytes; send a smaller "
                              "body")


def error_body(status: int, error: str, message: str, request_id: str, details: list | None = None) -> bytes:
    return json.dumps({"error": error, "message": message, "request_id": request_id,
                       "details": details or []}).encode("utf-8")


class ServiceMiddleware:
    """Assign the request id, enforce the body limit, log one line per request and record its metrics."""

    def __init__(self, app, max_body_bytes: int, metrics: Metrics):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = given if REQUEST_ID_PATTERN.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        response = {"status": 500, "bytes": 0, "started": False}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["started"] = True
                message = {**message, "headers": [*message.get("headers", []), (REQUEST_ID_HEADER,
                                                                                   request_id.encode())]}
            elif message["type"] == "http.response.body":
                response["bytes"] += len(message.get("body", b""))
            await send(message)

        received = 0

        async def receive_limited():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        try:
            declared = headers.get(b"content-length")
            rejection = self._check_length(declared)
            if rejection is not None:
                status, text = rejection
                await self._send_error(send_with_id, status, text, request_id)
            else:
                await self.app(scope, receive_limited, send_with_id)
        except BodyTooLarge as exc:
            if not response["started"]:
                await self._send_error(send_with_id, 413, exc.detail, request_id)
        except Exception:
            log.exception("request %s %s %s failed", request_id, scope["method"], scope["path"])
            if not response["started"]:
                await self._send_error(send_with_id, 500, "the service failed on this request; it is logged "
                                                          f"under request id {request_id}", request_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, response["status"], seconds)
            access_log.info("%s %s %s %d %.1fms %dB", request_id, scope["method"], scope["path"], response["status"],
                            seconds * 1000, response["bytes"])
            REQUEST_ID.reset(token)

    def _check_length(self, declared: bytes | None) -> tuple[int, str] | None:
        if declared is None:
            return None
        try:
            length = int(declared)
        except ValueError:
            return 400, f"the Content-Length header {declared.decode('latin-1')!r} is not a number of bytes"
        if length > self.max_body_bytes:
            return 413, BodyTooLarge(self.max_body_bytes, length).detail
        return None

    @staticmethod
    async def _send_error(send, status: int, message: str, request_id: str) -> None:
        error = {400: "bad request", 413: "request body too large", 500: "internal error"}[status]
        body = error_body(status, error, message, request_id)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
