"""The result viewer and the variations (issue 21 points 2, 4 and 9), on the fake engine at the model's real
output size (~1 MP): zoom to 100 % (the picture drawn at its pixel size), the wheel, panning, the compare
divider and full screen, with the actions in view at 1280x800; the variation grid, the arrow keys, A/B against
another result, the zip named from the prompt and Reuse of the picked seed; on a phone, the result brought
into view after a submit and from the queue strip. Each state reached is scanned with axe-core (nothing
serious), and screenshots of the viewer at 100 %, the grid and the phone go to test-artifacts/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import make_settings, png_bytes, submit, wait_for
from tests.e2e.conftest import ARTIFACTS, BROWSER_TEST_TIMEOUT_S, EDIT_TIMEOUT_S, PHONE, new_context
from tests.e2e.test_browser import current_job_id, set_steps, wait_for_result
from tests.e2e.test_page_history import AXE, AXE_RUN
from tests.live_server import LiveServer, live_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S)]

# The walk that found the problems: a laptop screen, where the actions were below the fold.
LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture
def photo_engine() -> FakeEngine:
    """The fake engine at its default, realistic output size (3:2 inputs give 1248x832, as in the walk)."""
    return FakeEngine(step_seconds=0.01)


@pytest.fixture
def photo_server(tmp_path: Path, photo_engine: FakeEngine) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path / "data")
    with live_server(build_services(settings, engine=photo_engine)) as running:
        yield running


def finished_job(server: LiveServer, prompt: str, **config: Any) -> str:
    response = submit(server.http, [png_bytes(300, 200, seed=3)], prompt=prompt, num_inference_steps=2, **config)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    assert wait_for(server.http, job_id, {"complete", "error"}, EDIT_TIMEOUT_S)["status"] == "complete"
    return job_id


def no_serious_violations(page: Page, state: str, found: dict[str, Any]) -> None:
    """axe-core on the page as it is now; the report of every state is kept in test-artifacts/."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate(AXE_RUN)
    found[state] = violations
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{state}: " + json.dumps(bad, indent=2)


def save_axe(name: str, found: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(found, indent=2) + "\n")


def box(locator: Locator) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, "not drawn"
    return found


def natural_size(page: Page) -> tuple[int, int]:
    size: list[int] = page.get_by_test_id("result-image").evaluate("el => [el.naturalWidth, el.naturalHeight]")
    return size[0], size[1]


def test_zoom_to_100_percent_pan_and_compare(browser: Browser, photo_server: LiveServer) -> None:
    job_id = finished_job(photo_server, "make the sky stormy")
    context = new_context(browser, viewport=LAPTOP, bypass_csp=True)  # axe is injected as an inline script
    page = context.new_page()
    found: dict[str, Any] = {}
    try:
        page.goto(f"{photo_server.url}/?job={job_id}")
        wait_for_result(page, job_id)
        width, height = natural_size(page)
        assert (width, height) == (1248, 832)
        expect(page.get_by_test_id("result-size")).to_have_text("1248 \N{MULTIPLICATION SIGN} 832 px")
        # The result's actions are in view at 1280x800 without scrolling.
        for action in ("download", "edit-result", "reuse-settings"):
            expect(page.get_by_test_id(action)).to_be_in_viewport()
        image = page.get_by_test_id("result-image")
        viewport = page.get_by_test_id("viewer-viewport")
        fitted = box(image)
        assert fitted["width"] < width  # fitted: smaller than its pixels, all of it in the viewer
        assert fitted["width"] <= box(viewport)["width"] + 0.5
        no_serious_violations(page, "fit", found)

        # "1": one image pixel per screen pixel (this context's devicePixelRatio is 1).
        page.keyboard.press("1")
        expect(page.get_by_test_id("zoom-level")).to_have_text("100 %")
        expect(page.get_by_test_id("zoom-100")).to_have_attribute("aria-pressed", "true")
        at_100 = box(image)
        assert (at_100["width"], at_100["height"]) == (width, height)
        drawn: list[int] = image.evaluate("el => [el.getBoundingClientRect().width, el.getBoundingClientRect().height]")
        assert drawn == [width, height]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "viewer-100.png"))
        no_serious_violations(page, "100%", found)

        # A drag on the picture pans it (at 100 % it is larger than the viewer).
        frame = box(viewport)
        centre = (frame["x"] + frame["width"] * 0.7, frame["y"] + frame["height"] / 2)
        page.mouse.move(*centre)
        page.mouse.down()
        page.mouse.move(centre[0] - 120, centre[1] - 40, steps=4)
        page.mouse.up()
        panned = box(image)
        assert panned["x"] == pytest.approx(at_100["x"] - 120, abs=1)
        assert panned["y"] == pytest.approx(at_100["y"] - 40, abs=1)
        assert panned["width"] == width  # still 100 %

        # The compare divider is dragged by its handle, alongside the zoom: the picture stays where it is.
        divider = page.get_by_test_id("compare-divider")
        slider = page.get_by_role("slider", name="Compare original input and edited result")
        expect(slider).to_have_value("50")
        handle = box(divider)
        page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        page.mouse.down()
        page.mouse.move(frame["x"] + frame["width"] * 0.25, handle["y"] + handle["height"] / 2, steps=4)
        page.mouse.up()
        expect(slider).to_have_value("25")
        assert box(image) == panned

        # The wheel zooms in around the pointer; "0" fits the whole picture again.
        page.mouse.move(frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] / 2)
        page.mouse.wheel(0, -300)
        expect(page.get_by_test_id("zoom-level")).not_to_have_text("100 %")
        assert box(image)["width"] > width
        page.keyboard.press("0")
        expect(page.get_by_test_id("zoom-fit")).to_have_attribute("aria-pressed", "true")
        assert box(image)["width"] == pytest.approx(fitted["width"], abs=0.5)

        # A double-click goes to 100 %, and back to fit.
        page.mouse.dblclick(frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] / 2)
        expect(page.get_by_test_id("zoom-level")).to_have_text("100 %")
        page.mouse.dblclick(frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] / 2)
        expect(page.get_by_test_id("zoom-fit")).to_have_attribute("aria-pressed", "true")

        # "F": full screen (the Fullscreen API), the actions in it; "F" again leaves it.
        page.keyboard.press("f")
        page.wait_for_function("() => document.fullscreenElement?.dataset.testid === 'result-viewer'")
        expect(page.get_by_test_id("fullscreen")).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_test_id("download")).to_be_in_viewport()
        no_serious_violations(page, "full screen", found)
        page.keyboard.press("f")
        page.wait_for_function("() => document.fullscreenElement === null")
    finally:
        save_axe("viewer", found)
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_variation_grid_and_reuse_of_the_picked_seed(browser: Browser, photo_server: LiveServer, scheme: str) -> None:
    job_id = finished_job(photo_server, "four takes on a stormy sky", num_images=4, seed=987)
    context = new_context(browser, viewport=LAPTOP, color_scheme=scheme, bypass_csp=True)
    page = context.new_page()
    found: dict[str, Any] = {}
    try:
        page.goto(f"{photo_server.url}/?job={job_id}")
        wait_for_result(page, job_id)
        page.get_by_test_id("show-grid").click()
        cells = page.get_by_test_id("variation-grid").get_by_test_id("grid-variation")
        expect(cells).to_have_count(4)
        for cell in cells.all():
            expect(cell.locator("img")).to_have_js_property("complete", True)
        expect(cells.nth(0)).to_have_attribute("aria-pressed", "true")
        # Each variation drawn far larger than the 64 px thumbnails of before.
        assert box(cells.nth(0).locator("img"))["width"] > 200
        no_serious_violations(page, "grid", found)

        # The arrow keys move the pick; the actions follow it.
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        expect(cells.nth(2)).to_have_attribute("aria-pressed", "true")
        expect(cells.nth(2)).to_have_accessible_name("Result 3, seed 989")
        expect(page.get_by_test_id("download")).to_have_text("Download 3")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / ("variation-grid.png" if scheme == "light" else f"variation-grid-{scheme}.png"))
        )

        # A click on the picked one opens it in the viewer, compared with another result (A/B).
        cells.nth(2).click()
        expect(page.get_by_test_id("variation-grid")).to_have_count(0)
        expect(page.get_by_test_id("result-image")).to_have_attribute("src", re.compile(r"output_3\."))
        expect(page.get_by_test_id("picked-seed")).to_have_text("989")
        page.get_by_test_id("compare-with").select_option(label="result 1")
        expect(page.get_by_test_id("compare-before").locator("img")).to_have_attribute("src", re.compile(r"output_1\."))
        expect(page.get_by_role("slider", name="Compare result 1 and result 3")).to_be_attached()
        page.keyboard.press("ArrowLeft")  # the page has the keys: the previous variation
        expect(page.get_by_test_id("result-image")).to_have_attribute("src", re.compile(r"output_2\."))
        page.keyboard.press("ArrowRight")
        no_serious_violations(page, "A/B", found)

        with page.expect_download() as every:
            page.get_by_test_id("download-all").click()
        assert every.value.suggested_filename == "four-takes-on-a-stormy-sky_seeds987-990.zip"

        # Reuse: the picked variation's own seed, and one image, so the one liked is run again.
        page.get_by_test_id("reuse-settings").click()
        expect(page.get_by_test_id("prompt")).to_have_value("four takes on a stormy sky")
        if not page.get_by_test_id("seed").is_visible():
            page.get_by_text("Advanced settings").click()
        expect(page.get_by_test_id("seed")).to_have_value("989")
        expect(page.get_by_test_id("num-images")).to_have_value("1")
        no_serious_violations(page, "reused", found)
    finally:
        save_axe(f"variations-{scheme}", found)
        context.close()


def in_view(page: Page, locator: Locator) -> bool:
    """The element's top is on screen, with room below it to see the result begin."""
    top: float = locator.evaluate("el => el.getBoundingClientRect().top")
    return 0 <= top <= page.viewport_size["height"] * 0.6 if page.viewport_size else False


def test_phone_brings_the_result_into_view(
    browser: Browser, photo_server: LiveServer, photo_engine: FakeEngine, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(300, 200, seed=5))
    context = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    page = context.new_page()
    found: dict[str, Any] = {}
    result_area = page.get_by_role("region", name="Result")
    try:
        page.goto(photo_server.url)
        page.get_by_test_id("image-input").set_input_files([photo])
        expect(page.get_by_test_id("input-thumb")).to_have_count(1)
        page.get_by_test_id("prompt").fill("make the sky stormy")
        set_steps(page, 2)
        assert not in_view(page, result_area)  # below the whole form
        page.get_by_test_id("submit").click()
        page.wait_for_function("() => new URLSearchParams(location.search).has('job')")
        job_id = current_job_id(page)
        wait_for_result(page, job_id)
        # In view, and not under the sticky header with its banner: the area's top is below the header's bottom.
        page.wait_for_function(
            "() => { const top = document.querySelector('section[aria-label=Result]').getBoundingClientRect().top;"
            " const header = document.querySelector('header').getBoundingClientRect().bottom;"
            " return top >= header && top <= innerHeight * 0.6; }"
        )
        expect(page.get_by_test_id("result-image")).to_be_in_viewport()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "phone-after-submit.png"))
        no_serious_violations(page, "phone after submit", found)

        # A job opened from the queue strip, with the page scrolled back to the top: it comes into view too.
        gate = photo_engine.hold(before_step=2)
        waiting = submit(photo_server.http, [png_bytes(300, 200, seed=6)], prompt="a second one", num_inference_steps=4)
        assert waiting.status_code == 202, waiting.text
        gate.wait_held(timeout=EDIT_TIMEOUT_S)
        page.evaluate("window.scrollTo(0, 0)")
        assert not in_view(page, result_area)
        waiting_id = waiting.json()["job_id"]
        page.locator(f'[data-testid="queue-item"][data-job-id="{waiting_id}"] button').first.click()
        page.wait_for_function("id => new URLSearchParams(location.search).get('job') === id", arg=waiting_id)
        page.wait_for_function(
            "() => { const top = document.querySelector('section[aria-label=Result]').getBoundingClientRect().top;"
            " return top >= 0 && top <= innerHeight * 0.6; }"
        )
        expect(page.get_by_test_id("job-status")).to_be_in_viewport()
        no_serious_violations(page, "phone, job from the strip", found)
        gate.open()
    finally:
        save_axe("phone", found)
        context.close()
