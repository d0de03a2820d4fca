"""`qie edit`, `qie make-tiny-model`, `qie doctor` and the help texts, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from qwen_image_editor.cli import app
from tests.conftest import noise_image

runner = CliRunner()


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / "a.png", tmp_path / "b.jpg"]
    noise_image(160, 120, seed=1).save(paths[0])
    noise_image(128, 128, seed=2).save(paths[1])
    return paths


@pytest.fixture
def data_dir(models_dir: Path) -> Path:
    """A data directory whose tiny models are the session's, so they are built once."""
    return models_dir.parent


def run_edit(inputs: list[Path], output: Path, data_dir: Path, *extra: str) -> tuple[int, str]:
    args = [
        "edit",
        *map(str, inputs),
        "-p",
        "make it blue",
        "-o",
        str(output),
        "--model",
        "tiny",
        "--steps",
        "2",
        "--data-dir",
        str(data_dir),
        *extra,
    ]
    result = runner.invoke(app, args)
    return result.exit_code, result.output


@pytest.mark.usefixtures("fast_area")
def test_edit_twice_with_one_seed_writes_identical_pixels(inputs: list[Path], tmp_path: Path, data_dir: Path) -> None:
    first, second = tmp_path / "one.png", tmp_path / "two.png"
    code, output = run_edit(inputs, first, data_dir, "--seed", "1")
    assert code == 0, output
    assert "seed 1" in output and "RANDOM weights" in output
    assert run_edit(inputs, second, data_dir, "--seed", "1")[0] == 0
    with Image.open(first) as a, Image.open(second) as b:
        assert a.format == "PNG"
        assert np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.usefixtures("fast_area")
@pytest.mark.parametrize(("name", "pillow_format"), [("out.jpg", "JPEG"), ("out.webp", "WEBP")])
def test_format_follows_the_extension(
    inputs: list[Path], tmp_path: Path, data_dir: Path, name: str, pillow_format: str
) -> None:
    code, output = run_edit(inputs, tmp_path / name, data_dir, "--seed", "3")
    assert code == 0, output
    with Image.open(tmp_path / name) as written:
        assert written.format == pillow_format


@pytest.mark.parametrize(
    ("make_input", "extra", "message"),
    [
        (lambda p: p.write_text("not an image"), [], "not a JPEG, PNG, WebP, TIFF or HEIC"),
        (lambda p: p.write_bytes(Path(p.parent / "a.png").read_bytes()[:200]), [], "could not be decoded"),
        (lambda p: None, ["--steps", "1"], "--steps"),
        (lambda p: None, ["--cfg", "50"], "--cfg"),
        (lambda p: None, ["--seed", "-4"], "--seed"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    inputs: list[Path], tmp_path: Path, data_dir: Path, make_input: object, extra: list[str], message: str
) -> None:
    bad = tmp_path / "bad.png"
    make_input(bad)  # type: ignore[operator]
    images = [bad] if bad.exists() else inputs
    output = tmp_path / "never.png"
    code, text = run_edit(images, output, data_dir, *extra)
    assert code == 2
    assert message in text
    assert not output.exists()
    assert list(tmp_path.glob(".never.png*")) == []


def test_four_images_are_refused(inputs: list[Path], tmp_path: Path, data_dir: Path) -> None:
    code, text = run_edit(inputs * 2, tmp_path / "x.png", data_dir)
    assert code == 2 and "Qwen-Image-Edit-2511 takes 1 to 3 images, not 4" in text


def test_make_tiny_model_writes_both_flavours(tmp_path: Path) -> None:
    for flavour, pipeline_class in (
        ("edit", "QwenImageEditPipeline"),
        ("edit-plus", "QwenImageEditPlusPipeline"),
    ):
        folder = tmp_path / flavour
        result = runner.invoke(app, ["make-tiny-model", str(folder), "--flavour", flavour])
        assert result.exit_code == 0, result.output
        assert json.loads((folder / "model_index.json").read_text())["_class_name"] == pipeline_class
        assert list(folder.rglob("*.safetensors"))
        assert "RANDOM" in (folder / "TINY_RANDOM_WEIGHTS.txt").read_text()
    again = runner.invoke(app, ["make-tiny-model", str(tmp_path / "edit")])
    assert again.exit_code == 2 and "not empty" in again.output


def test_doctor_reports_what_auto_would_choose(data_dir: Path) -> None:
    result = runner.invoke(app, ["doctor", "--data-dir", str(data_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for expected in ("torch", "CUDA", "Hugging Face cache", "GiB free", "Would use", "tiny"):
        assert expected in result.output


@pytest.mark.process
def test_the_installed_command_explains_itself() -> None:
    qie = Path(sys.executable).parent / "qie"
    top = subprocess.run([qie, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("edit", "doctor", "make-tiny-model"):
        assert command in top
        sub = subprocess.run([qie, command, "--help"], capture_output=True, text=True, check=True).stdout
        assert "Usage" in sub
    bad = subprocess.run([qie, "edit", "--no-such-flag"], capture_output=True, text=True)
    assert bad.returncode == 2
