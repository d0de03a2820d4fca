"""Where the service lives and what it runs: the model, the data directory, the database, the job files'
store, the address it serves, and the worker's lease and queue."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator

DEFAULT_MODEL = "Qwen/Qwen-Image-Edit-2511"
DEFAULT_PORT = 8002
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class CoreSettings(BaseModel):
    """The model, where things are stored, the address served, and the worker's lease and queue."""

    model: str = Field(
        default="auto",
        description="A Hugging Face id (Qwen/Qwen-Image-Edit-2511, the default; -2509; Qwen/Qwen-Image-Edit; "
        "Qwen/Qwen-Image-2.1, under the Qwen Research License), a local diffusers folder, `tiny` (random-weight "
        "demo shaped like 2511), `tiny-2509`, `tiny-edit`, `tiny-2.1` (demos shaped like 2509, the original Edit "
        "and 2.1), `fake` or `fake-2.1` (no model: timed stand-ins for tests), or `auto` (the real default model "
        "with a CUDA GPU, else `tiny`).",
    )
    data_dir: Path = Field(
        default=Path("data"),
        validation_alias=AliasChoices("QIE_DATA_DIR", "JOBS_DIR", "data_dir"),
        description="Where the database, job files and the tiny model live.",
    )
    database_url: str | None = Field(
        default=None, description="Any SQLAlchemy URL; default a SQLite file `qie.db` in the data directory."
    )
    database_pool_size: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Database connections each process keeps open (one pool per process, shared by jobs, keys "
        "and webhooks). On PostgreSQL, size `max_connections` for every process: see the README's scale-out.",
    )
    database_max_overflow: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="Connections a process may open beyond the pool at busy moments (closed again when returned).",
    )
    blobs: str | None = Field(
        default=None,
        description="Where job files (inputs, results, thumbnails) live: a folder, or `s3://bucket/prefix` for an "
        "S3-compatible object store that API nodes and GPU workers share (credentials and region from the usual "
        "AWS_* variables). Default: `jobs` in the data directory.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="The S3 API's URL for S3-compatible stores (MinIO, Ceph, R2, ...), e.g. `http://minio:9000`; "
        "default AWS S3 itself.",
    )
    s3_presign_seconds: int = Field(
        default=0,
        ge=0,
        le=7 * 24 * 3600,  # the longest a SigV4 URL may live
        description="With QIE_BLOBS=s3://...: downloads (`/download`) answer 307 to a presigned URL of the object "
        "valid this many seconds (after the API's access checks), so their bytes skip the API; clients must reach "
        "the store. What the page shows inline always comes through the API. 0, the default, streams every file "
        "through the API.",
    )
    host: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("QIE_HOST", "HOST", "host"),
        description="Address to listen on.",
    )
    port: int = Field(
        default=DEFAULT_PORT,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("QIE_PORT", "PORT", "port"),
        description="Port to listen on.",
    )
    device: Literal["auto", "cuda", "cpu"] = Field(
        default="auto", description="`auto` uses CUDA (bf16) when present, else the CPU (float32)."
    )
    offload: Literal["none", "model", "sequential"] = Field(
        default="none",
        description="Replaced by QIE_MEMORY and kept as its alias: `model` means QIE_MEMORY=offload, "
        "`sequential` means QIE_MEMORY=low.",
    )
    preload: bool = Field(default=False, description="Load the model at start instead of on the first job.")
    retention_hours: float = Field(
        default=0.0,
        ge=0,
        description="Finished jobs older than this many hours are deleted by a background sweep (starred ones are "
        "kept). 0, the default, keeps every result until its owner deletes it.",
    )
    cleanup_interval_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How often the retention sweep runs (it also removes job files left without a record for an "
        "hour, whatever the retention).",
    )
    min_free_disk_mb: float = Field(
        default=64.0,
        ge=0,
        description="The readiness probe answers 503, naming the disk, while the disk of the data directory (or of "
        "the job files' folder) has less free space than this many MiB. 0 turns the check off.",
    )
    max_attempts: int = Field(
        default=2, ge=1, le=10, description="Runs a job gets in all when its worker dies mid-job."
    )
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A running job's lease; its worker renews it while it runs. "
        "A job whose worker died is requeued once its lease expires.",
    )
    heartbeat_seconds: float = Field(default=5.0, gt=0, description="How often a worker renews its lease.")
    poll_seconds: float = Field(default=1.0, gt=0, description="How often an idle worker looks for work.")
    max_queue: int = Field(default=100, ge=1, description="Queued jobs beyond this get 503 Retry-After.")
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="Cap on one request body (all images together)."
    )
    max_image_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="Cap on one image file.")
    max_image_pixels: int = Field(
        default=40_000_000,
        ge=64 * 64,
        description="Images declaring more pixels are refused before decoding.",
    )
    hf_home: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("QIE_HF_HOME", "HF_HOME", "hf_home"),
        description="The Hugging Face cache root (weights go to `<HF_HOME>/hub`).",
    )
    fake_step_seconds: float = Field(
        default=0.05, ge=0, description="With model `fake` (tests, benchmarks): seconds per denoising step."
    )
    worker_enabled: bool = Field(
        default=True, description="Run the in-process worker inside `qie serve` (off for API-only nodes)."
    )

    @field_validator("host")
    @classmethod
    def _host_is_an_address(cls, value: str) -> str:
        if value != "localhost":
            try:
                ipaddress.ip_address(value)
            except ValueError as exc:
                raise ValueError(f"host must be an IP address or 'localhost', got {value!r}") from exc
        return value

    @field_validator("blobs")
    @classmethod
    def _blobs_is_a_folder_or_s3(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if "://" in value:
            scheme = value.split("://", 1)[0]
            if scheme != "s3":
                raise ValueError(
                    f"QIE_BLOBS is a folder or s3://bucket/prefix; {scheme}:// is not supported, not in {value!r}"
                )
            if not _BUCKET.fullmatch(value[len("s3://") :].split("/", 1)[0]):
                raise ValueError(
                    f"QIE_BLOBS={value!r} needs a bucket name (3-63 lower-case letters, digits, dots, dashes): "
                    "s3://bucket or s3://bucket/prefix"
                )
        return value

    @property
    def s3_blobs(self) -> tuple[str, str] | None:
        """(bucket, key prefix) when job files live in an object store (QIE_BLOBS=s3://...), else None."""
        if self.blobs is None or not self.blobs.startswith("s3://"):
            return None
        bucket, _, prefix = self.blobs[len("s3://") :].partition("/")
        return bucket, prefix.strip("/")

    @property
    def jobs_dir(self) -> Path:
        """The folder of job files when they live on a filesystem: QIE_BLOBS, or `jobs` in the data directory."""
        return Path(self.blobs) if self.blobs is not None and self.s3_blobs is None else self.data_dir / "jobs"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'qie.db').resolve()}"

    @property
    def loras_dir(self) -> Path:
        return self.data_dir / "loras"
