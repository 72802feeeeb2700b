"""Feedback: each event id stored once, on disk before the response, kept through a SIGKILL, folded into lists."""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import invoke_tastemaker
from listening_fixtures import extended_play, write_records
from serve_fixtures import API_KEY, ServerProcess, expected_als, playlist_uris, request, service_client
from tastemaker.generate_listening import generate_listening, write_extended_history
from tastemaker.serve.feedback import FeedbackLog, NewEvent

HEADERS = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def serve_dir(tmp_path_factory, trained_dir) -> Path:
    return Path(shutil.copytree(trained_dir, tmp_path_factory.mktemp("serve-feedback") / "data"))


@pytest.fixture(scope="module")
def client(serve_dir):
    with service_client(serve_dir, api_key=API_KEY) as client:
        yield client


def log_records(data_dir: Path) -> list[dict]:
    """Read the feedback log with the standard library, one JSON object per complete line."""
    text = (data_dir / "feedback" / "events.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.split("\n")[:-1]]


def post_event(client, event_id: str, user: str, track: str, kind: str = "like", **fields):
    body = {"event_id": event_id, "user": user, "track_id": track, "type": kind, **fields}
    return client.post("/v1/feedback", json=body, headers=HEADERS)


# Exactly once, durable before the response


def test_retry_is_stored_once(client, serve_dir):
    first = post_event(client, "once-1", "retry-user", "spotify:track:a")
    assert first.status_code == 201
    assert first.json()["status"] == "accepted"
    # The line is in the file when the response arrives.
    assert [r["event_id"] for r in log_records(serve_dir)].count("once-1") == 1
    again = post_event(client, "once-1", "retry-user", "spotify:track:a")
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["sequence"] == first.json()["sequence"]
    assert [r["event_id"] for r in log_records(serve_dir)].count("once-1") == 1
    assert again.json()["user_events"] == 1


def test_each_accepted_event_fsynced(client):
    def fsyncs() -> int:
        text = client.get("/metrics").text
        return int(next(line.split()[-1] for line in text.splitlines()
                        if line.startswith("tastemaker_feedback_log_fsyncs ")))

    before = fsyncs()
    assert post_event(client, "sync-1", "sync-user", "spotify:track:b").status_code == 201
    assert fsyncs() == before + 1
    assert post_event(client, "sync-1", "sync-user", "spotify:track:b").status_code == 200
    assert fsyncs() == before + 1


def test_concurrent_retries_stored_once(client, serve_dir):
    ids = [f"conc-{i}" for i in range(20)]

    def send(event_id: str) -> int:
        return post_event(client, event_id, "busy-user", f"spotify:track:{event_id}").status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(send, ids * 8))
    by_id = Counter()
    for event_id, status in zip(ids * 8, statuses):
        assert status in (200, 201)
        by_id[(event_id, status)] += 1
    for event_id in ids:
        assert by_id[(event_id, 201)] == 1
        assert by_id[(event_id, 200)] == 7
    stored = Counter(r["event_id"] for r in log_records(serve_dir))
    assert all(stored[event_id] == 1 for event_id in ids)


def test_unknown_track_stored_and_listed(client, serve_dir):
    data = post_event(client, "unk-1", "someone", "spotify:track:not-in-bundle").json()
    assert data["folded_in"] is False
    assert data["unknown"] == ["spotify:track:not-in-bundle"]
    assert any(r["event_id"] == "unk-1" for r in log_records(serve_dir))


# The log file


def test_log_recovery_cuts_partial_line(tmp_path):
    path = tmp_path / "feedback" / "events.jsonl"
    log = FeedbackLog(path).open()
    for i in range(2):
        log.submit(NewEvent(f"r-{i}", "u", "spotify:track:t", "play", 40_000)).result(timeout=10)
    log.close()
    complete = path.read_bytes()
    path.write_bytes(complete + b'{"v":1,"event_id":"r-2","us')
    reopened = FeedbackLog(path).open()
    try:
        assert len(reopened) == 2
        assert reopened.recovered_bytes_cut == len(b'{"v":1,"event_id":"r-2","us')
        assert path.read_bytes() == complete
        outcome = reopened.submit(NewEvent("r-2", "u", "spotify:track:t", "skip")).result(timeout=10)
        assert outcome.status == "accepted"
        assert outcome.event.sequence == 3
    finally:
        reopened.close()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line)["event_id"] for line in lines[:-1]] == ["r-0", "r-1", "r-2"]


def test_log_rebuilds_index(tmp_path):
    path = tmp_path / "events.jsonl"
    log = FeedbackLog(path).open()
    log.submit(NewEvent("i-1", "ann", "spotify:track:t", "like")).result(timeout=10)
    log.close()
    reopened = FeedbackLog(path).open()
    try:
        assert [e.event_id for e in reopened.events_for("ann")] == ["i-1"]
        assert reopened.submit(NewEvent("i-1", "ann", "spotify:track:t", "like")).result(timeout=10).status == \
            "duplicate"
    finally:
        reopened.close()


# Folding feedback into recommendations


def test_likes_fold_into_new_user(client, serve_dir, generated_playlists):
    liked = playlist_uris(generated_playlists, 11)[:3]
    user = "fresh-listener"
    cold = client.get("/v1/recommendations", params={"user": user, "n": 10}).json()
    assert cold["unknown"] == [user]
    for i, track in enumerate(liked):
        assert post_event(client, f"fold-{i}", user, track).status_code == 201
    warm = client.get("/v1/recommendations", params={"user": user, "n": 10}).json()
    assert warm["fallback"] is None
    assert warm["unknown"] == []
    assert warm["details"]["feedback_events"] == 3
    assert [i["track_id"] for i in warm["items"]] == expected_als(serve_dir, {t: 1.0 for t in liked}, 10)

    skipped = warm["items"][0]["track_id"]
    assert post_event(client, "fold-skip", user, skipped, "skip", ms_played=4000).status_code == 201
    after = client.get("/v1/recommendations", params={"user": user, "n": 10}).json()
    after_ids = [i["track_id"] for i in after["items"]]
    assert skipped not in after_ids
    assert after_ids == expected_als(serve_dir, {**{t: 1.0 for t in liked}, skipped: -1.0}, 10)


def test_feedback_adds_to_stored_playlist(client, serve_dir, generated_playlists):
    uris = list(dict.fromkeys(playlist_uris(generated_playlists, 21)))
    extra = [u for u in playlist_uris(generated_playlists, 22) if u not in uris][:2]
    user = "playlist:21"
    for i, track in enumerate(extra):
        assert post_event(client, f"pl-{i}", user, track, "add_to_playlist").status_code == 201
    data = client.get("/v1/recommendations", params={"user": user, "n": 8}).json()
    assert data["details"]["feedback_events"] == 2
    expected = expected_als(serve_dir, {**{u: 1.0 for u in uris}, **{u: 1.0 for u in extra}}, 8)
    assert [i["track_id"] for i in data["items"]] == expected


def test_feedback_joins_stored_plays(tmp_path, trained_dir, generated_playlists):
    data_dir = Path(shutil.copytree(trained_dir, tmp_path / "data"))
    tracks = [t for t in generated_playlists[30]["tracks"]][:10]
    records = [extended_play(i, f"2024-01-02T10:{i:02d}:00Z", username="bob", spotify_track_uri=t["track_uri"],
                             master_metadata_track_name=t["track_name"],
                             master_metadata_album_artist_name=t["artist_name"],
                             ms_played=20_000 if i == 0 else 200_000)
               for i, t in enumerate(tracks)]
    write_records(tmp_path / "export" / "Streaming_History_Audio_2024_0.json", records)
    assert invoke_tastemaker("--data-dir", data_dir, "ingest", "spotify-extended", tmp_path / "export").exit_code == 0
    uris = [t["track_uri"] for t in tracks]
    others = [u for u in playlist_uris(generated_playlists, 31) if u not in uris]
    # Stored plays: a skip (20 s) of the first track and streams of the rest; then a like and a skip as feedback.
    expected_row = {uris[0]: -1.0, **{u: 1.0 for u in uris[1:]}, others[0]: 1.0, others[1]: -1.0}
    with service_client(data_dir, api_key=API_KEY) as client:
        stored_only = client.get("/v1/recommendations", params={"user": "spotify:bob", "n": 10}).json()
        assert stored_only["unknown"] == []
        assert [i["track_id"] for i in stored_only["items"]] == \
            expected_als(data_dir, {k: v for k, v in expected_row.items() if k in uris}, 10)
        assert post_event(client, "bob-1", "spotify:bob", others[0], "like").status_code == 201
        assert post_event(client, "bob-2", "spotify:bob", others[1], "play", ms_played=3_000).status_code == 201
        data = client.get("/v1/recommendations", params={"user": "spotify:bob", "n": 10}).json()
    assert data["details"]["feedback_events"] == 2
    assert [i["track_id"] for i in data["items"]] == expected_als(data_dir, expected_row, 10)


def test_listening_bundle_folds_in(tmp_path):
    data = generate_listening(n_users=30, n_tracks=300, n_artists=30, sessions_per_user=12, seed=6)
    write_extended_history(data, tmp_path / "export")
    data_dir = tmp_path / "data"
    for args in (("ingest", "spotify-extended", tmp_path / "export"), ("train-listening", "-p", "als.factors=8")):
        assert invoke_tastemaker("--data-dir", data_dir, *args).exit_code == 0
    user = f"spotify:{data.user_names[0]}"
    events = data.events_table()
    played = {uri for uri, owner in zip(events.column("track_uri").to_pylist(), events.column("user_id").to_pylist())
              if owner == 1}
    with service_client(data_dir, bundle_kind="listening", api_key=API_KEY) as client:
        assert client.get("/health").json()["kind"] == "listening"
        before = client.get("/v1/recommendations", params={"user": user, "n": 10}).json()
        assert before["fallback"] is None
        assert before["unknown"] == []
        first = before["items"][0]["track_id"]
        assert post_event(client, "lb-1", user, first, "skip").status_code == 201
        after = client.get("/v1/recommendations", params={"user": user, "n": 10}).json()
    assert after["details"]["feedback_events"] == 1
    after_ids = [item["track_id"] for item in after["items"]]
    assert first not in after_ids
    assert played
    assert not set(after_ids) & played


# A crash in the middle of writing


def test_sigkill_loses_no_acknowledged_event(tmp_path, trained_dir):
    data_dir = Path(shutil.copytree(trained_dir, tmp_path / "data"))
    server = ServerProcess(data_dir, tmp_path / "server.log", "--poll-seconds", "0", env={"TASTEMAKER_API_KEY":
                                                                                               API_KEY}).start()
    acknowledged: list[str] = []
    unexpected: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(number: int) -> None:
        sequence = 0
        while not stop.is_set():
            body = {"event_id": f"w{number}-{sequence}", "user": f"writer-{number}",
                    "track_id": f"spotify:track:{sequence}", "type": "play", "ms_played": 31_000}
            while True:
                try:
                    status, _ = request(server.port, "POST", "/v1/feedback", body, HEADERS, timeout=10)
                except (OSError, http.client.HTTPException, ValueError):
                    # The kill can cut a connection anywhere: before, inside or after the response.
                    if stop.is_set():
                        return
                    time.sleep(0.05)
                    continue
                if status in (200, 201):
                    break
                with lock:
                    unexpected.append(status)
                time.sleep(0.05)
            with lock:
                acknowledged.append(body["event_id"])
            sequence += 1

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(6)]
    try:
        for thread in threads:
            thread.start()
        wait_for_count(acknowledged, lock, 30)
        server.kill()
        with lock:
            before_restart = len(acknowledged)
        server.start()
        wait_for_count(acknowledged, lock, before_restart + 30)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        stop.set()
        server.stop()
    assert unexpected == []
    assert before_restart >= 30
    assert len(acknowledged) >= before_restart + 30, (server.log_path.read_text()[-2000:])
    stored = Counter(r["event_id"] for r in log_records(data_dir))
    assert all(stored[event_id] == 1 for event_id in acknowledged)
    assert max(stored.values()) == 1


def wait_for_count(items: list, lock: threading.Lock, count: int, seconds: float = 60) -> None:
    """Wait until ``items`` has ``count`` entries, for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with lock:
            if len(items) >= count:
                return
        time.sleep(0.05)
