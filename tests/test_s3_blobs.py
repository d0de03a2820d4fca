"""Job files in an S3-compatible object store, end to end: real `qie serve` processes with QIE_BLOBS=s3://...
against a real S3 server (moto, started by the tests), the objects checked with boto3 directly; and outages."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.base import CancelCheck, EditResult, StepCallback
from qwen_image_editor.engine.checkpoints import Checkpointing
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.errors import StorageUnavailable
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.services import build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings, png_bytes, submit, wait_for
from tests.live_server import free_port, live_server
from tests.s3_server import S3Server, s3_process_env, start_s3_server
from tests.test_crash_recovery import PATIENCE, server_process

pytestmark = pytest.mark.process

PREFIX = "qie/jobs"


@contextmanager
def qie_serve(data_dir: Path, env: dict[str, str]) -> Iterator[httpx.Client]:
    """A real `qie serve` (fake engine, small results) in the environment `env`, and a client for it."""
    port = free_port()
    settings = {
        "QIE_FAKE_STEP_SECONDS": "0.01",
        "QIE_FAKE_OUTPUT_PIXELS": str(SMALL_OUTPUT_PIXELS),
        "QIE_POLL_SECONDS": "0.05",
        "QIE_RETENTION_HOURS": "24",  # the default: the retention sweep runs, as in production
    }
    with (
        server_process(data_dir, port, env=settings, environ=env),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=PATIENCE) as http,
    ):
        yield http


def s3_env(server: S3Server, bucket: str, **extra: str) -> dict[str, str]:
    return s3_process_env(QIE_BLOBS=f"s3://{bucket}/{PREFIX}", QIE_S3_ENDPOINT_URL=server.endpoint_url, **extra)


def job_keys(job_id: str, *names: str) -> list[str]:
    return sorted(f"{PREFIX}/{job_id}/{name}" for name in names)


def test_jobs_store_stream_zip_delete_and_clean_up_their_files_in_the_bucket(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    env = s3_env(s3_server, s3_bucket)
    with qie_serve(tmp_path / "data", env) as http:
        assert http.get("/api/health/ready").json() == {"ready": True, "problems": []}
        job_id = submit(http, [png_bytes(seed=1)], num_images=2, seed=7).json()["job_id"]
        job = wait_for(http, job_id, {"complete", "error"}, timeout=PATIENCE)
        assert job["status"] == "complete", job
        stored = s3_server.objects(s3_bucket, PREFIX)
        assert sorted(stored) == job_keys(job_id, "input_1.png", "output_1.png", "output_2.png", "thumbnail.webp")
        assert not (tmp_path / "data" / "jobs" / job_id).exists()  # nothing on the local disk

        download = http.get(f"/api/jobs/{job_id}/download")
        assert download.status_code == 200
        assert download.content == stored[f"{PREFIX}/{job_id}/output_1.png"]
        assert download.headers["content-type"] == "image/png"
        assert download.headers["content-length"] == str(len(download.content))
        assert download.headers["content-disposition"] == 'attachment; filename="make-the-sky-stormy_seed7.png"'
        assert download.headers["x-content-type-options"] == "nosniff"
        second = http.get(f"/api/jobs/{job_id}/download", params={"index": 2})
        assert second.content == stored[f"{PREFIX}/{job_id}/output_2.png"]

        thumbnail = http.get(job["thumbnail"])
        assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/webp"
        assert thumbnail.content == stored[f"{PREFIX}/{job_id}/thumbnail.webp"]
        with Image.open(io.BytesIO(http.get(f"/api/jobs/{job_id}/files/input_1.png").content)) as stored_input:
            assert stored_input.size == (64, 48)
        assert http.get(f"/api/jobs/{job_id}/files/output_3.png").status_code == 404

        with zipfile.ZipFile(io.BytesIO(http.get(f"/api/jobs/{job_id}/download.zip").content)) as archive:
            contents = {info.filename: archive.read(info) for info in archive.infolist()}
        assert contents == {
            "make-the-sky-stormy_seed7.png": stored[f"{PREFIX}/{job_id}/output_1.png"],
            "make-the-sky-stormy_seed8.png": stored[f"{PREFIX}/{job_id}/output_2.png"],
        }

        assert http.delete(f"/api/jobs/{job_id}").status_code == 200
        assert s3_server.objects(s3_bucket, PREFIX) == {}

        # Retention and cleanup delete in the bucket too: a finished job, and files left without a record.
        kept = submit(http, [png_bytes(seed=2)]).json()["job_id"]
        assert wait_for(http, kept, {"complete", "error"}, timeout=PATIENCE)["status"] == "complete"
        orphan = str(uuid.uuid4())
        s3_server.client().put_object(Bucket=s3_bucket, Key=f"{PREFIX}/{orphan}/input_1.png", Body=b"left over")
        status = _qie(env, "cleanup", "--status", "--data-dir", str(tmp_path / "data"))
        assert "jobs with files but no record │ 1" in status
        cleaned = _qie(env, "cleanup", "--hours", "0", "--data-dir", str(tmp_path / "data"))
        assert "Deleted 2 jobs" in cleaned and kept in cleaned and orphan in cleaned
        assert s3_server.objects(s3_bucket, PREFIX) == {}
        assert http.get(f"/api/jobs/{kept}").status_code == 404


def _qie(env: dict[str, str], *args: str) -> str:
    qie = Path(sys.executable).parent / "qie"
    done = subprocess.run([qie, *args], env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=PATIENCE)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_presigned_downloads_redirect_to_the_bucket_after_the_access_check(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    env = s3_env(s3_server, s3_bucket, QIE_S3_PRESIGN_SECONDS="60")
    with qie_serve(tmp_path / "data", env) as http:
        job_id = submit(http, [png_bytes(seed=1)], seed=3).json()["job_id"]
        assert wait_for(http, job_id, {"complete", "error"}, timeout=PATIENCE)["status"] == "complete"
        in_bucket = s3_server.objects(s3_bucket, PREFIX)[f"{PREFIX}/{job_id}/output_1.png"]

        redirect = http.get(f"/api/jobs/{job_id}/download")
        assert redirect.status_code == 307
        location = redirect.headers["location"]
        assert location.startswith(f"{s3_server.endpoint_url}/{s3_bucket}/{PREFIX}/{job_id}/output_1.png?")
        fetched = httpx.get(location, timeout=PATIENCE)
        assert fetched.status_code == 200 and fetched.content == in_bucket
        assert fetched.headers["content-type"] == "image/png"
        assert fetched.headers["content-disposition"] == 'attachment; filename="make-the-sky-stormy_seed3.png"'

        # What the page shows inline stays on its own origin (its CSP allows images from 'self' only).
        inline = http.get(f"/api/jobs/{job_id}/files/output_1.png")
        assert inline.status_code == 200 and inline.content == in_bucket
        # The API still decides who sees what: no redirect for a job or a file that is not there.
        assert http.get(f"/api/jobs/{uuid.uuid4()}/download").status_code == 404
        assert http.get(f"/api/jobs/{job_id}/files/output_2.png").status_code == 404
        assert http.get(f"/api/jobs/{job_id}/download.zip").status_code == 200  # zips still go through the API


def test_an_outage_answers_503_keeps_no_record_and_fails_readiness(tmp_path: Path) -> None:
    private = start_s3_server(tmp_path)  # this test stops its server: not the shared one
    try:
        bucket = private.new_bucket()
        with qie_serve(tmp_path / "data", s3_env(private, bucket)) as http:
            before = submit(http, [png_bytes(seed=1)]).json()["job_id"]
            assert wait_for(http, before, {"complete", "error"}, timeout=PATIENCE)["status"] == "complete"
            private.stop()

            started = time.monotonic()
            refused = submit(http, [png_bytes(seed=2)])
            # Short time-outs and few retries (counted in tests/blobs/test_contract.py): seconds, not minutes.
            assert time.monotonic() - started < 45
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "30"
            assert refused.json()["detail"] == (
                "job files cannot be stored or read now: the object store is unreachable "
                "(EndpointConnectionError); try again in a minute"
            )
            jobs = http.get("/api/jobs").json()
            assert [job["job_id"] for job in jobs["jobs"]] == [before] and jobs["total"] == 1

            ready = http.get("/api/health/ready")
            assert ready.status_code == 503
            assert ready.json()["problems"] == [
                "job files cannot be written in the object store (EndpointConnectionError)"
            ]
            download = http.get(f"/api/jobs/{before}/download")
            assert download.status_code == 503 and "unreachable" in download.json()["detail"]
            assert http.get(f"/api/jobs/{before}").json()["status"] == "complete"  # the records still answer
    finally:
        private.stop()


@pytest.mark.usefixtures("s3_env")
def test_a_submit_that_fails_half_way_leaves_no_files_and_no_record(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(
        tmp_path, blobs=f"s3://{s3_bucket}/{PREFIX}", s3_endpoint_url=s3_server.endpoint_url, worker_enabled=False
    )
    services = build_services(settings, engine=FakeEngine(output_pixels=SMALL_OUTPUT_PIXELS))
    real_save = services.blobs.save_input

    def second_image_meets_an_outage(job_id: str, index: int, image: Image.Image) -> str:
        if index == 2:
            assert s3_server.objects(s3_bucket, PREFIX) != {}  # the first one was written
            raise StorageUnavailable("the object store is unreachable (EndpointConnectionError)")
        return real_save(job_id, index, image)

    monkeypatch.setattr(services.blobs, "save_input", second_image_meets_an_outage)
    with live_server(services) as server:
        refused = submit(server.http, [png_bytes(seed=1), png_bytes(seed=2)])
        assert refused.status_code == 503
        assert "the object store is unreachable" in refused.json()["detail"]
        assert server.http.get("/api/jobs").json()["total"] == 0
    assert s3_server.objects(s3_bucket, PREFIX) == {}  # the first input went again


class _OutageDuringTheEdit(FakeEngine):
    """Stops the S3 server while the edit runs: the result then cannot be stored."""

    def __init__(self, server: S3Server) -> None:
        super().__init__(output_pixels=SMALL_OUTPUT_PIXELS)
        self.server = server

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
        self.server.stop()
        return super().edit(images, request, on_step, should_cancel, output_size, region, checkpoints)


@pytest.mark.usefixtures("s3_env")
def test_a_result_that_cannot_be_stored_ends_the_job_with_the_reason(tmp_path: Path) -> None:
    private = start_s3_server(tmp_path)
    try:
        bucket = private.new_bucket()
        settings = make_settings(
            tmp_path, blobs=f"s3://{bucket}/{PREFIX}", s3_endpoint_url=private.endpoint_url, worker_enabled=False
        )
        services = build_services(settings, engine=_OutageDuringTheEdit(private))
        upload = io.BytesIO(png_bytes(seed=1))
        job = services.jobs.submit([upload], EditRequest(prompt="stormy", num_inference_steps=2))
        assert services.worker.run_until_idle() == 1
        ended = services.store.get_job(job.id)
        assert ended.status is JobStatus.ERROR
        assert ended.error == (
            "could not store the result: the object store is unreachable (EndpointConnectionError); "
            "submit the edit again once it is back"
        )
        assert ended.output_names == []  # nothing is referenced that was not stored
        services.close()
    finally:
        private.stop()
