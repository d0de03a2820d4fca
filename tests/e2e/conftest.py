"""Browser tests: a real server on the tiny diffusers model, driven by Playwright through Debian's Chromium."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from qwen_image_editor.accounts import Role
from qwen_image_editor.api.app import STATIC_DIR, create_app
from qwen_image_editor.api.serving import uvicorn_options
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.base import CancelCheck, EditEngine, EditResult, ModelState, StepCallback, StepProgress
from qwen_image_editor.engine.checkpoints import Checkpointing
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.fake import FakeEngine, StepGate
from qwen_image_editor.engine.loras import LoraInfo
from qwen_image_editor.errors import EditCancelled
from qwen_image_editor.services import build_services
from qwen_image_editor.settings import Settings
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings
from tests.conftest import noise_image
from tests.live_server import LiveServer, free_port, live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Seconds a test that watches steps go by (the live preview changing) adds to each of the tiny model's steps.
# A test that needs a job to stay running holds it at a gate instead (`SlowSteps.hold`): no test counts on
# the steps being slow enough.
STEP_DELAY = 0.25
# pytest-timeout's limit for each browser test (the project's default, 60 s, is for tests that take a second):
# on the tiny model a test takes tens of seconds on an idle machine and several times that on a loaded one.
# It is there to stop a test that hangs, not to time one that is slow.
BROWSER_TEST_TIMEOUT_S = 600
# How long an edit on the tiny model, or the part of one up to a gate, may take: a few seconds on an idle
# machine, two minutes and more for a few images on a loaded one.
EDIT_TIMEOUT_S = 300
# Playwright's `expect` gives up after 5 s unless told otherwise (and a page's clicks and loads after 30 s): on
# a loaded machine a page can take longer to show what it is sure to show. A generous wait costs nothing when
# things work.
EXPECT_TIMEOUT_MS = 60_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)

# Every text the progress line showed and every value the progress bar took, recorded in the page itself
# so that a short-lived "Step N of N" is not missed between two polls of the test.
PROGRESS_RECORDER = """
window.__progressSeen = [];
window.__progressMax = 0;
new MutationObserver(() => {
  const label = document.querySelector('[data-testid="progress"]');
  if (label && window.__progressSeen[window.__progressSeen.length - 1] !== label.textContent) {
    window.__progressSeen.push(label.textContent);
  }
  const bar = document.querySelector('[role="progressbar"]');
  if (bar) window.__progressMax = Math.max(window.__progressMax, Number(bar.getAttribute('aria-valuenow')));
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
"""

# The form's draft as the page keeps it (IndexedDB qie/draft/current, see
# frontend/src/features/edit/lib/draftStore.ts): its values and its images' names, or null before the first save.
# Creates nothing when there is none yet.
READ_DRAFT = """async () => {
  const db = await new Promise((resolve) => {
    const request = indexedDB.open("qie");
    request.onupgradeneeded = () => request.transaction.abort();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
  });
  if (!db) return null;
  try {
    if (!db.objectStoreNames.contains("draft")) return null;
    return await new Promise((resolve, reject) => {
      const read = db.transaction("draft", "readonly").objectStore("draft").get("current");
      read.onsuccess = () => {
        const draft = read.result;
        resolve(draft ? { values: draft.values, images: draft.images.map((image) => image.name) } : null);
      };
      read.onerror = () => reject(read.error);
    });
  } finally {
    db.close();
  }
}"""


def wait_for_draft(page: Page, saved: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
    """The draft the page saved (a moment after the last change), once `saved` accepts it: what a reload
    would bring back."""
    deadline = time.monotonic() + timeout
    while True:
        draft: dict[str, Any] | None = page.evaluate(READ_DRAFT)
        if draft is not None and draft["values"] is not None and saved(draft):
            return draft
        assert time.monotonic() < deadline, f"the page did not save the draft in {timeout:g} s; last: {draft}"
        time.sleep(0.05)


class SlowSteps:
    """Wraps an engine: sleeps after each denoising step (the tiny model alone finishes too fast to watch), and
    holds edits at a step gate once a test asks (`hold`), as `FakeEngine.hold` does, for a running job
    however fast or slow the machine."""

    def __init__(self, inner: EditEngine, step_delay: float = 0.0) -> None:
        self.inner = inner
        self.step_delay = step_delay
        self.gate: StepGate | None = None

    def hold(self, before_step: int = 1) -> StepGate:
        """From now on, edits wait before `before_step` until the gate is opened: 1 before any step, n + 1
        once step n was reported (n may be the last step: then the edit waits before its decode). A later
        `hold` replaces the gate, so a test can open one and hold the same edit again further on."""
        self.gate = StepGate(before_step)
        return self.gate

    def __getattr__(self, name: str) -> Any:
        """Everything else of the engine interface is the wrapped engine's own."""
        return getattr(self.inner, name)

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def device(self) -> str:
        return self.inner.device

    @property
    def is_demo(self) -> bool:
        return self.inner.is_demo

    @property
    def state(self) -> ModelState:
        return self.inner.state

    @property
    def load_error(self) -> str | None:
        return self.inner.load_error

    def load(self) -> None:
        self.inner.load()

    def loras(self) -> list[LoraInfo]:
        return self.inner.loras()

    def fit_inputs(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        return self.inner.fit_inputs(images)

    def edit(
        self,
        images: Sequence[Image.Image],
        request: EditRequest,
        on_step: StepCallback | None = None,
        should_cancel: CancelCheck | None = None,
        output_size: tuple[int, int] | None = None,
        region: Image.Image | None = None,
        checkpoints: Checkpointing | None = None,
    ) -> EditResult:
        def gate(before_step: int) -> None:
            current = self.gate  # read each time: a test may replace it while this edit runs
            if current is not None:
                current.pass_through(before_step, should_cancel)

        def slow_step(progress: StepProgress) -> None:
            if on_step is not None:
                on_step(progress)
            try:
                gate(progress.step + 1)
            except EditCancelled:
                return  # the engine's own check after this step stops it, as in a real run (saving that step)
            time.sleep(self.step_delay)

        gate(1)
        return self.inner.edit(images, request, slow_step, should_cancel, output_size, region, checkpoints)


@pytest.fixture(scope="session", autouse=True)
def built_ui() -> Path:
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        pytest.fail(f"the web UI is not built ({index} is missing): run `make ui` first", pytrace=False)
    return index


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (installs Debian's Chromium)", pytrace=False)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def tiny_engine(edit_plus_engine: DiffusersEngine, fast_area: int) -> SlowSteps:
    """The session's tiny EditPlus model (fast ~256² mode) for one test: it can hold edits (`hold`), and a
    test that watches steps go by slows them (`step_delay = STEP_DELAY`)."""
    return SlowSteps(edit_plus_engine)


@pytest.fixture
def tiny_server(tmp_path: Path, tiny_engine: SlowSteps) -> Iterator[LiveServer]:
    """The real app on `tiny_engine`."""
    settings = make_settings(tmp_path / "data", model="tiny", lease_seconds=30)
    services = build_services(settings, engine=tiny_engine)
    with live_server(services) as running:
        yield running


@dataclass
class KeyedServer:
    """A live server that needs a key, and the one key made for it (alice's, a user key)."""

    server: LiveServer
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
def keyed_server(tmp_path: Path, edit_plus_engine: DiffusersEngine, fast_area: int) -> Iterator[KeyedServer]:
    """`tiny_server` with keys on: alice's key is made before the server starts, so every route but the health
    check, the sign-in and the page needs it (or a session)."""
    settings = make_settings(tmp_path / "data", model="tiny", lease_seconds=30)
    services = build_services(settings, engine=edit_plus_engine)
    _, secret = services.access.create_key("alice", Role.USER)
    with live_server(services) as running:
        yield KeyedServer(running, secret)


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    options.setdefault("viewport", DESKTOP)
    context = browser.new_context(accept_downloads=True, **options)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    context.add_init_script(PROGRESS_RECORDER)
    return context


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = new_context(browser)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, tiny_server: LiveServer) -> Page:
    page = context.new_page()
    page.goto(tiny_server.url)
    return page


@pytest.fixture
def input_files(tmp_path: Path) -> list[Path]:
    """Two small PNGs of different sizes, as a user would pick them from disk."""
    paths = []
    for index, size in enumerate([(96, 64), (80, 80)], start=1):
        path = tmp_path / f"photo{index}.png"
        noise_image(*size, seed=index).save(path)
        paths.append(path)
    return paths


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


@pytest.fixture
def fake_engine() -> FakeEngine:
    """Small solid images in a few milliseconds; `fake_engine.hold` keeps a job running."""
    return FakeEngine(step_seconds=0.01, output_pixels=SMALL_OUTPUT_PIXELS)


@pytest.fixture
def fake_server(tmp_path: Path, fake_engine: FakeEngine) -> Iterator[LiveServer]:
    """The real app on the fake engine: for tests about the page around the edits (history paging, search,
    delete and undo, recall, accessibility), not the edits."""
    settings = make_settings(tmp_path / "data", fake_output_pixels=SMALL_OUTPUT_PIXELS)
    services = build_services(settings, engine=fake_engine)
    with live_server(services) as running:
        yield running


class RestartableServer:
    """A live tiny-model server that a test can stop and start again: the same port, the same data folder,
    new services (as after `qie serve` is restarted)."""

    def __init__(self, settings: Settings, engine: SlowSteps) -> None:
        self.settings = settings
        self.engine = engine
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        services = build_services(self.settings, engine=self.engine)
        config = uvicorn.Config(
            create_app(services=services), host="127.0.0.1", port=self.port, log_level="warning", **uvicorn_options()
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(60)
        assert not self._thread.is_alive(), "the test server did not stop"
        self._server = self._thread = None

    def close(self) -> None:
        self.stop()
        self.http.close()


@pytest.fixture
def restartable_server(tmp_path: Path, tiny_engine: SlowSteps) -> Iterator[RestartableServer]:
    """`tiny_engine` behind a server that can be stopped and started again (`restartable_server.engine`)."""
    settings = make_settings(tmp_path / "data", model="tiny", lease_seconds=30)
    running = RestartableServer(settings, tiny_engine)
    running.start()
    try:
        yield running
    finally:
        running.close()
