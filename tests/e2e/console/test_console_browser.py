"""The moderator console in Debian's Chromium (Selenium + chromedriver, no browser download)
against a live `integrity serve` on the embedded SQLite database, seeded by `integrity scan` of
the example deliveries: a sped-up duplicate, a keyword-stuffed spam single and a declared-AI
track. A moderator signs in, filters, listens to both aligned segments, decides with the
keyboard, bulk-removes a sender's spam, undoes it and signs out; answers a distributor's appeal
from the appeals queue and finds it all in their recent decisions; refusals are checked too.

Screenshots go to each test's tmp_path; with INTEGRITY_REFRESH_SCREENSHOTS=1 the two the README
shows are also copied into docs/ (so an ordinary run leaves the checkout clean).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select

from integrity.db.models import Track
from integrity.db.service_models import Sender
from integrity.db.session import create_db_engine, session_factory, session_scope
from integrity.locations import DATABASE_FILE
from tests.service_support import REPO_ROOT, free_port, wait_for

pytestmark = pytest.mark.slow

INTEGRITY_BIN = Path(sys.executable).parent / "integrity"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DOCS = REPO_ROOT / "docs"
REFRESH_SCREENSHOTS = "INTEGRITY_REFRESH_SCREENSHOTS"
"""Set to 1 to copy the README's screenshots into docs/."""
SCAN_TIMEOUT_S = 600
SERVER_START_TIMEOUT_S = 60.0
PAGE_TIMEOUT_S = 20.0
AUDIO_SEEK_TOLERANCE_S = 1.5  # currentTime right after the jump (playback may have moved on)
WINDOW = "1280,900"
ZOOMED_VIEWPORT_PX = (640, 450)  # 1280 × 900 at 200 % zoom
SPAM_SENDER = "Sleepy Sounds Bulk Upload"
UPLOADER_SENDER = "console-uploads"
APPEAL_STATEMENT = "We own these masters and declared the AI use; see contract 42."
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
    f"--window-size={WINDOW}",
)


@dataclass
class Console:
    base: str
    keys: dict[str, str]
    tracks: dict[str, int]  # title → id, from the scan's report
    database_url: str

    def api(self, path: str, body: dict, *, key: str = "moderator") -> dict:
        response = httpx.post(
            self.base + path,
            json=body,
            headers={"authorization": f"Bearer {self.keys[key]}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def filter_result(self, track_id: int) -> dict:
        return self.api("/v1/filter", {"tracks": [track_id], "surface": "recommendation"})[
            "results"
        ][0]


def _run(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(INTEGRITY_BIN), *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=SCAN_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """`integrity scan examples/deliveries` into a fresh data dir, keys, `integrity serve`."""
    data_dir = tmp_path_factory.mktemp("console-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTEGRITY_")}
    env.update({"INTEGRITY_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT)})
    report = json.loads(_run(env, "scan", "examples/deliveries", "--json"))
    tracks = {t["title"]: t["track_id"] for d in report["deliveries"] for t in d["tracks"]}
    _run(env, "senders", "add", UPLOADER_SENDER, "--json")
    keys = {
        "moderator": json.loads(
            _run(env, "keys", "create", "--role", "moderator", "--name", "ann", "--json")
        )["key"],
        "admin": json.loads(
            _run(env, "keys", "create", "--role", "admin", "--name", "root", "--json")
        )["key"],
        "uploader": json.loads(
            _run(env, "keys", "create", "--role", "uploader", "--sender", UPLOADER_SENDER, "--json")
        )["key"],
    }
    port = free_port()
    log = (data_dir / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(INTEGRITY_BIN), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout_s=SERVER_START_TIMEOUT_S, what="integrity serve")
        database_url = f"sqlite:///{data_dir / DATABASE_FILE}"
        yield Console(base=base, keys=keys, tracks=tracks, database_url=database_url)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Debian's Chromium through Debian's chromedriver, a fresh profile per test."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("install Debian's chromium and chromium-driver (scripts/test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    driver = webdriver.Chrome(service=DriverService(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


def publish(shot: Path) -> None:
    """Copy a screenshot the README shows into docs/, only when asked to refresh them."""
    if os.environ.get(REFRESH_SCREENSHOTS) == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS / shot.name)


def wait(driver: WebDriver, predicate, what: str):
    return WebDriverWait(driver, PAGE_TIMEOUT_S, poll_frequency=0.1).until(
        lambda d: predicate(d), message=what
    )


def sign_in(driver: WebDriver, console: Console, role: str) -> None:
    driver.get(console.base + "/console/queue")  # redirected to the sign-in form
    wait(driver, lambda d: "/console/login" in d.current_url, "the sign-in page")
    field = driver.find_element(By.ID, "api_key")
    field.send_keys(console.keys[role])
    field.send_keys(Keys.ENTER)
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete", "load")


def press(driver: WebDriver, keys: str) -> None:
    """Type keys at whatever has focus, as a person at the keyboard would."""
    webdriver.ActionChains(driver).send_keys(keys).perform()


def audio_time(driver: WebDriver, element_id: str) -> float:
    return float(
        driver.execute_script(f"return document.getElementById('{element_id}').currentTime")
    )


UNLABELLED_CONTROLS_JS = """
const named = (el) => (el.getAttribute('aria-label') || '').trim()
  || (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean)
       .map((id) => (document.getElementById(id) || {}).textContent || '').join('').trim()
  || Array.from(el.labels || []).map((l) => l.textContent).join('').trim()
  || (el.tagName === 'BUTTON' ? el.textContent.trim() : '')
  || (el.getAttribute('title') || '').trim();
return Array.from(document.querySelectorAll('input, select, textarea, button, audio[controls]'))
  .filter((el) => el.type !== 'hidden' && !named(el))
  .map((el) => el.outerHTML.slice(0, 160));
"""


def unlabelled_controls(driver: WebDriver) -> list[str]:
    """Every form control (and audio player) on the page with no accessible name."""
    return list(driver.execute_script(UNLABELLED_CONTROLS_JS))


def no_horizontal_scroll(driver: WebDriver) -> bool:
    return bool(
        driver.execute_script(
            "const e = document.documentElement; return e.scrollWidth <= e.clientWidth + 1;"
        )
    )


def test_refusals_uploader_key_csrf_and_models_page(console, browser):
    sign_in(browser, console, "uploader")
    error = browser.find_element(By.ID, "login-error").text
    assert "uploader key cannot open the console" in error
    assert browser.get_cookie("integrity_console") is None

    sign_in(browser, console, "moderator")
    assert browser.current_url.endswith("/console/queue")
    cookie = browser.get_cookie("integrity_console")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and "expiry" in cookie
    # document.cookie cannot read it (HttpOnly): a script injected into a page could not steal it.
    assert "integrity_console" not in browser.execute_script("return document.cookie")
    forged = httpx.post(
        console.base + "/console/undo",
        cookies={"integrity_console": cookie["value"]},
        data={"csrf": "forged"},
        timeout=10,
    )
    assert forged.status_code == 403 and "CSRF" in forged.text
    browser.get(console.base + "/console/models")
    assert "may not manage models" in browser.find_element(By.ID, "error-message").text

    browser.find_element(By.ID, "sign-out").click()
    wait(browser, lambda d: "/console/login" in d.current_url, "signed out")
    replay = httpx.get(
        console.base + "/console/queue",
        cookies={"integrity_console": cookie["value"]},
        timeout=10,
        follow_redirects=False,
    )
    assert replay.status_code == 303 and "/console/login" in replay.headers["location"]

    sign_in(browser, console, "admin")
    browser.get(console.base + "/console/models")
    models = browser.find_element(By.ID, "models").text
    assert "spam" in models and "synthetic" in models


def test_moderator_clears_the_queue_with_the_keyboard(console, browser, tmp_path):
    duplicate = console.tracks["Night Ferry"]
    original = console.tracks["Harbour Lights"]
    spam = next(i for title, i in console.tracks.items() if title.startswith("Rain Sounds"))
    declared_ai = console.tracks["Paper Moons"]

    sign_in(browser, console, "moderator")
    rows = browser.find_elements(By.CSS_SELECTOR, "#queue-table tbody tr")
    assert {r.get_attribute("data-track") for r in rows} == {str(duplicate), str(spam)}
    queue_text = browser.find_element(By.ID, "queue-table").text
    assert "duplicate audio" in queue_text and "catalog spam" in queue_text
    browser.save_screenshot(str(tmp_path / "console-queue.png"))
    publish(tmp_path / "console-queue.png")

    # ? opens the shortcut help; Escape closes it.
    press(browser, "?")
    assert browser.find_element(By.ID, "help").get_attribute("open") is not None
    press(browser, Keys.ESCAPE)

    # Filter by reason: "/" jumps to the filters.
    press(browser, "/")
    assert browser.switch_to.active_element.get_attribute("id") == "f-reason"
    Select(browser.find_element(By.ID, "f-reason")).select_by_value("duplicate")
    browser.find_element(By.ID, "apply-filter").click()
    wait(browser, lambda d: "reason=duplicate" in d.current_url, "the filtered queue")
    rows = browser.find_elements(By.CSS_SELECTOR, "#queue-table tbody tr")
    assert [r.get_attribute("data-track") for r in rows] == [str(duplicate)]

    # j focuses the first row, Enter opens it (and claims it).
    press(browser, "j")
    press(browser, Keys.ENTER)
    wait(browser, lambda d: f"/console/tracks/{duplicate}" in d.current_url, "the track page")
    findings = browser.find_element(By.ID, "findings").text
    assert "Same recording as track" in findings and "faster" in findings
    assert "operating points" not in browser.find_element(By.ID, "scores").text
    assert "held-out real clips" in browser.find_element(By.ID, "scores").text
    query_offset = float(browser.find_element(By.ID, "play-query").get_attribute("data-offset"))
    ref_offset = float(browser.find_element(By.ID, "play-ref").get_attribute("data-offset"))
    assert query_offset > 0 and ref_offset > 0

    # Both aligned segments play from their offsets (key 1: this track, key 2: the original).
    browser.find_element(By.ID, "play-query").click()
    wait(
        browser,
        lambda d: (
            query_offset <= audio_time(d, "audio-query") < query_offset + AUDIO_SEEK_TOLERANCE_S
        ),
        "this track's player at the aligned offset",
    )
    press(browser, "2")
    wait(
        browser,
        lambda d: ref_offset <= audio_time(d, "audio-ref") < ref_offset + AUDIO_SEEK_TOLERANCE_S,
        "the original's player at the aligned offset",
    )
    assert browser.execute_script("return document.getElementById('audio-query').paused")
    assert (
        browser.find_element(By.ID, "audio-ref")
        .get_attribute("src")
        .endswith(f"/console/tracks/{original}/audio")
    )
    spectrogram = browser.find_element(By.ID, "spectrogram")
    wait(
        browser,
        lambda d: d.execute_script("return arguments[0].naturalWidth", spectrogram) > 0,
        "spectrogram",
    )
    # The decoder-artifact evidence: the detector's residual spectrum, described in words.
    plot = browser.find_element(By.ID, "artifact-plot")
    wait(
        browser,
        lambda d: d.execute_script("return arguments[0].naturalWidth", plot) > 0,
        "the residual-spectrum plot",
    )
    assert plot.get_attribute("alt").startswith("Residual spectrum of Night Ferry")
    assert "regular grid" in browser.find_element(By.ID, "artifact-reading").text
    marked = wait(
        browser, lambda d: d.find_element(By.ID, "artifact-peaks").text, "the peaks in words"
    )
    assert marked.startswith("Marked peaks: ") and marked.count(" kHz (") == 5, marked
    browser.find_element(By.ID, "artifacts").screenshot(str(tmp_path / "console-artifacts.png"))
    section = browser.find_element(By.ID, "duplicate-1")
    browser.execute_script("arguments[0].scrollIntoView()", section)
    section.screenshot(str(tmp_path / "console-duplicate.png"))
    publish(tmp_path / "console-duplicate.png")

    # r picks remove with its usual reason and focuses "Submit & next"; Enter submits.
    assert console.filter_result(duplicate)["decision"] == "review"
    press(browser, "r")
    assert browser.find_element(By.ID, "action-remove").is_selected()
    assert Select(browser.find_element(By.ID, "reason")).first_selected_option.text == "duplicate"
    assert browser.switch_to.active_element.get_attribute("id") == "submit-next"
    press(browser, Keys.ENTER)
    wait(browser, lambda d: "notice=decided" in d.current_url, "the next page after deciding")
    result = console.filter_result(duplicate)
    assert (result["keep"], result["decision"]) == (False, "block")
    assert "moderator:block" in result["reasons"] and "duplicate" in result["reasons"]

    # Bulk: every track of the spam sender that the filter matches, removed in one go.
    browser.get(console.base + "/console/queue")
    Select(browser.find_element(By.ID, "f-sender")).select_by_visible_text(SPAM_SENDER)
    browser.find_element(By.ID, "apply-filter").click()
    wait(browser, lambda d: "sender=" in d.current_url, "the sender's queue")
    assert [
        r.get_attribute("data-track")
        for r in browser.find_elements(By.CSS_SELECTOR, "#queue-table tbody tr")
    ] == [str(spam)]
    Select(browser.find_element(By.ID, "b-scope")).select_by_value("matching")
    Select(browser.find_element(By.ID, "b-action")).select_by_value("remove")
    Select(browser.find_element(By.ID, "b-reason")).select_by_value("spam")
    browser.find_element(By.ID, "bulk-submit").click()
    wait(browser, lambda d: "notice=bulk" in d.current_url, "the bulk result")
    assert browser.find_elements(By.ID, "queue-empty")
    assert console.filter_result(spam)["decision"] == "block"

    # u undoes it: an audited reversal, the automatic decision is back.
    press(browser, "u")
    wait(browser, lambda d: "notice=undone" in d.current_url, "the undo")
    assert console.filter_result(spam)["decision"] == "review"
    mine = httpx.get(
        console.base + f"/v1/audit?track_id={spam}",
        headers={"authorization": f"Bearer {console.keys['moderator']}"},
        timeout=10,
    ).json()["events"]
    decisions = [e["action"] for e in mine if e["action"] in ("review.remove", "review.undo")]
    assert decisions == ["review.remove", "review.undo"]

    # The declared-AI track shows its DDEX disclosure.
    browser.get(console.base + f"/console/tracks/{declared_ai}")
    assert browser.find_element(By.ID, "contains-ai").text == "All"

    browser.find_element(By.ID, "sign-out").click()
    wait(browser, lambda d: "/console/login" in d.current_url, "signed out")
    browser.get(console.base + "/console/queue")
    assert "/console/login" in browser.current_url


def give_to_uploader(console: Console, track_id: int) -> None:
    """A folder scan has no credentials, so its tracks belong to no sender: give one to the
    uploader's sender, as its signed webhook delivery would have, so that sender may appeal."""
    engine = create_db_engine(console.database_url)
    try:
        with session_scope(session_factory(engine)) as session:
            sender = session.scalars(select(Sender).where(Sender.name == UPLOADER_SENDER)).one()
            track = session.get(Track, track_id)
            assert track is not None
            track.sender_id = sender.id
    finally:
        engine.dispose()


def test_moderator_answers_an_appeal_and_reviews_their_decisions(console, browser, tmp_path):
    track = console.tracks["Paper Moons"]  # declared AI: not in the queue
    give_to_uploader(console, track)
    sign_in(browser, console, "moderator")
    browser.get(console.base + f"/console/tracks/{track}")
    press(browser, "r")  # remove, with its usual reason; Enter submits
    press(browser, Keys.ENTER)
    wait(browser, lambda d: "notice=decided" in d.current_url, "the removal")
    filed = httpx.post(
        console.base + f"/v1/tracks/{track}/appeals",
        json={"reason": "declared_ai", "note": APPEAL_STATEMENT},
        headers={"authorization": f"Bearer {console.keys['uploader']}"},
        timeout=10,
    )
    assert filed.status_code == 201, filed.text
    appeal_id = filed.json()["appeal_id"]

    # The appeals queue: the distributor's statement beside the decision and its evidence.
    browser.get(console.base + "/console/appeals")
    heading = browser.find_element(By.ID, f"appeal-{appeal_id}")
    appeal = heading.find_element(By.XPATH, "./ancestor::article")
    statement, evidence = appeal.find_elements(By.CSS_SELECTOR, ".pair .side")
    assert APPEAL_STATEMENT in statement.text and "declared_ai" in statement.text
    assert "Decision block by ann (remove," in evidence.text
    assert "declares the recording fully AI-generated" in evidence.text
    browser.save_screenshot(str(tmp_path / "console-appeals.png"))

    # The appeal puts the track back in the queue, tagged as appealed.
    browser.get(console.base + "/console/queue")
    assert "appealed" in browser.find_element(By.ID, f"row-{track}").text

    # Opened from the appeal, approved with the keyboard: the appeal is resolved.
    browser.get(console.base + "/console/appeals")
    heading = browser.find_element(By.ID, f"appeal-{appeal_id}")
    heading.find_element(By.TAG_NAME, "a").click()
    wait(browser, lambda d: f"/console/tracks/{track}" in d.current_url, "the appealed track")
    press(browser, "a")
    press(browser, Keys.ENTER)
    wait(browser, lambda d: "notice=decided" in d.current_url, "the approval")
    browser.get(console.base + "/console/appeals")
    assert browser.find_elements(By.ID, "appeals-empty")
    assert console.filter_result(track)["decision"] == "clear"

    # My recent decisions, newest first, with what each changed.
    browser.get(console.base + "/console/mine")
    rows = browser.find_elements(By.CSS_SELECTOR, "#mine tbody tr")
    newest = [r.find_elements(By.TAG_NAME, "td") for r in rows[:2]]
    assert [(c[1].text, c[2].text, c[4].text) for c in newest] == [
        ("Paper Moons", "review.approve", "block → clear"),
        ("Paper Moons", "review.remove", "filter → block"),
    ]
    browser.save_screenshot(str(tmp_path / "console-mine.png"))
    newest[0][1].find_element(By.TAG_NAME, "a").click()
    wait(browser, lambda d: d.current_url.endswith(f"/console/tracks/{track}"), "the track")


def test_every_control_is_labelled_and_pages_fit_at_200_percent_zoom(console, browser):
    duplicate = console.tracks["Night Ferry"]
    sign_in(browser, console, "moderator")
    pages = ("/console/queue", f"/console/tracks/{duplicate}")
    for path in pages:
        browser.get(console.base + path)
        assert browser.find_elements(By.CSS_SELECTOR, "input, select, button"), path
        assert unlabelled_controls(browser) == [], path
    browser.execute_script("document.querySelector('main').append(document.createElement('input'))")
    assert unlabelled_controls(browser) == ["<input>"]  # the walk does see a bare control

    # Readable at 200 % zoom: a 1280 px window at twice the scale is a 640 CSS px viewport,
    # and nothing (tables, players, the two plots) runs off the side of either page.
    width, height = ZOOMED_VIEWPORT_PX
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": False},
    )
    try:
        for path in pages:
            browser.get(console.base + path)
            assert browser.execute_script("return window.innerWidth") == width
            assert no_horizontal_scroll(browser), path
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
