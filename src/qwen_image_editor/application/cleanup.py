"""Retention and cleanup: remove finished jobs' records and files. Never touches a queued or running job,
never acts outside the job files' folder or bucket prefix (the blob store only derives paths and keys from checked
job UUIDs and role names)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from qwen_image_editor.blobs.base import BlobStore
from qwen_image_editor.errors import InvalidTransition, JobNotFound
from qwen_image_editor.jobs.ids import checked_job_id
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.base import JobStore

log = logging.getLogger(__name__)
_PAGE = 500
# Job files without a record are orphans once this old (a younger folder may be an upload being stored).
ORPHAN_HOURS = 1.0


@dataclass
class CleanupReport:
    deleted: list[str] = field(default_factory=list)
    skipped_active: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    dry_run: bool = False


@dataclass(frozen=True)
class StorageStatus:
    counts: dict[JobStatus, int]
    stored_bytes: int
    orphans: int  # jobs with files but no record


class Cleanup:
    def __init__(self, store: JobStore, blobs: BlobStore) -> None:
        self.store, self.blobs = store, blobs

    def delete_older_than(self, hours: float, *, dry_run: bool = False) -> CleanupReport:
        """Finished jobs older than `hours`, and job files left without a record that long."""
        cutoff = datetime.now(UTC) - timedelta(hours=hours)
        report = self._remove(self.store.finished_before(cutoff), dry_run)
        self._remove_orphans(cutoff, report)
        return report

    def orphans(self, hours: float = ORPHAN_HOURS, *, dry_run: bool = False) -> CleanupReport:
        """Only job files left without a record for `hours` (e.g. by a process killed while storing inputs)."""
        report = CleanupReport(dry_run=dry_run)
        self._remove_orphans(datetime.now(UTC) - timedelta(hours=hours), report)
        return report

    def finish_deletes(self) -> CleanupReport:
        """Jobs deleted while they ran, ended, but still recorded (the process that ended them was killed before
        it removed them): their records and files go, as their DELETE asked."""
        return self._remove(self.store.stopped_but_deleted(), dry_run=False)

    def delete_jobs(self, job_ids: Iterable[str], *, dry_run: bool = False) -> CleanupReport:
        """Named jobs (ids are checked to be the server's UUIDs first: JobNotFound otherwise)."""
        return self._remove([self.store.get_job(checked_job_id(job_id)) for job_id in job_ids], dry_run)

    def delete_by_status(self, status: JobStatus | None, *, dry_run: bool = False) -> CleanupReport:
        """Every job in `status` (or every job, when None); active ones are skipped and reported."""
        return self._remove(self._all_jobs(status), dry_run)

    def status(self) -> StorageStatus:
        known = {job.id for job in self._all_jobs(None)}
        orphans = [job_id for job_id in self.blobs.job_ids_stored() if job_id not in known]
        return StorageStatus(self.store.count_by_status(), self.blobs.bytes_stored(), len(orphans))

    def _all_jobs(self, status: JobStatus | None) -> list[Job]:
        jobs: list[Job] = []
        while True:
            page, total = self.store.list_jobs(limit=_PAGE, offset=len(jobs), status=status)
            jobs.extend(page)
            if not page or len(jobs) >= total:
                return jobs

    def _remove(self, jobs: Iterable[Job], dry_run: bool) -> CleanupReport:
        report = CleanupReport(dry_run=dry_run)
        for job in jobs:
            if not job.status.is_terminal:
                report.skipped_active.append(job.id)
                continue
            report.deleted.append(job.id)
            if dry_run:
                continue
            try:
                self.store.delete_job(job.id)
            except (JobNotFound, InvalidTransition):  # gone already, or restarted meanwhile: leave it
                report.deleted.pop()
                continue
            report.freed_bytes += self.blobs.delete_job_files(job.id)
        return report

    def _remove_orphans(self, cutoff: datetime, report: CleanupReport) -> None:
        for job_id in self.blobs.job_ids_stored():
            try:
                self.store.get_job(job_id)
                continue
            except JobNotFound:
                pass
            # A job's files are briefly recordless while its upload is being stored: only old ones are orphans.
            # (Also where the files of a submit that failed half-way end up when the store was down even for
            # deleting them.)
            modified = self.blobs.last_modified(job_id)
            if modified is None or modified < cutoff:
                report.deleted.append(job_id)
                if not report.dry_run:
                    report.freed_bytes += self.blobs.delete_job_files(job_id)


class RetentionSweeper:
    """At once and then every `interval` seconds, in a daemon thread: `Cleanup.delete_older_than(retention_hours)`
    (unless None: keep every job), and always `Cleanup.orphans()` and `Cleanup.finish_deletes()`."""

    def __init__(self, cleanup: Cleanup, retention_hours: float | None, interval: float) -> None:
        self.cleanup, self.retention_hours, self.interval = cleanup, retention_hours, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="qie-retention", daemon=True)
        self.last_run: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval if self.last_run else 0):
            try:
                if self.retention_hours is not None:
                    report = self.cleanup.delete_older_than(self.retention_hours)
                    if report.deleted:
                        log.info("retention: removed %d jobs older than %gh", len(report.deleted), self.retention_hours)
                orphans = self.cleanup.orphans()
                if orphans.deleted:
                    log.info("cleanup: removed the files of %d jobs that have no record", len(orphans.deleted))
                deletes = self.cleanup.finish_deletes()
                if deletes.deleted:
                    log.info("cleanup: removed %d jobs deleted while they ran, once stopped", len(deletes.deleted))
            except Exception:
                log.exception("retention sweep failed; trying again in %ss", self.interval)
            self.last_run = time.monotonic()
