"""The HTTP API on generated playlists: recommendations, fallbacks, products, reports, request ids and metrics."""

from __future__ import annotations

import inspect
import logging
import re
import shutil
import struct
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import invoke_tastemaker
from serve_fixtures import current_bundle_folder, expected_als, playlist_uris, popularity_counts, service_client
from tastemaker.cli_serve import serve_command
from tastemaker.errors import InputError
from tastemaker.products.continuation import FALLBACK_NO_SEEDS

PID = 7


@pytest.fixture(scope="module")
def serve_dir(tmp_path_factory, trained_dir) -> Path:
    return Path(shutil.copytree(trained_dir, tmp_path_factory.mktemp("serve-api") / "data"))


@pytest.fixture(scope="module")
def client(serve_dir):
    with service_client(serve_dir) as client:
        yield client


def ids(response) -> list[str]:
    return [item["track_id"] for item in response.json()["items"]]


def top_counts(counts: dict[str, int], n: int) -> list[int]:
    return sorted(counts.values(), reverse=True)[:n]


# Recommendations


def test_recommendations_fold_in_playlist(client, serve_dir, generated_playlists):
    uris = playlist_uris(generated_playlists, PID)
    response = client.get("/v1/recommendations", params={"user": f"playlist:{PID}", "n": 15})
    assert response.status_code == 200
    data = response.json()
    assert data["fallback"] is None
    assert data["unknown"] == []
    assert data["model"] == "als"
    assert data["bundle"] == current_bundle_folder(serve_dir).name
    assert ids(response) == expected_als(serve_dir, {uri: 1.0 for uri in dict.fromkeys(uris)}, 15)
    assert not set(ids(response)) & set(uris)
    assert all(item["explanation"].startswith("recommended for you") for item in data["items"])


def test_recommendations_unknown_user_fallback(client, generated_playlists):
    response = client.get("/v1/recommendations", params={"user": "nobody-at-all", "n": 8})
    assert response.status_code == 200
    data = response.json()
    assert data["unknown"] == ["nobody-at-all"]
    assert "not in the store" in data["fallback"]
    assert len(data["items"]) == 8
    counts = popularity_counts(generated_playlists)
    assert [counts[t] for t in ids(response)] == top_counts(counts, 8)
    assert all(item["score"] is None for item in data["items"])
    assert {item["source"] for item in data["items"]} == {"popularity fallback"}


def test_recommendations_missing_playlist_is_unknown(client):
    data = client.get("/v1/recommendations", params={"user": "playlist:999999", "n": 3}).json()
    assert data["unknown"] == ["playlist:999999"]
    assert data["fallback"] is not None


def test_recommendations_rerank_keeps_candidates(client, serve_dir, generated_playlists):
    uris = playlist_uris(generated_playlists, PID)
    plain = client.get("/v1/recommendations", params={"user": f"playlist:{PID}", "n": 10}).json()
    reranked = client.get("/v1/recommendations", params={"user": f"playlist:{PID}", "n": 10,
                                                         "rerank": "popularity:1"}).json()
    assert reranked["details"]["rerank"] == "popularity:1"
    assert len(reranked["items"]) == 10
    assert not {i["track_id"] for i in reranked["items"]} & set(uris)
    pool = set(expected_als(serve_dir, {uri: 1.0 for uri in dict.fromkeys(uris)}, 500))
    assert {i["track_id"] for i in reranked["items"]} <= pool
    assert [i["track_id"] for i in reranked["items"]] != [i["track_id"] for i in plain["items"]]


# Continuation and similar tracks


def test_continuation_lists_unknown_seeds(client, generated_playlists):
    uris = playlist_uris(generated_playlists, 3)[:5]
    response = client.post("/v1/continuation", json={"seeds": uris + ["spotify:track:missing1", "bogus"],
                                                     "title": "road trip", "n": 12})
    assert response.status_code == 200
    data = response.json()
    assert data["unknown"] == ["spotify:track:missing1", "bogus"]
    assert data["details"]["known_seeds"] == 5
    assert data["fallback"] is None
    assert len(data["items"]) == 12
    assert not set(ids(response)) & set(uris)
    assert all(item["explanation"].startswith("continues the playlist") for item in data["items"])


def test_continuation_all_unknown_seeds_fallback(client, generated_playlists):
    seeds = ["spotify:track:nope1", "spotify:track:nope2"]
    data = client.post("/v1/continuation", json={"seeds": seeds, "n": 6}).json()
    assert data["fallback"] == FALLBACK_NO_SEEDS
    assert data["unknown"] == seeds
    counts = popularity_counts(generated_playlists)
    assert [counts[i["track_id"]] for i in data["items"]] == top_counts(counts, 6)


def test_similar_tracks_by_cosine(client, serve_dir, generated_playlists):
    track = playlist_uris(generated_playlists, PID)[0]
    bundle = current_bundle_folder(serve_dir)
    factors = np.load(bundle / "models" / "als" / "track_factors.npy")
    tracks = (bundle / "tracks.txt").read_text().splitlines()
    unit = factors / np.maximum(np.linalg.norm(factors, axis=1, keepdims=True), 1e-12)
    cosines = unit @ unit[tracks.index(track)]
    cosines[tracks.index(track)] = -np.inf
    expected = [tracks[i] for i in np.argsort(-cosines, kind="stable")[:5]]
    data = client.get("/v1/similar", params={"track": track, "n": 5}).json()
    assert [i["track_id"] for i in data["items"]] == expected
    assert data["fallback"] is None


def test_similar_unknown_track_fallback(client):
    data = client.get("/v1/similar", params={"track": "spotify:track:unknown", "n": 4}).json()
    assert data["unknown"] == ["spotify:track:unknown"]
    assert "not in bundle" in data["fallback"]
    assert len(data["items"]) == 4


# Products


def test_discover_weekly_known_and_unknown(client, generated_playlists):
    uris = set(playlist_uris(generated_playlists, PID))
    data = client.get("/v1/discover-weekly", params={"user": f"playlist:{PID}", "n": 12, "week": "2024-W05"}).json()
    assert data["product"] == "discover-weekly"
    assert data["details"]["week"] == "2024-W05"
    assert len(data["items"]) == 12
    assert not {i["track_id"] for i in data["items"]} & uris
    assert max(Counter(i["artist"] for i in data["items"]).values()) <= 2
    cold = client.get("/v1/discover-weekly", params={"user": "stranger", "n": 5}).json()
    assert cold["unknown"] == ["stranger"]
    assert cold["fallback"].startswith("user 'stranger' is not in the store")
    assert len(cold["items"]) == 5


def test_daily_mix_and_release_radar(client):
    mixes = client.get("/v1/daily-mix", params={"user": f"playlist:{PID}", "n": 8}).json()
    assert mixes["mixes"]
    assert all(len(mix["items"]) == 8 for mix in mixes["mixes"])
    radar = client.get("/v1/release-radar", params={"user": f"playlist:{PID}", "n": 5}).json()
    assert radar["product"] == "release-radar"
    assert 0 < len(radar["items"]) <= 5
    for path in ("/v1/daily-mix", "/v1/release-radar"):
        cold = client.get(path, params={"user": "stranger", "n": 4}).json()
        lists = cold["mixes"] if path == "/v1/daily-mix" else [cold]
        assert cold["unknown"] == ["stranger"]
        for result in lists:
            assert result["fallback"]
            assert len(result["items"]) == 4


def test_home_shelves_with_explanations(client):
    data = client.get("/v1/home", params={"user": f"playlist:{PID}", "seed": 1}).json()
    assert data["shelves"]
    for shelf in data["shelves"]:
        assert shelf["explanation"]
        assert shelf["cards"]
        for card in shelf["cards"]:
            assert card["explanation"]
            assert [t["track_id"] for t in card["tracks"]] == card["track_ids"][:5]
    cold = client.get("/v1/home", params={"user": "stranger", "seed": 1}).json()
    assert cold["unknown"] == ["stranger"]
    assert cold["fallback"]


def test_radio_skip_changes_next_page(client, generated_playlists):
    seed = playlist_uris(generated_playlists, PID)[0]
    first = client.post("/v1/radio", json={"seed": seed, "page_size": 5}).json()
    assert first["details"]["page"] == 1
    state = first["state"]
    plain = client.post("/v1/radio", json={"state": state, "page_size": 5}).json()
    skipped = first["items"][0]["track_id"]
    steered = client.post("/v1/radio", json={"state": state, "page_size": 5,
                                             "feedback": [{"track_id": skipped, "outcome": "skip"}]}).json()
    assert steered["details"]["skips"] == 1
    assert ids_of(steered) != ids_of(plain)
    assert not set(ids_of(steered)) & set(ids_of(first))
    assert "which you skipped" in steered["items"][0]["explanation"]


def ids_of(data: dict) -> list[str]:
    return [item["track_id"] for item in data["items"]]


def test_radio_unknown_seed_fallback(client):
    data = client.post("/v1/radio", json={"seed": "spotify:track:nowhere"}).json()
    assert data["unknown"] == ["spotify:track:nowhere"]
    assert "cannot seed a station" in data["fallback"]
    assert len(data["items"]) == 10
    follow = client.post("/v1/radio", json={"state": data["state"]}).json()
    assert follow["fallback"] == data["fallback"]


def test_smart_shuffle_keeps_order(client, generated_playlists):
    uris = playlist_uris(generated_playlists, PID)[:6]
    data = client.post("/v1/smart-shuffle", json={"track_ids": uris + ["spotify:track:zz"], "every": 3}).json()
    originals = [i["track_id"] for i in data["items"] if i["source"] == "playlist"]
    assert originals == uris + ["spotify:track:zz"]
    assert data["unknown"] == ["spotify:track:zz"]


# Service endpoints


def tiny_png() -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + \
        chunk(b"IEND", b"")


def test_reports_list_and_files(client, serve_dir):
    folder = serve_dir / "reports" / "audit-20240101T000000"
    folder.mkdir(parents=True)
    (folder / "audit.md").write_text("# Audit of two models\n\ntext\n")
    (folder / "frontier-als.png").write_bytes(tiny_png())
    (folder / "notes.txt").write_text("not served")
    data = client.get("/v1/reports").json()
    report = next(r for r in data["reports"] if r["name"] == folder.name)
    assert report["title"] == "Audit of two models"
    assert report["plots"] == [f"/v1/reports/{folder.name}/frontier-als.png"]
    assert f"/v1/reports/{folder.name}/notes.txt" not in report["files"]
    image = client.get(report["plots"][0])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content == tiny_png()
    assert client.get(f"/v1/reports/{folder.name}/notes.txt").status_code == 404
    assert client.get(f"/v1/reports/{folder.name}/..%2Fmanifest.json").status_code == 404


def test_health_users_and_openapi(client, serve_dir):
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["bundle"] == current_bundle_folder(serve_dir).name
    users = client.get("/v1/users").json()["users"]
    assert users and all(re.fullmatch(r"playlist:\d+", u) for u in users)
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/recommendations", "/v1/continuation", "/v1/similar", "/v1/feedback", "/v1/home",
                 "/v1/discover-weekly", "/v1/daily-mix", "/v1/radio", "/v1/release-radar", "/health", "/metrics"):
        assert path in paths


def test_request_id_and_one_log_line(client, caplog):
    caplog.set_level(logging.INFO, logger="tastemaker.serve.access")
    given = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/health", headers={"X-Request-ID": "has spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    error = client.get("/v1/recommendations", params={"user": "x", "n": 0})
    assert error.json()["request_id"] == error.headers["x-request-id"]
    for request_id in ("abc-123", made.headers["x-request-id"], error.headers["x-request-id"]):
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(request_id + " ")]
        assert len(lines) == 1
    assert caplog.records[-1].getMessage().split()[1:4] == ["GET", "/v1/recommendations", "422"]


def test_metrics_count_requests(client):
    def count(text: str) -> int:
        match = re.search(r'tastemaker_http_requests_total\{method="GET",route="/v1/users",status="200"\} (\d+)',
                          text)
        return int(match.group(1)) if match else 0

    before = count(client.get("/metrics").text)
    for _ in range(3):
        client.get("/v1/users")
    text = client.get("/metrics").text
    assert count(text) == before + 3
    assert 'tastemaker_http_request_duration_seconds_bucket{route="/v1/users",le="+Inf"}' in text
    assert re.search(r"^tastemaker_bundle_info\{bundle=\"[^\"]+\",model=\"als\",kind=\"playlist\"\} 1$", text, re.M)
    assert client.get("/metrics").headers["content-type"].startswith("text/plain; version=0.0.4")


def test_web_page_has_no_external_resources(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "/static/app.js" in page.text
    for path in ("/", "/static/app.js", "/static/style.css"):
        text = client.get(path).text
        assert not re.search(r"https?://", text), path


# The serve command


def test_serve_command_defaults():
    defaults = {name: p.default for name, p in inspect.signature(serve_command).parameters.items()}
    assert defaults["host"] == "127.0.0.1"
    assert defaults["port"] == 8000
    help_text = invoke_tastemaker("serve", "--help").output
    assert "TASTEMAKER_API_KEY" in help_text
    assert "127.0.0.1" in help_text


def test_serve_command_invalid_options(serve_dir):
    bundle = invoke_tastemaker("--data-dir", serve_dir, "serve", "--bundle", "songs")
    assert isinstance(bundle.exception, InputError)
    assert "invalid --bundle 'songs'" in str(bundle.exception)
    key = invoke_tastemaker("--data-dir", serve_dir, "serve", "--api-key", "  ")
    assert isinstance(key.exception, InputError)
    assert "API key is empty" in str(key.exception)
