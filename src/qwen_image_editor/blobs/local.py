"""Job files on a local (or shared) filesystem under `<data_dir>/jobs/<job_id>/`."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from qwen_image_editor.blobs.base import (
    CHECKPOINT_NAME,
    MASK_NAME,
    THUMBNAIL_NAME,
    StoredFile,
    checked_name,
    input_name,
    output_name,
)
from qwen_image_editor.edit_request import OutputFormat
from qwen_image_editor.fileio import fsync_dir, write_atomic
from qwen_image_editor.imaging import encode_image, encode_stored_input, encode_stored_mask, make_thumbnail
from qwen_image_editor.jobs.ids import checked_job_id

CHUNK_BYTES = 256 * 1024


class LocalBlobStore:
    description = "the data directory"

    def __init__(self, jobs_dir: Path, *, embed_settings: bool = True) -> None:
        self.embed_settings = embed_settings
        self.root = Path(jobs_dir).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _job_dir(self, job_id: str) -> Path:
        folder = self.root / checked_job_id(job_id)
        if folder.is_symlink():  # never follow a link planted in the data directory
            raise FileNotFoundError(f"job folder {folder.name} is a symlink; refusing to use it")
        return folder

    def save_input(self, job_id: str, index: int, image: Image.Image) -> str:
        folder = self._job_dir(job_id)
        folder.mkdir(exist_ok=True)
        name = input_name(index)
        write_atomic(folder / name, encode_stored_input(image))
        return name

    def save_mask(self, job_id: str, mask: Image.Image) -> str:
        folder = self._job_dir(job_id)
        folder.mkdir(exist_ok=True)
        write_atomic(folder / MASK_NAME, encode_stored_mask(mask))
        return MASK_NAME

    def load_mask(self, job_id: str) -> Image.Image:
        with Image.open(self._path_of(job_id, MASK_NAME), formats=["PNG"]) as stored:
            return stored.convert("L")

    def save_checkpoint(self, job_id: str, data: bytes) -> None:
        folder = self._job_dir(job_id)
        if not folder.is_dir():  # the job was deleted meanwhile: its checkpoint must not bring its folder back
            return
        write_atomic(folder / CHECKPOINT_NAME, data)

    def load_checkpoint(self, job_id: str) -> bytes | None:
        path = self._job_dir(job_id) / CHECKPOINT_NAME
        if path.is_symlink() or not path.is_file():
            return None
        return path.read_bytes()

    def delete_checkpoint(self, job_id: str) -> None:
        path = self._job_dir(job_id) / CHECKPOINT_NAME
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)

    def check_writable(self) -> None:
        # A real write: permission bits say nothing to root, and a vanished mount may still look like a folder.
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".ready-"):
            pass

    def load_inputs(self, job_id: str, count: int) -> list[Image.Image]:
        images = []
        for index in range(1, count + 1):
            with Image.open(self._path_of(job_id, input_name(index)), formats=["PNG"]) as stored:
                images.append(stored.convert("RGBA" if stored.mode == "RGBA" else "RGB"))  # RGBA: kept for 2.1
        return images

    def save_output(
        self,
        job_id: str,
        image: Image.Image,
        output_format: OutputFormat,
        index: int = 1,
        settings: Mapping[str, Any] | None = None,
    ) -> str:
        folder = self._job_dir(job_id)
        folder.mkdir(exist_ok=True)
        name = output_name(index, output_format)
        write_atomic(folder / name, encode_image(image, output_format, settings if self.embed_settings else None))
        if index == 1:  # after the result: a thumbnail never stands for a result that is not there
            write_atomic(folder / THUMBNAIL_NAME, make_thumbnail(image, output_format))
        return name

    def _path_of(self, job_id: str, name: str) -> Path:
        """A job file's path, checked to be a role name under the data directory. FileNotFoundError if absent."""
        path = self._job_dir(job_id) / checked_name(name)
        if path.is_symlink() or not path.is_file():
            raise FileNotFoundError(f"job {job_id} has no file {name}")
        if path.resolve().parent.parent != self.root:
            raise FileNotFoundError(f"job {job_id} has no file {name}")
        return path

    def open_file(self, job_id: str, name: str) -> StoredFile:
        path = self._path_of(job_id, name)
        return StoredFile(name, path.stat().st_size, _chunks(path), path=path)

    def read_bytes(self, job_id: str, name: str) -> bytes:
        return self._path_of(job_id, name).read_bytes()

    def presigned_url(self, job_id: str, name: str, *, download_name: str | None = None) -> str | None:
        return None  # a folder has no URLs of its own: the API sends its files

    def delete_job_files(self, job_id: str) -> int:
        folder = self._job_dir(job_id)
        if not folder.is_dir():
            return 0
        freed = sum(entry.stat().st_size for entry in folder.iterdir() if entry.is_file())
        shutil.rmtree(folder)
        fsync_dir(self.root)
        return freed

    def job_ids_stored(self) -> list[str]:
        ids = []
        for entry in os.scandir(self.root):
            if entry.is_dir(follow_symlinks=False):
                try:
                    ids.append(checked_job_id(entry.name))
                except Exception:  # not one of ours: leave it alone
                    continue
        return ids

    def last_modified(self, job_id: str) -> datetime | None:
        folder = self._job_dir(job_id)
        return datetime.fromtimestamp(folder.stat().st_mtime, UTC) if folder.is_dir() else None

    def bytes_stored(self) -> int:
        total = 0
        for folder in os.scandir(self.root):
            if folder.is_dir(follow_symlinks=False):
                total += sum(f.stat().st_size for f in os.scandir(folder.path) if f.is_file(follow_symlinks=False))
        return total


def _chunks(path: Path) -> Iterator[bytes]:
    """The file's bytes, opened only when the first chunk is asked for (a StoredFile may never be read)."""
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            yield chunk
