"""The HTTP service: recommendations, products, feedback and the web page, from the current bundle.

``create_app`` builds the FastAPI app; ``tastemaker serve`` runs it with
uvicorn. The parts:

- ``registry``: loads the current bundle and swaps a newly published one in
  atomically, keeping the old one when the new one fails to load;
- ``feedback``: the append-only, fsynced event log with exactly-once event ids;
- ``history``: a user's stored history with their feedback folded in;
- ``api`` and ``products_api``: the routes; ``schemas``: their pydantic models;
- ``middleware``: request ids, one log line per request, the body size limit
  and the request metrics; ``metrics``: the Prometheus text format;
- ``web/``: the static page (HTML, JavaScript, CSS), served as files.
"""

from .app import create_app
from .settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
