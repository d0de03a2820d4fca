"""Shared fixtures: the tiny offline models (built once per run) and a fast ~256² mode for most tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach for the network
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.models import resolve_model
from tests.s3_server import S3_ENV, S3_ENV_UNSET, S3Server, start_s3_server

FAST_AREA = 256 * 256
# Qwen-Image-2.1's output_resolution in tests: 320² instead of 1024² (tests/test_model_21.py says why not 256).
FAST_21_RESOLUTION = 320


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def edit_plus_engine(models_dir: Path) -> DiffusersEngine:
    """`tiny`: EditPlus with zero_cond_t, shaped like the default model Qwen-Image-Edit-2511."""
    engine = DiffusersEngine(resolve_model("tiny", models_dir), plan_device("cpu"))
    engine.load()
    return engine


@pytest.fixture(scope="session")
def edit_plus_2509_engine(models_dir: Path) -> DiffusersEngine:
    engine = DiffusersEngine(resolve_model("tiny-2509", models_dir), plan_device("cpu"))
    engine.load()
    return engine


@pytest.fixture(scope="session")
def edit_engine(models_dir: Path) -> DiffusersEngine:
    engine = DiffusersEngine(resolve_model("tiny-edit", models_dir), plan_device("cpu"))
    engine.load()
    return engine


@pytest.fixture(scope="session")
def image_21_engine(models_dir: Path) -> DiffusersEngine:
    """`tiny-2.1`: Qwen-Image-2.1's tiny random twin (QwenImage21Pipeline), as `qie serve --model tiny-2.1` loads
    it (built on first use, as `qie make-tiny-model --flavour 2.1` builds it)."""
    engine = DiffusersEngine(resolve_model("tiny-2.1", models_dir), plan_device("cpu"))
    engine.load()
    return engine


@pytest.fixture(params=["edit_plus_engine", "edit_plus_2509_engine", "edit_engine"])
def engine(request: pytest.FixtureRequest) -> DiffusersEngine:
    """Each family: EditPlus shaped like 2511 (`tiny`) and like 2509, and the original Edit."""
    engine: DiffusersEngine = request.getfixturevalue(request.param)
    return engine


@pytest.fixture
def fast_area(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Make the pipelines aim at 256² instead of ~1 MP (TINY_MODEL.md's test-speed trick)."""
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit, pipeline_qwenimage_edit_plus

    for module in (pipeline_qwenimage_edit, pipeline_qwenimage_edit_plus):
        original = module.calculate_dimensions
        monkeypatch.setattr(
            module,
            "calculate_dimensions",
            lambda area, ratio, original=original: original(min(area, FAST_AREA), ratio),
        )
    monkeypatch.setattr(pipeline_qwenimage_edit_plus, "VAE_IMAGE_SIZE", FAST_AREA)
    yield FAST_AREA


@pytest.fixture
def fast_21(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Make Qwen-Image-2.1 draw at 320² instead of 1024² (its own pipeline's counterpart of `fast_area`)."""
    from qwen_image_editor.engine import families

    monkeypatch.setattr(families, "QWEN_IMAGE_21_RESOLUTION", FAST_21_RESOLUTION)
    yield FAST_21_RESOLUTION


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server (moto) for the whole run; each test makes its own bucket (`s3_bucket`)."""
    try:
        server = start_s3_server(tmp_path_factory.mktemp("s3"))
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"the object-store tests need moto's S3 server, which could not be started here: {exc}")
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's boto3 sees the test credentials, and nothing of the machine's own AWS setup."""
    for name in S3_ENV_UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)


# Any test that needs one of these runs the tiny diffusers pipeline: it is a `model` test (make test-fast skips it).
MODEL_FIXTURES = frozenset(
    {
        "models_dir",
        "edit_plus_engine",
        "edit_plus_2509_engine",
        "edit_engine",
        "image_21_engine",
        "engine",
        "fast_area",
        "fast_21",
    }
)
# And these start a process of their own (the S3 server): `process` tests.
PROCESS_FIXTURES = frozenset({"s3_server", "s3_bucket"})
# pytest-timeout's 60 s (pyproject.toml) is a guard against hangs, not a speed limit: the tiny model's edits and
# the tests that start processes take many times longer on a loaded machine than on an idle one, so they get
# this long before they count as hung (their own waits for things that must happen stay well inside it).
LOADED_MACHINE_TIMEOUT = 300


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist starts its workers with COLUMNS=80 and LINES=24; rich would fix the CLI's width at import
    # from them, so tests that choose a terminal width (CliRunner's env) would get 80 whatever they asked.
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if MODEL_FIXTURES & fixtures:
            item.add_marker(pytest.mark.model)
        if PROCESS_FIXTURES & fixtures:
            item.add_marker(pytest.mark.process)
        heavy = item.get_closest_marker("model") or item.get_closest_marker("process")
        if heavy and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(LOADED_MACHINE_TIMEOUT))
