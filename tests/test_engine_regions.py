"""Region edits in the real engine (issue 20, points 3 and 4), on the tiny models, CPU: each family holds the latents
outside the region on image 1's, draws at image 1's aspect ratio and returns image 1's exact size."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine import families, inpainting
from qwen_image_editor.engine.base import StepProgress
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.inpainting import (
    LATENT_MASK,
    MARKS_LATENT_MASK,
    LatentMask,
    check_region,
    marks_prompt,
    paint_marks,
    working_size,
)
from qwen_image_editor.engine.models import resolve_model
from qwen_image_editor.errors import EditCancelled, InvalidRequest
from qwen_image_editor.model_families import FAMILIES, ModelFamily
from qwen_image_editor.regions import RegionEdit, plan_region, soft_mask
from tests.conftest import FAST_AREA, noise_image

SIZE = (641, 479)  # odd on both sides, and an aspect no multiple of 16 or 32 gives exactly
BOX = (250, 190, 390, 290)  # the region: a rectangle near the middle
MARGIN = 100  # pixels this far from the region are out of reach of the decoder's seam


def request(**overrides: object) -> EditRequest:
    fields: dict[str, object] = {"prompt": "put a hat on it", "num_inference_steps": 2, "seed": 7}
    fields.update({"true_cfg_scale": 1.0, **overrides})
    return EditRequest.model_validate(fields)


def region_mask(size: tuple[int, int] = SIZE, box: tuple[int, int, int, int] = BOX) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def far_outside(size: tuple[int, int] = SIZE, box: tuple[int, int, int, int] = BOX) -> np.ndarray:
    far = np.ones((size[1], size[0]), dtype=bool)
    far[max(0, box[1] - MARGIN) : box[3] + MARGIN, max(0, box[0] - MARGIN) : box[2] + MARGIN] = False
    return far


def rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def mean_difference(a: Image.Image, b: Image.Image, where: np.ndarray) -> float:
    return float(np.abs(rgb(a) - rgb(b)).mean(axis=-1)[where].mean())


class HeldLatents:
    """Records what LatentMask.hold hands back to the pipeline at each step."""

    def __init__(self) -> None:
        self.steps: list[tuple[LatentMask, int, Any]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = LatentMask.hold

        def hold(mask: LatentMask, pipeline: Any, index: int, latents: Any) -> Any:
            held = original(mask, pipeline, index, latents)
            self.steps.append((mask, index, held.clone()))
            return held

        monkeypatch.setattr(LatentMask, "hold", hold)


@pytest.fixture
def region_area(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Region edits drawn at ~256² (as fast_area does for the pipelines' own sizes)."""
    monkeypatch.setattr(inpainting, "WORKING_AREA", FAST_AREA)
    yield FAST_AREA


@pytest.fixture(scope="module")
def engine_21(models_dir: Path) -> DiffusersEngine:
    engine = DiffusersEngine(resolve_model("tiny-2.1", models_dir), plan_device("cpu"))
    engine.load()
    return engine


@pytest.fixture
def fast_21(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # 320, not 256: the 2.1 tests' own reason (tests/test_model_21.py, FAST_RESOLUTION).
    monkeypatch.setattr(families, "QWEN_IMAGE_21_RESOLUTION", 320)
    monkeypatch.setattr(inpainting, "WORKING_AREA", 320 * 320)
    yield


# -- the size rule and the marks, without a model -------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_size", "multiple", "expected"),
    [
        ((4032, 3024), 16, (1152, 864)),
        ((6000, 4000), 16, (1248, 832)),
        ((1920, 1080), 16, (1280, 720)),
        ((1080, 1350), 16, (896, 1120)),
        ((641, 479), 16, (1136, 848)),
        ((4032, 3024), 32, (1152, 864)),
        ((641, 479), 32, (1152, 864)),
    ],
)
def test_working_size_keeps_the_aspect_within_the_multiple_near_the_native_area(
    image_size: tuple[int, int], multiple: int, expected: tuple[int, int]
) -> None:
    width, height = working_size(image_size, multiple, 1024 * 1024)
    assert (width, height) == expected
    assert width % multiple == 0 and height % multiple == 0
    assert inpainting.MIN_AREA_SHARE * 1024 * 1024 <= width * height <= 1024 * 1024
    # Rounding one side to the multiple could cost up to half a multiple; the rule does at least as well.
    aspect_error = abs(width / height / (image_size[0] / image_size[1]) - 1)
    assert aspect_error <= multiple / 2 / min(width, height)


def test_working_size_of_an_extreme_aspect_stays_within_the_area() -> None:
    width, height = working_size((100, 10000), 16, 1024 * 1024)
    assert width * height <= 1024 * 1024 and width >= 16 and height % 16 == 0
    with pytest.raises(ValueError):
        working_size((0, 10), 16, 1024 * 1024)


def test_marks_paint_the_region_red_and_leave_the_rest() -> None:
    image = noise_image(*SIZE).convert("RGBA")
    painted = paint_marks(image, region_mask())
    assert painted.size == image.size and painted.mode == "RGBA"
    inside = np.asarray(region_mask()) == 255
    before, after = np.asarray(image, dtype=np.int16), np.asarray(painted, dtype=np.int16)
    assert (after[~inside] == before[~inside]).all()
    assert (after[inside][:, 0] >= before[inside][:, 0]).all() and (after[inside][:, 0] >= 127).all()
    assert "red" in marks_prompt("put a hat on it") and "put a hat on it" in marks_prompt(" put a hat on it ")


def test_a_region_of_another_size_than_image_1_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="image 1's size"):
        check_region([noise_image(*SIZE)], region_mask((640, 480), (1, 1, 10, 10)))
    with pytest.raises(InvalidRequest, match="needs an input image"):
        check_region([], region_mask())
    check_region([noise_image(*SIZE)], None)


# -- each family on its tiny twin -----------------------------------------------------------------------------


def check_region_edit(engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch, approach: str) -> None:
    """One family's region edit against the same edit without a region, and against another seed."""
    image, region = noise_image(*SIZE), region_mask()
    held = HeldLatents()
    held.install(monkeypatch)
    result = engine.edit([image], request(), region=region)
    assert result.image.size == SIZE and result.region_approach == approach

    # The latents outside the region were image 1's at every step, and image 1's clean ones after the last.
    assert [index for _, index, _ in held.steps] == [0, 1]
    mask, _, final = held.steps[-1]
    keep = mask.keep.bool()
    assert torch_equal(final[keep], mask.clean[keep])
    assert not torch_equal(final[~keep], mask.clean[~keep])
    drawn = 1 - mask.keep.float().mean().item()  # the share of the latent grid the model drew
    assert 0.03 < drawn < 0.2  # the region is ~4.7 % of the image, plus the cells its edge touches

    # After the caller's composite, outside pixels are image 1's exactly; inside, the model's.
    composite = Image.composite(result.image.convert(image.mode), image, region)
    inside = np.asarray(region) == 255
    assert (np.asarray(composite)[~inside] == np.asarray(image)[~inside]).all()
    assert mean_difference(composite, image, inside) > 10

    # Before the composite: far from the region, another seed's region edit decodes the same surroundings (both hold
    # image 1's latents there), while an edit without a region draws something else entirely.
    other_seed = engine.edit([image], request(seed=8), region=region)
    unmasked = engine.edit([image], request(), output_size=SIZE)
    assert unmasked.region_approach is None
    far = far_outside()
    assert mean_difference(result.image, other_seed.image, far) < 0.1 * mean_difference(
        result.image, unmasked.image, far
    )
    assert mean_difference(result.image, other_seed.image, inside) > 5


def torch_equal(a: Any, b: Any) -> bool:
    import torch

    return bool(torch.equal(a, b))


@pytest.mark.usefixtures("fast_area", "region_area")
def test_each_edit_family_holds_the_latents_outside_the_region(
    engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_region_edit(engine, monkeypatch, LATENT_MASK)


@pytest.mark.usefixtures("fast_21")
def test_21_edits_with_marks_and_holds_the_latents_outside(
    engine_21: DiffusersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []
    original = engine_21._pipeline.__class__.__call__

    def call(pipeline: Any, *args: Any, **kwargs: Any) -> Any:
        prompts.append(kwargs["prompt"])
        if kwargs["prompt"] != "put a hat on it":  # the region edit: image 1 goes in with the red mark on it
            assert np.asarray(kwargs["image"][0])[240, 320][0] >= 127
        return original(pipeline, *args, **kwargs)

    monkeypatch.setattr(engine_21._pipeline.__class__, "__call__", call)
    check_region_edit(engine_21, monkeypatch, MARKS_LATENT_MASK)
    assert prompts[0] == marks_prompt("put a hat on it") and prompts[-1] == "put a hat on it"


@pytest.mark.usefixtures("fast_area", "region_area")
def test_a_region_edit_is_reproducible_and_cancellable(edit_plus_engine: DiffusersEngine) -> None:
    image, region = noise_image(*SIZE), region_mask()
    first = edit_plus_engine.edit([image], request(), region=region)
    again = edit_plus_engine.edit([image], request(), region=region)
    assert (np.asarray(first.image) == np.asarray(again.image)).all()

    steps: list[int] = []
    cancel = threading.Event()

    def on_step(step: StepProgress) -> None:
        steps.append(step.step)
        cancel.set()

    with pytest.raises(EditCancelled):
        edit_plus_engine.edit([image], request(num_inference_steps=4), on_step, cancel.is_set, region=region)
    assert steps == [1]
    # A region of the wrong size is refused before any model work.
    with pytest.raises(InvalidRequest):
        edit_plus_engine.edit([image], request(), on_step, region=region_mask((640, 480)))
    assert steps == [1]


@pytest.mark.usefixtures("fast_area", "region_area")
def test_the_model_draws_at_the_working_size_and_the_result_is_image_1s(
    edit_engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[tuple[int, int]] = []
    pipeline_class = edit_engine._pipeline.__class__
    original = pipeline_class.__call__

    def call(pipeline: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append((kwargs["width"], kwargs["height"]))
        return original(pipeline, *args, **kwargs)

    monkeypatch.setattr(pipeline_class, "__call__", call)
    # keep_input_size off and another output size asked for: with a region the result is image 1's size anyway.
    result = edit_engine.edit(
        [noise_image(*SIZE)], request(keep_input_size=False), output_size=(300, 300), region=region_mask()
    )
    assert sizes == [working_size(SIZE, 16, FAST_AREA)]
    assert result.image.size == SIZE


@pytest.mark.usefixtures("fast_area", "region_area")
def test_crop_and_stitch_on_a_big_photo_keeps_it_whole_and_exact_outside(
    edit_plus_engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20's crop-and-stitch case with the tiny 2511 twin, as the worker runs it: a 200x150 region of a
    4000x3000 photo is edited on a crop at the planned working size and stitched back into the whole photo."""
    size, box = (4000, 3000), (1900, 1400, 2099, 1549)  # ImageDraw's box is inclusive: 200x150
    photo = noise_image(*size, seed=4)
    edit = request()
    soft = soft_mask(region_mask(size, box), grow_px=edit.mask_grow, feather_px=edit.mask_feather)
    capabilities = FAMILIES[ModelFamily.EDIT_2511]
    plan = plan_region(soft, capabilities)
    assert plan.crop_box is not None
    sizes: list[tuple[int, int]] = []
    pipeline_class = edit_plus_engine._pipeline.__class__
    original = pipeline_class.__call__

    def call(pipeline: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append((kwargs["width"], kwargs["height"]))
        return original(pipeline, *args, **kwargs)

    monkeypatch.setattr(pipeline_class, "__call__", call)
    region = RegionEdit(photo, soft, plan.crop_box)
    image, part = region.for_the_model()
    result = region.put_back(edit_plus_engine.edit([image], edit, region=part).image)

    assert result.size == size
    # The model drew the crop at the working size the job records, no larger than the model's native area.
    assert sizes == [plan.working_size]
    assert plan.working_size[0] * plan.working_size[1] <= capabilities.native_pixels
    outside = np.asarray(soft) == 0
    changed = np.any(np.asarray(result) != np.asarray(photo), axis=-1)
    assert not changed[outside].any()
    assert changed[np.asarray(region_mask(size, box)) == 255].mean() > 0.9


def test_the_readme_table_follows_the_size_rule() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme.split("### Regions", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:4] for line in table.splitlines() if line.startswith("| ") and "x" in line[:12]]
    assert len(rows) >= 5
    for image, edit, edit_21 in rows:
        size = tuple(int(side) for side in image.strip().split("x"))
        assert len(size) == 2
        for cell, multiple in ((edit, 16), (edit_21, 32)):
            width, height = working_size((size[0], size[1]), multiple, 1024 * 1024)
            aspect_error = abs(width / height / (size[0] / size[1]) - 1) * 100
            assert cell.strip() == f"{width}x{height} ({aspect_error:.2f} %)"
