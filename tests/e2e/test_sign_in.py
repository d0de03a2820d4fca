"""End to end through a real browser on a server with keys: sign in with a key (never kept by the page),
edit, see and download the result, sign out; a session that ends sends the page back to the sign-in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from qwen_image_editor.accounts import Role
from tests.e2e.conftest import ARTIFACTS, BROWSER_TEST_TIMEOUT_S, PHONE, KeyedServer, new_context
from tests.e2e.test_browser import CLIPPED_CONTROLS, start_edit, wait_for_result

pytestmark = [pytest.mark.browser, pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S)]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Everything the page itself can read or keep: its storage, its cookies (not the HttpOnly one), its DOM.
PAGE_STATE = """() => JSON.stringify({
  local: Object.entries(localStorage),
  session: Object.entries(sessionStorage),
  cookie: document.cookie,
  url: location.href,
  html: document.documentElement.outerHTML,
  inputs: [...document.querySelectorAll("input")].map((input) => input.value),
})"""


class Recorder:
    """Every URL the page asked for (requests, WebSockets), to show that no key ever rode in one."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("websocket", lambda socket: self.urls.append(socket.url))


def sign_in(page: Page, key: str) -> None:
    key_input = page.get_by_label("API key")
    expect(key_input).to_be_focused()
    key_input.fill(key)
    key_input.press("Enter")


def assert_key_nowhere(page: Page, context: BrowserContext, recorder: Recorder, key: str) -> None:
    assert key not in page.evaluate(PAGE_STATE)
    assert all(key not in url for url in recorder.urls), [url for url in recorder.urls if key in url]
    for cookie in context.cookies():
        assert key not in cookie["value"]


@pytest.fixture
def keyed_context(browser: Browser) -> Iterator[BrowserContext]:
    context = new_context(browser)
    yield context
    context.close()


def test_sign_in_edit_download_and_sign_out(
    keyed_context: BrowserContext, keyed_server: KeyedServer, input_files: list[Path], tmp_path: Path
) -> None:
    server, key = keyed_server.server, keyed_server.key
    assert server.http.get("/api/jobs").status_code == 401  # keys are on
    page = keyed_context.new_page()
    recorder = Recorder(page)
    page.goto(server.url)

    # Asked for the key, instead of the form and history.
    panel = page.get_by_test_id("sign-in")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("qie keys create NAME")
    expect(page.get_by_label("API key")).to_have_attribute("type", "password")
    expect(page.get_by_label("API key")).to_be_focused()
    expect(page.get_by_test_id("submit")).to_have_count(0)
    expect(page.get_by_test_id("history-item")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "sign-in.png")

    # A wrong key: refused with the server's message, and the input is empty for the next try.
    sign_in(page, "qie-this-is-not-the-key")
    expect(page.get_by_test_id("sign-in-error")).to_contain_text(re.compile(r"that (API )?key is not valid"))
    expect(page.get_by_label("API key")).to_have_value("")
    expect(page.get_by_test_id("submit")).to_have_count(0)

    # The right key: the editor, and the header says who is signed in.
    sign_in(page, key)
    expect(page.get_by_test_id("session-name")).to_have_text("alice")
    expect(page.get_by_test_id("sign-out")).to_be_visible()
    expect(page.get_by_test_id("sign-in")).to_have_count(0)
    cookies = {cookie["name"]: cookie for cookie in keyed_context.cookies()}
    assert cookies["qie_session"]["httpOnly"] is True
    assert cookies["qie_session"]["sameSite"] == "Strict"
    assert "qie_session" not in page.evaluate("document.cookie")

    # An edit runs under the session: the socket, the result image and the download need no key.
    job_id = start_edit(page, input_files[:1], "make the sky stormy", 4)
    wait_for_result(page, job_id)
    job = server.http.get(f"/api/jobs/{job_id}", headers=keyed_server.auth).json()
    assert job["status"] == "complete"
    assert server.http.get(f"/api/jobs/{job_id}").status_code == 401
    expect(page.get_by_test_id("history-item")).to_have_count(1)
    with page.expect_download() as download_info:
        page.get_by_test_id("download").click()
    download = download_info.value
    assert download.suggested_filename == f"make-the-sky-stormy_seed{job['config']['seed']}.png"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes().startswith(PNG_SIGNATURE)
    assert_key_nowhere(page, keyed_context, recorder, key)

    # Sign out: the sign-in again, the session gone on the server (a reload still asks).
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("sign-in-notice")).to_have_text("You have signed out.")
    expect(page.get_by_label("API key")).to_be_focused()
    expect(page.get_by_test_id("submit")).to_have_count(0)
    expect(page.get_by_test_id("history-item")).to_have_count(0)
    assert "qie_session" not in {cookie["name"] for cookie in keyed_context.cookies()}
    page.reload()
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    expect(page.get_by_test_id("result-image")).to_have_count(0)
    assert_key_nowhere(page, keyed_context, recorder, key)
    assert any("/api/session" in url for url in recorder.urls)


def test_a_revoked_key_sends_the_page_back_to_the_sign_in(
    keyed_context: BrowserContext, keyed_server: KeyedServer, input_files: list[Path]
) -> None:
    server = keyed_server.server
    server.services.access.create_key("bob", Role.USER)  # revoking alice's then leaves the server keyed
    page = keyed_context.new_page()
    page.goto(server.url)
    sign_in(page, keyed_server.key)
    expect(page.get_by_test_id("session-name")).to_have_text("alice")
    page.get_by_test_id("image-input").set_input_files(input_files[:1])
    page.get_by_test_id("prompt").fill("never runs")

    assert server.services.access.revoke("alice")
    # No click needed: the server closes the page's live socket (1008) as the key goes, and the page signs out.
    expect(page.get_by_test_id("sign-in-notice")).to_have_text("Your session has ended; sign in again.")
    expect(page.get_by_label("API key")).to_be_focused()
    expect(page.get_by_test_id("submit")).to_have_count(0)
    assert server.http.get("/api/jobs", headers=keyed_server.auth).status_code == 401


def assert_fits_a_phone(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways on a phone by {overflow}px"
    clipped = page.evaluate(CLIPPED_CONTROLS)
    assert clipped == [], f"controls cut off on a phone: {clipped}"


def test_sign_in_on_a_phone_in_dark_mode(browser: Browser, keyed_server: KeyedServer) -> None:
    context = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="dark")
    page = context.new_page()
    page.goto(keyed_server.server.url)
    sign_in(page, "wrong-key-on-a-phone")
    expect(page.get_by_test_id("sign-in-error")).to_be_visible()
    assert_fits_a_phone(page)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)", background  # dark mode took
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "sign-in-dark.png", full_page=True)

    # Signed in, the header's name and Sign out fit too.
    sign_in(page, keyed_server.key)
    expect(page.get_by_test_id("session-name")).to_have_text("alice")
    expect(page.get_by_test_id("submit")).to_be_visible()
    assert_fits_a_phone(page)
    page.screenshot(path=ARTIFACTS / "signed-in-phone.png")
    context.close()
