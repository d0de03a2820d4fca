"""A region mask (issue 20) through the Python client, `qie remote edit --mask` and `qie edit --mask`: outside the
grown and feathered region, the result is image 1's pixels exactly, at image 1's size."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from qwen_image_editor.cli import app
from qwen_image_editor.client import Client
from qwen_image_editor.regions import grow
from tests.api.conftest import PATIENCE, png_bytes
from tests.live_server import LiveServer

SIZE = (641, 479)
BOX = (300, 200, 380, 260)


def mask_image() -> Image.Image:
    mask = Image.new("L", SIZE, 0)
    ImageDraw.Draw(mask).rectangle((BOX[0], BOX[1], BOX[2] - 1, BOX[3] - 1), fill=255)
    return mask


def assert_edited_only_inside(result: Image.Image, image: bytes) -> None:
    assert result.size == SIZE
    original = np.asarray(Image.open(io.BytesIO(image)).convert("RGB"))
    edited = np.asarray(result.convert("RGB"))
    keep = np.asarray(grow(mask_image(), 8 + 16)) == 0
    assert (edited[keep] == original[keep]).all()
    inside = np.asarray(mask_image()) == 255
    assert (edited[inside] != original[inside]).any()


def files(tmp_path: Path) -> tuple[Path, Path, bytes]:
    image = png_bytes(*SIZE, seed=9)
    source, mask = tmp_path / "in.png", tmp_path / "mask.png"
    source.write_bytes(image)
    mask_image().save(mask)
    return source, mask, image


def test_the_client_sends_a_mask(server: LiveServer, tmp_path: Path) -> None:
    source, mask, image = files(tmp_path)
    with Client(server.url) as client:
        job = client.edit([source], "a red ball", mask=mask, num_inference_steps=2, mask_grow=8, mask_feather=16)
        view = job.wait(timeout=PATIENCE)
        assert view["status"] == "complete", view["error"]
        assert view["mask"] is not None and view["region"]["approach"] == "latent-mask"
        assert_edited_only_inside(Image.open(job.download(tmp_path / "out.png")), image)


def test_qie_remote_edit_with_a_mask(server: LiveServer, tmp_path: Path) -> None:
    source, mask, image = files(tmp_path)
    output = tmp_path / "out.png"
    result = CliRunner().invoke(
        app,
        ["remote", "edit", str(source), "-p", "a red ball", "-o", str(output), "--server", server.url,
         "--steps", "2", "--mask", str(mask)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert_edited_only_inside(Image.open(output), image)


def test_qie_edit_with_a_mask(tmp_path: Path) -> None:
    source, mask, image = files(tmp_path)
    output = tmp_path / "out.png"
    result = CliRunner().invoke(
        app,
        ["edit", str(source), "-p", "a red ball", "-o", str(output), "--model", "fake", "--steps", "2",
         "--mask", str(mask), "--data-dir", str(tmp_path / "data")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert_edited_only_inside(Image.open(output), image)


def test_qie_edit_refuses_an_empty_mask(tmp_path: Path) -> None:
    source, mask, _ = files(tmp_path)
    Image.new("L", SIZE, 0).save(mask)
    result = CliRunner().invoke(
        app,
        ["edit", str(source), "-p", "x", "-o", str(tmp_path / "out.png"), "--model", "fake", "--mask", str(mask),
         "--data-dir", str(tmp_path / "data")],
    )  # fmt: skip
    assert result.exit_code == 2 and "marks nothing" in result.output
    assert not (tmp_path / "out.png").exists()
