"""The page's region tool (issue 20) in Chromium, on the fake engine: paint a region on image 1 with the mouse,
run, and the result has image 1's size, image 1's pixels outside the region, and a mask in the job view; the
result can outline the region; the region comes back with Reuse and over a reload (the draft)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import noise_image
from tests.e2e.conftest import ARTIFACTS, BROWSER_TEST_TIMEOUT_S, EDIT_TIMEOUT_S, PHONE, new_context
from tests.e2e.test_browser import current_job_id, wait_for_result
from tests.e2e.test_page_history import AXE, AXE_RUN
from tests.live_server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S)]

# An odd size: the result must come back at exactly this size.
WIDTH, HEIGHT = 161, 121
REGION_TEXT = re.compile(r"^Region: \d+% of image 1$")
NO_REGION = "No region: the whole image is edited"

# Whether the saved draft (IndexedDB qie/draft/current) holds a region mask: what a reload brings back.
DRAFT_HAS_MASK = """async () => {
  const db = await new Promise((resolve) => {
    const request = indexedDB.open("qie");
    request.onupgradeneeded = () => request.transaction.abort();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
  });
  if (!db) return false;
  try {
    if (!db.objectStoreNames.contains("draft")) return false;
    return await new Promise((resolve) => {
      const read = db.transaction("draft", "readonly").objectStore("draft").get("current");
      read.onsuccess = () => {
        const draft = read.result;
        resolve(!!draft && draft.mask instanceof Blob && draft.images.length === 1);
      };
      read.onerror = () => resolve(false);
    });
  } finally {
    db.close();
  }
}"""


def image_of(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


# The overlay's alpha at a point on paint_stroke's path and at the top left corner, as [on path, corner].
TINT_ALPHA = """canvas => {
  const context = canvas.getContext("2d");
  const alpha = (fx, fy) =>
    context.getImageData(Math.floor(canvas.width * fx), Math.floor(canvas.height * fy), 1, 1).data[3];
  return [alpha(0.37, 0.45), alpha(0.02, 0.02)];
}"""


def paint_stroke(page: Page) -> None:
    """A mouse drag across the middle-left of image 1, as a user paints."""
    canvas = page.get_by_test_id("region-canvas")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.4)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()


def test_paint_a_region_run_it_and_it_survives_reuse_and_a_reload(
    page_on_fake: Page, fake_server: LiveServer, tmp_path: Path
) -> None:
    page = page_on_fake
    source = tmp_path / "photo.png"
    noise_image(WIDTH, HEIGHT, seed=7).save(source)
    page.get_by_test_id("image-input").set_input_files([source])
    expect(page.get_by_test_id("input-thumb")).to_have_count(1)
    status = page.get_by_test_id("region-status")
    expect(status).to_have_text(NO_REGION)

    # The brush size from the keyboard: ] one size up, [ one down.
    size = page.get_by_test_id("region-size-value")
    expect(size).to_have_text("32 px")
    page.keyboard.press("]")
    expect(size).to_have_text("48 px")
    page.keyboard.press("[")
    expect(size).to_have_text("32 px")

    paint_stroke(page)
    expect(status).to_have_text(REGION_TEXT)
    painted = status.inner_text()
    # The region is tinted on image 1: the overlay's alpha on the stroke's path, and none in the far corner.
    on_path, corner = page.get_by_test_id("region-canvas").evaluate(TINT_ALPHA)
    assert on_path > 0 and corner == 0, (on_path, corner)
    page.screenshot(path=str(ARTIFACTS / "region-tool.png"))

    page.get_by_test_id("prompt").fill("make the painted part red")
    submit = page.get_by_test_id("submit")
    expect(submit).to_be_enabled()
    submit.click()
    job_id = current_job_id(page)
    wait_for_result(page, job_id, timeout=EDIT_TIMEOUT_S * 1000)

    job = fake_server.http.get(f"/api/jobs/{job_id}").json()
    assert job["mask"] and job["region"], job
    mask = image_of(fake_server.http.get(job["mask"]).content)
    assert mask.size == (WIDTH, HEIGHT)
    values = np.asarray(mask.convert("L"))
    # The stroke is where it was painted, in image 1's pixels: on its path, not in the far corners.
    assert values[int(HEIGHT * 0.45), int(WIDTH * 0.37)] >= 128
    assert values[0, 0] < 128 and values[-1, -1] < 128
    result = image_of(fake_server.http.get(job["outputs"][0]).content)
    assert result.size == (WIDTH, HEIGHT)
    # Far from the region (the bottom right corner), the result is image 1's pixels exactly.
    original = np.asarray(Image.open(source).convert("RGB"))
    assert np.array_equal(np.asarray(result.convert("RGB"))[-10:, -10:], original[-10:, -10:])

    # The result view outlines the region on demand.
    toggle = page.get_by_test_id("toggle-region")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("region-outline")).to_be_attached()
    page.screenshot(path=str(ARTIFACTS / "region-result.png"))

    # Cleared in the form, the region comes back with Reuse (from the job's mask).
    page.get_by_test_id("region-clear").click()
    expect(status).to_have_text(NO_REGION)
    page.get_by_test_id("reuse-settings").click()
    expect(status).to_have_text(painted)

    # And over a reload, from the saved draft.
    page.wait_for_function(DRAFT_HAS_MASK, polling=100)
    page.reload()
    expect(page.get_by_test_id("input-thumb")).to_have_count(1)
    expect(page.get_by_test_id("region-status")).to_have_text(painted)


@pytest.fixture
def page_on_fake(context: BrowserContext, fake_server: LiveServer) -> Page:
    page = context.new_page()
    page.goto(fake_server.url)
    expect(page.get_by_test_id("submit")).to_be_visible()
    return page


def test_a_finger_paints_on_a_phone(browser: Browser, fake_server: LiveServer, tmp_path: Path) -> None:
    """Touch paints too (pointer events; the canvas takes the touch instead of scrolling the page)."""
    context = new_context(browser, viewport=PHONE, has_touch=True, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(fake_server.url)
        source = tmp_path / "photo.png"
        noise_image(WIDTH, HEIGHT, seed=3).save(source)
        page.get_by_test_id("image-input").set_input_files([source])
        canvas = page.get_by_test_id("region-canvas")
        expect(canvas).to_be_visible()
        assert canvas.evaluate("el => getComputedStyle(el).touchAction") == "none"
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        assert box is not None
        page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        expect(page.get_by_test_id("region-status")).to_have_text(REGION_TEXT)
        page.screenshot(path=str(ARTIFACTS / "region-phone.png"))
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_region_tool_has_no_serious_accessibility_violations(
    browser: Browser, fake_server: LiveServer, tmp_path: Path, scheme: str
) -> None:
    context = new_context(browser, color_scheme=scheme, bypass_csp=True)  # axe is injected as an inline script
    try:
        page = context.new_page()
        page.goto(fake_server.url)
        source = tmp_path / "photo.png"
        noise_image(WIDTH, HEIGHT, seed=5).save(source)
        page.get_by_test_id("image-input").set_input_files([source])
        paint_stroke(page)
        expect(page.get_by_test_id("region-status")).to_have_text(REGION_TEXT)
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(AXE_RUN)
        page.screenshot(path=str(ARTIFACTS / f"region-{scheme}.png"))
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert bad == [], json.dumps(bad, indent=2)
    finally:
        context.close()
