"""Prometheus metrics of one process: what it observed (job and step durations, its worker's heartbeats) and
what the shared store holds at scrape time (jobs by status, queue depth; one query), plus the model's state.

Each `Metrics` owns its registry, so two services in one process (the tests) never share series; `/metrics`
and `qie worker --metrics-port` serve `Metrics.registry`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from qwen_image_editor.engine.base import EditEngine, ModelState
from qwen_image_editor.events.base import EventBus
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.base import JobStore

log = logging.getLogger(__name__)

# An edit takes seconds to minutes; a step tens of milliseconds (tiny models) to several seconds (CPU).
JOB_SECONDS_BUCKETS = (1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200)
STEP_SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32)
STAGE_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Encoding and saving a result: ~0.1 s per megapixel on one core is the goal; a slow disk or S3 adds to it.
PER_MEGAPIXEL_BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.jobs_finished = Counter(
            "qie_jobs_finished",
            "Jobs that ended in this process, by their final status.",
            ["status"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "qie_job_duration_seconds",
            "From a job's start on a worker to its end, by its final status (ended in this process).",
            ["status"],
            buckets=JOB_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.job_wait = Histogram(
            "qie_job_wait_seconds",
            "From a job's submission to its claim by a worker of this process.",
            buckets=JOB_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.stage_duration = Histogram(
            "qie_worker_stage_duration_seconds",
            "A worker's stages per job: prepare (claim, read inputs), model (the edit), finish (encode, save).",
            ["stage"],
            buckets=STAGE_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.finish_per_megapixel = Histogram(
            "qie_worker_finish_seconds_per_megapixel",
            "A worker's finish stage (encode, thumbnail, store) per megapixel of the job's results.",
            buckets=PER_MEGAPIXEL_BUCKETS,
            registry=self.registry,
        )
        self.step_duration = Histogram(
            "qie_denoise_step_duration_seconds",
            "One denoising step of the model, measured between step callbacks (the first step of each image "
            "includes the text encoding, so it is left out).",
            buckets=STEP_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.worker_heartbeat = Gauge(
            "qie_worker_last_heartbeat_timestamp_seconds",
            "Unix time a worker of this process last showed it is alive (a poll of the queue or a lease renewal).",
            ["worker"],
            registry=self.registry,
        )

    def watch(self, store: JobStore, engine: EditEngine, events: EventBus) -> None:
        """Read the store's counts, the model's state and the event bus's counts at each scrape."""
        self.registry.register(_StoreCollector(store, engine))
        self.registry.register(_EventsCollector(events))

    # -- observations -------------------------------------------------------------------------------
    def job_changed(self, previous: JobStatus | None, job: Job) -> None:
        """From `JobLifecycle._changed`, after the store recorded the change."""
        if previous is JobStatus.QUEUED and job.status is JobStatus.PROCESSING and job.started_at:
            self.job_wait.observe(max(0.0, (job.started_at - job.created_at).total_seconds()))
        if job.status.is_terminal:
            self.jobs_finished.labels(job.status.value).inc()
            if job.started_at and job.finished_at:
                seconds = max(0.0, (job.finished_at - job.started_at).total_seconds())
                self.job_duration.labels(job.status.value).observe(seconds)

    def heartbeat(self, worker_id: str) -> None:
        self.worker_heartbeat.labels(worker_id).set(time.time())


class _EventsCollector(Collector):
    """What the event bus sent to other processes and dropped, and whether it hears them (PostgreSQL only)."""

    def __init__(self, events: EventBus) -> None:
        self.events = events

    def collect(self) -> Iterator[Metric]:
        stats = self.events.stats()
        if stats is None:  # in-process only: nothing to count
            return
        yield CounterMetricFamily("qie_events_sent", "Job events sent to the other processes.", value=stats.sent)
        yield CounterMetricFamily(
            "qie_events_dropped",
            "Job events that could not be sent (each dropped alone) or were pushed out of a full outbox.",
            value=stats.dropped,
        )
        if stats.listening is not None:
            yield GaugeMetricFamily(
                "qie_events_listening",
                "1 while this process hears the other processes' job events.",
                value=stats.listening,
            )


class _StoreCollector(Collector):
    """Gauges read when scraped, so every API node and worker reports the shared queue as it is now."""

    def __init__(self, store: JobStore, engine: EditEngine) -> None:
        self.store, self.engine = store, engine

    def collect(self) -> Iterator[Metric]:
        state = self.engine.state
        model = GaugeMetricFamily("qie_model_state", "1 for the model's current state.", labels=["model", "state"])
        for candidate in ModelState:
            model.add_metric([self.engine.model_id, candidate.value], 1.0 if candidate is state else 0.0)
        yield model
        try:
            counts = self.store.count_by_status()
        except Exception:  # the database is down: the scrape still answers, without these series
            log.warning("metrics: counting jobs failed", exc_info=True)
            return
        by_status = GaugeMetricFamily("qie_jobs", "Jobs in the shared store, by status.", labels=["status"])
        for status, count in counts.items():
            by_status.add_metric([status.value], count)
        yield by_status
        yield GaugeMetricFamily(
            "qie_queue_depth", "Jobs queued and waiting for a worker.", value=counts[JobStatus.QUEUED]
        )
