"""The page on the real Qwen-Image-2.1 pipeline, in Chromium (issue 18: `qie serve --model tiny-2.1` runs every
capability through the page): a server whose engine is the tiny random twin `tiny-2.1` offers ten image slots,
Create mode and the Qwen Research License; makes an image from the instruction alone, showing each step and why
there is no live preview; and shows a cut-out's result transparent on the checkerboard, or flattened on white with
a note as JPEG. test_page_21.py drives the same page on `fake-2.1`, the stand-in with 2.1's capabilities; this file
proves the page against the real thing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, expect

from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import make_settings
from tests.conftest import noise_image
from tests.e2e.conftest import BROWSER_TEST_TIMEOUT_S, EDIT_TIMEOUT_S, SlowSteps
from tests.e2e.test_browser import current_job_id, progress_seen, set_steps, start_edit, wait_for_result
from tests.e2e.test_page_21 import ALPHA_AT, BEHIND, NO_PREVIEWS, open_page
from tests.live_server import LiveServer, live_server

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S)]

# Few steps keep a job on the tiny pipeline to seconds; three are enough to see the steps go by one at a time.
STEPS = 3
# The cut-out's side and its transparent border's width.
CUT_OUT_SIDE, BORDER = 128, 32


@pytest.fixture
def engine_tiny_21(image_21_engine: DiffusersEngine, fast_21: int) -> SlowSteps:
    """The session's tiny 2.1 pipeline, drawing at 320² for this test; it can hold a job at a step (`hold`)."""
    return SlowSteps(image_21_engine)


@pytest.fixture
def server_tiny_21(tmp_path: Path, engine_tiny_21: SlowSteps) -> Iterator[LiveServer]:
    """The real app as `qie serve --model tiny-2.1` runs it: its limits, health and license are 2.1's."""
    settings = make_settings(tmp_path / "data", model="tiny-2.1", lease_seconds=30)
    with live_server(build_services(settings, engine=engine_tiny_21)) as running:
        yield running


def cut_out_alpha() -> np.ndarray:
    """Transparent border, opaque centre."""
    alpha = np.zeros((CUT_OUT_SIDE, CUT_OUT_SIDE), dtype=np.uint8)
    alpha[BORDER:-BORDER, BORDER:-BORDER] = 255
    return alpha


@pytest.fixture
def cut_out(tmp_path: Path) -> Path:
    """An RGBA PNG as a user's cut-out."""
    image = noise_image(CUT_OUT_SIDE, CUT_OUT_SIDE, seed=3).convert("RGBA")
    image.putalpha(Image.fromarray(cut_out_alpha()))
    path = tmp_path / "cut-out.png"
    image.save(path)
    return path


def fetched(server: LiveServer, url: str) -> Image.Image:
    response = server.http.get(url)
    response.raise_for_status()
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def test_create_from_the_instruction_alone_step_by_step_without_previews(
    context: BrowserContext, server_tiny_21: LiveServer, engine_tiny_21: SlowSteps, fast_21: int, tmp_path: Path
) -> None:
    page = open_page(context, server_tiny_21)
    limits = server_tiny_21.http.get("/api/limits").json()
    assert (limits["max_images"], limits["text_to_image"]) == (10, True)
    expect(page.get_by_test_id("image-slots").locator("[data-slot]")).to_have_count(10)
    license_link = page.get_by_role("link", name="Qwen Research License")
    expect(license_link).to_be_visible()
    assert license_link.get_attribute("href") == limits["license"]["url"]

    page.get_by_role("radio", name="Create").check()
    prompt = "a red kite over a grey sea"
    page.get_by_test_id("prompt").fill(prompt)
    set_steps(page, STEPS)
    # The smallest output the page offers: the model's own size (the other sizes are resized up from it).
    expect(page.get_by_test_id("size-model")).to_be_checked()
    submit = page.get_by_test_id("submit")
    expect(submit).to_contain_text("Create image")
    expect(submit).to_be_enabled()

    first = engine_tiny_21.hold(before_step=2)  # after the first step was reported
    submit.click()
    job_id = current_job_id(page)
    first.wait_held(timeout=EDIT_TIMEOUT_S)
    progress = page.get_by_test_id("progress")
    expect(progress).to_have_text(f"Step 1 of {STEPS}")
    # The real 2.1 pipeline streams no preview (its 64-channel latents have no colour factors): the page says so.
    expect(page.get_by_test_id("no-previews")).to_contain_text(NO_PREVIEWS)
    expect(page.get_by_test_id("job-status")).to_have_text("processing")
    page.screenshot(path=tmp_path / "page-tiny-21-running.png", full_page=True)
    last = engine_tiny_21.hold(before_step=STEPS + 1)  # after the last step, before the decode
    first.open()
    last.wait_held(timeout=EDIT_TIMEOUT_S)
    expect(progress).to_have_text(f"Step {STEPS} of {STEPS}")
    expect(page.get_by_test_id("no-previews")).to_contain_text(NO_PREVIEWS)
    last.open()

    wait_for_result(page, job_id)
    seen, highest = progress_seen(page)
    assert f"Step 1 of {STEPS}" in seen and f"Step {STEPS} of {STEPS}" in seen, seen
    assert highest > 0
    job = server_tiny_21.http.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "complete", job["error"]
    assert job["inputs"] == [] and job["config"]["prompt"] == prompt
    assert job["config"]["num_inference_steps"] == STEPS
    # Drawn by the pipeline at its (test) resolution, square as Create's "As the model" says.
    shown = page.get_by_test_id("result-image").evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert shown == [fast_21, fast_21]
    assert fetched(server_tiny_21, job["outputs"][0]).size == (fast_21, fast_21)
    page.screenshot(path=tmp_path / "page-tiny-21.png", full_page=True)


def test_a_cut_out_is_shown_transparent_on_the_checkerboard_and_flattened_as_jpeg(
    context: BrowserContext, server_tiny_21: LiveServer, cut_out: Path
) -> None:
    page = open_page(context, server_tiny_21)
    job_id = start_edit(page, [cut_out], "give the cut-out a blue tint", steps=2)
    wait_for_result(page, job_id)
    job = server_tiny_21.http.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "complete", job["error"]
    assert job["flattened"] is False
    stored = fetched(server_tiny_21, job["inputs"][0])
    assert stored.mode == "RGBA" and np.array_equal(np.asarray(stored)[..., 3], cut_out_alpha())

    # The picture the page shows is the pipeline's RGBA result as it is, not a flattened copy: its alpha, read
    # back from the browser, is the file's, point for point. The random weights decode an alpha far from opaque.
    result = page.get_by_test_id("result-image")
    shown_file = fetched(server_tiny_21, str(result.get_attribute("src")))
    assert shown_file.mode == "RGBA"
    width, height = shown_file.size
    points = [[x, y] for x in range(0, width, width // 8) for y in range(0, height, height // 8)]
    shown = result.evaluate(ALPHA_AT, points)
    assert shown == [shown_file.getpixel((x, y))[3] for x, y in points]
    assert min(shown) < 255, shown
    assert "gradient" in result.evaluate(BEHIND)  # ... and through it, the checkerboard
    expect(page.get_by_test_id("flattened-note")).to_have_count(0)

    # The same edit as JPEG, which has no alpha: flattened on white, and the job view says so.
    page.get_by_label("Output format").select_option("jpeg")
    page.get_by_test_id("submit").click()
    page.wait_for_function("old => new URLSearchParams(location.search).get('job') !== old", arg=job_id)
    jpeg_id = current_job_id(page)
    wait_for_result(page, jpeg_id)
    assert server_tiny_21.http.get(f"/api/jobs/{jpeg_id}").json()["flattened"] is True
    expect(page.get_by_test_id("flattened-note")).to_contain_text("flattened on white for JPEG")
    assert set(result.evaluate(ALPHA_AT, points)) == {255}
