"""Reading job files for requests, time-boxed: a store that hangs costs a request at most `wait_seconds`, then a
503 with Retry-After, and never holds a request thread for good.

The reads run on a bounded pool of their own; a request waits for its read up to the deadline and gives up
(StorageUnavailable). A read stuck in the store keeps its pool thread until the store's own timeouts end it;
requests behind it wait their deadline and are answered, so a hung store slows file requests only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from qwen_image_editor.blobs.base import BlobStore, StoredFile
from qwen_image_editor.errors import StorageUnavailable

T = TypeVar("T")


class BlobReads:
    """`open_file`, `read_bytes` and `presigned_url` of a BlobStore, each answered within `wait_seconds`."""

    def __init__(self, blobs: BlobStore, *, max_threads: int = 16, wait_seconds: float = 30.0) -> None:
        self.blobs = blobs
        self.wait_seconds = wait_seconds
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="qie-blob-read")

    def open_file(self, job_id: str, name: str) -> StoredFile:
        """As BlobStore.open_file; a streamed file's chunks are time-boxed too (a local one is sent from disk)."""
        stored = self._timed(lambda: self.blobs.open_file(job_id, name), f"opening {name}")
        if stored.path is None:
            stored.chunks = self._timed_chunks(stored.chunks, name)
        return stored

    def read_bytes(self, job_id: str, name: str) -> bytes:
        return self._timed(lambda: self.blobs.read_bytes(job_id, name), f"reading {name}")

    def presigned_url(self, job_id: str, name: str, *, download_name: str | None = None) -> str | None:
        return self._timed(
            lambda: self.blobs.presigned_url(job_id, name, download_name=download_name), f"finding {name}"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _timed_chunks(self, chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
        done = object()
        while True:
            chunk = self._timed(lambda: next(chunks, done), f"reading {name}")
            if chunk is done:
                return
            assert isinstance(chunk, bytes)
            yield chunk

    def _timed(self, read: Callable[[], T], what: str) -> T:
        future: Future[T] = self._pool.submit(read)
        try:
            return future.result(timeout=self.wait_seconds)
        except FutureTimeout:
            future.cancel()  # still waiting for a thread: it never starts
            raise StorageUnavailable(
                f"{self.blobs.description} did not answer within {self.wait_seconds:g} s ({what})"
            ) from None
