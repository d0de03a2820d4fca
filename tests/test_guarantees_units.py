"""GUARANTEES.md claims that had no test of their own (issue 19, point 14), proven below the API: keys compared in
constant time, Pillow's bomb warning, outputs encoded by us, paths and symlinks, atomic files, out of memory on the
worker, crash-safe cleanup, and no code loading or outbound HTTP outside the webhook sender.

The map of every claim to its tests is tests/test_guarantees.py."""

from __future__ import annotations

import ast
import errno
import hmac
import io
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qwen_image_editor import accounts, fileio
from qwen_image_editor.accounts import Role
from qwen_image_editor.application.cleanup import Cleanup
from qwen_image_editor.blobs.local import LocalBlobStore
from qwen_image_editor.edit_request import EditRequest, OutputFormat
from qwen_image_editor.engine.base import EditResult
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.errors import InvalidImage, JobNotFound, OutOfMemory
from qwen_image_editor.imaging import decode_image, encode_image
from qwen_image_editor.jobs.ids import new_job_id
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.services import build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings
from tests.conftest import noise_image
from tests.test_worker import Setup

SRC = Path(__file__).resolve().parent.parent / "src" / "qwen_image_editor"


def png(image: Image.Image, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=options.pop("format", "PNG"), **options)
    return buffer.getvalue()


# -- Access: keys ---------------------------------------------------------------------------------------------


def test_keys_and_session_tokens_are_compared_in_constant_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = build_services(make_settings(tmp_path), engine=FakeEngine(output_pixels=SMALL_OUTPUT_PIXELS))
    try:
        access = services.access
        _, secret = access.create_key("alice", Role.USER)
        compared: list[tuple[str, str]] = []
        real_compare = hmac.compare_digest

        def spy(a: Any, b: Any) -> bool:
            compared.append((a, b))
            return real_compare(a, b)

        monkeypatch.setattr(accounts.hmac, "compare_digest", spy)
        assert access.caller_with_key(secret, "127.0.0.1").key is not None
        # the stored hash against the hash of what was sent, by hmac.compare_digest: never the secret itself
        assert compared == [(accounts.digest(secret), accounts.digest(secret))]
        token, _, _ = access.open_session(secret, "127.0.0.1")
        compared.clear()
        assert access.caller_with_session(token).key is not None
        assert compared == [(accounts.digest(token), accounts.digest(token))]
        stored = [key.name for key in access.list_keys()]
        assert stored == ["alice"] and all(secret not in repr(key) for key in access.list_keys())
    finally:
        services.close()


# -- Input: decoding and encoding -----------------------------------------------------------------------------


def test_pillows_decompression_bomb_warning_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between Pillow's limit and twice it, Pillow only warns; we refuse, whatever our own (higher) limit says."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    warned = png(noise_image(40, 40))  # 1,600 pixels: over Pillow's 1,000, under its 2,000 error
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as if the process ignored warnings: still refused
        with pytest.raises(InvalidImage, match="too many pixels"):
            decode_image(io.BytesIO(warned), max_pixels=10**9)
    assert decode_image(io.BytesIO(png(noise_image(30, 30))), max_pixels=10**9).size == (30, 30)


@pytest.mark.parametrize("output_format", list(OutputFormat))
def test_an_output_is_encoded_by_us_without_the_inputs_metadata(output_format: OutputFormat) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)  # GPSLatitude
    with Image.open(io.BytesIO(png(noise_image(48, 32), format="JPEG", exif=exif.tobytes()))) as carrying:
        carrying.load()
        assert carrying.getexif().get(0x010F) == "SecretCam"
        for settings in (None, {"prompt": "p", "negative_prompt": " ", "steps": 2, "guidance": 4.0, "seed": 1,
                                "model": "fake"}):  # fmt: skip
            encoded = encode_image(carrying, output_format, settings)
            with Image.open(io.BytesIO(encoded)) as result:
                assert result.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[output_format.value]
                assert 0x010F not in result.getexif() and not result.getexif().get_ifd(0x8825)
            assert b"SecretCam" not in encoded


# -- Input: paths ---------------------------------------------------------------------------------------------


def test_a_symlinked_job_folder_is_neither_read_written_nor_deleted_through(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "jobs")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "input_1.png").write_bytes(png(noise_image(20, 20)))
    job_id = new_job_id()
    (blobs.root / job_id).symlink_to(outside, target_is_directory=True)
    with pytest.raises(FileNotFoundError):
        blobs.open_file(job_id, "input_1.png")
    with pytest.raises(FileNotFoundError):
        blobs.save_input(job_id, 2, noise_image(20, 20))
    with pytest.raises(FileNotFoundError):
        blobs.delete_job_files(job_id)
    assert job_id not in blobs.job_ids_stored()
    assert sorted(p.name for p in outside.iterdir()) == ["input_1.png"]  # nothing written, nothing deleted there


def test_a_symlinked_job_file_is_not_opened_and_a_save_replaces_the_link_not_its_target(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "jobs")
    secret = tmp_path / "secret.png"
    secret.write_bytes(png(noise_image(20, 20)))
    job_id = new_job_id()
    blobs.save_input(job_id, 1, noise_image(16, 16))
    planted = blobs.root / job_id / "output_1.png"
    planted.symlink_to(secret)
    with pytest.raises(FileNotFoundError):
        blobs.open_file(job_id, "output_1.png")
    with pytest.raises(FileNotFoundError):
        blobs.read_bytes(job_id, "output_1.png")
    before = secret.read_bytes()
    blobs.save_output(job_id, noise_image(24, 24, seed=5), OutputFormat.PNG)
    assert secret.read_bytes() == before  # the link was replaced, its target untouched
    assert not planted.is_symlink() and blobs.open_file(job_id, "output_1.png").size == planted.stat().st_size


def test_a_job_file_that_resolves_outside_the_data_directory_is_never_opened(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "jobs")
    job_id = new_job_id()
    blobs.save_input(job_id, 1, noise_image(16, 16))
    (tmp_path / "secret.png").write_bytes(png(noise_image(20, 20)))
    names = ("../../secret.png", "/etc/passwd", "input_1.png/../../../secret.png", "input_4.png", "output_1.png\n")
    for name in names:
        with pytest.raises(FileNotFoundError):
            blobs.open_file(job_id, name)
    for bad_id in ("..", "../jobs", "/tmp", f"{job_id}/..", f"../{job_id}"):
        with pytest.raises(JobNotFound):
            blobs.open_file(bad_id, "input_1.png")
    assert blobs.open_file(job_id, "input_1.png").size > 0


# -- Input: no code loading, no outbound HTTP but webhooks ---------------------------------------------------


def _source_modules() -> list[tuple[str, ast.Module]]:
    return [
        (str(path.relative_to(SRC)), ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(SRC.rglob("*.py"))
    ]


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_unpickles_anything() -> None:
    unpicklers = ("pickle", "cPickle", "dill", "joblib", "cloudpickle", "torch.load", "numpy.load")
    offenders = []
    for module, tree in _source_modules():
        for name in _imported(tree):
            if name.startswith(unpicklers):
                offenders.append(f"{module} imports {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("load", "loads"):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("torch", "pickle", "np", "numpy", "joblib", "dill"):
                    offenders.append(f"{module}:{node.lineno} calls {owner.id}.{node.attr}")
            unsafe_flag = isinstance(node, ast.keyword) and node.arg in ("use_safetensors", "weights_only")
            if unsafe_flag and isinstance(node.value, ast.Constant) and node.value.value is False:  # type: ignore[attr-defined]
                offenders.append(f"{module}:{node.lineno} passes {node.arg}=False")
    assert not offenders, "weights load from safetensors or GGUF only:\n" + "\n".join(offenders)


# The client side (the SDK and `qie remote`) calls our own API; on the server, only the webhook sender may.
HTTP_CLIENTS = ("httpx", "requests", "urllib.request", "urllib3", "aiohttp", "http.client", "websockets")
CLIENT_SIDE = {"client.py", "cli/remote.py"}
SENDS_WEBHOOKS = {"application/webhooks.py"}


def test_only_the_webhook_sender_makes_http_requests_on_the_server_side() -> None:
    users = {
        module
        for module, tree in _source_modules()
        if any(name == lib or name.startswith(lib + ".") for name in _imported(tree) for lib in HTTP_CLIENTS)
    }
    assert users - CLIENT_SIDE == SENDS_WEBHOOKS, "outbound HTTP a user could cause must go through the webhook checks"


# -- Durability: atomic files ---------------------------------------------------------------------------------


def test_a_file_is_written_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "output_1.png"
    real_fsync = os.fsync

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", disk_full)
    with pytest.raises(OSError):
        fileio.write_atomic(target, b"new result" * 1000)
    assert list(tmp_path.iterdir()) == []  # absent, and no temp file left behind

    monkeypatch.setattr(fileio.os, "fsync", real_fsync)
    fileio.write_atomic(target, b"old result")
    monkeypatch.setattr(fileio.os, "fsync", disk_full)
    with pytest.raises(OSError):
        fileio.write_atomic(target, b"new result" * 1000)
    assert target.read_bytes() == b"old result"  # the complete old file, not half the new one
    assert list(tmp_path.iterdir()) == [target]


def test_a_write_is_synced_before_it_is_renamed_into_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "output_1.png"
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync-dir" if calls and calls[-1] == "rename" else "fsync-file")
        real_fsync(fd)

    def replace(source: Any, destination: Any) -> None:
        assert Path(destination) == target and Path(source).parent == tmp_path and not target.exists()
        assert Path(source).read_bytes() == b"result"  # complete before it takes the name
        calls.append("rename")
        real_replace(source, destination)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    monkeypatch.setattr(fileio.os, "replace", replace)
    fileio.write_atomic(target, b"result")
    assert calls == ["fsync-file", "rename", "fsync-dir"]
    assert target.read_bytes() == b"result"


class _CheckingStore:
    """Wraps the worker's store: when `complete` is recorded, every output it names must be in place already."""

    def __init__(self, setup: Setup) -> None:
        self.setup, self.real = setup, setup.store.complete_job
        self.seen: list[list[str]] = []

    def complete_job(self, job_id: str, worker_id: str, output_names: list[str], **recorded: Any) -> Job:
        folder = self.setup.blobs.root / job_id
        assert output_names and all((folder / name).is_file() for name in output_names), output_names
        assert self.setup.store.get_job(job_id).status is JobStatus.PROCESSING
        self.seen.append(output_names)
        return self.real(job_id, worker_id, output_names, **recorded)


def test_complete_is_recorded_only_after_the_result_file_is_in_place(tmp_path: Path) -> None:
    setup = Setup(tmp_path, FakeEngine(step_seconds=0.001, output_pixels=SMALL_OUTPUT_PIXELS))
    checking = _CheckingStore(setup)
    setup.store.complete_job = checking.complete_job  # type: ignore[method-assign]
    job = setup.queue()
    saved = threading.Event()
    real_save = setup.blobs.save_output

    def save_output(job_id: str, *args: Any, **kwargs: Any) -> str:
        assert setup.status(job) is JobStatus.PROCESSING  # not yet complete while the file is being written
        name = real_save(job_id, *args, **kwargs)
        saved.set()
        return name

    setup.blobs.save_output = save_output  # type: ignore[method-assign]
    setup.worker.run_until_idle()
    assert saved.is_set() and checking.seen == [["output_1.png"]]
    assert setup.status(job) is JobStatus.COMPLETE


# -- Durability: out of memory --------------------------------------------------------------------------------


class _RunsOutOfMemoryOnce(FakeEngine):
    def __init__(self) -> None:
        super().__init__(step_seconds=0.001, output_pixels=SMALL_OUTPUT_PIXELS)
        self.failed = False

    def edit(self, images: Sequence[Image.Image], request: EditRequest, **kwargs: Any) -> EditResult:
        if not self.failed:
            self.failed = True
            raise OutOfMemory(
                "the cuda ran out of memory during this edit. Use fewer or smaller input images, or choose a memory "
                "plan that keeps less on the GPU (QIE_MEMORY=fp8, gguf, nf4 or low; `qie doctor` estimates each)."
            )
        return super().edit(images, request, **kwargs)


def test_out_of_memory_fails_that_job_with_advice_and_the_same_worker_runs_the_next(tmp_path: Path) -> None:
    setup = Setup(tmp_path, _RunsOutOfMemoryOnce())
    first, second = setup.queue(), setup.queue()
    assert setup.worker.run_until_idle() == 2
    failed = setup.store.get_job(first.id)
    assert failed.status is JobStatus.ERROR and failed.attempts == 1  # failed, not requeued to run out again
    assert "out of memory" in (failed.error or "") and "QIE_MEMORY" in (failed.error or "")
    done = setup.store.get_job(second.id)
    assert done.status is JobStatus.COMPLETE and done.claimed_by == failed.claimed_by == setup.worker.worker_id
    assert setup.engine.edits_run == 1


# -- Durability: cleanup --------------------------------------------------------------------------------------


def _finished_and_active(tmp_path: Path) -> tuple[Setup, Cleanup, list[str], str]:
    setup = Setup(tmp_path, FakeEngine(step_seconds=0.001, output_pixels=SMALL_OUTPUT_PIXELS))
    finished = [setup.queue().id for _ in range(3)]
    setup.worker.run_until_idle()
    active = setup.queue().id
    assert setup.store.claim_next_job("other-worker", lease_seconds=600) is not None
    return setup, Cleanup(setup.store, setup.blobs), finished, active


def test_cleanup_twice_is_cleanup_once(tmp_path: Path) -> None:
    setup, cleanup, finished, active = _finished_and_active(tmp_path)
    first = cleanup.delete_older_than(0)
    assert sorted(first.deleted) == sorted(finished) and first.freed_bytes > 0
    second = cleanup.delete_older_than(0)
    assert second.deleted == [] and second.freed_bytes == 0
    assert cleanup.delete_by_status(None).skipped_active == [active]  # and a third, of every job, leaves it too
    assert sorted(p.name for p in setup.blobs.root.iterdir()) == [active]
    assert setup.status(setup.store.get_job(active)) is JobStatus.PROCESSING


def test_cleanup_killed_between_record_and_files_is_finished_by_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup, cleanup, finished, active = _finished_and_active(tmp_path)

    def killed(job_id: str) -> int:
        raise KeyboardInterrupt  # the process dies after deleting the first record, before its files

    monkeypatch.setattr(setup.blobs, "delete_job_files", killed)
    with pytest.raises(KeyboardInterrupt):
        cleanup.delete_older_than(0)
    monkeypatch.undo()
    report = cleanup.delete_older_than(0)  # the next run (a restart's sweep): the rest, and the files left behind
    assert sorted(report.deleted) == sorted(finished)
    assert sorted(p.name for p in setup.blobs.root.iterdir()) == [active]
    assert (setup.blobs.root / active / "input_1.png").is_file()
    assert setup.status(setup.store.get_job(active)) is JobStatus.PROCESSING
