"""All configuration in one class: `QIE_*` environment variables, a `.env` file, and the old deployment's names."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MODEL = "Qwen/Qwen-Image-Edit-2511"
DEFAULT_PORT = 8002
_MEMORY_BY_OFFLOAD = {"model": "offload", "sequential": "low"}  # QIE_OFFLOAD, replaced by QIE_MEMORY
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# A DNS name (optionally `*.` before it), an IPv4 address, an IPv6 one in brackets, or `*`.
_LABEL = r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^(\*|(\*\.)?{_LABEL}(\.{_LABEL})*|\[[0-9a-f:.]+\])$")


class Settings(BaseSettings):
    """Every knob of the service, each with a safe default."""

    model_config = SettingsConfigDict(env_prefix="QIE_", env_file=".env", extra="ignore", populate_by_name=True)

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
    # -- access ---------------------------------------------------------------------------------
    insecure_no_auth: bool = Field(
        default=False,
        description="Serve a non-loopback address with no API keys (anyone who reaches it can use it). "
        "Without it, such a start is refused until a key exists (`qie keys create`).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated browser origins (e.g. `http://localhost:5173`) allowed to call the API "
        "from their pages; any other origin gets no CORS headers.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host names (e.g. `gpu.example.com`, `*.example.com`) this server answers to, "
        "besides its bind address, `localhost`, `127.0.0.1` and `[::1]`; a request with any other `Host` gets 400 "
        "(a web page reaching us under a name of its own is a DNS-rebinding attack). List every name clients use: "
        "the machine's name or LAN address with `--host 0.0.0.0`, the public name behind a proxy. `*` answers any.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or networks (e.g. `127.0.0.1`, `10.0.0.0/8`) of reverse proxies "
        "whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed: the client's address then comes from them "
        "(for the wrong-key throttle). Default: none, so a client cannot claim an address.",
    )
    max_queued_per_key: int = Field(default=10, ge=1, description="Queued jobs one API key may have at once.")
    submits_per_minute: int = Field(default=30, ge=1, description="Jobs one API key may submit per minute.")
    session_hours: float = Field(default=168.0, gt=0, description="How long a web page's sign-in lasts.")
    failed_sign_ins_per_minute: int = Field(
        default=10,
        ge=1,
        description="Wrong keys one address (an IPv6 one by its /64) may send per minute; its further wrong keys "
        "get 429 until the minute is over. A right key or session is never refused by this.",
    )
    # Bounded resources: what one client, or many at once, may cost the server.
    max_concurrent_decodes: int = Field(
        default=2,
        ge=1,
        description="Uploaded images decoded at once (a 40 MP image takes ~150 MB while it decodes); "
        "about one per CPU core.",
    )
    decode_wait_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long an upload waits for a free decoding slot before it gets 503 with Retry-After.",
    )
    blob_read_threads: int = Field(
        default=16,
        ge=1,
        description="Job files read from the store at once for requests (downloads, images on the page); "
        "more wait their turn, within QIE_BLOB_READ_SECONDS.",
    )
    blob_read_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a request waits for the store to hand over a job file (or each part of it) before "
        "it gets 503 with Retry-After: a hung store never holds a request for good.",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A request body that sends nothing for this long is answered 408 and its connection closed.",
    )
    body_deadline_seconds: float = Field(
        default=120.0,
        gt=0,
        description="A request body not complete this long after its headers is answered 408 and its connection "
        "closed, however steadily it drips (time enough for a 20 MB upload at ~1.5 Mbit/s).",
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A request whose headers are not complete this long after its connection opened (on a "
        "kept-alive connection: after its first byte) is answered 408 and its connection closed.",
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections (WebSockets included) one server process serves at once; a request beyond "
        "them gets 503 with Retry-After and its connection closed. Keep the process's open-file limit "
        "(`ulimit -n`) above it.",
    )
    # -- memory plans and speed (GPU_NOTES.md) --------------------------------------------------
    memory: Literal["auto", "full", "offload", "fp8", "gguf", "nf4", "low"] = Field(
        default="auto",
        description="How the model sits on the GPU: `full` (all bf16 on the GPU), `offload` (components take "
        "turns on the GPU), `fp8` (transformer stored in float8, computed in bf16), `gguf` (transformer from "
        "QIE_GGUF, components take turns), `nf4` (4-bit transformer and text encoder; needs bitsandbytes), "
        "`low` (blocks streamed to the GPU: the least memory, the slowest), or `auto` (the fastest plan whose "
        "estimated peak fits the GPU's free memory; `qie doctor` shows the choice and why).",
    )
    gguf: str | None = Field(
        default=None,
        description="The transformer as a GGUF file for QIE_MEMORY=gguf (and a candidate for `auto`): a local "
        "path or a Hugging Face file reference `owner/repo/file.gguf` (fetched into the HF cache once).",
    )
    lightning_lora: str | None = Field(
        default=None,
        description="The Lightning LoRA for `lightning` jobs, instead of the one of the model's family: a local "
        ".safetensors path or a Hugging Face file reference `owner/repo/file.safetensors`.",
    )
    attention: Literal["native", "flash", "_flash_3", "sage"] = Field(
        default="native",
        description="The transformer's attention backend (`flash`, `_flash_3`, `sage` need their package "
        "and a CUDA GPU; `qie doctor` says which are installed).",
    )
    compile: bool = Field(
        default=False,
        description="CUDA only: compile the transformer's repeated blocks (torch.compile, regional); the first "
        "edit of each new size is slower, the rest faster.",
    )
    # -- the worker's pipeline, wake-ups and live previews ---------------------------------------
    previews: bool = Field(
        default=True,
        description="Live previews while denoising: a small picture of the latents (no VAE decode), at most "
        "4 a second, on the job's WebSocket only. 0 turns them off.",
    )
    finish_threads: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Threads that encode and store results while the model runs the next job; two encode two "
        "results at once on two cores. Each holds one result's pixels in memory until it is saved.",
    )
    checkpoint_every_steps: int = Field(
        default=5,
        ge=0,
        description="A running job's state (its latents) is saved through the blob store after every this many "
        "steps, so that a job requeued by a restart or crash continues from there, with the same result; 0 turns "
        "checkpoints off (a requeued job starts over).",
    )
    worker_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="This service's worker name, the same across restarts, so that after a crash it requeues "
        "the jobs its previous run held at once. Default: `<host>-<n>`, the first n not in use by a running "
        "process on this data directory. Two live workers must never share one.",
    )
    fake_output_pixels: int = Field(
        default=1024 * 1024,
        ge=32 * 32,
        description="With model `fake`: the result's area (the real pipelines' ~1 MP by default, so encoding "
        "costs what it does with a real model; tests set it small).",
    )
    fake_hold_file: Path | None = Field(
        default=None,
        description="With model `fake` (tests): while this file exists, every edit waits before its first step "
        "(a running job that stays running, however fast the machine; delete the file to let them go).",
    )
    # -- the ecosystem: OpenAI-compatible edits, webhooks, settings inside the result files --------
    openai_wait_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How long `POST /v1/images/edits` waits for its job before answering 504 (the job runs on "
        "and stays in the history).",
    )
    embed_settings: bool = Field(
        default=True,
        description="Write the job's settings into each result (PNG text chunks, JPEG/WebP EXIF UserComment). "
        "0 turns it off.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Let webhooks reach loopback, private and link-local addresses (refused by default: a user "
        "could otherwise make the server call its own network).",
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="One webhook delivery attempt's timeout.")
    webhook_first_retry_seconds: float = Field(
        default=1.0, gt=0, description="The wait before a failed webhook's first retry; it doubles after each."
    )
    webhook_max_retry_seconds: float = Field(
        default=300.0, gt=0, description="The longest wait between two attempts of one webhook."
    )
    webhook_give_up_seconds: float = Field(
        default=3600.0, gt=0, description="A webhook still failing this long after its job ended is given up."
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

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [origin.strip() for origin in value.split(",") if origin.strip()]
        if isinstance(value, list):
            for origin in value:
                if origin == "*" or "://" not in str(origin) or str(origin).endswith("/"):
                    raise ValueError(
                        f"QIE_CORS_ORIGINS lists origins such as http://localhost:5173 (scheme, host, port; "
                        f"no path, no '*'), not {origin!r}"
                    )
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        value = _comma_list(value)
        if isinstance(value, list):
            value = [host.lower() for host in value]
            for host in value:
                if not _HOST_NAME.fullmatch(host):
                    raise ValueError(
                        f"QIE_ALLOWED_HOSTS lists host names such as gpu.example.com, *.example.com, 10.0.0.5 or "
                        f"[::1] (no scheme, port or path), not {host!r}"
                    )
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        value = _comma_list(value)
        if isinstance(value, list):
            for proxy in value:
                try:
                    ipaddress.ip_network(proxy, strict=False)
                except ValueError:
                    raise ValueError(
                        f"QIE_TRUSTED_PROXIES lists IP addresses or networks such as 127.0.0.1 or 10.0.0.0/8, "
                        f"not {proxy!r}"
                    ) from None
        return value

    @property
    def answered_hosts(self) -> frozenset[str]:
        """Host names (lower case, IPv6 without brackets) a request may name: QIE_ALLOWED_HOSTS and our own."""
        listed = {host.removeprefix("[").removesuffix("]") for host in self.allowed_hosts}
        return frozenset({self.host, "localhost", "127.0.0.1", "::1"} | listed)

    @model_validator(mode="after")
    def _refuse_unsafe_combinations(self) -> Settings:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(
                f"QIE_HEARTBEAT_SECONDS ({self.heartbeat_seconds:g}) must be at most half of QIE_LEASE_SECONDS "
                f"({self.lease_seconds:g}), or a live worker's lease could expire and its job run twice"
            )
        if self.max_image_bytes > self.max_upload_bytes:
            raise ValueError(
                f"QIE_MAX_IMAGE_BYTES ({self.max_image_bytes}) cannot exceed QIE_MAX_UPLOAD_BYTES "
                f"({self.max_upload_bytes}): one image must fit in a request"
            )
        return self

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

    @property
    def memory_plan(self) -> str:
        """QIE_MEMORY, or what the older QIE_OFFLOAD asked for when QIE_MEMORY is left at `auto`."""
        if self.memory == "auto" and self.offload != "none":
            return _MEMORY_BY_OFFLOAD[self.offload]
        return self.memory

    @model_validator(mode="after")
    def _memory_plan_is_complete(self) -> Settings:
        if self.memory_plan == "gguf" and not self.gguf:
            raise ValueError(
                "QIE_MEMORY=gguf needs QIE_GGUF: a local .gguf file of the transformer or a Hugging Face file "
                "reference such as owner/repo/file.gguf"
            )
        if self.memory != "auto" and self.offload != "none" and _MEMORY_BY_OFFLOAD[self.offload] != self.memory:
            raise ValueError(
                f"QIE_OFFLOAD={self.offload} and QIE_MEMORY={self.memory} disagree; QIE_MEMORY replaces "
                "QIE_OFFLOAD, so remove QIE_OFFLOAD"
            )
        return self


def _comma_list(value: object) -> object:
    """A setting's list from the environment's `a, b` or a list: its items stripped, empty ones dropped."""
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    return value
