"""`qie edit` and `qie make-tiny-gguf` with Qwen-Image-2.1 (issue 18): an image from the instruction alone,
transparency kept, and the tiny twin's transformer as GGUF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from qwen_image_editor.cli import app
from tests.conftest import noise_image

runner = CliRunner()


def qie(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_qie_edit_makes_an_image_from_the_instruction_alone_and_keeps_alpha(models_dir: Path, tmp_path: Path) -> None:
    data_dir = str(models_dir.parent)  # the session's tiny models, built once
    created = tmp_path / "created.png"
    code, output = qie("edit", "-p", "a red kite", "-o", str(created), "--model", "tiny-2.1", "--steps", "2",
                       "--data-dir", data_dir)  # fmt: skip
    assert code == 0, output
    assert Image.open(created).size == (1024, 1024)  # 2.1's native area, square

    clear_left = noise_image(320, 320, seed=1).convert("RGBA")
    clear_left.putalpha(
        Image.fromarray(np.where(np.arange(320)[None, :] < 160, 0, 255).astype(np.uint8).repeat(320, 0))
    )
    source = tmp_path / "cutout.png"
    clear_left.save(source)
    edited = tmp_path / "edited.png"
    code, output = qie("edit", str(source), "-p", "a hat", "-o", str(edited), "--model", "tiny-2.1", "--steps", "2",
                       "--data-dir", data_dir)  # fmt: skip
    assert code == 0, output
    assert Image.open(edited).mode == "RGBA"

    code, output = qie("edit", *[str(source)] * 11, "-p", "x", "-o", str(tmp_path / "no.png"), "--model", "tiny-2.1",
                       "--data-dir", data_dir)  # fmt: skip
    assert code == 2 and "takes 0 to 10 images, not 11" in output


def test_make_tiny_gguf_writes_the_21_transformer(models_dir: Path, tmp_path: Path) -> None:
    file = tmp_path / "tiny-2.1.gguf"
    code, output = qie("make-tiny-gguf", str(file), "--model", "tiny-2.1", "--data-dir", str(models_dir.parent))
    assert code == 0, output
    assert file.read_bytes()[:4] == b"GGUF"
