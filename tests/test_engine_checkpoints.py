"""Restarts resume (issue 21, point 7), in the real engine on the tiny models: an edit cut short after a checkpoint
and continued from it gives the very pixels of an edit that ran through, for every family, with and without a
region; its steps count on from the checkpoint's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine import base, families, inpainting
from qwen_image_editor.engine.base import StepProgress
from qwen_image_editor.engine.checkpoints import Checkpoint, Checkpointing, decode_latents, encode_latents
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.models import resolve_model
from qwen_image_editor.errors import EditCancelled
from tests.conftest import FAST_AREA, noise_image

pytestmark = pytest.mark.usefixtures("fast_area")

STEPS = 6
EVERY = 2
CUT_AFTER = 5  # the run is cut short after step 5: the last checkpoint is step 4's


def job_request(**overrides: object) -> EditRequest:
    fields: dict[str, object] = {"prompt": "make the sky blue", "num_inference_steps": STEPS, "seed": 11}
    fields.update(overrides)
    return EditRequest.model_validate(fields)


@pytest.fixture(scope="module")
def engine_21(models_dir: Path) -> DiffusersEngine:
    engine = DiffusersEngine(resolve_model("tiny-2.1", models_dir), plan_device("cpu"))
    engine.load()
    return engine


@pytest.fixture
def small_sizes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """2.1 and region edits at a small size, as fast_area does for the Edit pipelines."""
    monkeypatch.setattr(families, "QWEN_IMAGE_21_RESOLUTION", 320)
    monkeypatch.setattr(inpainting, "WORKING_AREA", FAST_AREA)
    yield


def region_mask(size: tuple[int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, (size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4))
    return mask


def cut_short_then_resume(
    engine: DiffusersEngine, images: list[Image.Image], edit: EditRequest, region: Image.Image | None
) -> tuple[Image.Image, list[int], list[int]]:
    """Run until CUT_AFTER (saving checkpoints), stop as a killed worker would, and continue from the last one: the
    result, the steps saved, and the steps the continued run reported."""
    saved: list[Checkpoint] = []

    def cut(step: StepProgress) -> None:
        if step.step == CUT_AFTER:
            raise EditCancelled("the worker died")

    with pytest.raises(EditCancelled):
        engine.edit(images, edit, on_step=cut, region=region, checkpoints=Checkpointing(EVERY, saved.append))
    reported: list[int] = []
    resumed = engine.edit(
        images,
        edit,
        on_step=lambda step: reported.append(step.step),
        region=region,
        checkpoints=Checkpointing(EVERY, lambda _: None, resume_from=saved[-1]),
    )
    return resumed.image, [checkpoint.step for checkpoint in saved], reported


def assert_resumes_to_the_same_pixels(
    engine: DiffusersEngine, images: list[Image.Image], edit: EditRequest, region: Image.Image | None = None
) -> None:
    through = engine.edit(images, edit, region=region).image
    resumed, saved, reported = cut_short_then_resume(engine, images, edit, region)
    assert saved == [2, 4]  # every EVERY steps, never after the last
    assert reported == [5, 6]  # on from the checkpoint's step, of the job's total
    assert resumed.size == through.size
    assert np.array_equal(np.asarray(resumed), np.asarray(through))


@pytest.mark.parametrize("fixture", ["edit_plus_engine", "edit_plus_2509_engine", "edit_engine"])
def test_an_edit_family_continued_from_a_checkpoint_gives_the_uninterrupted_pixels(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    engine: DiffusersEngine = request.getfixturevalue(fixture)
    assert_resumes_to_the_same_pixels(engine, [noise_image(160, 128, seed=3)], job_request())


@pytest.mark.usefixtures("small_sizes")
def test_21_continued_from_a_checkpoint_gives_the_uninterrupted_pixels(engine_21: DiffusersEngine) -> None:
    assert_resumes_to_the_same_pixels(engine_21, [noise_image(160, 128, seed=3)], job_request())


@pytest.mark.usefixtures("small_sizes")
def test_a_region_edit_continued_from_a_checkpoint_gives_the_uninterrupted_pixels(
    edit_plus_engine: DiffusersEngine,
) -> None:
    image = noise_image(160, 128, seed=4)
    assert_resumes_to_the_same_pixels(edit_plus_engine, [image], job_request(), region=region_mask(image.size))


def test_a_lightning_edit_continued_from_a_checkpoint_gives_the_uninterrupted_pixels(
    edit_plus_engine: DiffusersEngine,
) -> None:
    edit = job_request(lightning=True, num_inference_steps=8, true_cfg_scale=1.0)
    image = noise_image(160, 128, seed=5)
    through = edit_plus_engine.edit([image], edit).image
    saved: list[Checkpoint] = []
    edit_plus_engine.edit([image], edit, checkpoints=Checkpointing(3, saved.append))
    assert [checkpoint.step for checkpoint in saved] == [3, 6]
    resumed = edit_plus_engine.edit([image], edit, checkpoints=Checkpointing(3, None, resume_from=saved[0]))
    assert np.array_equal(np.asarray(resumed.image), np.asarray(through))


def test_an_edit_stopped_by_its_worker_saves_the_step_it_stopped_at(edit_plus_engine: DiffusersEngine) -> None:
    """A graceful restart (the worker stops the edit at its next step) loses no step: that one is saved too."""
    image = noise_image(160, 128, seed=8)
    through = edit_plus_engine.edit([image], job_request()).image
    saved: list[Checkpoint] = []
    steps: list[int] = []
    with pytest.raises(EditCancelled):
        edit_plus_engine.edit(
            [image],
            job_request(),
            on_step=lambda step: steps.append(step.step),
            should_cancel=lambda: len(steps) >= 3,
            checkpoints=Checkpointing(EVERY, saved.append),
        )
    assert [checkpoint.step for checkpoint in saved] == [2, 3]
    resumed = edit_plus_engine.edit([image], job_request(), checkpoints=Checkpointing(EVERY, None, saved[-1])).image
    assert np.array_equal(np.asarray(resumed), np.asarray(through))


def test_resuming_is_not_starting_over(edit_plus_engine: DiffusersEngine) -> None:
    """The proof above could pass by ignoring the checkpoint; continued from altered latents, the result differs."""
    image = noise_image(160, 128, seed=6)
    saved: list[Checkpoint] = []
    through = edit_plus_engine.edit([image], job_request(), checkpoints=Checkpointing(EVERY, saved.append)).image
    latents = decode_latents(saved[-1].latents)
    altered = Checkpoint(saved[-1].step, STEPS, encode_latents(latents.flip(1)))
    resumed = edit_plus_engine.edit([image], job_request(), checkpoints=Checkpointing(0, resume_from=altered)).image
    assert not np.array_equal(np.asarray(resumed), np.asarray(through))


@pytest.mark.parametrize(
    ("step", "total", "data"),
    [
        (4, 8, None),  # another step count: not this edit's
        (6, 6, None),  # the last step: nothing left to continue
        (4, 6, b"not a tensor file"),  # damaged
    ],
)
def test_a_checkpoint_that_does_not_fit_the_edit_is_ignored(
    edit_plus_engine: DiffusersEngine, step: int, total: int, data: bytes | None
) -> None:
    image = noise_image(160, 128, seed=7)
    saved: list[Checkpoint] = []
    through = edit_plus_engine.edit([image], job_request(), checkpoints=Checkpointing(EVERY, saved.append)).image
    misfit = Checkpoint(step, total, saved[0].latents if data is None else data)
    reported: list[int] = []
    again = edit_plus_engine.edit(
        [image],
        job_request(),
        on_step=lambda progress: reported.append(progress.step),
        checkpoints=Checkpointing(0, resume_from=misfit),
    )
    assert reported == list(range(1, STEPS + 1))  # from step 1, as without one
    assert np.array_equal(np.asarray(again.image), np.asarray(through))


def test_a_continued_runs_step_rate_is_measured_from_its_own_first_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps count on from the checkpoint's, but the rate (and the time left) comes from this run's steps alone."""

    class Stopped:
        now = 1000.0

        @classmethod
        def perf_counter(cls) -> float:
            return cls.now

    monkeypatch.setattr(base, "time", Stopped)
    clock = base.StepClock(total=10, start=6)
    Stopped.now += 30  # loading and encoding before this run's first step
    first = clock.tick(7)
    assert first.step == 7 and first.seconds_per_step is None and first.eta_seconds is None
    Stopped.now += 2  # steps 8 and 9 took a second each
    ninth = clock.tick(9)
    assert ninth.seconds_per_step == pytest.approx(1.0)
    assert ninth.eta_seconds == pytest.approx(1.0)
