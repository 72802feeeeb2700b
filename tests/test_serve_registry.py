"""The model registry: a bundle swapped in under load with no failed or mixed response, a broken one refused."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import pytest

from serve_fixtures import API_KEY, current_bundle_folder, expected_als, playlist_uris, service_client
from tastemaker.bundle import set_current
from tastemaker.pipeline import parse_model_params, train
from tastemaker.store import Store

USERS = [f"playlist:{pid}" for pid in range(0, 40, 4)]
N = 10


@pytest.fixture(scope="module")
def two_bundles(tmp_path_factory, trained_dir) -> tuple[Path, Path, Path]:
    """A data directory with bundle A (the fixture's ALS) current, and bundle B (another ALS) published beside it."""
    data_dir = Path(shutil.copytree(trained_dir, tmp_path_factory.mktemp("serve-registry") / "data"))
    first = current_bundle_folder(data_dir)
    time.sleep(1.1)  # bundle names carry the creation second
    with Store.open(data_dir, read_only=True) as store:
        second = train(store, data_dir, parse_model_params(["popularity", "als"],
                                                           ["als.factors=6", "als.iterations=3"]), "als")
    set_current(data_dir, first.name)
    return data_dir, first, second


@pytest.fixture(scope="module")
def expected(two_bundles, generated_playlists) -> dict[str, dict[str, list[str]]]:
    """Each bundle's recommendations per user, computed from the bundle files without the service."""
    data_dir, first, second = two_bundles
    answers = {}
    for bundle in (first, second):
        answers[bundle.name] = {}
        for user in USERS:
            uris = playlist_uris(generated_playlists, int(user.split(":")[1]))
            answers[bundle.name][user] = expected_als(data_dir, {u: 1.0 for u in dict.fromkeys(uris)}, N, bundle)
    assert answers[first.name] != answers[second.name]
    return answers


def test_swap_under_load(two_bundles, expected):
    data_dir, first, second = two_bundles
    responses: list[tuple[str, int, dict]] = []
    lock = threading.Lock()
    stop = threading.Event()
    with service_client(data_dir, poll_seconds=0.2) as client:
        def load(number: int) -> None:
            i = number
            while not stop.is_set():
                user = USERS[i % len(USERS)]
                reply = client.get("/v1/recommendations", params={"user": user, "n": N},
                                   headers={"Cache-Control": "no-cache"})
                with lock:
                    responses.append((user, reply.status_code, reply.json()))
                i += 1

        threads = [threading.Thread(target=load, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)
            set_current(data_dir, second.name)
            deadline = time.monotonic() + 30
            while client.get("/health").json()["bundle"] != second.name and time.monotonic() < deadline:
                time.sleep(0.1)
            with lock:
                swapped_at = len(responses)
            time.sleep(1.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        assert client.get("/health").json()["bundle"] == second.name

    assert all(status == 200 for _, status, _ in responses)
    served = {first.name: 0, second.name: 0}
    for user, _, data in responses:
        assert data["bundle"] in served
        served[data["bundle"]] += 1
        assert [item["track_id"] for item in data["items"]] == expected[data["bundle"]][user]
    assert served[first.name] > 0
    assert served[second.name] > 0
    # Requests that started after the swap was observed come from the new bundle.
    assert all(data["bundle"] == second.name for _, _, data in responses[swapped_at + 6:])


def test_broken_bundle_keeps_old(two_bundles, caplog):
    data_dir, first, second = two_bundles
    set_current(data_dir, first.name)
    broken = first.parent / (first.name.split("-")[0] + "-broken")
    shutil.copytree(first, broken)
    factors = broken / "models" / "als" / "track_factors.npy"
    factors.write_bytes(factors.read_bytes()[:-64])
    caplog.set_level(logging.INFO, logger="tastemaker.serve.registry")
    try:
        with service_client(data_dir, api_key=API_KEY) as client:
            registry = client.app.state.service.registry
            set_current(data_dir, broken.name)
            assert registry.check() is False
            assert registry.check() is False
            assert registry.failures == 1
            health = client.get("/health").json()
            assert health["bundle"] == first.name
            assert health["last_load_failure"]["bundle"] == broken.name
            assert "track_factors.npy" in health["last_load_failure"]["error"]
            errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
            assert any(broken.name in m and f"still serving {first.name}" in m for m in errors)
            assert client.get("/v1/recommendations", params={"user": USERS[0], "n": N}).json()["bundle"] == \
                first.name
            forced = client.post("/v1/bundles/reload", headers={"X-API-Key": API_KEY}).json()
            assert forced["swapped"] is False
            assert registry.failures == 2
            set_current(data_dir, second.name)
            reloaded = client.post("/v1/bundles/reload", headers={"X-API-Key": API_KEY}).json()
            assert reloaded["swapped"] is True
            assert reloaded["bundle"] == second.name
            assert reloaded["last_load_failure"] is None
            assert client.get("/health").json()["bundle"] == second.name
    finally:
        set_current(data_dir, first.name)
        shutil.rmtree(broken)
