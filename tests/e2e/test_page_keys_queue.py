"""Safe keys, a queue that scales, a prompt return after a restart, and Back and Forward (issue 21 points 1, 7, 8
and 11), on the fake engine: Esc in a text field cancels nothing; Esc cancels the job on screen and Undo requeues it
ahead of the queue with its seed; 60 queued jobs show one running chip and a count, in a strip that stays in view;
cancel-all; the offline banner clears as soon as the server answers again, and the strip follows the real state;
Back and Forward move between opened jobs. Every state reached is scanned with axe-core (nothing serious)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from qwen_image_editor.engine.fake import FakeEngine
from tests.api.conftest import SMALL_OUTPUT_PIXELS, eventually, make_settings, png_bytes, submit, wait_for
from tests.e2e.conftest import BROWSER_TEST_TIMEOUT_S, EDIT_TIMEOUT_S, PHONE, RestartableServer, new_context
from tests.e2e.test_page_history import AXE, AXE_RUN, make_jobs
from tests.live_server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S)]

# Records, in the page's own clock, every /ws socket it opens and when /api/health last answered after failing,
# and when the offline banner last went away: how long the page took to notice the server is back.
RECONNECT_RECORDER = """
window.__activitySockets = 0;
window.__healthBackAt = null;
window.__bannerGoneAt = null;
const RealWebSocket = window.WebSocket;
window.WebSocket = class extends RealWebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    if (new URL(url, location.href).pathname === "/ws") window.__activitySockets += 1;
  }
};
const realFetch = window.fetch.bind(window);
let healthFailed = false;
window.fetch = async (input, init) => {
  const url = typeof input === "string" ? input : input.url;
  const isHealth = new URL(url, location.href).pathname === "/api/health";
  try {
    const response = await realFetch(input, init);
    if (isHealth && healthFailed && response.ok) {
      healthFailed = false;
      window.__healthBackAt = performance.now();
    }
    return response;
  } catch (error) {
    if (isHealth) healthFailed = true;
    throw error;
  }
};
let bannerShown = false;
new MutationObserver(() => {
  const shown = document.querySelector('[data-testid="offline-banner"]') !== null;
  if (bannerShown && !shown) window.__bannerGoneAt = performance.now();
  bannerShown = shown;
}).observe(document, { subtree: true, childList: true });
"""

# The most "running" chips the strip ever showed at once, recorded in the page so a short-lived one is not missed.
RUNNING_CHIPS_RECORDER = """
window.__mostRunningChips = 0;
new MutationObserver(() => {
  const running = document.querySelectorAll('[data-testid="queue-item"][data-phase="running"]').length;
  window.__mostRunningChips = Math.max(window.__mostRunningChips, running);
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-phase"] });
"""

# The page's answer to a health check made after the server is back must not wait for a reconnect backoff
# (it reaches 10 s): it is a fresh connection to a local server, well under this on any machine.
BACK_WITHIN_MS = 5_000


# How many jobs the strip accounts for: its chips in view plus its "+N more" count.
STRIP_TOTAL = """() => {
  const chips = document.querySelectorAll('[data-testid="queue-strip"] ul:first-of-type > [data-testid="queue-item"]');
  const more = document.querySelector('[data-testid="queue-more"]');
  return chips.length + (more ? Number(more.textContent.match(/\\d+/)[0]) : 0);
}"""


def wait_for_strip_total(page: Page, total: int) -> None:
    page.wait_for_function(f"() => ({STRIP_TOTAL})() === {total}", timeout=EDIT_TIMEOUT_S * 1000)


def strip_says(job: dict[str, Any]) -> str:
    """What the strip's chip says of a running job (as `QueueStrip` and `chipPhase` put it)."""
    progress = job["progress"]
    if job["status"] != "processing":
        return "next" if job["queue_position"] == 1 else f"#{job['queue_position']} in queue"
    if progress is None or progress["stage"] == "preparing":
        return "next"
    if progress["stage"] == "saving":
        return "saving…"
    return f"running {math.floor(progress['progress'] + 0.5)}%"  # rounded as the page rounds (Math.round)


def no_serious_violations(page: Page, state: str) -> None:
    """axe-core on the page as it is now (the context bypasses the CSP, so axe can be injected)."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(AXE_RUN)
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{state}: {json.dumps(bad, indent=2)}"


@pytest.fixture
def scanned(browser: Browser) -> Iterator[BrowserContext]:
    context = new_context(browser, bypass_csp=True)  # axe is injected as an inline script
    yield context
    context.close()


def queue(server: LiveServer, count: int, prompt: str, **config: Any) -> list[str]:
    ids = []
    for index in range(count):
        response = submit(server.http, [png_bytes(64, 64, seed=index)], prompt=f"{prompt} {index}", **config)
        assert response.status_code == 202, response.text
        ids.append(response.json()["job_id"])
    return ids


def test_esc_in_a_text_field_cancels_nothing(
    scanned: BrowserContext, fake_server: LiveServer, fake_engine: FakeEngine
) -> None:
    gate = fake_engine.hold(before_step=2)
    (running,) = queue(fake_server, 1, "keep going", num_inference_steps=8)
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    page = scanned.new_page()
    cancels: list[str] = []
    page.on("request", lambda request: cancels.append(request.url) if "/cancel" in request.url else None)
    page.goto(f"{fake_server.url}/?job={running}")
    expect(page.get_by_test_id("progress")).to_have_text("Step 1 of 8")
    prompt = page.get_by_test_id("prompt")
    prompt.fill("half a thought")
    prompt.press("Escape")
    page.get_by_test_id("seed").press("Escape")
    # Anything Esc set off has been sent once a later request of the page has come back.
    page.evaluate("fetch('/api/health').then((r) => r.ok)")
    assert cancels == []
    expect(page.get_by_test_id("job-status")).to_have_text("processing")
    assert fake_server.http.get(f"/api/jobs/{running}").json()["status"] == "processing"
    expect(prompt).to_have_value("half a thought")
    no_serious_violations(page, "running, after Esc in a field")
    gate.open()


def test_esc_cancels_the_job_on_screen_and_undo_requeues_it_first_with_its_seed(
    scanned: BrowserContext, fake_server: LiveServer, fake_engine: FakeEngine
) -> None:
    # Held before its first step: a job stepping would have its worker claim the next one ahead of time.
    gate = fake_engine.hold(before_step=1)
    shown = submit(fake_server.http, [png_bytes(64, 64)], prompt="the one I want", seed=4242, num_inference_steps=8)
    shown_id = shown.json()["job_id"]
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    waiting = queue(fake_server, 2, "waiting", num_inference_steps=2)
    page = scanned.new_page()
    page.goto(f"{fake_server.url}/?job={shown_id}")
    expect(page.get_by_test_id("job-status")).to_have_text("processing")
    page.get_by_role("heading", name="History").click()  # focus outside the form's fields
    page.keyboard.press("Escape")
    toast = page.get_by_test_id("undo-cancel-toast")
    expect(toast).to_contain_text("Cancelled “the one I want”")
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled")
    no_serious_violations(page, "cancelled, with its Undo")
    # The worker has moved on to the next job (held at the gate): the undone one must go ahead of the other.
    assert wait_for(fake_server.http, waiting[0], {"processing"}, EDIT_TIMEOUT_S)["status"] == "processing"
    toast.get_by_test_id("undo-cancel").click()
    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    expect(page.get_by_test_id("requeued")).to_have_text("Cancel undone: it runs next")
    expect(page.get_by_test_id("undo-cancel-toast")).to_have_count(0)
    job = fake_server.http.get(f"/api/jobs/{shown_id}").json()
    assert job["status"] == "queued" and job["queue_position"] == 1 and job["config"]["seed"] == 4242
    assert fake_server.http.get(f"/api/jobs/{waiting[1]}").json()["queue_position"] == 2
    no_serious_violations(page, "requeued after an undo")
    gate.open()
    expect(page.get_by_test_id("job-status")).to_have_text("complete", timeout=EDIT_TIMEOUT_S * 1000)
    done = [wait_for(fake_server.http, job_id, {"complete"}, EDIT_TIMEOUT_S) for job_id in (shown_id, waiting[1])]
    assert done[0]["config"]["seed"] == 4242 and done[0]["started_at"] < done[1]["started_at"]


def test_sixty_queued_jobs_one_running_chip_a_count_and_cancel_all(
    scanned: BrowserContext, fake_server: LiveServer, fake_engine: FakeEngine
) -> None:
    gate = fake_engine.hold(before_step=2)
    (first,) = queue(fake_server, 1, "running", num_inference_steps=3)
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    waiting = queue(fake_server, 60, "waiting", num_inference_steps=2)
    scanned.add_init_script(RUNNING_CHIPS_RECORDER)
    page = scanned.new_page()
    page.goto(fake_server.url)
    chips = page.get_by_test_id("queue-item")
    wait_for_strip_total(page, 61)
    expect(chips.first).to_have_attribute("data-job-id", first)
    # The worker has claimed the second ahead of time (it waits, prepared, for the model): "next", not running.
    running_chips = page.locator('[data-testid="queue-item"][data-phase="running"]')
    expect(running_chips).to_have_count(1)
    expect(running_chips.get_by_test_id("queue-where")).to_have_text(re.compile(r"running \d+%"))
    shown = chips.count()
    assert 1 < shown < 61  # as many as fit in one line
    expect(page.get_by_test_id("queue-more")).to_have_text(f"+{61 - shown} more")
    # The strip stays in view at the bottom of the page.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(page.get_by_test_id("queue-strip")).to_be_in_viewport()
    no_serious_violations(page, "61 jobs in the strip")

    # All of them run, one after the other, on one worker: never two "running" chips at once.
    gate.open()
    for job_id in [first, *waiting]:
        assert wait_for(fake_server.http, job_id, {"complete"}, EDIT_TIMEOUT_S)["status"] == "complete"
    expect(page.get_by_test_id("queue-strip")).to_have_count(0)
    assert page.evaluate("window.__mostRunningChips") == 1

    # Cancel-all: the queued ones go (after a confirmation), the running one goes on. (Held before its first step,
    # so that its worker claims none of them ahead of time.)
    gate = fake_engine.hold(before_step=1)
    (running,) = queue(fake_server, 1, "still running", num_inference_steps=3)
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    queued = queue(fake_server, 12, "to cancel", num_inference_steps=2)
    wait_for_strip_total(page, 13)
    page.get_by_test_id("queue-cancel-all").click()
    expect(page.get_by_role("group", name="Cancel every queued job")).to_contain_text("Cancel 12 queued jobs?")
    no_serious_violations(page, "cancel-all, asking to confirm")
    page.get_by_test_id("queue-cancel-all-confirm").click()
    expect(chips).to_have_count(1)
    expect(chips.first).to_have_attribute("data-job-id", running)
    assert {fake_server.http.get(f"/api/jobs/{job_id}").json()["status"] for job_id in queued} == {"cancelled"}
    assert fake_server.http.get(f"/api/jobs/{running}").json()["status"] == "processing"
    gate.open()


@pytest.fixture
def restartable_fake(tmp_path: Path, fake_engine: FakeEngine) -> Iterator[RestartableServer]:
    """The fake engine behind a server that can be stopped and started again on the same port and data."""
    settings = make_settings(tmp_path / "data", lease_seconds=30, fake_output_pixels=SMALL_OUTPUT_PIXELS)
    running = RestartableServer(settings, fake_engine)  # type: ignore[arg-type]  # the engine interface is all it uses
    running.start()
    try:
        yield running
    finally:
        running.close()


def test_the_banner_clears_as_soon_as_the_server_answers_and_the_strip_follows(
    scanned: BrowserContext, restartable_fake: RestartableServer, fake_engine: FakeEngine
) -> None:
    server = restartable_fake
    gate = fake_engine.hold(before_step=2)
    job_id = submit(server.http, [png_bytes(64, 64)], prompt="survive a restart", num_inference_steps=8).json()[
        "job_id"
    ]
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    scanned.add_init_script(RECONNECT_RECORDER)
    page = scanned.new_page()
    page.goto(f"{server.url}/?job={job_id}")
    chip = page.get_by_test_id("queue-item")
    expect(chip.get_by_test_id("queue-where")).to_have_text(re.compile(r"running \d+%"))

    server.stop()
    expect(page.get_by_test_id("offline-banner")).to_be_visible()
    no_serious_violations(page, "offline")
    # Down long enough for the socket's reconnect backoff to grow to seconds (0.5, 1, 2, 4 s...).
    opened = page.evaluate("window.__activitySockets")
    page.wait_for_function(f"() => window.__activitySockets >= {opened + 4}", timeout=EDIT_TIMEOUT_S * 1000)

    server.start()
    expect(page.get_by_test_id("offline-banner")).to_have_count(0)
    back_at, gone_at = page.evaluate("[window.__healthBackAt, window.__bannerGoneAt]")
    assert back_at is not None and gone_at is not None
    assert gone_at - back_at < BACK_WITHIN_MS, f"the banner went {gone_at - back_at:.0f} ms after health answered"

    # The strip shows the job as the server has it now (requeued by the restart, then taken again: at the gate,
    # or resumed from a checkpoint and waiting for its next step), not the "running" it showed before the restart.
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    eventually(
        lambda: (
            chip.get_by_test_id("queue-where").text_content()
            == strip_says(server.http.get(f"/api/jobs/{job_id}").json())
        ),
        "the strip showing the job as the server has it",
        timeout=EDIT_TIMEOUT_S,
    )
    gate.open()
    expect(page.get_by_test_id("queue-strip")).to_have_count(0)
    expect(page.get_by_test_id("job-status")).to_have_text("complete")


def test_back_and_forward_move_between_opened_jobs(scanned: BrowserContext, fake_server: LiveServer) -> None:
    first, second = make_jobs(fake_server, ["the first job", "the second job"])
    page = scanned.new_page()
    page.goto(fake_server.url)
    items = page.get_by_test_id("history-item")
    expect(items).to_have_count(2)
    for job_id in (first, second):
        page.locator(f'[data-testid="history-item"][data-job-id="{job_id}"]').get_by_role(
            "button", name=re.compile("^Open job")
        ).click()
        expect(page.get_by_test_id("result-image")).to_have_attribute("src", re.compile(job_id))
    page.go_back()
    expect(page).to_have_url(re.compile(rf"\?job={first}$"))
    expect(page.get_by_test_id("result-image")).to_have_attribute("src", re.compile(first))
    page.go_forward()
    expect(page).to_have_url(re.compile(rf"\?job={second}$"))
    expect(page.get_by_test_id("result-image")).to_have_attribute("src", re.compile(second))
    no_serious_violations(page, "after Back and Forward")
    page.go_back()
    page.go_back()  # before any job was opened: still the app, with nothing open
    expect(page.get_by_test_id("result-image")).to_have_count(0)
    assert page.url.rstrip("/") == fake_server.url


def test_keyboard_hints_show_only_with_a_keyboard(
    browser: Browser, fake_server: LiveServer, fake_engine: FakeEngine
) -> None:
    """On a desktop the Cancel button reads "Cancel Esc" and Edit image its shortcut; on a phone, no hints."""
    gate = fake_engine.hold(before_step=2)
    (running,) = queue(fake_server, 1, "hinted", num_inference_steps=8)
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    try:
        for options, shown in (({}, True), ({"viewport": PHONE, "is_mobile": True, "has_touch": True}, False)):
            context = new_context(browser, **options)
            try:
                page = context.new_page()
                page.goto(f"{fake_server.url}/?job={running}")
                cancel = page.get_by_test_id("cancel")
                expect(cancel).to_be_visible()
                expect(page.get_by_test_id("submit")).to_be_attached()
                for hint in (cancel.locator("kbd"), page.get_by_test_id("submit").locator("kbd")):  # Esc, Ctrl+Enter
                    if shown:
                        expect(hint).to_be_visible()
                    else:
                        expect(hint).to_be_hidden()
            finally:
                context.close()
    finally:
        gate.open()
