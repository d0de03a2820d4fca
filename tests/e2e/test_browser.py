"""End to end through a real browser: upload, edit, watch, download, cancel, resume, history, refusals."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.conftest import png_bytes, submit, wait_for
from tests.conftest import noise_image
from tests.e2e.conftest import (
    ARTIFACTS,
    BROWSER_TEST_TIMEOUT_S,
    EDIT_TIMEOUT_S,
    PHONE,
    SlowSteps,
    new_context,
    png_size,
)
from tests.live_server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S)]

# Records when the submit control and the file input first appear (the form renders once /api/limits answers).
READY_RECORDER = """
window.__readyAt = {};
new MutationObserver(() => {
  for (const id of ["submit", "image-input"]) {
    if (!(id in window.__readyAt) && document.querySelector(`[data-testid="${id}"]`)) {
      window.__readyAt[id] = performance.now();
    }
  }
}).observe(document, { subtree: true, childList: true });
"""


# Buttons that stick out of a card or thumbnail which hides its overflow (cut off, partly unclickable).
CLIPPED_CONTROLS = """() => [...document.querySelectorAll("button, a")].filter((el) => {
  const box = el.getBoundingClientRect();
  if (box.width === 0) return false;
  for (let parent = el.parentElement; parent; parent = parent.parentElement) {
    if (getComputedStyle(parent).overflow === "visible") continue;
    const outer = parent.getBoundingClientRect();
    if (box.left < outer.left - 0.5 || box.right > outer.right + 0.5) return true;
  }
  return false;
}).map((el) => el.getAttribute("aria-label") || el.textContent)"""


def current_job_id(page: Page) -> str:
    page.wait_for_url(re.compile(r"[?&]job="))
    return parse_qs(urlparse(page.url).query)["job"][0]


def start_edit(page: Page, files: list[Path], prompt: str, steps: int) -> str:
    """Fill in the form the way a user would, press Edit image, and return the new job's id."""
    page.get_by_test_id("image-input").set_input_files(files)
    expect(page.get_by_test_id("input-thumb")).to_have_count(len(files))
    page.get_by_test_id("prompt").fill(prompt)
    set_steps(page, steps)
    previous = parse_qs(urlparse(page.url).query).get("job", [None])[0]
    submit_button = page.get_by_test_id("submit")
    expect(submit_button).to_be_enabled()
    submit_button.click()
    page.wait_for_function("previous => new URLSearchParams(location.search).get('job') !== previous", arg=previous)
    return current_job_id(page)


def set_steps(page: Page, steps: int) -> None:
    steps_input = page.get_by_test_id("steps")
    if not steps_input.is_visible():
        page.get_by_text("Advanced settings").click()
    steps_input.fill(str(steps))


def progress_seen(page: Page) -> tuple[list[str], float]:
    return page.evaluate("window.__progressSeen"), page.evaluate("window.__progressMax")


def wait_for_result(page: Page, job_id: str, timeout: float = EDIT_TIMEOUT_S * 1000) -> None:
    expect(page.get_by_test_id("job-status")).to_have_text("complete", timeout=timeout)
    result = page.get_by_test_id("result-image")
    expect(result).to_be_visible()
    expect(result).to_have_attribute("src", re.compile(re.escape(job_id)))
    # The image really loaded (a broken <img> has naturalWidth 0).
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=result.element_handle())


def test_upload_edit_watch_download_and_edit_the_result(
    page: Page, tiny_server: LiveServer, tiny_engine: SlowSteps, input_files: list[Path], tmp_path: Path
) -> None:
    expect(page.get_by_test_id("demo-banner")).to_be_visible()
    expect(page.get_by_test_id("submit-reason")).to_have_text("Add at least one image.")

    steps = 8
    gate = tiny_engine.hold(before_step=steps + 1)  # after the last step was reported, before the decode
    job_id = start_edit(page, input_files, "make the sky stormy", steps)
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    # The steps reach the page as they are made: the last one shows while the edit waits after it.
    expect(page.get_by_test_id("progress")).to_have_text(f"Step {steps} of {steps}")
    expect(page.get_by_test_id("job-status")).to_have_text("processing")
    gate.open()
    wait_for_result(page, job_id)

    seen, _ = progress_seen(page)
    assert f"Step {steps} of {steps}" in seen, seen
    job = tiny_server.http.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "complete"
    assert len(job["inputs"]) == 2

    with page.expect_download() as download_info:
        page.get_by_test_id("download").click()
    download = download_info.value
    assert download.suggested_filename == f"make-the-sky-stormy_seed{job['config']['seed']}.png"  # what and which
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    data = saved.read_bytes()
    assert len(data) > 0
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert png_size(data)[0] > 0

    # "Edit this result": the output replaces the image being edited (the last); the reference picture stays.
    page.get_by_test_id("edit-result").click()
    thumbs = page.get_by_test_id("input-thumb")
    expect(thumbs).to_have_count(2)
    expect(thumbs.nth(1).locator("img")).to_have_attribute("alt", re.compile(re.escape(f"edited_{job_id}")))
    page.get_by_test_id("prompt").fill("now make it sunny")
    page.get_by_test_id("submit").click()
    page.wait_for_function("old => new URLSearchParams(location.search).get('job') !== old", arg=job_id)
    second_id = current_job_id(page)
    wait_for_result(page, second_id)
    second = tiny_server.http.get(f"/api/jobs/{second_id}").json()
    assert second["status"] == "complete"
    assert len(second["inputs"]) == 2
    assert second["config"]["prompt"] == "now make it sunny"
    # The second edit's reference is the first's, and the image it edits is the first edit's output.
    first_output = tiny_server.http.get(job["outputs"][0]).content
    second_input = tiny_server.http.get(second["inputs"][1]).content
    assert png_size(second_input) == png_size(first_output)
    assert png_size(tiny_server.http.get(second["inputs"][0]).content) == png_size(
        tiny_server.http.get(job["inputs"][0]).content
    )


def test_cancel_a_running_job(
    page: Page, tiny_server: LiveServer, tiny_engine: SlowSteps, input_files: list[Path]
) -> None:
    gate = tiny_engine.hold(before_step=2)  # running, after one step, until the gate opens
    job_id = start_edit(page, input_files[:1], "cancel me", 40)
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    expect(page.get_by_test_id("progress")).to_have_text("Step 1 of 40")
    expect(page.get_by_test_id("progress")).to_be_in_viewport()  # the user sees it without scrolling
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "in-progress.png")
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled")
    expect(page.get_by_test_id("cancel")).to_have_count(0)
    expect(page.get_by_text("This edit was cancelled.")).to_be_visible()
    job = wait_for(tiny_server.http, job_id, {"cancelled", "complete", "error"}, timeout=EDIT_TIMEOUT_S)
    assert job["status"] == "cancelled"
    assert job["outputs"] == []
    # The worker is still healthy: the next edit runs to the end.
    gate.open()
    page.get_by_test_id("prompt").fill("after the cancel")
    set_steps(page, 2)
    page.get_by_test_id("submit").click()
    page.wait_for_function("old => new URLSearchParams(location.search).get('job') !== old", arg=job_id)
    wait_for_result(page, current_job_id(page))


def test_reload_mid_job_resumes_it(
    page: Page, tiny_server: LiveServer, tiny_engine: SlowSteps, input_files: list[Path]
) -> None:
    held = tiny_engine.hold(before_step=2)  # running, after step 1, over the reload
    job_id = start_edit(page, input_files, "survive a reload", 8)
    held.wait_held(timeout=EDIT_TIMEOUT_S)
    expect(page.get_by_test_id("progress")).to_have_text("Step 1 of 8")

    page.reload()
    assert current_job_id(page) == job_id
    expect(page.get_by_test_id("job-status")).to_have_text("processing")
    expect(page.get_by_test_id("progress")).to_have_text("Step 1 of 8")
    assert tiny_server.http.get(f"/api/jobs/{job_id}").json()["status"] == "processing"
    # Let the edit on to the next stop, after step 3: the reloaded page hears that step live.
    further = tiny_engine.hold(before_step=4)
    held.open()
    further.wait_held(timeout=EDIT_TIMEOUT_S)
    expect(page.get_by_test_id("progress")).to_have_text("Step 3 of 8")
    further.open()
    wait_for_result(page, job_id)
    seen, _ = progress_seen(page)
    steps_after_reload = [int(m.group(1)) for text in seen if (m := re.match(r"Step (\d+) of 8", text))]
    assert steps_after_reload[:1] == [1] and 3 in steps_after_reload, seen  # live updates after the reload

    # Without the ?job= parameter, the last job still comes back (it is remembered in localStorage).
    page.goto(tiny_server.url)
    expect(page.get_by_test_id("job-status")).to_have_text("complete")
    assert current_job_id(page) == job_id


def test_history_open_and_delete(page: Page, tiny_server: LiveServer) -> None:
    ids = []
    for seed, prompt in [(1, "first in history"), (2, "second in history")]:
        response = submit(tiny_server.http, [png_bytes(64, 64, seed=seed)], prompt=prompt, num_inference_steps=2)
        assert response.status_code == 202, response.text
        ids.append(response.json()["job_id"])
    for job_id in ids:
        assert wait_for(tiny_server.http, job_id, {"complete", "error"}, EDIT_TIMEOUT_S)["status"] == "complete"

    page.reload()
    items = page.get_by_test_id("history-item")
    expect(items).to_have_count(2)
    expect(items.first).to_have_attribute("data-job-id", ids[1])  # newest first
    expect(page.get_by_test_id("result-image")).to_have_count(0)

    first = page.locator(f'[data-testid="history-item"][data-job-id="{ids[0]}"]')
    expect(first).to_have_attribute("data-status", "complete")
    first.get_by_role("button", name=re.compile("^Open job")).click()
    assert current_job_id(page) == ids[0]
    wait_for_result(page, ids[0])
    expect(page.get_by_test_id("result-settings")).to_contain_text("first in history")

    second = page.locator(f'[data-testid="history-item"][data-job-id="{ids[1]}"]')
    second.get_by_test_id("delete-job").click()
    expect(second).to_have_count(0)
    expect(items).to_have_count(1)
    expect(page.get_by_test_id("undo-toast")).to_be_visible()
    wait_until_deleted(tiny_server, ids[1])  # once the few seconds to undo have passed
    # Deleting the job on screen closes it, and says so.
    first.get_by_test_id("delete-job").click()
    expect(items).to_have_count(0)
    expect(page.get_by_test_id("result-image")).to_have_count(0)
    expect(page.get_by_test_id("job-deleted")).to_be_visible()
    expect(page.get_by_text("No edits yet.")).to_be_visible()
    wait_until_deleted(tiny_server, ids[0])
    expect(page.get_by_test_id("undo-toast")).to_have_count(0)


def wait_until_deleted(server: LiveServer, job_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while server.http.get(f"/api/jobs/{job_id}").status_code != 404:
        assert time.monotonic() < deadline, f"job {job_id} was not deleted"
        time.sleep(0.2)


def test_refused_uploads_say_why(page: Page, tiny_server: LiveServer, tmp_path: Path) -> None:
    fake_png = tmp_path / "notes.png"
    fake_png.write_text("this is not an image\n" * 10)
    page.get_by_test_id("image-input").set_input_files(fake_png)
    expect(page.get_by_test_id("upload-error")).to_contain_text("notes.png could not be read as an image")
    expect(page.get_by_test_id("input-thumb")).to_have_count(0)

    limit = tiny_server.http.get("/api/limits").json()["max_image_bytes"]
    # Over the byte limit in a format the browser cannot reduce (a JPEG, PNG or WebP would be reduced instead).
    huge = tmp_path / "huge.tif"
    noise_image(800, 800, seed=3).save(huge)  # uncompressed: ~1.9 MB
    assert huge.stat().st_size > limit
    page.get_by_test_id("image-input").set_input_files(huge)
    expect(page.get_by_test_id("upload-error")).to_contain_text(
        re.compile(r"huge\.tif is [\d.]+ MB; the limit is .* This browser cannot reduce TIFF files")
    )
    expect(page.get_by_test_id("input-thumb")).to_have_count(0)

    text = tmp_path / "readme.txt"
    text.write_text("plain text")
    page.get_by_test_id("image-input").set_input_files(text)
    expect(page.get_by_test_id("upload-error")).to_contain_text("readme.txt: unsupported type")
    expect(page.get_by_test_id("submit")).to_be_disabled()
    assert tiny_server.http.get("/api/jobs").json()["total"] == 0  # nothing reached the server


def test_screenshots_and_time_to_interactive(
    browser: Browser, tiny_server: LiveServer, input_files: list[Path]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = new_context(browser)
    context.add_init_script(READY_RECORDER)
    page = context.new_page()
    started = time.perf_counter()
    page.goto(tiny_server.url)
    expect(page.get_by_test_id("submit")).to_be_visible()
    wall_ms = (time.perf_counter() - started) * 1000
    timing = page.evaluate(
        """() => {
          const nav = performance.getEntriesByType("navigation")[0];
          const fcp = performance.getEntriesByName("first-contentful-paint")[0];
          return {
            response_end_ms: nav.responseEnd,
            dom_content_loaded_ms: nav.domContentLoadedEventEnd,
            load_event_ms: nav.loadEventEnd,
            first_contentful_paint_ms: fcp ? fcp.startTime : null,
            image_input_ready_ms: window.__readyAt["image-input"] ?? null,
            submit_visible_ms: window.__readyAt["submit"] ?? null,
          };
        }"""
    )
    timing = {key: round(value, 1) if value is not None else None for key, value in timing.items()}
    timing["test_wall_clock_to_submit_visible_ms"] = round(wall_ms, 1)
    print("\ntime to interactive (ms since navigation start):", json.dumps(timing, indent=2))
    (ARTIFACTS / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    # Recorded, not judged here: how fast depends on the machine (a speed budget belongs in a benchmark).
    assert timing["submit_visible_ms"] is not None

    job_id = start_edit(page, input_files, "Replace the background with a snowy forest", 4)
    wait_for_result(page, job_id)
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot of a scrolled page draws the sticky header mid-page
    page.screenshot(path=ARTIFACTS / "main-screen.png", full_page=True)
    context.close()

    variants: list[tuple[str, dict[str, Any]]] = [
        ("phone", {"viewport": PHONE, "is_mobile": True, "has_touch": True}),
        ("dark", {"color_scheme": "dark"}),
    ]
    for name, options in variants:
        context = new_context(browser, **options)
        page = context.new_page()
        page.goto(f"{tiny_server.url}/?job={job_id}")
        page.get_by_test_id("image-input").set_input_files(input_files)
        page.get_by_test_id("prompt").fill("Make the sky stormy at sunset")
        wait_for_result(page, job_id)
        expect(page.get_by_test_id("history-item")).to_have_count(1)
        # History thumbnails load lazily: bring them into view first, or a tall phone page may never ask.
        page.get_by_test_id("history-item").first.scroll_into_view_if_needed()
        page.wait_for_function("() => [...document.images].every(img => img.complete && img.naturalWidth > 0)")
        page.evaluate("window.scrollTo(0, 0)")
        if name == "phone":
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"the page scrolls sideways on a phone by {overflow}px"
            clipped = page.evaluate(CLIPPED_CONTROLS)
            assert clipped == [], f"controls cut off on a phone: {clipped}"
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
        context.close()
