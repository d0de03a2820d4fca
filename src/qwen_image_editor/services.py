"""`build_services(settings)`: the one place that chooses implementations, for the app and the CLI alike."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from qwen_image_editor.application.access import Access, FailedSignIns, is_loopback
from qwen_image_editor.application.cleanup import Cleanup, RetentionSweeper
from qwen_image_editor.application.jobs import JobService
from qwen_image_editor.application.lifecycle import JobLifecycle
from qwen_image_editor.application.metrics import Metrics
from qwen_image_editor.application.quotas import KeyQuotas
from qwen_image_editor.application.webhooks import WebhookSender, WebhookThread, WebhookTiming
from qwen_image_editor.blobs.base import BlobStore
from qwen_image_editor.blobs.factory import build_blob_store
from qwen_image_editor.engine.base import EditEngine
from qwen_image_editor.engine.capabilities import capabilities_of
from qwen_image_editor.engine.factory import build_engine
from qwen_image_editor.events.local import LocalEventBus
from qwen_image_editor.events.postgres import PostgresEventBus
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.model_families import Capabilities
from qwen_image_editor.settings import Settings
from qwen_image_editor.store.base import JobStore
from qwen_image_editor.store.database import open_database
from qwen_image_editor.store.factory import build_store
from qwen_image_editor.store.keys import SqlKeyStore
from qwen_image_editor.store.notify import Notifications, can_notify, job_notifications, postgres_conninfo
from qwen_image_editor.store.webhooks import SqlWebhookStore
from qwen_image_editor.worker.heartbeat import WorkerTiming
from qwen_image_editor.worker.identity import WorkerName, claim_worker_name, live_run_elsewhere, this_host
from qwen_image_editor.worker.runner import Worker
from qwen_image_editor.worker.thread import WorkerThread

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: JobStore
    blobs: BlobStore
    engine: EditEngine
    capabilities: Capabilities  # what the configured model can do, known without loading it
    events: LocalEventBus | PostgresEventBus
    jobs: JobService
    access: Access
    cleanup: Cleanup
    worker: Worker
    webhook_sender: WebhookSender
    metrics: Metrics
    _background: list[WorkerThread | RetentionSweeper | WebhookThread] = field(default_factory=list)
    _worker_name: WorkerName | None = None
    _notifications: Notifications | None = None
    # The process's one engine (one pool), shared by the job, key and webhook stores; None when tests pass
    # stores of their own.
    database: Engine | None = None

    def start_background(self) -> None:
        """The in-process worker, the retention sweep, the webhook sender, and (with --preload) loading the model.

        Webhooks are sent by API nodes (`qie serve`), whichever process ended the job: a `qie worker` only
        records them. Two API nodes never send one delivery at once (a claim with a lease)."""
        self.events.start(listen=True)  # an API node hears every process's job events
        if self.settings.worker_enabled:
            self.prepare_worker()
            thread = WorkerThread(self.worker)
            thread.start()
            self._background.append(thread)
        # At start and then every interval: finished jobs past the retention (when there is one), and always
        # job files left without a record (a process killed while storing a job's inputs) for an hour.
        retention = self.settings.retention_hours or None  # 0: keep every job
        sweeper = RetentionSweeper(self.cleanup, retention, self.settings.cleanup_interval_seconds)
        sweeper.start()
        self._background.append(sweeper)
        sender = WebhookThread(self.webhook_sender)
        self.jobs.lifecycle.when_finished(sender.wake)
        sender.start()
        self._background.append(sender)
        if self.settings.preload:
            threading.Thread(target=self._preload, name="qie-preload", daemon=True).start()

    def prepare_worker(self) -> None:
        """Before the worker runs: give it its lasting name (so that it recovers its previous run's jobs as
        it starts) and, on PostgreSQL, wake it whenever any process queues a job (it polls as well) and
        send its job events to the API nodes' watchers."""
        if self._worker_name is None:
            self._worker_name = claim_worker_name(
                self.settings.data_dir, self.settings.worker_name, self._name_held_elsewhere
            )
            self.worker.take_name(self._worker_name.name, self._worker_name.run)
        url = self.settings.resolved_database_url
        if self._notifications is None and can_notify(url):
            self._notifications = job_notifications(url, self.worker.wake).start()
        self.events.start(listen=False)

    def _name_held_elsewhere(self, name: str) -> str | None:
        """A live worker on another machine under `name`: heard from within a lease (it records itself at
        every heartbeat, several times a lease)."""
        since = datetime.now(UTC) - timedelta(seconds=self.settings.lease_seconds)
        live = [presence.worker_id for presence in self.store.workers_seen_since(since)]
        return live_run_elsewhere(name, live, this_host())

    def _preload(self) -> None:
        try:
            self.engine.load()
        except Exception:
            log.exception("preloading %s failed; jobs will report why", self.engine.model_id)

    def readiness_problems(self) -> list[str]:
        """Why this node cannot serve now (empty when it can): the database or the job files unreachable.
        Short reasons, since anyone may read them; the full error goes to the log."""
        problems = []
        try:
            self.store.ping()
        except Exception as exc:
            log.warning("readiness: the database is unreachable", exc_info=True)
            problems.append(f"the database is unreachable ({type(exc).__name__})")
        try:
            self.blobs.check_writable()
        except Exception as exc:
            log.warning("readiness: job files cannot be written in %s", self.blobs.description, exc_info=True)
            cause = exc.__cause__ or exc  # the store's own error (e.g. EndpointConnectionError), not our wrapper
            if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
                problems.append(f"job files cannot be written in {self.blobs.description}: its disk is full")
            else:
                problems.append(f"job files cannot be written in {self.blobs.description} ({type(cause).__name__})")
        problems.extend(self._full_disks())
        return problems

    def _full_disks(self) -> list[str]:
        """The data directory's disk (the SQLite database's by default) and the job files' folder's, when either
        has less free space than QIE_MIN_FREE_DISK_MB."""
        settings = self.settings
        minimum = settings.min_free_disk_mb * 2**20
        folders = {"the data directory": settings.data_dir}
        if settings.s3_blobs is None:
            folders["the job files' folder"] = settings.jobs_dir
        problems, seen = [], set()
        for name, folder in folders.items():
            try:
                device, free = folder.stat().st_dev, shutil.disk_usage(folder).free
            except OSError:
                continue  # an unreachable folder is reported above
            if device not in seen and free < minimum:
                problems.append(
                    f"the disk of {name} is full ({free / 2**20:.0f} MiB free, QIE_MIN_FREE_DISK_MB="
                    f"{settings.min_free_disk_mb:g}): free space on it"
                )
            seen.add(device)
        return problems

    @property
    def worker_alive(self) -> bool:
        return any(isinstance(part, WorkerThread) and part.alive for part in self._background)

    def close(self) -> None:
        for part in self._background:
            part.stop()
        if self._notifications is not None:
            self._notifications.stop()
        self.events.stop()  # after the worker: its last events (a job handed back) still go out
        if self._worker_name is not None:
            self._worker_name.release()
        self.webhook_sender.close()
        self.webhook_sender.webhooks.close()  # its store of deliveries
        self.store.close()
        self.access.keys.close()
        self.jobs.decoder.close()
        if self.database is not None:
            self.database.dispose()
        self.jobs.reads.close()


def worker_identity() -> str:
    """Unique per process, so two workers on one machine never share a lease; logs say which held a job.
    A worker that runs replaces it with its lasting name (`Services.prepare_worker`)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def build_access(settings: Settings, database: Engine | None = None) -> Access:
    """Keys and sessions; `qie keys` uses this alone, on the same settings as `qie serve` (and its own engine)."""
    return Access(
        SqlKeyStore(database or settings.resolved_database_url),
        session_lifetime=timedelta(hours=settings.session_hours),
        failed_sign_ins=FailedSignIns(settings.failed_sign_ins_per_minute, window=60.0),
        always_require_keys=not is_loopback(settings.host) and not settings.insecure_no_auth,
    )


def build_webhook_sender(settings: Settings, store: JobStore, database: Engine | None = None) -> WebhookSender:
    """The webhook sender; `qie webhook-secret` reads its secret on the same settings as `qie serve`."""

    def render(job: Job) -> bytes:
        from qwen_image_editor.api.views import job_view  # the body is the job view, exactly as the API shows it

        return job_view(job, None, retention_hours=settings.retention_hours).model_dump_json().encode()

    timing = WebhookTiming(
        timeout_seconds=settings.webhook_timeout_seconds,
        first_retry_seconds=settings.webhook_first_retry_seconds,
        max_retry_seconds=settings.webhook_max_retry_seconds,
        give_up_seconds=settings.webhook_give_up_seconds,
    )
    return WebhookSender(
        SqlWebhookStore(database or settings.resolved_database_url),
        store,
        render,
        timing,
        allow_private=settings.webhook_allow_private,
    )


def build_services(settings: Settings, *, engine: EditEngine | None = None, store: JobStore | None = None) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    # One engine (one pool), migrated once, for the whole process.
    database = open_database(url, pool_size=settings.database_pool_size, max_overflow=settings.database_max_overflow)
    store = store or build_store(database)
    blobs = build_blob_store(settings)
    # On PostgreSQL, processes share their job events: watchers on any API node follow jobs run anywhere.
    events = PostgresEventBus(postgres_conninfo(url)) if can_notify(url) else LocalEventBus()
    metrics = Metrics()
    lifecycle = JobLifecycle(store, events, metrics, delete_files=blobs.delete_job_files)
    engine = engine or build_engine(settings)
    capabilities = capabilities_of(settings.model, settings.models_dir)
    metrics.watch(store, engine, events)
    timing = WorkerTiming(
        lease_seconds=settings.lease_seconds,
        heartbeat_seconds=settings.heartbeat_seconds,
        poll_seconds=settings.poll_seconds,
        max_attempts=settings.max_attempts,
    )
    worker = Worker(
        store,
        blobs,
        engine,
        lifecycle,
        worker_identity(),
        timing,
        settings.finish_threads,
        checkpoint_every=settings.checkpoint_every_steps,
    )
    lifecycle.when_queued(worker.wake)  # a job submitted here starts at once on an idle worker
    return Services(
        settings=settings,
        store=store,
        blobs=blobs,
        engine=engine,
        capabilities=capabilities,
        events=events,
        jobs=JobService(
            store,
            blobs,
            lifecycle,
            quotas=KeyQuotas(store, max_queued=settings.max_queued_per_key, per_minute=settings.submits_per_minute),
            max_image_pixels=settings.max_image_pixels,
            max_queued=settings.max_queue,
            max_concurrent_decodes=settings.max_concurrent_decodes,
            decode_wait_seconds=settings.decode_wait_seconds,
            blob_read_threads=settings.blob_read_threads,
            blob_read_seconds=settings.blob_read_seconds,
            allow_private_webhooks=settings.webhook_allow_private,
            capabilities=capabilities,
        ),
        access=build_access(settings, database),
        cleanup=Cleanup(store, blobs),
        worker=worker,
        webhook_sender=build_webhook_sender(settings, store, database),
        metrics=metrics,
        database=database,
    )
