"""Job events across processes: what crosses PostgreSQL comes out equal, once, in order, and after a lost
connection the listener comes back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import pytest

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.events import postgres as postgres_events
from qwen_image_editor.events.base import Subscription
from qwen_image_editor.events.postgres import EVENTS_CHANNEL, PART_CHARS, PostgresEventBus, Reassembler, decode, encode
from qwen_image_editor.events.postgres import split as split_payload
from qwen_image_editor.jobs.events import JobChanged, JobEvent, JobEventKind, JobProgressed, Preview
from qwen_image_editor.jobs.ids import new_job_id
from qwen_image_editor.jobs.records import Job, Progress, ProgressStage, RequeueReason, WebhookState, WebhookStatus
from qwen_image_editor.jobs.states import JobStatus
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


def test_events_cross_the_wire_unchanged() -> None:
    events: list[JobEvent] = [
        JobChanged(kind=JobEventKind.STARTED, previous=JobStatus.QUEUED, job=_job(new_job_id())),
        JobChanged(kind=JobEventKind.QUEUED, previous=None, job=_job(new_job_id())),
        JobProgressed(job_id=new_job_id(), progress=_progress(4)),
        JobProgressed(job_id=new_job_id(), progress=_progress(5), preview=BIG_PREVIEW),
    ]
    for event in events:
        reassembler = Reassembler()
        parts = split_payload("m1", encode("origin-a", event))
        assert all(len(part.encode()) < 8000 for part in parts)
        whole = [reassembler.add(part) for part in parts]
        assert whole[:-1] == [None] * (len(parts) - 1)
        assert whole[-1] is not None
        assert decode(whole[-1]) == ("origin-a", event)
    assert len(split_payload("m2", encode("o", events[-1]))) > 1  # the big one really went in parts


def test_an_event_with_a_lost_part_is_dropped_not_garbled() -> None:
    payload = encode("o", JobProgressed(job_id=new_job_id(), progress=_progress(1), preview=BIG_PREVIEW))
    first, *rest = split_payload("m1", payload)
    assert rest and len(first) > PART_CHARS
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
    monkeypatch.setattr(postgres_events, "_RECONNECT_SECONDS", 0.2)
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
