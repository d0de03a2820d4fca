"""Fast (Lightning) and a LoRA picked on the page, and the live preview while the tiny model denoises."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.loras import make_tiny_lora
from qwen_image_editor.engine.models import resolve_model
from qwen_image_editor.services import build_services
from tests.api.conftest import make_settings
from tests.e2e.conftest import ARTIFACTS, BROWSER_TEST_TIMEOUT_S, EDIT_TIMEOUT_S, STEP_DELAY, SlowSteps, wait_for_draft
from tests.e2e.test_browser import start_edit, wait_for_result
from tests.live_server import LiveServer, live_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S)]

# Every src the live preview <img> took, recorded in the page (a preview lasts ~a step: polling could miss it).
PREVIEW_RECORDER = """
window.__previewSrcs = [];
new MutationObserver(() => {
  const img = document.querySelector('[data-testid="preview"]');
  const src = img && img.getAttribute('src');
  if (src && window.__previewSrcs[window.__previewSrcs.length - 1] !== src) window.__previewSrcs.push(src);
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['src'] });
"""


@pytest.fixture
def lora_server(tmp_path: Path, models_dir: Path, fast_area: int) -> Iterator[LiveServer]:
    """The tiny model with one LoRA file, `style`, in the data folder's loras/ before the server starts."""
    settings = make_settings(tmp_path / "data", model="tiny", lease_seconds=30)
    make_tiny_lora(settings.loras_dir / "style.safetensors", seed=1)
    engine = DiffusersEngine(resolve_model("tiny", models_dir), plan_device("cpu"), loras_dir=settings.loras_dir)
    engine.load()
    services = build_services(settings, engine=engine)
    with live_server(services) as running:
        yield running


def test_fast_and_a_lora_picked_on_the_page(
    context: BrowserContext, lora_server: LiveServer, input_files: list[Path]
) -> None:
    page = context.new_page()
    page.goto(lora_server.url)
    page.get_by_test_id("image-input").set_input_files(input_files[:1])
    expect(page.get_by_test_id("input-thumb")).to_have_count(1)
    page.get_by_test_id("prompt").fill("in my style, fast")

    fast = page.get_by_role("switch", name="Fast")
    fast.check()
    expect(page.get_by_test_id("fast-note")).to_contain_text("Lightning: 8 steps, guidance off")
    add = page.get_by_test_id("lora-add")
    expect(add.locator("option[value=style]")).to_contain_text("style")
    expect(add.locator("option[value=style]")).to_be_enabled()
    add.select_option("style")
    weight = page.get_by_role("spinbutton", name="Weight of style")
    weight.fill("0.8")

    # The draft keeps Fast and the LoRA over a reload.
    fast_and_style = {"lightning": True, "loras": [{"name": "style", "weight": "0.8"}]}
    wait_for_draft(page, lambda draft: fast_and_style.items() <= draft["values"].items())
    page.reload()
    expect(page.get_by_role("switch", name="Fast")).to_be_checked()
    expect(page.get_by_role("spinbutton", name="Weight of style")).to_have_value("0.8")
    expect(page.get_by_test_id("input-thumb")).to_have_count(1)
    page.get_by_text("Advanced settings").click()
    expect(page.get_by_test_id("fast-steps")).to_have_value("8")
    expect(page.get_by_test_id("cfg")).to_be_disabled()
    page.get_by_test_id("lora-picker").scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "form-fast-lora.png")

    submit = page.get_by_test_id("submit")
    expect(submit).to_be_enabled()
    submit.click()
    page.wait_for_url(re.compile(r"[?&]job="))
    job_id = page.url.split("job=")[1].split("&")[0]
    wait_for_result(page, job_id)

    expect(page.get_by_test_id("result-fast")).to_have_text("Lightning, 8 steps")
    expect(page.get_by_test_id("result-loras")).to_have_text("style 0.8")
    job = lora_server.http.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "complete", job
    config = job["config"]
    assert (config["lightning"], config["num_inference_steps"], config["true_cfg_scale"]) == (True, 8, 1.0), config
    assert config["loras"] == [{"name": "style", "weight": 0.8}], config


def test_the_preview_changes_while_denoising_then_the_result_replaces_it(
    context: BrowserContext, tiny_server: LiveServer, tiny_engine: SlowSteps, input_files: list[Path]
) -> None:
    # Previews come at most every 0.25 s (engine.preview.PreviewRate): steps this slow each bring one. The
    # edit is held after step 1 and again after step 2, so the test sees both pictures however slow it is.
    tiny_engine.step_delay = STEP_DELAY
    first_stop = tiny_engine.hold(before_step=2)
    page: Page = context.new_page()
    page.add_init_script(PREVIEW_RECORDER)
    page.goto(tiny_server.url)
    job_id = start_edit(page, input_files[:1], "watch it form", 8)
    first_stop.wait_held(timeout=EDIT_TIMEOUT_S)
    expect(page.get_by_test_id("progress")).to_have_text("Step 1 of 8")
    preview = page.get_by_test_id("preview")
    expect(preview).to_be_visible()
    expect(preview).to_have_attribute("alt", "Live preview of the result as it forms")
    expect(preview).to_have_attribute("src", re.compile(r"^data:image/webp;base64,"))
    first = preview.get_attribute("src")
    page.get_by_role("region", name="Result").screenshot(path=ARTIFACTS / "progress-preview.png")

    second_stop = tiny_engine.hold(before_step=3)
    first_stop.open()
    second_stop.wait_held(timeout=EDIT_TIMEOUT_S)
    expect(page.get_by_test_id("progress")).to_have_text("Step 2 of 8")
    expect(preview).not_to_have_attribute("src", first or "")  # it changed as the steps went on
    second_stop.open()
    wait_for_result(page, job_id)

    srcs: list[str] = page.evaluate("window.__previewSrcs")
    assert all(src.startswith("data:image/webp;base64,") for src in srcs), [s[:40] for s in srcs]
    assert len(set(srcs)) >= 2, len(srcs)
    expect(preview).to_have_count(0)  # the result took its place
