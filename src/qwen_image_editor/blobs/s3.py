"""Job files in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, moto), at `<prefix>/<job_id>/<role name>`.

API nodes and GPU workers on different machines share it. A PUT is atomic: an object is absent or complete,
so, as with the local store's renames, no reader ever sees half a file. Failures of the store itself become
`StorageUnavailable` (HTTP 503, a clear reason on the job); a missing object becomes FileNotFoundError.
Credentials and region come from boto3's usual chain (the AWS_* variables, ~/.aws, an instance role)."""

from __future__ import annotations

import contextlib
import io
import logging
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError
from PIL import Image

from qwen_image_editor.blobs.base import (
    CHECKPOINT_NAME,
    MASK_NAME,
    THUMBNAIL_NAME,
    StoredFile,
    checked_name,
    input_name,
    media_type_of,
    output_name,
)
from qwen_image_editor.edit_request import OutputFormat
from qwen_image_editor.errors import StorageUnavailable
from qwen_image_editor.imaging import encode_image, encode_stored_input, encode_stored_mask, make_thumbnail
from qwen_image_editor.jobs.ids import checked_job_id

log = logging.getLogger(__name__)

# MinIO and moto need a region to sign with; AWS itself redirects a wrong one.
DEFAULT_REGION = "us-east-1"
# Short, so that an outage fails a request in seconds instead of holding it (and a worker) for minutes.
CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, MAX_ATTEMPTS = 3.0, 30.0, 2
CHUNK_BYTES = 256 * 1024
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_REFUSED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "403"}
)
_DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes


def make_client(endpoint_url: str | None) -> Any:
    """A boto3 S3 client with short time-outs and one retry. For custom endpoints: path-style addressing (MinIO
    and friends rarely have a DNS name per bucket) and checksums only where S3 requires them (several
    S3-compatible stores refuse the extra checksum headers that boto3 sends to AWS by default)."""
    session = boto3.session.Session()
    compatible = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        signature_version="s3v4",
        s3={"addressing_style": "path"} if endpoint_url else None,
        **(compatible if endpoint_url else {}),
    )
    return session.client(
        "s3", endpoint_url=endpoint_url, region_name=session.region_name or DEFAULT_REGION, config=config
    )


class S3BlobStore:
    description = "the object store"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        presign_seconds: int = 0,
        embed_settings: bool = True,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.root = f"{prefix}/" if prefix else ""
        self.presign_seconds = presign_seconds
        self.embed_settings = embed_settings
        self.client = client if client is not None else make_client(endpoint_url)

    # -- keys: only ever from a checked job id and a role name -----------------------------------
    def _job_prefix(self, job_id: str) -> str:
        return f"{self.root}{checked_job_id(job_id)}/"

    def _key(self, job_id: str, name: str) -> str:
        return self._job_prefix(job_id) + checked_name(name)

    # -- writing ---------------------------------------------------------------------------------
    def _put(self, key: str, data: bytes, media_type: str) -> None:
        with _translated("writing", key):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=media_type)

    def save_input(self, job_id: str, index: int, image: Image.Image) -> str:
        name = input_name(index)
        self._put(self._key(job_id, name), encode_stored_input(image), media_type_of(name))
        return name

    def save_mask(self, job_id: str, mask: Image.Image) -> str:
        self._put(self._key(job_id, MASK_NAME), encode_stored_mask(mask), media_type_of(MASK_NAME))
        return MASK_NAME

    def save_output(
        self,
        job_id: str,
        image: Image.Image,
        output_format: OutputFormat,
        index: int = 1,
        settings: Mapping[str, Any] | None = None,
    ) -> str:
        name = output_name(index, output_format)
        data = encode_image(image, output_format, settings if self.embed_settings else None)
        self._put(self._key(job_id, name), data, media_type_of(name))
        if index == 1:  # after the result: a thumbnail never stands for a result that is not there
            self._put(
                self._key(job_id, THUMBNAIL_NAME), make_thumbnail(image, output_format), media_type_of(THUMBNAIL_NAME)
            )
        return name

    def save_checkpoint(self, job_id: str, data: bytes) -> None:
        self._put(self._job_prefix(job_id) + CHECKPOINT_NAME, data, "application/zip")

    def load_checkpoint(self, job_id: str) -> bytes | None:
        key = self._job_prefix(job_id) + CHECKPOINT_NAME
        try:
            with _translated("reading", key):
                answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except FileNotFoundError:
            return None
        return b"".join(_chunks(answer["Body"], key))

    def delete_checkpoint(self, job_id: str) -> None:
        key = self._job_prefix(job_id) + CHECKPOINT_NAME
        with _translated("deleting", key):
            self.client.delete_object(Bucket=self.bucket, Key=key)  # S3 answers 204 for a key that is absent

    def check_writable(self) -> None:
        # A real write and delete: a bucket that answers HEAD may still refuse our PUTs (a read-only key).
        key = f"{self.root}.ready-{uuid.uuid4().hex}"  # not a job id: never listed as a job's files
        self._put(key, b"", "application/octet-stream")
        with _translated("deleting", key):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    # -- reading ---------------------------------------------------------------------------------
    def _get(self, job_id: str, name: str) -> Any:
        key = self._key(job_id, name)
        with _translated("reading", key):
            return self.client.get_object(Bucket=self.bucket, Key=key)

    def open_file(self, job_id: str, name: str) -> StoredFile:
        answer = self._get(job_id, name)
        return StoredFile(name, int(answer["ContentLength"]), _chunks(answer["Body"], self._key(job_id, name)))

    def read_bytes(self, job_id: str, name: str) -> bytes:
        return self.open_file(job_id, name).read()

    def load_inputs(self, job_id: str, count: int) -> list[Image.Image]:
        images = []
        for index in range(1, count + 1):
            with Image.open(io.BytesIO(self.read_bytes(job_id, input_name(index))), formats=["PNG"]) as stored:
                images.append(stored.convert("RGBA" if stored.mode == "RGBA" else "RGB"))  # RGBA: kept for 2.1
        return images

    def load_mask(self, job_id: str) -> Image.Image:
        with Image.open(io.BytesIO(self.read_bytes(job_id, MASK_NAME)), formats=["PNG"]) as stored:
            return stored.convert("L")

    def presigned_url(self, job_id: str, name: str, *, download_name: str | None = None) -> str | None:
        if self.presign_seconds <= 0:
            return None
        key = self._key(job_id, name)
        with _translated("reading", key):
            self.client.head_object(Bucket=self.bucket, Key=key)  # a URL only for a file that is there
            params = {"Bucket": self.bucket, "Key": key, "ResponseContentType": media_type_of(name)}
            if download_name is not None:
                params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
            url: str = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=self.presign_seconds)
            return url

    # -- listing and deleting --------------------------------------------------------------------
    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        with _translated("listing", prefix):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                yield from page.get("Contents", [])

    def delete_job_files(self, job_id: str) -> int:
        objects = list(self._objects(self._job_prefix(job_id)))
        for start in range(0, len(objects), _DELETE_BATCH):
            batch = [{"Key": item["Key"]} for item in objects[start : start + _DELETE_BATCH]]
            with _translated("deleting", self._job_prefix(job_id)):
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                log.warning("object store: deleting %s failed: %s", first.get("Key"), first)
                raise StorageUnavailable(f"the object store refused to delete a job file ({first.get('Code')})")
        return sum(int(item["Size"]) for item in objects)

    def job_ids_stored(self) -> list[str]:
        ids = []
        with _translated("listing", self.root):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.root, Delimiter="/"
            )
            for page in pages:
                for folder in page.get("CommonPrefixes", []):
                    try:
                        ids.append(checked_job_id(folder["Prefix"][len(self.root) :].rstrip("/")))
                    except Exception:  # not one of ours: leave it alone
                        continue
        return ids

    def last_modified(self, job_id: str) -> datetime | None:
        times: list[datetime] = [item["LastModified"] for item in self._objects(self._job_prefix(job_id))]
        return max(times, default=None)

    def bytes_stored(self) -> int:
        return sum(int(item["Size"]) for item in self._objects(self.root))


def _chunks(body: Any, key: str) -> Iterator[bytes]:
    """The object's bytes as they arrive; the connection goes back to the pool when done or abandoned."""
    try:
        with _translated("reading", key):
            yield from body.iter_chunks(CHUNK_BYTES)
    finally:
        body.close()


@contextlib.contextmanager
def _translated(action: str, key: str) -> Iterator[None]:
    """The store's own failures, as errors that say what happened (the full one goes to the log)."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            raise FileNotFoundError(f"no job file {key.rsplit('/', 1)[-1]!r} in the object store") from exc
        log.warning("object store: %s %s failed", action, key, exc_info=True)
        if code in _REFUSED:
            raise StorageUnavailable(f"the object store refuses our credentials ({code})") from exc
        if code == "NoSuchBucket":
            raise StorageUnavailable("the object store has no such bucket (NoSuchBucket)") from exc
        raise StorageUnavailable(f"the object store answered {code or 'an error'}") from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        log.warning("object store: %s %s failed", action, key, exc_info=True)
        raise StorageUnavailable(f"no credentials for the object store ({type(exc).__name__})") from exc
    except BotoCoreError as exc:  # connection refused, time-outs, a broken stream
        log.warning("object store: %s %s failed", action, key, exc_info=True)
        raise StorageUnavailable(f"the object store is unreachable ({type(exc).__name__})") from exc
