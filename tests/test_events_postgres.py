"""Job events across processes: what crosses PostgreSQL comes out equal, once, in order, and after a lost
connection the listener comes back."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import pytest

from qwen_image_editor import pg_listen
from qwen_image_editor.application.metrics import Metrics
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.events import postgres as postgres_events
from qwen_image_editor.events.base import Subscription
from qwen_image_editor.events.postgres import EVENTS_CHANNEL, PART_BYTES, PostgresEventBus, Reassembler, decode, encode
from qwen_image_editor.events.postgres import split as split_payload
from qwen_image_editor.jobs.events import JobChanged, JobEvent, JobEventKind, JobProgressed, Preview
from qwen_image_editor.jobs.ids import new_job_id
from qwen_image_editor.jobs.records import Job, Progress, ProgressStage, RequeueReason, WebhookState, WebhookStatus
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.sql import SqlJobStore
from tests.store.conftest import postgres_unreachable

T = TypeVar("T")
TEST_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
# How long an event may take to cross on a loaded machine; costs nothing when it arrives.
PATIENCE = 30.0


def run_apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on a thread of its own: the browser tests' session keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def _progress(step: int) -> Progress:
    return Progress(
        stage=ProgressStage.DENOISING,
        message=f"Step {step} of 8",
        progress=10 + step,
        step=step,
        total_steps=8,
        eta_seconds=1.5,
        updated_at=datetime.now(UTC),
    )


def _job(job_id: str) -> Job:
    now = datetime.now(UTC)
    return Job(
        id=job_id,
        status=JobStatus.PROCESSING,
        request=EditRequest(prompt="make the sky stormy ☁", num_inference_steps=8, seed=7, num_images=2),
        input_count=2,
        created_at=now,
        owner="key-1",
        progress=_progress(3),
        started_at=now,
        attempts=2,
        claimed_by="gpu0",
        lease_expires_at=now,
        output_names=["output_1.png"],
        original_sizes=[(4000, 3000), (640, 480)],
        starred=True,
        requeue_reason=RequeueReason.LEASE_EXPIRED,
        webhook=WebhookState(url="https://example.com/hook", status=WebhookStatus.PENDING),
    )


# A preview bigger than one NOTIFY payload (8000 bytes), with every byte value.
BIG_PREVIEW = Preview(media_type="image/webp", data=bytes(range(256)) * 60)
# 2,000 characters of CJK, 3 UTF-8 bytes each: 6,000 bytes of prompt in 2,000 characters.
CJK_TEXT = ("把天空变成暴风雨前的样子并保留人物和建筑的细节" * 80)[:2000]


def _cjk_job(job_id: str) -> Job:
    job = _job(job_id)
    return dataclasses.replace(
        job, request=job.request.model_copy(update={"prompt": CJK_TEXT, "negative_prompt": CJK_TEXT})
    )


def test_events_cross_the_wire_unchanged() -> None:
    events: list[JobEvent] = [
        JobChanged(kind=JobEventKind.STARTED, previous=JobStatus.QUEUED, job=_job(new_job_id())),
        JobChanged(kind=JobEventKind.QUEUED, previous=None, job=_job(new_job_id())),
        JobProgressed(job_id=new_job_id(), progress=_progress(4)),
        JobProgressed(job_id=new_job_id(), progress=_progress(5), preview=BIG_PREVIEW),
        JobChanged(kind=JobEventKind.STARTED, previous=JobStatus.QUEUED, job=_cjk_job(new_job_id())),
    ]
    for event in events:
        reassembler = Reassembler()
        parts = split_payload("m1", encode("origin-a", event))
        assert all(len(part.encode()) < 8000 for part in parts)
        whole = [reassembler.add(part) for part in parts]
        assert whole[:-1] == [None] * (len(parts) - 1)
        assert whole[-1] is not None
        assert decode(whole[-1]) == ("origin-a", event)
    assert len(split_payload("m2", encode("o", events[-2]))) > 1  # the big ones really went in parts
    assert len(split_payload("m3", encode("o", events[-1]))) > 1


def test_parts_are_cut_by_bytes_and_never_inside_a_character() -> None:
    payload = "a" + "暴" * 6000  # 18,001 bytes; a part boundary by bytes alone would fall inside a character
    parts = split_payload("m1", payload)
    pieces = [part.split(":", 3)[3] for part in parts]
    assert len(parts) == 3
    assert all(len(part.encode()) < 8000 for part in parts)
    assert "".join(pieces) == payload


def test_an_event_with_a_lost_part_is_dropped_not_garbled() -> None:
    payload = encode("o", JobProgressed(job_id=new_job_id(), progress=_progress(1), preview=BIG_PREVIEW))
    first, *rest = split_payload("m1", payload)
    assert rest and len(first.encode()) > PART_BYTES
    reassembler = Reassembler()
    assert reassembler.add(first) is None
    # The next event's parts arrive, its first part first: the broken one is forgotten, the new one is whole.
    follow = encode("o", JobProgressed(job_id=new_job_id(), progress=_progress(2)))
    assert reassembler.add(rest[-1]) is None  # the last part of "m1" without its middle: dropped
    assert [reassembler.add(part) for part in split_payload("m2", follow)] == [follow]


@pytest.fixture
def buses() -> Iterator[tuple[PostgresEventBus, PostgresEventBus]]:
    if problem := postgres_unreachable():
        pytest.skip(problem)
    worker, api_node = PostgresEventBus(TEST_DATABASE), PostgresEventBus(TEST_DATABASE)
    worker.start(listen=True)  # it also listens, to show that a process never hears its own events twice
    api_node.start(listen=True)
    assert worker.listening.wait(PATIENCE) and api_node.listening.wait(PATIENCE)
    yield worker, api_node
    with ThreadPoolExecutor(2) as stopping:  # each waits up to half a second for its listener to look up
        list(stopping.map(PostgresEventBus.stop, (worker, api_node)))


async def _receive(subscription: Subscription, count: int) -> list[JobEvent]:
    received: list[JobEvent] = []
    while len(received) < count:
        event = await subscription.next_event(PATIENCE)
        assert event is not None, f"only {len(received)} of {count} events arrived"
        received.append(event)
    return received


def test_another_process_hears_every_event_once_in_order(buses: tuple[PostgresEventBus, PostgresEventBus]) -> None:
    worker, api_node = buses
    job_id = new_job_id()
    sent: list[JobEvent] = [
        JobChanged(kind=JobEventKind.STARTED, previous=JobStatus.QUEUED, job=_job(job_id)),
        *[JobProgressed(job_id=job_id, progress=_progress(step), preview=BIG_PREVIEW) for step in range(1, 6)],
        JobChanged(kind=JobEventKind.COMPLETE, previous=JobStatus.PROCESSING, job=_job(job_id)),
    ]
    from_worker, from_api_node = (JobProgressed(job_id=job_id, progress=_progress(step)) for step in (6, 7))

    async def both() -> tuple[list[JobEvent], list[JobEvent]]:
        # The API node hears them through PostgreSQL; the worker's own subscriber, in process, once each.
        async with api_node.subscribe(job_id) as remote, worker.subscribe(job_id) as local:
            for event in sent:
                worker.publish(event)
            mine = await _receive(local, len(sent))
            heard = await _receive(remote, len(sent))
            # And nothing more, seen without waiting: PostgreSQL delivers notifications in the order they were
            # committed, so a second copy at the API node, or the worker's own events coming back to it, would
            # arrive before these two.
            worker.publish(from_worker)
            assert await _receive(remote, 1) == [from_worker]
            api_node.publish(from_api_node)
            assert await _receive(local, 2) == [from_worker, from_api_node]
            return mine, heard

    mine, heard = run_apart(both())
    assert mine == sent
    assert heard == sent


class _Watched(threading.Event):
    """A bus's `listening`, remembering that it was cleared: the listener has seen its connection go."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = threading.Event()

    def clear(self) -> None:
        super().clear()
        self.lost.set()


def test_the_listener_comes_back_after_its_connection_is_cut(
    buses: tuple[PostgresEventBus, PostgresEventBus], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, api_node = buses
    monkeypatch.setattr(pg_listen, "RECONNECT_SECONDS", 0.2)
    listening = _Watched()
    listening.set()
    monkeypatch.setattr(api_node, "listening", listening)
    with psycopg.connect(TEST_DATABASE, autocommit=True) as admin:
        cut = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'test' AND query = %s",
            (f"LISTEN {EVENTS_CHANNEL}",),
        ).fetchall()
    assert cut, "no listening connection was found to cut"
    assert listening.lost.wait(PATIENCE), "the listener did not notice that its connection was cut"
    assert listening.wait(PATIENCE), "the listener did not reconnect"
    job_id = new_job_id()
    event, after = (JobProgressed(job_id=job_id, progress=_progress(step)) for step in (1, 2))

    async def hear() -> list[JobEvent]:
        async with api_node.subscribe(job_id) as subscription:
            worker.publish(event)
            heard = await _receive(subscription, 1)
            worker.publish(after)  # a second copy of the first, from the same connection, would come before it
            return heard + await _receive(subscription, 1)

    assert run_apart(hear()) == [event, after]


def test_long_cjk_prompts_with_previews_cross_while_another_jobs_steps_keep_flowing(
    buses: tuple[PostgresEventBus, PostgresEventBus],
) -> None:
    worker, api_node = buses
    cjk_id, ascii_id = new_job_id(), new_job_id()
    cjk_events: list[JobEvent] = [
        JobChanged(kind=JobEventKind.STARTED, previous=JobStatus.QUEUED, job=_cjk_job(cjk_id)),
        *[JobProgressed(job_id=cjk_id, progress=_progress(step), preview=BIG_PREVIEW) for step in range(1, 9)],
        JobChanged(kind=JobEventKind.COMPLETE, previous=JobStatus.PROCESSING, job=_cjk_job(cjk_id)),
    ]
    ascii_steps: list[JobEvent] = [JobProgressed(job_id=ascii_id, progress=_progress(step)) for step in range(1, 11)]

    async def hear() -> tuple[list[JobEvent], list[JobEvent]]:
        async with api_node.subscribe(cjk_id) as cjk, api_node.subscribe(ascii_id) as plain:
            for index, event in enumerate(ascii_steps):  # interleaved, as two workers' jobs are
                worker.publish(event)
                if index < len(cjk_events):
                    worker.publish(cjk_events[index])
            return await _receive(cjk, len(cjk_events)), await _receive(plain, len(ascii_steps))

    heard_cjk, heard_ascii = run_apart(hear())
    assert heard_cjk == cjk_events
    assert heard_ascii == ascii_steps
    assert worker.stats().dropped == 0


def test_an_event_that_cannot_be_sent_is_dropped_alone_and_counted(
    buses: tuple[PostgresEventBus, PostgresEventBus], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, api_node = buses
    doomed_id, kept_id = new_job_id(), new_job_id()
    real_split = postgres_events.split

    def split_too_big_for_the_doomed(message_id: str, payload: str) -> list[str]:
        if doomed_id in payload:  # one part over PostgreSQL's 8000-byte limit: pg_notify refuses it
            return [f"{message_id}:0:1:{payload}{' ' * 9000}"]
        return real_split(message_id, payload)

    monkeypatch.setattr(postgres_events, "split", split_too_big_for_the_doomed)
    kept = [JobProgressed(job_id=kept_id, progress=_progress(step)) for step in range(1, 7)]
    sent_before = worker.stats().sent

    async def hear() -> list[JobEvent]:
        async with api_node.subscribe(kept_id) as subscription:
            for index, event in enumerate(kept):
                worker.publish(event)
                if index == 2:  # in the same batch as its neighbours, most likely
                    worker.publish(JobProgressed(job_id=doomed_id, progress=_progress(1)))
            return await _receive(subscription, len(kept))

    assert run_apart(hear()) == kept
    stats = worker.stats()
    assert (stats.dropped, stats.sent - sent_before, stats.listening) == (1, len(kept), True)
    metrics = Metrics()  # and /metrics says so
    metrics.watch(SqlJobStore("sqlite://"), FakeEngine(), worker)
    assert metrics.registry.get_sample_value("qie_events_dropped_total") == 1
    assert metrics.registry.get_sample_value("qie_events_sent_total") == stats.sent
    assert metrics.registry.get_sample_value("qie_events_listening") == 1
