"""Every 4xx the API returns, with a message naming the field and value, the API key, and 503 without a bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from serve_fixtures import API_KEY, playlist_uris, service_client
from tastemaker.serve import service as service_module
from tastemaker.store import Store

USER = "playlist:3"


@pytest.fixture(scope="module")
def serve_dir(tmp_path_factory, trained_dir) -> Path:
    return Path(shutil.copytree(trained_dir, tmp_path_factory.mktemp("serve-errors") / "data"))


@pytest.fixture(scope="module")
def client(serve_dir):
    with service_client(serve_dir, api_key=API_KEY, max_body_bytes=4096, max_n=100) as client:
        yield client


def event(event_id: str = "e-1", **fields) -> dict:
    return {"event_id": event_id, "user": "alice-web", "track_id": "spotify:track:x", "type": "like", **fields}


def assert_error(response, status: int, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return body


# 422: invalid fields


@pytest.mark.parametrize("params, fragments", [
    ({"user": USER, "n": 0}, ("query field 'n' = '0'", "greater than or equal to 1")),
    ({"user": USER, "n": "ten"}, ("query field 'n' = 'ten'", "valid integer")),
    ({"user": USER, "n": 101}, ("query field 'n' = 101", "at most 100")),
    ({"n": 5}, ("query field 'user' is missing",)),
    ({"user": "", "n": 5}, ("query field 'user' = ''",)),
    ({"user": "u" * 201, "n": 5}, ("query field 'user'", "at most 200 characters")),
])
def test_recommendations_invalid_query(client, params, fragments):
    assert_error(client.get("/v1/recommendations", params=params), 422, *fragments)


def test_n_beyond_catalogue(serve_dir, catalogue_size):
    with service_client(serve_dir, max_n=100_000) as client:
        response = client.get("/v1/recommendations", params={"user": USER, "n": catalogue_size + 1})
    assert_error(response, 422, f"query field 'n' = {catalogue_size + 1}", f"at most the {catalogue_size} tracks")


@pytest.mark.parametrize("path, params, fragment", [
    ("/v1/daily-mix", {"user": USER, "familiar_share": 1.5}, "query field 'familiar_share' = '1.5'"),
    ("/v1/home", {"user": USER, "hour": 24}, "query field 'hour' = '24'"),
    ("/v1/home", {"user": USER, "platform": "fridge"}, "query field 'platform' = 'fridge'"),
    ("/v1/release-radar", {"user": USER, "today": "yesterday"}, "query field 'today' = 'yesterday'"),
    ("/v1/discover-weekly", {"user": USER, "artist_cap": 0}, "query field 'artist_cap' = '0'"),
])
def test_product_invalid_query(client, path, params, fragment):
    assert_error(client.get(path, params=params), 422, fragment)


@pytest.mark.parametrize("body, fragments", [
    (event(type="love"), ("body field 'type' = 'love'",)),
    (event(event_id="has space"), ("body field 'event_id' = 'has space'",)),
    (event(ms_played=-1, type="play"), ("body field 'ms_played' = -1",)),
    (event(ms_played=5000), ("ms_played is only allowed for play and skip events",)),
    (event(client_time="noon"), ("body field 'client_time' = 'noon'",)),
    (event(extra="x"), ("body field 'extra' = 'x'", "Extra inputs are not permitted")),
    ({"user": "a", "track_id": "t", "type": "like"}, ("body field 'event_id' is missing",)),
])
def test_feedback_invalid_body(client, body, fragments):
    response = client.post("/v1/feedback", json=body, headers={"X-API-Key": API_KEY})
    assert_error(response, 422, *fragments)


@pytest.mark.parametrize("path, body, fragment", [
    ("/v1/continuation", {"seeds": ["ok", "has space"]}, "body field 'seeds' = ['ok', 'has space']"),
    ("/v1/continuation", {"seeds": [], "n": 0}, "body field 'n' = 0"),
    ("/v1/continuation", {"seeds": [], "n": 101}, "body field 'n' = 101"),
    ("/v1/radio", {"seed": "a", "state": {"bundle": "b", "seed": "a"}}, "either seed"),
    ("/v1/radio", {"seed": "a", "page_size": 51}, "body field 'page_size' = 51"),
    ("/v1/smart-shuffle", {"track_ids": []}, "body field 'track_ids' = []"),
])
def test_post_invalid_body(client, path, body, fragment):
    assert_error(client.post(path, json=body), 422, fragment)


def test_invalid_json(client):
    response = client.post("/v1/continuation", content=b'{"seeds": [', headers={"Content-Type": "application/json"})
    assert_error(response, 422, "not valid JSON")


def test_radio_feedback_on_unserved_track(client, generated_playlists):
    seed = playlist_uris(generated_playlists, 3)[0]
    state = client.post("/v1/radio", json={"seed": seed, "page_size": 3}).json()["state"]
    response = client.post("/v1/radio", json={"state": state, "feedback": [{"track_id": seed, "outcome": "skip"}]})
    assert_error(response, 422, "body field 'feedback[0].track_id'", "was not served in this session")


# 400: invalid values that the product code rejects


@pytest.mark.parametrize("path, params, fragment", [
    ("/v1/recommendations", {"user": USER, "rerank": "mmr"}, "invalid re-ranker 'mmr'"),
    ("/v1/recommendations", {"user": USER, "rerank": "loud:0.5"}, "unknown name 'loud'"),
    ("/v1/recommendations", {"user": "playlist:abc"}, "invalid user 'playlist:abc'"),
    ("/v1/discover-weekly", {"user": USER, "week": "2024-W99"}, "year 2024 has no week 99"),
    ("/v1/home", {"user": USER, "policy": "bogus"}, "unknown bandit policy 'bogus'"),
])
def test_invalid_values_bad_request(client, path, params, fragment):
    assert_error(client.get(path, params=params), 400, fragment)


def test_invalid_content_length(client):
    response = client.post("/v1/continuation", content=b"{}",
                           headers={"Content-Type": "application/json", "Content-Length": "lots"})
    assert response.status_code == 400


# 401 and 403: the API key


def test_feedback_without_key(client):
    response = client.post("/v1/feedback", json=event("k-1"))
    assert_error(response, 401, "needs the API key")
    assert response.headers["www-authenticate"] == "Bearer"


def test_feedback_wrong_key(client):
    assert_error(client.post("/v1/feedback", json=event("k-2"), headers={"X-API-Key": "wrong"}), 403, "not valid")
    assert_error(client.post("/v1/feedback", json=event("k-3"), headers={"Authorization": "Bearer wrong"}), 403)
    assert_error(client.post("/v1/feedback", json=event("k-4"), headers={"Authorization": "Basic " + API_KEY}), 401)


def test_feedback_right_key_both_headers(client):
    assert client.post("/v1/feedback", json=event("k-5"), headers={"X-API-Key": API_KEY}).status_code == 201
    assert client.post("/v1/feedback", json=event("k-6"),
                       headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 201


def test_reload_needs_key(client):
    assert_error(client.post("/v1/bundles/reload"), 401)
    assert client.post("/v1/bundles/reload", headers={"X-API-Key": API_KEY}).status_code == 200


def test_reading_needs_no_key(client):
    assert client.get("/v1/recommendations", params={"user": USER}).status_code == 200
    assert client.post("/v1/continuation", json={"seeds": []}).status_code == 200


def test_key_compared_in_constant_time(client, monkeypatch):
    calls = []
    original = service_module.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(service_module.hmac, "compare_digest", spy)
    client.post("/v1/feedback", json=event("k-7"), headers={"X-API-Key": "nope"})
    assert calls == [(b"nope", API_KEY.encode())]


def test_no_key_configured_leaves_writes_open(serve_dir):
    with service_client(serve_dir) as open_client:
        assert open_client.post("/v1/feedback", json=event("open-1")).status_code == 201


# 404, 405, 409, 413, 415


def test_unknown_path_and_method(client):
    assert_error(client.get("/v1/nothing"), 404, "no endpoint at /v1/nothing")
    assert_error(client.get("/v1/reports/none/plot.png"), 404, "no report file none/plot.png")
    assert_error(client.delete("/v1/feedback"), 405, "DELETE is not allowed on /v1/feedback")


def test_event_id_reused_conflict(client):
    headers = {"X-API-Key": API_KEY}
    assert client.post("/v1/feedback", json=event("c-1"), headers=headers).status_code == 201
    response = client.post("/v1/feedback", json=event("c-1", type="skip"), headers=headers)
    assert_error(response, 409, "event id 'c-1' is already stored for another event")


def test_radio_state_of_replaced_bundle(client, generated_playlists):
    seed = playlist_uris(generated_playlists, 3)[0]
    state = {"bundle": "20000101T000000Z-gone", "seed": seed, "served": ["spotify:track:only-in-old"]}
    assert_error(client.post("/v1/radio", json={"state": state}), 409, "start a new station")


def test_body_too_large(client):
    big = {"seeds": ["spotify:track:" + "x" * 40] * 200}
    assert_error(client.post("/v1/continuation", json=big), 413, "limit of 4096 bytes")


def test_chunked_body_too_large(client):
    chunks = (b'{"seeds": [' + b'"a",' * 2000 + b'"b"]}',)
    response = client.post("/v1/continuation", content=iter(chunks), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "limit of 4096 bytes")


def test_body_not_json(client):
    response = client.post("/v1/continuation", content=b"seeds=a", headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "Content-Type application/json", "'text/plain'")


# 503: nothing to serve


def test_no_bundle_unavailable(tmp_path):
    with Store.open(tmp_path / "empty"):
        pass
    with service_client(tmp_path / "empty") as client:
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "no-bundle"
        response = client.get("/v1/recommendations", params={"user": USER})
        assert_error(response, 503, "no bundle is loaded", "tastemaker train")
        assert response.headers["retry-after"] == "5"
