"""qwen_image_editor.client (sync and async) and `qie remote` against a live server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from qwen_image_editor.cli import app
from qwen_image_editor.client import AsyncClient, Client, ServerError
from qwen_image_editor.engine.fake import FakeEngine
from tests.api.conftest import PATIENCE, png_bytes
from tests.api.test_access import keyed_server
from tests.live_server import LiveServer


def test_edit_follow_the_progress_and_download(server: LiveServer, fake_engine: FakeEngine, tmp_path: Path) -> None:
    gate = fake_engine.hold()  # no step before the client follows, however soon the worker starts
    with Client(server.url) as client:
        job = client.edit([png_bytes(seed=1), png_bytes(seed=2)], "make the sky stormy", num_inference_steps=4, seed=7)
        following = job.progress()
        messages = [next(following)]  # the snapshot: the socket hears everything from here on
        gate.open()
        messages += following
        assert messages[0]["type"] == "snapshot" and messages[-1]["type"] == "complete"
        assert any(message["type"] == "progress" for message in messages)
        assert job.status == "complete"
        written = job.download(tmp_path / "out.png")
        assert Image.open(written).format == "PNG"
        assert [listed.id for listed in client.jobs()] == [job.id]


def test_wait_and_cancel(server: LiveServer, fake_engine: FakeEngine) -> None:
    with Client(server.url) as client:
        done = client.edit([png_bytes()], "make it snow", num_inference_steps=2)
        assert done.wait(timeout=PATIENCE)["status"] == "complete"
        gate = fake_engine.hold()  # the next job cannot end before it is cancelled
        slow = client.edit([png_bytes()], "make it rain", num_inference_steps=150)
        assert slow.cancel()["status"] in ("cancelled", "processing", "queued")
        assert slow.wait(timeout=PATIENCE)["status"] == "cancelled"
        gate.open()


def test_oversized_uploads_are_a_413_with_its_message_sync_and_async(server: LiveServer) -> None:
    big = b"\0" * (5 * 1024 * 1024)  # over the test settings' 2 MiB body cap
    with Client(server.url) as client, pytest.raises(ServerError) as refused:
        client.edit([big], "make it snow")
    assert refused.value.status == 413 and "limit" in refused.value.message

    async def upload() -> None:
        async with AsyncClient(server.url) as client:
            await client.edit([big], "make it snow")

    with pytest.raises(ServerError) as refused_async:
        asyncio.run(upload())
    assert refused_async.value.status == 413 and "limit" in refused_async.value.message


def test_the_async_client(server: LiveServer, tmp_path: Path) -> None:
    async def run() -> list[str]:
        async with AsyncClient(server.url) as client:
            job = await client.edit([png_bytes()], "make it snow", num_inference_steps=3, num_images=2)
            kinds = [message["type"] async for message in job.progress()]
            assert (await job.wait(timeout=PATIENCE))["status"] == "complete"
            await job.download(tmp_path / "second.webp", index=2)
            return kinds

    kinds = asyncio.run(run())
    assert kinds[0] == "snapshot" and kinds[-1] == "complete"
    assert (tmp_path / "second.webp").stat().st_size > 0


def test_qie_remote_edit_and_jobs(tmp_path: Path) -> None:
    for keyed in keyed_server(tmp_path / "server"):
        source = tmp_path / "in.png"
        source.write_bytes(png_bytes())
        url, key = keyed.server.url, keyed.alice
        runner = CliRunner()
        result = runner.invoke(
            app,
            ["remote", "edit", str(source), "-p", "make it snow", "-o", str(tmp_path / "out.png"),
             "--server", url, "--key", key, "--steps", "3", "--seed", "5", "--num-images", "2"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert (tmp_path / "out.png").is_file() and (tmp_path / "out_2.png").is_file()
        listed = runner.invoke(app, ["remote", "jobs", "--server", url, "--key", key], env={"COLUMNS": "120"})
        assert listed.exit_code == 0 and "make it snow" in listed.output
        job_id = listed.output.split("\n")[3].split("│")[1].strip()  # the first row, whole on any terminal
        assert len(job_id) == 36 and str(tmp_path) not in job_id
        refused = runner.invoke(app, ["remote", "jobs", "--server", url, "--key", "qie_wrong"])
        assert refused.exit_code == 2 and "key" in refused.output.lower()
