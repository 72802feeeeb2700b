"""Request and service metrics in the Prometheus text exposition format (version 0.0.4).

Requests are counted by method, route template and status, and their
durations go into a histogram per route. Routes are the templates
(``/v1/recommendations``), never the raw paths, so the label values stay
few. Service figures (the served bundle, loads, the feedback log) are read
when ``/metrics`` is requested.
"""

from __future__ import annotations

import threading
from collections import defaultdict

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def escape_label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels(**values: str) -> str:
    return "{" + ",".join(f'{name}="{escape_label(value)}"' for name, value in values.items()) + "}"


class Metrics:
    """Counters and histograms of the requests and events seen since the service started."""

    def __init__(self):
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._bucket_counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self._events: dict[tuple[str, str], int] = defaultdict(int)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, status)] += 1
            buckets = self._bucket_counts.setdefault(route, [0] * len(BUCKETS))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            self._sums[route] += seconds
            self._counts[route] += 1

    def count_event(self, name: str, result: str) -> None:
        """Count one outcome of a named event, for example ``feedback`` / ``duplicate``."""
        with self._lock:
            self._events[(name, result)] += 1

    def render(self, gauges: list[tuple[str, str, str, float]]) -> str:
        """Return the exposition text; ``gauges`` are (name, help, label text, value) read at request time."""
        lines = ["# HELP tastemaker_http_requests_total HTTP requests by method, route template and status.",
                 "# TYPE tastemaker_http_requests_total counter"]
        with self._lock:
            for (method, route, status), count in sorted(self._requests.items()):
                lines.append(f"tastemaker_http_requests_total{labels(method=method, route=route, status=str(status))}"
                             f" {count}")
            lines += ["# HELP tastemaker_http_request_duration_seconds Time from request start to response end.",
                      "# TYPE tastemaker_http_request_duration_seconds histogram"]
            for route, buckets in sorted(self._bucket_counts.items()):
                for bound, count in zip(BUCKETS, buckets):
                    lines.append("tastemaker_http_request_duration_seconds_bucket"
                                 f"{labels(route=route, le=repr(bound))} {count}")
                lines.append("tastemaker_http_request_duration_seconds_bucket"
                             f"{labels(route=route, le='+Inf')} {self._counts[route]}")
                route_label = labels(route=route)
                lines.append(f"tastemaker_http_request_duration_seconds_sum{route_label} {self._sums[route]:.6f}")
                lines.append(f"tastemaker_http_request_duration_seconds_count{route_label} {self._counts[route]}")
            lines += ["# HELP tastemaker_events_total Service events by name and result.",
                      "# TYPE tastemaker_events_total counter"]
            for (name, result), count in sorted(self._events.items()):
                lines.append(f"tastemaker_events_total{labels(name=name, result=result)} {count}")
        seen: set[str] = set()
        for name, help_text, label_text, value in gauges:
            if name not in seen:
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
                seen.add(name)
            lines.append(f"{name}{label_text} {value:g}")
        return "\n".join(lines) + "\n"
