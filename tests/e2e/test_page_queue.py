"""The page while edits run, on the tiny model: variations (4 images, pick one, download all), the queue strip
with two jobs, Ctrl+Enter and Esc, and the offline banner and recovery when the server is stopped and
started again (the job comes back "requeued after a server restart" and finishes)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.api.conftest import submit, wait_for
from tests.e2e.conftest import (
    ARTIFACTS,
    BROWSER_TEST_TIMEOUT_S,
    EDIT_TIMEOUT_S,
    PHONE,
    RestartableServer,
    SlowSteps,
    new_context,
    png_size,
)
from tests.e2e.test_browser import current_job_id, set_steps, start_edit, wait_for_result
from tests.live_server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S)]


def fill_form(page: Page, files: list[Path], prompt: str, steps: int) -> None:
    page.get_by_test_id("image-input").set_input_files(files)
    expect(page.get_by_test_id("input-thumb")).to_have_count(len(files))
    page.get_by_test_id("prompt").fill(prompt)
    set_steps(page, steps)


def test_variations_pick_one_and_download_all(
    page: Page, tiny_server: LiveServer, input_files: list[Path], tmp_path: Path
) -> None:
    fill_form(page, input_files[:1], "four takes on a stormy sky", 2)
    page.get_by_test_id("seed").fill("1000")
    page.get_by_test_id("num-images").select_option("4")
    page.get_by_test_id("submit").click()
    job_id = current_job_id(page)
    wait_for_result(page, job_id)

    variations = page.get_by_test_id("variation")
    expect(variations).to_have_count(4)
    expect(variations.nth(0)).to_have_attribute("aria-pressed", "true")
    variations.nth(2).click()
    expect(variations.nth(2)).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("result-image")).to_have_attribute("src", re.compile(r"output_3\."))
    expect(page.get_by_test_id("picked-seed")).to_have_text("1002")  # seed, seed+1, seed+2
    with page.expect_download() as one:
        page.get_by_test_id("download").click()
    assert one.value.suggested_filename == "four-takes-on-a-stormy-sky_seed1002.png"  # the picked one's own seed

    with page.expect_download() as every:
        page.get_by_test_id("download-all").click()
    assert every.value.suggested_filename == "four-takes-on-a-stormy-sky_seeds1000-1003.zip"  # named from the prompt
    saved = tmp_path / "all.zip"
    every.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        names = sorted(archive.namelist())
        assert len(names) == 4, names
        assert all(png_size(archive.read(name))[0] > 0 for name in names)
    job = tiny_server.http.get(f"/api/jobs/{job_id}").json()
    assert len(job["outputs"]) == 4 and job["config"]["num_images"] == 4

    # The picked one goes on to the next edit.
    page.get_by_test_id("edit-result").click()
    thumbs = page.get_by_test_id("input-thumb")
    expect(thumbs).to_have_count(1)
    expect(thumbs.locator("img")).to_have_attribute("alt", re.compile(re.escape(f"edited_{job_id}_3")))


def test_queue_strip_with_two_jobs(
    page: Page, tiny_server: LiveServer, tiny_engine: SlowSteps, input_files: list[Path]
) -> None:
    gate = tiny_engine.hold(before_step=2)  # the first job runs (after one step) until the gate opens
    first = start_edit(page, input_files[:1], "the long one", 40)
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    expect(page.get_by_test_id("progress")).to_have_text("Step 1 of 40")
    page.get_by_test_id("prompt").fill("the one that waits")
    page.get_by_test_id("submit").click()

    strip = page.get_by_test_id("queue-item")
    expect(strip).to_have_count(2)
    assert current_job_id(page) == first  # the running job stays on screen
    expect(page.get_by_test_id("job-status")).to_have_text("processing")
    expect(strip.nth(0)).to_have_attribute("data-job-id", first)
    expect(strip.nth(0).get_by_test_id("queue-where")).to_have_text(re.compile(r"running \d+%"))
    expect(strip.nth(1)).to_have_attribute("data-status", "queued")
    expect(strip.nth(1).get_by_test_id("queue-where")).to_have_text("next")
    expect(page.get_by_test_id("queue-length")).to_have_text("1 in queue")
    second = strip.nth(1).get_attribute("data-job-id")
    assert second and second != first

    # Cancelled from the strip, the waiting one leaves it, and the count follows at once (no 5 s poll).
    strip.nth(1).get_by_test_id("queue-cancel").click()
    expect(strip).to_have_count(1)
    expect(page.get_by_test_id("queue-length")).to_have_text("0 in queue")
    assert tiny_server.http.get(f"/api/jobs/{second}").json()["status"] == "cancelled"
    strip.nth(0).get_by_test_id("queue-cancel").click()
    expect(page.get_by_test_id("queue-strip")).to_have_count(0)
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled")
    assert wait_for(tiny_server.http, first, {"cancelled", "complete"}, EDIT_TIMEOUT_S)["status"] == "cancelled"


def test_ctrl_enter_runs_from_anywhere_and_esc_cancels(
    page: Page, tiny_server: LiveServer, tiny_engine: SlowSteps, input_files: list[Path]
) -> None:
    expect(page.get_by_test_id("submit")).to_contain_text(re.compile(r"Ctrl\+Enter|⌘"))
    fill_form(page, input_files[:1], "run me from the keyboard", 40)
    page.get_by_role("heading", name="History").click()  # focus far from the form's fields
    gate = tiny_engine.hold(before_step=2)  # running, after one step, until Esc cancels it
    page.keyboard.press("Control+Enter")
    job_id = current_job_id(page)
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    expect(page.get_by_test_id("progress")).to_have_text("Step 1 of 40")
    expect(page).to_have_title(re.compile(r"^\[\d+%\] "))  # progress in the tab title
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled")
    assert wait_for(tiny_server.http, job_id, {"cancelled", "complete"}, EDIT_TIMEOUT_S)["status"] == "cancelled"
    expect(page).to_have_title("Qwen Image Editor")


def test_offline_banner_and_recovery_after_a_restart_resuming_from_the_saved_step(
    browser: Browser, restartable_server: RestartableServer, input_files: list[Path]
) -> None:
    # The job runs until the gate before step 4: the server stops under it (its worker saves step 3 as it stops),
    # and after the restart the job goes on from step 4, held again before step 6 until the page has shown it.
    engine = restartable_server.engine
    gate = engine.hold(before_step=4)
    context = new_context(browser)
    page = context.new_page()
    try:
        page.goto(restartable_server.url)
        job_id = start_edit(page, input_files[:1], "survive a restart", 8)
        gate.wait_held(timeout=EDIT_TIMEOUT_S)
        expect(page.get_by_test_id("progress")).to_have_text("Step 3 of 8")
        expect(page.get_by_test_id("offline-banner")).to_have_count(0)

        restartable_server.stop()
        expect(page.get_by_test_id("offline-banner")).to_be_visible()
        status = page.get_by_test_id("model-status")
        expect(status.locator("[data-model-state]")).to_have_attribute("data-model-state", "unknown")  # grey dot
        expect(page.get_by_test_id("eta")).to_have_text("paused: server offline")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "offline.png")

        later = engine.hold(before_step=6)
        restartable_server.start()
        expect(page.get_by_test_id("offline-banner")).to_have_count(0)
        later.wait_held(timeout=EDIT_TIMEOUT_S)  # running again, past the saved step
        expect(page.get_by_test_id("requeued")).to_have_text(
            "Requeued after a server restart; it continues from step 3"
        )
        expect(page.get_by_test_id("progress")).to_have_text("Step 5 of 8")
        later.open()
        wait_for_result(page, job_id)
        job = restartable_server.http.get(f"/api/jobs/{job_id}").json()
        assert job["status"] == "complete" and job["requeue_reason"] in ("restart", "shutdown")
        assert job["progress"]["resumed_from_step"] == 3
        expect(page.get_by_test_id("error-message")).to_have_count(0)
    finally:
        context.close()

    # The same edit never interrupted, from the stored input with the recorded settings: the same pixels.
    stored = restartable_server.http.get(f"/api/jobs/{job_id}/files/input_1.png").content
    config = {key: job["config"][key] for key in ("prompt", "seed", "num_inference_steps", "true_cfg_scale")}
    again = submit(restartable_server.http, [stored], **config)
    assert again.status_code == 202, again.text
    uninterrupted = wait_for(restartable_server.http, again.json()["job_id"], {"complete", "error"}, EDIT_TIMEOUT_S)
    assert uninterrupted["status"] == "complete" and uninterrupted["progress"].get("resumed_from_step") is None
    assert uninterrupted["config"]["output_size"] == job["config"]["output_size"]
    assert np.array_equal(
        output_pixels(restartable_server, job_id), output_pixels(restartable_server, again.json()["job_id"])
    )


def output_pixels(server: RestartableServer, job_id: str) -> np.ndarray:
    with Image.open(io.BytesIO(server.http.get(f"/api/jobs/{job_id}/files/output_1.png").content)) as image:
        return np.asarray(image.convert("RGB"))


def test_screenshots_of_the_queue(
    browser: Browser, tiny_server: LiveServer, tiny_engine: SlowSteps, input_files: list[Path]
) -> None:
    """A finished edit with three variations on screen and the next edit running in the queue strip, in light,
    dark and phone layouts. The finished edit is made once, then opened in each layout."""
    ARTIFACTS.mkdir(exist_ok=True)
    finished: str | None = None
    gate = None
    for name, options in [
        ("queue-light", {}),
        ("queue-dark", {"color_scheme": "dark"}),
        ("queue-phone", {"viewport": PHONE, "is_mobile": True, "has_touch": True}),
    ]:
        context = new_context(browser, **options)
        page = context.new_page()
        page.goto(tiny_server.url if finished is None else f"{tiny_server.url}/?job={finished}")
        fill_form(page, input_files, "Replace the background with a snowy forest", 2)
        page.get_by_test_id("num-images").select_option("3")
        if finished is None:
            page.get_by_test_id("submit").click()
            finished = current_job_id(page)
        wait_for_result(page, finished)
        expect(page.get_by_test_id("variation")).to_have_count(3)
        page.get_by_test_id("prompt").fill("Make the sky stormy at sunset")
        set_steps(page, 40)
        gate = gate or tiny_engine.hold(before_step=2)  # the next edits run (after one step) until cancelled
        page.get_by_test_id("submit").click()
        gate.wait_held(timeout=EDIT_TIMEOUT_S)
        expect(page.get_by_test_id("queue-item")).to_have_count(1)
        expect(page.get_by_test_id("progress")).to_have_text("Step 1 of 120")  # 3 images of 40 steps
        page.wait_for_function("() => [...document.images].every(img => img.complete && img.naturalWidth > 0)")
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=name != "queue-light")
        if name == "queue-light":
            # At 1280x800 with images added, the run button is still in view.
            page.set_viewport_size({"width": 1280, "height": 800})
            expect(page.get_by_test_id("submit")).to_be_in_viewport()
        page.get_by_test_id("queue-cancel").first.click()
        expect(page.get_by_test_id("queue-strip")).to_have_count(0)
        expect(page.get_by_test_id("job-status")).to_have_text("cancelled")
        context.close()
