"""The page around the edits, on the fake engine: history paging and search over 60 jobs, delete and undo,
reuse of a job's inputs and settings (and the draft over a reload), a history image dragged onto the drop
zone, and an axe-core scan in light and dark mode with no serious or critical violations."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from qwen_image_editor.engine.fake import FakeEngine
from tests.api.conftest import png_bytes, submit, wait_for
from tests.e2e.conftest import ARTIFACTS, BROWSER_TEST_TIMEOUT_S, EDIT_TIMEOUT_S, new_context, wait_for_draft
from tests.e2e.test_browser import current_job_id
from tests.live_server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S)]

AXE = Path(__file__).resolve().parents[2] / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0/2.1 A and AA, plus the (experimental) check that a control's name contains its visible label.
AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    rules: { "label-content-name-mismatch": { enabled: true } },
  });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + n.failureSummary),
  }));
}"""


def make_jobs(server: LiveServer, prompts: list[str], **config: Any) -> list[str]:
    """Submit one job per prompt (2 steps, the fake engine) and wait until all have finished."""
    ids = []
    for index, prompt in enumerate(prompts):
        deadline = time.monotonic() + 60
        while True:
            response = submit(
                server.http, [png_bytes(64, 64, seed=index)], prompt=prompt, num_inference_steps=2, **config
            )
            if response.status_code not in (429, 503) or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # the queue is full for a moment: the fake engine empties it fast
        assert response.status_code == 202, response.text
        ids.append(response.json()["job_id"])
    for job_id in ids:
        assert wait_for(server.http, job_id, {"complete", "error"}, EDIT_TIMEOUT_S)["status"] == "complete"
    return ids


def test_history_paging_and_search_over_60_jobs(page: Page, fake_server: LiveServer) -> None:
    prompts = [f"job number {i}" + (" under a stormy sky" if i % 12 == 0 else "") for i in range(60)]
    ids = make_jobs(fake_server, prompts)
    page.reload()
    items = page.get_by_test_id("history-item")
    expect(page.get_by_test_id("history-total")).to_have_text("60 jobs")
    expect(items).to_have_count(24)
    expect(items.first).to_have_attribute("data-job-id", ids[-1])  # newest first
    expect(page.get_by_test_id("history-page")).to_have_text("Page 1 of 3")
    page.get_by_test_id("history-next").click()
    expect(page.get_by_test_id("history-page")).to_have_text("Page 2 of 3")
    expect(items.first).to_have_attribute("data-job-id", ids[-25])
    page.get_by_test_id("history-next").click()
    expect(items).to_have_count(12)
    expect(items.last).to_have_attribute("data-job-id", ids[0])
    expect(page.get_by_test_id("history-next")).to_be_disabled()

    # A search starts again from its first page, over all 60 jobs.
    page.get_by_test_id("history-search").fill("STORMY sky")
    expect(page.get_by_test_id("history-total")).to_have_text("5 jobs found")
    expect(items).to_have_count(5)
    expect(page.get_by_test_id("history-page")).to_have_count(0)  # one page: no pager
    found = {items.nth(i).get_attribute("data-job-id") for i in range(5)}
    assert found == {ids[i] for i in range(0, 60, 12)}
    page.get_by_test_id("history-search").fill("nothing like this")
    expect(page.get_by_text("No jobs match.")).to_be_visible()

    # Status filter and starred only.
    page.get_by_test_id("history-search").fill("")
    page.get_by_test_id("history-status").select_option("failed")
    expect(page.get_by_text("No jobs match.")).to_be_visible()
    page.get_by_test_id("history-status").select_option("all")
    expect(items).to_have_count(24)
    items.first.get_by_test_id("star-job").click()
    expect(items.first.get_by_test_id("star-job")).to_have_attribute("aria-pressed", "true")
    page.get_by_test_id("history-starred").check()
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-job-id", ids[-1])
    assert fake_server.http.get(f"/api/jobs/{ids[-1]}").json()["starred"] is True


def test_delete_and_undo(page: Page, fake_server: LiveServer) -> None:
    keep, gone = make_jobs(fake_server, ["keep me", "delete me"])
    deletes: list[str] = []  # the URL of every DELETE the page sends, in order

    def record(request: Request) -> None:
        if request.method == "DELETE":
            deletes.append(request.url)

    page.on("request", record)
    page.reload()
    items = page.get_by_test_id("history-item")
    expect(items).to_have_count(2)
    entry = page.locator(f'[data-testid="history-item"][data-job-id="{keep}"]')
    entry.get_by_test_id("delete-job").click()
    expect(entry).to_have_count(0)
    expect(page.get_by_test_id("history-total")).to_have_text("1 job")
    expect(page.get_by_test_id("undo-toast")).to_contain_text("keep me")
    page.get_by_test_id("undo-delete").click()
    expect(entry).to_have_count(1)
    expect(page.get_by_test_id("history-total")).to_have_text("2 jobs")
    expect(page.get_by_test_id("undo-toast")).to_have_count(0)

    # Another delete, left alone: once its undo time is over it goes to the server. Its time started after
    # the first one's, so by then the undone delete would have gone out too, had the undo not stopped it.
    other = page.locator(f'[data-testid="history-item"][data-job-id="{gone}"]')
    with page.expect_response(lambda response: response.request.method == "DELETE", timeout=60_000) as deleted:
        other.get_by_test_id("delete-job").click()
        expect(other).to_have_count(0)
    assert deleted.value.url.endswith(f"/api/jobs/{gone}") and deleted.value.ok, deleted.value
    expect(page.get_by_test_id("undo-toast")).to_have_count(0)
    assert fake_server.http.get(f"/api/jobs/{gone}").status_code == 404
    assert [url for url in deletes if url.endswith(f"/api/jobs/{keep}")] == []  # the undone one never went
    assert fake_server.http.get(f"/api/jobs/{keep}").status_code == 200
    page.reload()
    expect(items).to_have_count(1)


def test_reuse_inputs_and_settings_and_the_draft_survives_a_reload(page: Page, fake_server: LiveServer) -> None:
    response = submit(
        fake_server.http,
        [png_bytes(64, 64, seed=1), png_bytes(80, 64, seed=2)],
        prompt="reuse me",
        num_inference_steps=3,
        seed=123,
        true_cfg_scale=2.5,
    )
    job_id = response.json()["job_id"]
    assert wait_for(fake_server.http, job_id, {"complete", "error"}, EDIT_TIMEOUT_S)["status"] == "complete"
    page.reload()
    page.locator(f'[data-testid="history-item"][data-job-id="{job_id}"]').get_by_role(
        "button", name=re.compile("^Open job")
    ).click()
    expect(page.get_by_test_id("job-status")).to_have_text("complete")
    page.get_by_test_id("reuse-settings").first.click()
    thumbs = page.get_by_test_id("input-thumb")
    expect(thumbs).to_have_count(2)
    expect(thumbs.nth(0).locator("img")).to_have_attribute("alt", "Input 1: input_1.png")
    expect(page.get_by_test_id("prompt")).to_have_value("reuse me")
    if not page.get_by_test_id("steps").is_visible():
        page.get_by_text("Advanced settings").click()
    expect(page.get_by_test_id("steps")).to_have_value("3")
    expect(page.get_by_test_id("seed")).to_have_value("123")
    expect(page.get_by_test_id("cfg")).to_have_value("2.5")

    page.get_by_test_id("prompt").fill("reuse me, then reload")
    wait_for_draft(page, lambda draft: draft["values"]["prompt"] == "reuse me, then reload")
    page.reload()
    expect(page.get_by_test_id("prompt")).to_have_value("reuse me, then reload")
    expect(thumbs).to_have_count(2)
    expect(page.get_by_test_id("submit")).to_be_enabled()
    page.get_by_test_id("submit").click()
    page.wait_for_function("old => new URLSearchParams(location.search).get('job') !== old", arg=job_id)
    again = fake_server.http.get(f"/api/jobs/{current_job_id(page)}").json()
    assert len(again["inputs"]) == 2
    assert again["config"]["seed"] == 123 and again["config"]["num_inference_steps"] == 3


def test_drag_a_history_image_onto_the_drop_zone(page: Page, fake_server: LiveServer) -> None:
    (job_id,) = make_jobs(fake_server, ["drag my result"])
    page.set_viewport_size({"width": 1280, "height": 1900})  # source and drop zone in view: no scrolling mid-drag
    page.reload()
    thumb = page.locator(f'[data-testid="history-item"][data-job-id="{job_id}"]').get_by_test_id("history-thumb")
    expect(thumb).to_be_visible()
    thumb.drag_to(page.get_by_test_id("drop-zone"))
    thumbs = page.get_by_test_id("input-thumb")
    expect(thumbs).to_have_count(1)
    expect(thumbs.locator("img")).to_have_attribute("alt", re.compile(re.escape(f"edited_{job_id}")))
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=input-thumb] img')].every(i => i.naturalWidth > 0)"
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violations(
    browser: Browser, fake_server: LiveServer, fake_engine: FakeEngine, scheme: str
) -> None:
    make_jobs(fake_server, ["a finished job for the scan", "and a second one"])
    gate = fake_engine.hold(before_step=2)  # the third job runs (after one step) until it is cancelled
    running_job = submit(fake_server.http, [png_bytes(64, 64, seed=9)], prompt="still going", num_inference_steps=8)
    assert running_job.status_code == 202, running_job.text
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    context = new_context(browser, color_scheme=scheme, bypass_csp=True)  # axe is injected as an inline script
    page = context.new_page()
    try:
        page.goto(f"{fake_server.url}/?job={running_job.json()['job_id']}")
        expect(page.get_by_test_id("queue-strip")).to_be_visible()
        expect(page.get_by_test_id("progress")).to_have_text("Step 1 of 8")
        expect(page.get_by_test_id("history-item")).to_have_count(3)
        page.get_by_test_id("prompt").fill("Make the sky stormy")
        page.add_script_tag(path=str(AXE))
        running = page.evaluate(AXE_RUN)
        page.get_by_test_id("cancel").click()
        expect(page.get_by_test_id("job-status")).to_have_text("cancelled")
        page.get_by_test_id("history-item").last.get_by_role("button", name=re.compile("^Open job")).click()
        expect(page.get_by_test_id("result-image")).to_be_visible()
        finished = page.evaluate(AXE_RUN)
        ARTIFACTS.mkdir(exist_ok=True)
        report = {"running": running, "finished": finished}
        (ARTIFACTS / f"axe-{scheme}.json").write_text(json.dumps(report, indent=2) + "\n")
        bad = [v for v in running + finished if v["impact"] in ("serious", "critical")]
        assert bad == [], json.dumps(bad, indent=2)
    finally:
        context.close()
