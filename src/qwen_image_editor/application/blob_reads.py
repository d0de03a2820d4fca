"""Job files for requests, time-boxed: a store that hangs costs a request at most `wait_seconds`, then a 503 with
Retry-After, and never holds a request thread.

The store's calls run on a bounded pool of their own, and a request awaits its call (holding no request thread)
up to the deadline, counted from when it asked, then gives up (StorageUnavailable). A call stuck in the store keeps
its pool thread until the store's own timeouts end it; requests behind it wait their deadline and are answered,
so a hung store slows file requests only: every other route, health included, keeps its threads.

Removing a deleted job's files goes through the same pool with a short wait: its record is gone already, so the
request is answered either way, and what a hung or failing store leaves is removed by cleanup as an orphan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from qwen_image_editor.blobs.base import BlobStore, StoredFile, media_type_of
from qwen_image_editor.errors import StorageUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)
_END = object()  # what the next-chunk call returns once a streamed file has no more


@dataclass(frozen=True)
class FileToSend:
    """A job file opened for a response: a local `path` (sent from disk, with sendfile and ranges), or `chunks`
    streamed from the store, each chunk time-boxed."""

    name: str
    size: int
    path: Path | None
    chunks: AsyncIterator[bytes] | None

    @property
    def media_type(self) -> str:
        return media_type_of(self.name)


class BlobReads:
    """`open_file`, `read_bytes` and `presigned_url` of a BlobStore, each answered within `wait_seconds`; and
    `delete_job_files`, waited for `removal_wait_seconds` at most."""

    def __init__(
        self,
        blobs: BlobStore,
        *,
        max_threads: int = 16,
        wait_seconds: float = 30.0,
        removal_wait_seconds: float = 2.0,
    ) -> None:
        self.blobs = blobs
        self.wait_seconds = wait_seconds
        self.removal_wait_seconds = removal_wait_seconds
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="qie-blob-read")

    async def open_file(self, job_id: str, name: str) -> FileToSend:
        """As BlobStore.open_file; a streamed file's chunks are time-boxed too (a local one is sent from disk)."""
        stored = await self._timed(lambda: self.blobs.open_file(job_id, name), f"opening {name}")
        chunks = None if stored.path is not None else self._timed_chunks(stored, name)
        return FileToSend(stored.name, stored.size, stored.path, chunks)

    async def read_bytes(self, job_id: str, name: str) -> bytes:
        return await self._timed(lambda: self.blobs.read_bytes(job_id, name), f"reading {name}")

    async def presigned_url(self, job_id: str, name: str, *, download_name: str | None = None) -> str | None:
        return await self._timed(
            lambda: self.blobs.presigned_url(job_id, name, download_name=download_name), f"finding {name}"
        )

    def delete_job_files(self, job_id: str) -> None:
        """Remove a deleted job's files, waiting `removal_wait_seconds` at most (on a request thread: a delete
        route's other work is database work). Past it the removal goes on in the background; StorageUnavailable
        when the store refused it or has not answered."""
        future = self._pool.submit(self.blobs.delete_job_files, job_id)
        try:
            future.result(timeout=self.removal_wait_seconds)
        except FutureTimeout:
            future.add_done_callback(_log_late_removal(job_id))
            raise StorageUnavailable(
                f"{self.blobs.description} did not answer within {self.removal_wait_seconds:g} s (removing files)"
            ) from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _timed_chunks(self, stored: StoredFile, name: str) -> AsyncIterator[bytes]:
        chunks: Iterator[bytes] = stored.chunks
        while True:
            chunk = await self._timed(lambda: next(chunks, _END), f"reading {name}")
            if chunk is _END:
                return
            assert isinstance(chunk, bytes)
            yield chunk

    async def _timed(self, call: Callable[[], T], what: str) -> T:
        future: Future[T] = self._pool.submit(call)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.wait_seconds)
        except TimeoutError:
            future.cancel()  # still waiting for a pool thread: it never starts
            raise StorageUnavailable(
                f"{self.blobs.description} did not answer within {self.wait_seconds:g} s ({what})"
            ) from None


def _log_late_removal(job_id: str) -> Callable[[Future[int]], None]:
    def done(future: Future[int]) -> None:
        if future.cancelled() or future.exception() is not None:
            log.warning("job %s: removing its files failed late; cleanup removes them as an orphan's", job_id)

    return done
