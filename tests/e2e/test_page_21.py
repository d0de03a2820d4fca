"""The page follows the server's model (issue 18) in Chromium: a Qwen-Image-2.1 stand-in (`fake-2.1`: the fake
engine with 2.1's capabilities) offers ten image slots, Create mode (an image from the instruction alone),
<imageN> tags, the no-previews sentence and its license; a 2511 stand-in (`fake`) three slots, no Create mode
and Apache. An axe-core scan of the 2.1 page in light and dark mode finds nothing serious."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from qwen_image_editor.engine.capabilities import capabilities_of
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings
from tests.conftest import noise_image
from tests.e2e.conftest import BROWSER_TEST_TIMEOUT_S, EDIT_TIMEOUT_S, new_context
from tests.e2e.test_browser import current_job_id, start_edit, wait_for_result
from tests.e2e.test_page_history import AXE, AXE_RUN
from tests.live_server import LiveServer, live_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S)]

NO_PREVIEWS = "no live preview"
# The first background image behind an element (its own or an ancestor's): the checkerboard is a CSS gradient.
BEHIND = (
    "img => { for (let e = img; e; e = e.parentElement) { const b = getComputedStyle(e).backgroundImage;"
    " if (b !== 'none') return b; } return 'none'; }"
)
# The shown picture's alpha at each [x, y], as the browser decoded it (drawn on a canvas at its natural size).
ALPHA_AT = """(img, points) => { const c = document.createElement('canvas'); c.width = img.naturalWidth;
    c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
    return points.map(([x, y]) => g.getImageData(x, y, 1, 1).data[3]); }"""


@pytest.fixture
def engine_21(tmp_path: Path) -> FakeEngine:
    """The fake engine acting as Qwen-Image-2.1 (up to 10 references, or none; alpha), without live previews as
    2.1 has none (the fake engine makes them unless told not to)."""
    models_dir = make_settings(tmp_path / "data", model="fake-2.1").models_dir
    return FakeEngine(
        step_seconds=0.01,
        output_pixels=SMALL_OUTPUT_PIXELS,
        capabilities=capabilities_of("fake-2.1", models_dir),
        previews=False,
    )


@pytest.fixture
def server_21(tmp_path: Path, engine_21: FakeEngine) -> Iterator[LiveServer]:
    """The real app serving `fake-2.1`: its limits, health and license are 2.1's."""
    settings = make_settings(tmp_path / "data", model="fake-2.1")
    with live_server(build_services(settings, engine=engine_21)) as running:
        yield running


@pytest.fixture
def references(tmp_path: Path) -> list[Path]:
    """Two small PNGs, one with a transparent half (the checkerboard shows through it)."""
    opaque = tmp_path / "person.png"
    noise_image(96, 64, seed=1).save(opaque)
    clear = tmp_path / "hat.png"
    image = noise_image(80, 80, seed=2).convert("RGBA")
    image.paste((0, 0, 0, 0), (0, 0, 40, 80))
    image.save(clear)
    return [opaque, clear]


def open_page(context: BrowserContext, server: LiveServer) -> Page:
    page = context.new_page()
    page.goto(server.url)
    expect(page.get_by_test_id("submit")).to_be_visible()
    return page


def test_a_21_server_offers_ten_slots_create_mode_tags_and_its_license(
    context: BrowserContext, server_21: LiveServer, engine_21: FakeEngine, references: list[Path], tmp_path: Path
) -> None:
    page = open_page(context, server_21)
    slots = page.get_by_test_id("image-slots").locator("[data-slot]")
    expect(slots).to_have_count(10)
    license_link = page.get_by_role("link", name="Qwen Research License")
    expect(license_link).to_be_visible()
    assert license_link.get_attribute("href") == server_21.http.get("/api/limits").json()["license"]["url"]

    # References get tags: clicking one puts its tag into the instruction at the caret.
    page.get_by_test_id("image-input").set_input_files(references)
    expect(page.get_by_test_id("input-thumb")).to_have_count(2)
    expect(slots).to_have_count(10)
    prompt = page.get_by_test_id("prompt")
    prompt.fill("put the hat from  on the person in ")
    prompt.evaluate("box => box.setSelectionRange(17, 17)")
    page.get_by_role("button", name="Insert <image2> into the instruction (hat.png)").click()
    expect(prompt).to_have_value("put the hat from <image2> on the person in ")
    expect(prompt).to_be_focused()
    page.keyboard.press("End")
    page.get_by_role("button", name="Insert <image1> into the instruction (person.png)").focus()
    page.keyboard.press("Enter")
    expect(prompt).to_have_value("put the hat from <image2> on the person in <image1>")

    # Without an image, Edit asks for one; Create needs none.
    for _ in range(2):
        page.get_by_role("button", name="Remove image 1").click()
    expect(page.get_by_test_id("input-thumb")).to_have_count(0)
    submit = page.get_by_test_id("submit")
    prompt.fill("a lighthouse on a cliff at dusk")
    expect(page.get_by_test_id("submit-reason")).to_contain_text("or choose Create")
    expect(submit).to_be_disabled()
    page.get_by_role("radio", name="Create").check()
    expect(submit).to_contain_text("Create image")
    page.get_by_role("radio", name="Shape and size").check()
    page.get_by_test_id("aspect-ratio").select_option("4:3")  # at the model's own size in that shape

    gate = engine_21.hold(before_step=2)  # the job runs, after one step, until the gate opens
    expect(submit).to_be_enabled()
    submit.click()
    job_id = current_job_id(page)
    gate.wait_held(timeout=EDIT_TIMEOUT_S)
    # 2.1 streams no preview: the progress area says why instead of waiting for one.
    expect(page.get_by_test_id("no-previews")).to_contain_text(NO_PREVIEWS)
    page.screenshot(path=tmp_path / "page-21-running.png", full_page=True)
    gate.open()

    wait_for_result(page, job_id)
    job = server_21.http.get(f"/api/jobs/{job_id}").json()
    assert job["inputs"] == [] and job["config"]["prompt"] == "a lighthouse on a cliff at dusk"
    assert job["config"]["aspect_ratio"] == "4:3"
    # Drawn at the model's native area in that shape: sides in multiples of 32, so 4:3 to within a rounding.
    width, height = job["config"]["output_size"]
    assert abs(width / height - 4 / 3) < 0.05 and width * height > 500_000
    result = page.get_by_test_id("result-image")
    assert result.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [width, height]
    # Pictures lie on the checkerboard (the picture's or the viewer's behind it), so a transparent result shows one.
    assert "gradient" in result.evaluate(BEHIND)
    page.screenshot(path=tmp_path / "page-21.png", full_page=True)


def test_a_transparent_result_is_shown_transparent_on_the_checkerboard(
    context: BrowserContext, server_21: LiveServer, references: list[Path]
) -> None:
    page = open_page(context, server_21)
    job_id = start_edit(page, references[1:], "keep the hat, clear the background", steps=2)  # left half clear
    wait_for_result(page, job_id)
    job = server_21.http.get(f"/api/jobs/{job_id}").json()
    assert job["flattened"] is False
    # The picture the page shows is the transparent one, not a flattened copy: its left edge has no opacity.
    result = page.get_by_test_id("result-image")
    width, height = result.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert result.evaluate(ALPHA_AT, [[1, height // 2], [width - 2, height // 2]]) == [0, 255]
    assert "gradient" in result.evaluate(BEHIND)  # ... and through it, the checkerboard


def test_a_2511_server_offers_three_slots_no_create_mode_and_apache(
    context: BrowserContext, fake_server: LiveServer, references: list[Path]
) -> None:
    page = open_page(context, fake_server)
    expect(page.get_by_test_id("image-slots").locator("[data-slot]")).to_have_count(3)
    expect(page.get_by_role("radio", name="Create")).to_have_count(0)
    expect(page.get_by_role("link", name="Apache License 2.0")).to_be_visible()
    page.get_by_test_id("prompt").fill("a lighthouse on a cliff at dusk")
    expect(page.get_by_test_id("submit-reason")).to_have_text("Add at least one image.")
    expect(page.get_by_test_id("submit")).to_be_disabled()
    expect(page.get_by_test_id("submit")).to_contain_text("Edit image")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_21_page_has_no_serious_accessibility_violations(
    browser: Browser, server_21: LiveServer, references: list[Path], scheme: str, tmp_path: Path
) -> None:
    context = new_context(browser, color_scheme=scheme, bypass_csp=True)  # axe is injected as an inline script
    try:
        page = open_page(context, server_21)
        page.get_by_test_id("image-input").set_input_files(references)
        expect(page.get_by_test_id("input-thumb")).to_have_count(2)
        page.get_by_role("radio", name="Create").check()
        page.get_by_test_id("prompt").fill("put the hat from <image2> on a lighthouse")
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(AXE_RUN)
        page.screenshot(path=tmp_path / f"page-21-{scheme}.png", full_page=True)
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert bad == [], json.dumps(bad, indent=2)
    finally:
        context.close()
