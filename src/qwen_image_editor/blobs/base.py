"""The blob store interface: job files by role name, never by a client-supplied path."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from qwen_image_editor.edit_request import OutputFormat

# The only file names a job folder may hold.
ROLE_NAME = re.compile(r"^(input_[1-3]\.png|output_[1-4]\.(png|jpg|webp)|thumbnail\.webp)$")
THUMBNAIL_NAME = "thumbnail.webp"


def input_name(index: int) -> str:
    return f"input_{index}.png"


def output_name(index: int, output_format: OutputFormat) -> str:
    return f"output_{index}.{output_format.extension}"


class BlobStore(Protocol):
    def save_input(self, job_id: str, index: int, image: Image.Image) -> str:
        """Re-encode an input as PNG (no metadata) at its role name; returns the name."""
        ...

    def check_writable(self) -> None:
        """Raise OSError unless a job file could be written now (the readiness check)."""
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

    def path_of(self, job_id: str, name: str) -> Path:
        """A job file's path, checked to be a role name under the data directory. FileNotFoundError if absent."""
        ...

    def delete_job_files(self, job_id: str) -> int:
        """Remove the job's folder; returns the bytes freed (0 if there was none)."""
        ...

    def job_ids_on_disk(self) -> list[str]:
        """Ids of the job folders present (to find folders left without a record)."""
        ...

    def folder_modified_at(self, job_id: str) -> datetime | None:
        """When the job's folder last changed; None if it has none."""
        ...

    def disk_usage(self) -> int:
        """Bytes used by all job files."""
        ...
