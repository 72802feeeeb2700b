"""The web page in headless Chromium (Playwright): home shelves, a Radio skip that changes the next page, audit plots.

Playwright drives the system's Chromium (Debian package ``chromium``), found
on the PATH or named by TASTEMAKER_CHROMIUM; Playwright's own browser
download is not used. The tests skip, saying why, when either is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import invoke_tastemaker
from serve_fixtures import API_KEY, ServerProcess, playlist_uris, request

CHROMIUM_ENV = "TASTEMAKER_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_MS = 30_000


def chromium_path() -> str:
    """Return the Chromium binary to drive, or skip the test saying what was looked for."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        if not Path(named).is_file():
            pytest.skip(f"{CHROMIUM_ENV} names {named}, which is not a file; point it at a Chromium binary")
        return named
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)} on the PATH; {CHROMIUM_ENV} is "
                "unset); install it with `apt-get install -y chromium`")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed; install it with pip install -e '.[test]'")
    executable = chromium_path()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory, trained_dir):
    root = tmp_path_factory.mktemp("serve-browser")
    data_dir = Path(shutil.copytree(trained_dir, root / "data"))
    audit = invoke_tastemaker("--data-dir", data_dir, "audit", "-m", "als", "-p", "als.factors=8", "-p",
                              "als.iterations=3", "--test-playlists", "10", "--strengths", "0.5", "-n", "20",
                              "--candidates", "50", "--out", data_dir / "reports" / "audit-browser")
    assert audit.exit_code == 0, audit.output
    with ServerProcess(data_dir, root / "server.log", "--poll-seconds", "0",
                       env={"TASTEMAKER_API_KEY": API_KEY}) as process:
        yield process


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def test_home_renders_shelves(server, page):
    expected = request(server.port, "GET", "/v1/home?user=playlist:7&seed=0")[1]
    page.goto(f"{server.url}/#home")
    page.fill("#user", "playlist:7")
    page.click("#home-show")
    page.wait_for_selector("#shelves .shelf")
    page.wait_for_selector("#recommended li")
    shelves = page.locator("#shelves .shelf")
    assert shelves.count() == len(expected["shelves"])
    titles = {shelf["title"] for shelf in expected["shelves"]}
    for i in range(shelves.count()):
        shelf = shelves.nth(i)
        assert shelf.locator("h2").inner_text() in titles
        assert shelf.locator(".card").count() >= 1
        assert shelf.locator(".card li").count() >= 1
    assert page.locator("#recommended li").count() == 10
    assert "recommended for you" in page.locator("#recommended li .why").first.inner_text()
    assert page.locator("#message").is_hidden()


def test_radio_skip_changes_next_page(server, page, generated_playlists):
    seed = playlist_uris(generated_playlists, 7)[0]
    first = request(server.port, "POST", "/v1/radio", {"seed": seed})[1]
    plain_next = request(server.port, "POST", "/v1/radio", {"state": first["state"]})[1]
    events_before = request(server.port, "GET", "/health")[1]["feedback_events"]

    page.goto(f"{server.url}/#radio")
    page.fill("#api-key", API_KEY)
    page.fill("#user", "browser-listener")
    page.fill("#radio-seed", seed)
    page.click("#radio-form button[type=submit]")
    page.wait_for_selector("#radio-tracks li")
    shown = page.locator("#radio-tracks li").evaluate_all("rows => rows.map(r => r.dataset.trackId)")
    assert shown == [item["track_id"] for item in first["items"]]

    page.locator("#radio-tracks li").first.get_by_role("button", name="Skip").click()
    page.wait_for_function("document.getElementById('radio-status').textContent.includes('skip recorded')")
    page.click("#radio-next")
    page.wait_for_function("document.getElementById('radio-title').textContent.endsWith('page 2')")
    second = page.locator("#radio-tracks li").evaluate_all("rows => rows.map(r => r.dataset.trackId)")
    assert len(second) == len(plain_next["items"])
    assert second != [item["track_id"] for item in plain_next["items"]]
    assert not set(second) & set(shown)
    assert request(server.port, "GET", "/health")[1]["feedback_events"] == events_before + 1
    assert page.locator("#message").is_hidden()


def test_audit_page_shows_plots(server, page):
    reports = request(server.port, "GET", "/v1/reports")[1]["reports"]
    plots = [url for report in reports for url in report["plots"]]
    assert plots
    page.goto(f"{server.url}/#audit")
    page.wait_for_selector("#reports img")
    page.wait_for_function("Array.from(document.querySelectorAll('#reports img')).every(i => i.complete)")
    images = page.locator("#reports img")
    assert images.count() == len(plots)
    widths = images.evaluate_all("images => images.map(i => i.naturalWidth)")
    assert all(width > 100 for width in widths)
    assert page.locator("#reports h2").first.inner_text() == f"{reports[0]['title']} ({reports[0]['name']})"
