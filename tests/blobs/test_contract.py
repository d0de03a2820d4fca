"""One contract for every blob store: the local folder and a real S3-compatible server (moto)."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from qwen_image_editor.blobs.base import BlobStore
from qwen_image_editor.blobs.local import LocalBlobStore
from qwen_image_editor.blobs.s3 import S3BlobStore
from qwen_image_editor.edit_request import OutputFormat
from qwen_image_editor.errors import JobNotFound, StorageUnavailable
from qwen_image_editor.imaging import read_embedded_settings
from tests.conftest import noise_image
from tests.s3_server import S3Server, closed_port_url

PREFIX = "site/jobs"


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.process)])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "jobs")
        return
    server: S3Server = request.getfixturevalue("s3_server")
    request.getfixturevalue("s3_env")  # the store's own client, as `qie serve` makes it, from the environment
    yield S3BlobStore(server.new_bucket(), PREFIX, endpoint_url=server.endpoint_url)


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_inputs_come_back_in_order_and_lossless(blobs: BlobStore) -> None:
    job_id = str(uuid.uuid4())
    sent = [noise_image(40, 30, seed) for seed in (1, 2, 3)]
    assert [blobs.save_input(job_id, index, image) for index, image in enumerate(sent, start=1)] == [
        "input_1.png",
        "input_2.png",
        "input_3.png",
    ]
    loaded = blobs.load_inputs(job_id, 3)
    assert [_pixels(image).tolist() for image in loaded] == [_pixels(image).tolist() for image in sent]


def test_an_opened_file_has_its_size_media_type_and_bytes(blobs: BlobStore) -> None:
    job_id = str(uuid.uuid4())
    blobs.save_input(job_id, 1, noise_image(40, 30))
    content = blobs.read_bytes(job_id, "input_1.png")
    assert content.startswith(b"\x89PNG")
    stored = blobs.open_file(job_id, "input_1.png")
    assert (stored.size, stored.media_type) == (len(content), "image/png")
    assert b"".join(stored.chunks) == content


def test_outputs_and_the_thumbnail_are_written_with_their_settings(blobs: BlobStore) -> None:
    job_id = str(uuid.uuid4())
    image = noise_image(64, 48)
    assert blobs.save_output(job_id, image, OutputFormat.WEBP, 1, {"prompt": "stormy"}) == "output_1.webp"
    assert blobs.save_output(job_id, image, OutputFormat.JPEG, 2, {"prompt": "stormy"}) == "output_2.jpg"
    assert blobs.open_file(job_id, "output_2.jpg").media_type == "image/jpeg"
    with Image.open(io.BytesIO(blobs.read_bytes(job_id, "thumbnail.webp"))) as thumbnail:
        assert thumbnail.format == "WEBP"
    settings = read_embedded_settings(io.BytesIO(blobs.read_bytes(job_id, "output_1.webp")))
    assert settings is not None and settings["prompt"] == "stormy"


@pytest.mark.parametrize("name", ["../qie.db", "input_4.png", "output_1.gif", "thumbnail.png", "", "a/input_1.png"])
def test_only_role_names_are_ever_opened(blobs: BlobStore, name: str) -> None:
    job_id = str(uuid.uuid4())
    blobs.save_input(job_id, 1, noise_image(8, 8))
    with pytest.raises(FileNotFoundError):
        blobs.open_file(job_id, name)
    with pytest.raises(FileNotFoundError):
        blobs.read_bytes(job_id, name)


def test_job_ids_must_be_the_servers_uuids(blobs: BlobStore) -> None:
    for job_id in ("..", "not-a-uuid", "../" + str(uuid.uuid4())):
        with pytest.raises(JobNotFound):
            blobs.open_file(job_id, "input_1.png")
        with pytest.raises(JobNotFound):
            blobs.save_input(job_id, 1, noise_image(8, 8))


def test_a_missing_file_is_file_not_found(blobs: BlobStore) -> None:
    job_id = str(uuid.uuid4())
    with pytest.raises(FileNotFoundError):
        blobs.open_file(job_id, "output_1.png")
    blobs.save_input(job_id, 1, noise_image(8, 8))
    with pytest.raises(FileNotFoundError):
        blobs.read_bytes(job_id, "output_1.png")
    with pytest.raises(FileNotFoundError):
        blobs.load_inputs(job_id, 2)


def test_listing_sizes_times_and_deleting(blobs: BlobStore) -> None:
    first, second, never = (str(uuid.uuid4()) for _ in range(3))
    before = datetime.now(UTC) - timedelta(seconds=2)  # S3 keeps whole seconds
    blobs.save_input(first, 1, noise_image(16, 16, 1))
    blobs.save_input(second, 1, noise_image(16, 16, 2))
    blobs.save_output(second, noise_image(16, 16, 3), OutputFormat.PNG)
    assert sorted(blobs.job_ids_stored()) == sorted([first, second])
    sizes = {job_id: _size_of(blobs, job_id) for job_id in (first, second)}
    assert blobs.bytes_stored() == sum(sizes.values())
    modified = blobs.last_modified(second)
    assert modified is not None and before <= modified <= datetime.now(UTC) + timedelta(seconds=2)
    assert blobs.last_modified(never) is None

    assert blobs.delete_job_files(second) == sizes[second]
    assert blobs.job_ids_stored() == [first]
    assert blobs.last_modified(second) is None
    with pytest.raises(FileNotFoundError):
        blobs.open_file(second, "output_1.png")
    assert blobs.delete_job_files(second) == 0  # idempotent
    assert blobs.bytes_stored() == sizes[first]


def _size_of(blobs: BlobStore, job_id: str) -> int:
    names = ["input_1.png", "output_1.png", "thumbnail.webp"]
    total = 0
    for name in names:
        try:
            total += blobs.open_file(job_id, name).size
        except FileNotFoundError:
            continue
    return total


def test_a_checkpoint_is_replaced_whole_never_served_and_goes_with_the_job(blobs: BlobStore) -> None:
    job_id = str(uuid.uuid4())
    blobs.save_input(job_id, 1, noise_image(8, 8))
    assert blobs.load_checkpoint(job_id) is None
    blobs.save_checkpoint(job_id, b"after step 2")
    blobs.save_checkpoint(job_id, b"after step 4")
    assert blobs.load_checkpoint(job_id) == b"after step 4"
    with pytest.raises(FileNotFoundError):  # the worker's alone: no client reads it through the API
        blobs.open_file(job_id, "checkpoint.zip")
    blobs.delete_checkpoint(job_id)
    blobs.delete_checkpoint(job_id)  # already gone: nothing to do
    assert blobs.load_checkpoint(job_id) is None
    assert blobs.open_file(job_id, "input_1.png").size > 0  # the job's other files stay
    blobs.save_checkpoint(job_id, b"after step 6")
    blobs.delete_job_files(job_id)  # cleanup: the checkpoint goes with the rest
    assert blobs.load_checkpoint(job_id) is None
    assert blobs.job_ids_stored() == []


def test_the_readiness_write_leaves_nothing_behind(blobs: BlobStore) -> None:
    blobs.check_writable()
    assert blobs.job_ids_stored() == []
    assert blobs.bytes_stored() == 0


def test_without_presigning_files_go_through_the_api(blobs: BlobStore) -> None:
    job_id = str(uuid.uuid4())
    blobs.save_input(job_id, 1, noise_image(8, 8))
    assert blobs.presigned_url(job_id, "input_1.png") is None


# -- S3 only ------------------------------------------------------------------------------------
def test_s3_keys_are_prefix_job_id_and_role_name_with_our_media_type(s3_server: S3Server, s3_bucket: str) -> None:
    blobs = S3BlobStore(s3_bucket, f"/{PREFIX}/", client=s3_server.client())
    job_id = str(uuid.uuid4())
    blobs.save_input(job_id, 1, noise_image(8, 8))
    blobs.save_output(job_id, noise_image(8, 8), OutputFormat.JPEG)
    stored = s3_server.objects(s3_bucket)
    assert sorted(stored) == [f"{PREFIX}/{job_id}/{name}" for name in ("input_1.png", "output_1.jpg", "thumbnail.webp")]
    head = s3_server.client().head_object(Bucket=s3_bucket, Key=f"{PREFIX}/{job_id}/output_1.jpg")
    assert head["ContentType"] == "image/jpeg"
    assert blobs.read_bytes(job_id, "output_1.jpg") == stored[f"{PREFIX}/{job_id}/output_1.jpg"]


def test_s3_leaves_other_keys_of_the_bucket_alone(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    client.put_object(Bucket=s3_bucket, Key="elsewhere/file.txt", Body=b"not ours")
    client.put_object(Bucket=s3_bucket, Key=f"{PREFIX}/not-a-job/input_1.png", Body=b"not ours either")
    blobs = S3BlobStore(s3_bucket, PREFIX, client=client)
    job_id = str(uuid.uuid4())
    blobs.save_input(job_id, 1, noise_image(8, 8))
    assert blobs.job_ids_stored() == [job_id]
    blobs.delete_job_files(job_id)
    assert sorted(s3_server.objects(s3_bucket)) == ["elsewhere/file.txt", f"{PREFIX}/not-a-job/input_1.png"]


def test_s3_presigned_urls_fetch_the_file_as_an_attachment(s3_server: S3Server, s3_bucket: str) -> None:
    blobs = S3BlobStore(s3_bucket, PREFIX, client=s3_server.client(), presign_seconds=60)
    job_id = str(uuid.uuid4())
    blobs.save_output(job_id, noise_image(16, 16), OutputFormat.PNG)
    url = blobs.presigned_url(job_id, "output_1.png", download_name="stormy_seed1.png")
    assert url is not None and url.startswith(s3_server.endpoint_url)
    answer = httpx.get(url)
    assert answer.status_code == 200
    assert answer.content == blobs.read_bytes(job_id, "output_1.png")
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["content-disposition"] == 'attachment; filename="stormy_seed1.png"'
    with pytest.raises(FileNotFoundError):  # no URL for a file that is not there
        blobs.presigned_url(job_id, "output_2.png")


def test_s3_a_missing_bucket_is_unavailable_with_its_reason(s3_server: S3Server) -> None:
    blobs = S3BlobStore("qie-no-such-bucket", client=s3_server.client())
    with pytest.raises(StorageUnavailable, match="no such bucket"):
        blobs.check_writable()


@pytest.mark.usefixtures("s3_env")
def test_s3_outage_fails_fast_with_a_clear_reason() -> None:
    """No server at all (nothing listens on the port): every operation says so after a retry or two (counted,
    so that a loaded machine cannot make it look slow, nor a fast one hide many retries)."""
    blobs = S3BlobStore("qie-bucket", PREFIX, endpoint_url=closed_port_url())
    requests_sent: list[str] = []

    def count(event_name: str, **_: object) -> None:
        requests_sent.append(event_name)

    blobs.client.meta.events.register("before-send.s3", count)
    job_id = str(uuid.uuid4())
    started = time.monotonic()
    for attempt in (
        lambda: blobs.save_input(job_id, 1, noise_image(8, 8)),
        blobs.check_writable,
        lambda: blobs.open_file(job_id, "input_1.png"),
        lambda: blobs.delete_job_files(job_id),
        blobs.job_ids_stored,
    ):
        requests_sent.clear()
        with pytest.raises(StorageUnavailable) as caught:
            attempt()
        assert caught.value.reason == "the object store is unreachable (EndpointConnectionError)"
        assert str(caught.value).endswith("; try again in a minute")
        # One request, then botocore's `max_attempts` (which counts retries: MAX_ATTEMPTS = 2) retries.
        assert 2 <= len(requests_sent) <= 3 and len(set(requests_sent)) == 1, requests_sent
    assert time.monotonic() - started < 45  # a few seconds of back-off at most, not minutes
