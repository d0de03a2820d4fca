"""The blob store interface: job files by role name, never by a client-supplied path.

Two backends: `local.py` (a folder, the default) and `s3.py` (an S3-compatible bucket, for API and GPU nodes
on different machines). Nothing above this layer assumes a filesystem: files are opened as `StoredFile`s."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from qwen_image_editor.edit_request import MAX_NUM_IMAGES, OutputFormat
from qwen_image_editor.model_families import MOST_IMAGES

# Inputs and masks are stored as PNG (lossless, no metadata), thumbnails as WebP: every job file is in one of the
# formats results are written in, so OutputFormat names their extensions and media types.
INPUT_FORMAT = OutputFormat.PNG
THUMBNAIL_NAME = f"thumbnail.{OutputFormat.WEBP.extension}"
# a job's edit region (issue 20): L, 255 = edit, at image 1's size, in the API's meaning
MASK_NAME = f"mask.{OutputFormat.PNG.extension}"
# A running job's saved state (issue 21, point 7: restarts resume), written every few steps and removed when the
# job ends. Not a role name: no client ever reads it; it goes with the job's other files.
CHECKPOINT_NAME = "checkpoint.zip"
MEDIA_TYPES = {output_format.extension: output_format.media_type for output_format in OutputFormat}


def input_name(index: int) -> str:
    return f"input_{index}.{INPUT_FORMAT.extension}"


def output_name(index: int, output_format: OutputFormat) -> str:
    return f"output_{index}.{output_format.extension}"


# The only file names a job folder may hold: as many inputs as any model takes, as many outputs as a job makes.
ROLE_NAMES = frozenset(
    [input_name(index) for index in range(1, MOST_IMAGES + 1)]
    + [output_name(index, output_format) for index in range(1, MAX_NUM_IMAGES + 1) for output_format in OutputFormat]
    + [THUMBNAIL_NAME, MASK_NAME]
)


def checked_name(name: str) -> str:
    """`name` if it is one of the role names; FileNotFoundError otherwise (a client never names a path)."""
    if name not in ROLE_NAMES:
        raise FileNotFoundError(f"{name!r} is not a job file name")
    return name


def media_type_of(name: str) -> str:
    return MEDIA_TYPES[name.rsplit(".", 1)[1]]


@dataclass
class StoredFile:
    """One job file, opened for sending: its size and its bytes in chunks (read lazily, once). `path` is set
    when it is a local file, so that a server can send it with sendfile and answer Range requests."""

    name: str
    size: int
    chunks: Iterator[bytes]
    path: Path | None = None

    @property
    def media_type(self) -> str:
        return media_type_of(self.name)

    def read(self) -> bytes:
        return b"".join(self.chunks)


class BlobStore(Protocol):
    # Where the files live, for messages anyone may read: "the data directory", "the object store".
    description: str

    def save_input(self, job_id: str, index: int, image: Image.Image) -> str:
        """Re-encode an input as PNG (no metadata) at its role name; returns the name."""
        ...

    def save_mask(self, job_id: str, mask: Image.Image) -> str:
        """Re-encode a job's region mask (mode L) as PNG at MASK_NAME; returns the name."""
        ...

    def load_mask(self, job_id: str) -> Image.Image:
        """The job's region mask, mode L. FileNotFoundError if it has none."""
        ...

    def save_checkpoint(self, job_id: str, data: bytes) -> None:
        """Replace the job's checkpoint with `data`, atomically (a reader sees the old one or the new one)."""
        ...

    def load_checkpoint(self, job_id: str) -> bytes | None:
        """The job's checkpoint; None when it has none."""
        ...

    def delete_checkpoint(self, job_id: str) -> None:
        """Remove the job's checkpoint, if it has one."""
        ...

    def check_writable(self) -> None:
        """Raise (OSError, StorageUnavailable) unless a job file could be written now (the readiness check)."""
        ...

    def load_inputs(self, job_id: str, count: int) -> list[Image.Image]:
        """The job's inputs, in order."""
        ...

    def save_output(
        self,
        job_id: str,
        image: Image.Image,
        output_format: OutputFormat,
        index: int = 1,
        settings: Mapping[str, Any] | None = None,
    ) -> str:
        """Write result number `index` (and, for the first, the job's thumbnail) atomically; returns its name.
        `settings` (how it was made) go into the file unless the store was made not to embed them."""
        ...

    def open_file(self, job_id: str, name: str) -> StoredFile:
        """A job file by role name, opened for reading. FileNotFoundError if it is absent or not a role name."""
        ...

    def read_bytes(self, job_id: str, name: str) -> bytes:
        """A job file's whole content. FileNotFoundError as for `open_file`."""
        ...

    def presigned_url(self, job_id: str, name: str, *, download_name: str | None = None) -> str | None:
        """A short-lived URL from which a client may fetch the file itself (as an attachment named `download_name`
        when given), or None when this store serves files only through the API. FileNotFoundError instead of
        a URL to a file that is absent."""
        ...

    def delete_job_files(self, job_id: str) -> int:
        """Remove every file of the job; returns the bytes freed (0 if there was none)."""
        ...

    def job_ids_stored(self) -> list[str]:
        """Ids of the jobs that have files (to find files left without a record)."""
        ...

    def last_modified(self, job_id: str) -> datetime | None:
        """When the job's files last changed; None if it has none."""
        ...

    def bytes_stored(self) -> int:
        """Bytes used by all job files."""
        ...
