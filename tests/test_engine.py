"""The real diffusers engine on the tiny random-weight models, on CPU."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.base import ModelState, StepProgress
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine, PipelineFamily
from qwen_image_editor.engine.models import resolve_model
from qwen_image_editor.errors import EditCancelled, InvalidRequest, ModelUnavailable, OutOfMemory
from tests.conftest import noise_image

pytestmark = pytest.mark.usefixtures("fast_area")


def request(**overrides: object) -> EditRequest:
    fields: dict[str, object] = {"prompt": "make the sky blue", "num_inference_steps": 2, "seed": 7}
    fields.update(overrides)
    return EditRequest.model_validate(fields)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def _family(request: pytest.FixtureRequest) -> DiffusersEngine:
    if request.param == "image_21_engine":
        request.getfixturevalue("fast_21")  # fast_area's counterpart for 2.1's own pipeline
    engine: DiffusersEngine = request.getfixturevalue(request.param)
    return engine


# What every family does alike runs on Qwen-Image-2.1's twin too. Not through `engine`: its other tests hold the
# Edit models' own sizes and modes (an RGB result at ~FAST_AREA), where 2.1 draws RGBA at its own resolution
# (tests/test_model_21.py holds those).
@pytest.fixture(params=["edit_plus_engine", "edit_plus_2509_engine", "edit_engine", "image_21_engine"])
def any_engine(request: pytest.FixtureRequest) -> DiffusersEngine:
    return _family(request)


@pytest.fixture(params=["edit_plus_engine", "image_21_engine"])
def default_or_21_engine(request: pytest.FixtureRequest) -> DiffusersEngine:
    """The default model's twin (`tiny`, 2511) and 2.1's."""
    return _family(request)


def test_families_are_read_from_model_index(
    edit_engine: DiffusersEngine, edit_plus_engine: DiffusersEngine, edit_plus_2509_engine: DiffusersEngine
) -> None:
    assert edit_engine.family is PipelineFamily.EDIT
    assert edit_plus_engine.family is edit_plus_2509_engine.family is PipelineFamily.EDIT_PLUS
    assert edit_plus_engine._pipeline.transformer.config.zero_cond_t is True  # like 2511
    assert edit_plus_2509_engine._pipeline.transformer.config.zero_cond_t is False  # like 2509
    assert edit_engine.state is ModelState.READY and edit_engine.is_demo


@pytest.mark.parametrize("count", [1, 2, 3])
def test_edit_with_one_to_three_images_follows_the_last_images_aspect(engine: DiffusersEngine, count: int) -> None:
    # The last image is 2:1 landscape; earlier ones are portrait, so a wrong choice shows.
    images = [noise_image(96, 160, seed=i) for i in range(count - 1)] + [noise_image(320, 160, seed=9)]
    if count > engine.family.capabilities.max_images:  # the original Edit takes one image, as published
        with pytest.raises(InvalidRequest, match=f"Qwen-Image-Edit takes exactly 1 image, not {count}"):
            engine.edit(images, request())
        return
    result = engine.edit(images, request())
    width, height = result.image.size
    assert result.image.mode == "RGB"
    assert width * height <= 256 * 256 * 1.1
    assert width / height == pytest.approx(2.0, rel=0.15)
    assert not np.isnan(pixels(result.image)).any()


def test_an_edit_without_guidance_runs_without_warnings(
    default_or_21_engine: DiffusersEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    default_or_21_engine.edit([noise_image(64, 64)], request(true_cfg_scale=1.0, negative_prompt="blurry"))
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_keep_input_size_returns_the_exact_size_of_the_last_image(any_engine: DiffusersEngine) -> None:
    images = [noise_image(100, 80, seed=1), noise_image(203, 131, seed=2)][-any_engine.family.capabilities.max_images :]
    result = any_engine.edit(images, request(keep_input_size=True))
    assert result.image.size == (203, 131)


def test_output_size_gives_that_exact_size_at_its_aspect(engine: DiffusersEngine) -> None:
    # The stored input is reduced; the upload it came from was 3000x1000 (what the worker passes on).
    result = engine.edit([noise_image(300, 100, seed=3)], request(keep_input_size=True), output_size=(3000, 1000))
    assert result.image.size == (3000, 1000)


def test_same_seed_same_pixels_other_seed_other_pixels(edit_plus_engine: DiffusersEngine) -> None:
    images = [noise_image(128, 128)]
    first = edit_plus_engine.edit(images, request(seed=11))
    again = edit_plus_engine.edit(images, request(seed=11))
    other = edit_plus_engine.edit(images, request(seed=12))
    assert np.array_equal(pixels(first.image), pixels(again.image))
    assert not np.array_equal(pixels(first.image), pixels(other.image))


def test_a_missing_seed_is_chosen_and_reported(default_or_21_engine: DiffusersEngine) -> None:
    images = [noise_image(128, 128)]
    chosen = default_or_21_engine.edit(images, request(seed=None))
    replay = default_or_21_engine.edit(images, request(seed=chosen.seed))
    assert np.array_equal(pixels(chosen.image), pixels(replay.image))


def test_progress_is_reported_once_per_step(edit_plus_engine: DiffusersEngine) -> None:
    steps: list[StepProgress] = []
    edit_plus_engine.edit([noise_image(128, 128)], request(num_inference_steps=5), on_step=steps.append)
    assert [s.step for s in steps] == [1, 2, 3, 4, 5]
    assert all(s.total == 5 for s in steps)
    assert [s.elapsed for s in steps] == sorted(s.elapsed for s in steps)
    assert steps[-1].eta_seconds == 0


def test_cancel_mid_run_then_the_same_pipeline_edits_again(edit_plus_engine: DiffusersEngine) -> None:
    steps: list[int] = []
    cancel = threading.Event()

    def on_step(step: StepProgress) -> None:
        steps.append(step.step)
        if step.step == 2:
            cancel.set()

    with pytest.raises(EditCancelled):
        edit_plus_engine.edit(
            [noise_image(128, 128)],
            request(num_inference_steps=6),
            on_step=on_step,
            should_cancel=cancel.is_set,
        )
    assert steps == [1, 2]  # stopped at the next step boundary, no further work
    result = edit_plus_engine.edit([noise_image(128, 128)], request())
    assert result.image.size[0] > 0


def test_cancel_before_start_does_no_model_work(default_or_21_engine: DiffusersEngine) -> None:
    steps: list[StepProgress] = []
    with pytest.raises(EditCancelled):
        default_or_21_engine.edit([noise_image(64, 64)], request(), on_step=steps.append, should_cancel=lambda: True)
    assert steps == []


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ([], "cannot make one from text alone"),
        ([noise_image(64, 64)] * 4, "takes 1 to 3 images, not 4"),
        ([noise_image(8, 64)], "at least 16 pixels"),
        ([noise_image(640, 40)], "aspect ratio"),
    ],
)
def test_image_validation_errors_come_before_model_work(
    models_dir: Path, images: list[Image.Image], message: str
) -> None:
    engine = DiffusersEngine(resolve_model("tiny", models_dir), plan_device("cpu"))
    with pytest.raises(InvalidRequest, match=message):
        engine.edit(images, request())
    assert engine.state is ModelState.NOT_LOADED  # refused before loading anything


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"negative_prompt": "x" * 2001}, "negative_prompt"),
        ({"num_inference_steps": 1}, "num_inference_steps"),
        ({"num_inference_steps": 151}, "num_inference_steps"),
        ({"true_cfg_scale": 0.5}, "true_cfg_scale"),
        ({"true_cfg_scale": 21}, "true_cfg_scale"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"output_format": "gif"}, "output_format"),
        ({"strength": 0.5}, "strength"),
    ],
)
def test_request_validation_names_the_field(fields: dict[str, object], field_name: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        request(**fields)
    assert caught.value.errors()[0]["loc"] == (field_name,)


def test_a_folder_without_model_index_fails_with_a_readable_reason(tmp_path: Path) -> None:
    engine = DiffusersEngine(resolve_model(str(tmp_path), tmp_path), plan_device("cpu"))
    with pytest.raises(ModelUnavailable, match=r"no model_index\.json"):
        engine.load()
    assert engine.state is ModelState.FAILED
    assert "no model_index.json" in (engine.load_error or "")


def test_missing_hub_weights_offline_name_the_model_cache_and_fix(tmp_path: Path) -> None:
    engine = DiffusersEngine(
        resolve_model("Qwen/Qwen-Image-Edit-2511", tmp_path), plan_device("cpu"), cache_dir=tmp_path / "hub"
    )
    with pytest.raises(ModelUnavailable) as caught:
        engine.load()
    message = str(caught.value)
    assert "Qwen/Qwen-Image-Edit-2511" in message
    assert str(tmp_path / "hub") in message
    assert "--model tiny" in message


def test_loading_is_shared_between_threads(models_dir: Path) -> None:
    engine = DiffusersEngine(resolve_model("tiny", models_dir), plan_device("cpu"))
    threads = [threading.Thread(target=engine.load) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert engine.state is ModelState.READY


def test_out_of_memory_fails_the_edit_with_advice_and_the_engine_goes_on(
    default_or_21_engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    real_pipeline = default_or_21_engine._pipeline

    class Exhausted:
        """The loaded pipeline, whose call runs out of memory."""

        def __getattr__(self, name: str) -> object:
            return getattr(real_pipeline, name)

        def __call__(self, **kwargs: object) -> None:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(default_or_21_engine, "_pipeline", Exhausted())
    with pytest.raises(OutOfMemory, match="QIE_MEMORY=fp8"):
        default_or_21_engine.edit([noise_image(64, 64)], request())
    monkeypatch.setattr(default_or_21_engine, "_pipeline", real_pipeline)
    assert default_or_21_engine.edit([noise_image(64, 64)], request()).image.size[0] > 0


class _StoppedClock:
    """Stands in for the `time` module of engine.base: the time moves only when the test moves it."""

    now = 1000.0

    @classmethod
    def perf_counter(cls) -> float:
        return cls.now


def test_time_left_is_measured_between_steps_not_from_the_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from qwen_image_editor.engine import base

    monkeypatch.setattr(base, "time", _StoppedClock)
    clock = base.StepClock(total=5)
    _StoppedClock.now += 30  # thirty seconds of encoding before the first step
    first = clock.tick(1)
    assert first.eta_seconds is None  # one step says nothing about the rate yet
    _StoppedClock.now += 2  # steps 2 and 3 took a second each
    third = clock.tick(3)
    assert third.seconds_per_step == pytest.approx(1.0, abs=0.05)
    assert third.eta_seconds == pytest.approx(2.0, abs=0.1)
    assert clock.tick(5).eta_seconds == 0


def test_an_empty_negative_prompt_keeps_true_cfg_on() -> None:
    assert request(negative_prompt="").negative_prompt == " "
    assert request(negative_prompt="blurry").negative_prompt == "blurry"
