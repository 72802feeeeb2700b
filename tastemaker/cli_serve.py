"""The ``tastemaker serve`` command, defined on the app of cli.py, which imports this module at its end."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Optional

import typer

from .cli import app, settings
from .errors import InputError

log = logging.getLogger("tastemaker.serve")

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 exposes the service to the network.")]
        = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on.")] = 8000,
    api_key: Annotated[Optional[str], typer.Option(
        "--api-key", envvar="TASTEMAKER_API_KEY", show_envvar=True,
        help="Key that writing endpoints (feedback, bundle reload) require. Prefer the environment variable, "
             "which other users cannot see in the process list.")] = None,
    bundle: Annotated[str, typer.Option(
        help="Bundle to serve: playlist (from `tastemaker train`) or listening (from `tastemaker train-listening`).")]
        = "playlist",
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="Model of the bundle to serve; default the bundle's default model.")] = None,
    max_body_kb: Annotated[int, typer.Option(min=1, help="Largest request body accepted, in KiB.")] = 64,
    max_n: Annotated[int, typer.Option(min=1, help="Maximum tracks one request may ask for.")] = 500,
    poll_seconds: Annotated[float, typer.Option(
        min=0, help="Seconds between checks for a newly published bundle; 0 turns checking off.")] = 5.0,
    cache_size: Annotated[int, typer.Option(
        min=0, help="Responses and listeners cached per bundle; 0 turns caching off.")] = 10_000,
    bare_endpoint: Annotated[bool, typer.Option(
        "--bare-endpoint", hidden=True, help="Add GET /v1/bare, the load test's constant baseline.")] = False,
) -> None:
    """Serve recommendations, the products, feedback and the web page over HTTP (default http://127.0.0.1:8000/)."""
    import uvicorn

    from .serve import ServeSettings, create_app

    if bundle not in ("playlist", "listening"):
        raise InputError(f"invalid --bundle {bundle!r}: choose playlist or listening")
    serve_settings = ServeSettings(settings.data_dir, bundle_kind=bundle, model=model, api_key=api_key,
                                   max_body_bytes=max_body_kb * 1024, max_n=max_n, poll_seconds=poll_seconds,
                                   cache_size=cache_size, bare_endpoint=bare_endpoint)
    # One plain line per record with its time suits a long-running service better than the CLI's Rich output.
    logging.basicConfig(level=logging.getLogger().level, format=LOG_FORMAT, stream=sys.stderr, force=True)
    for noisy in ("implicit", "gensim"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if host not in LOCAL_HOSTS and api_key is None:
        log.warning("serving on %s without an API key: anyone who can reach the port can write feedback; set "
                    "TASTEMAKER_API_KEY", host)
    log.info("writing endpoints %s", "require the API key" if api_key else "are open (no API key configured)")
    uvicorn.run(create_app(serve_settings), host=host, port=port, access_log=False, log_config=None,
                lifespan="on", timeout_graceful_shutdown=10)
