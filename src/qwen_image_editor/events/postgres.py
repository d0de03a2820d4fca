"""Events across processes: every process publishes its job events through PostgreSQL (NOTIFY), and every
API node LISTENs and hands them to its own WebSocket watchers, so a watcher on any node sees each step of a
job that a worker on any machine runs.

Events stay hints. The store is the truth: a notification lost while a connection was down costs a watcher
nothing but a few seconds, since it re-reads the job when it hears nothing for a while (`api/routes/ws.py`).

Publishing never blocks the caller (a worker between two denoising steps): events wait in a bounded outbox
that a sender thread drains, several to a transaction. A NOTIFY payload holds at most 8000 bytes, and a
progress event with its preview (or a long prompt in any script) can be larger, so an event goes in numbered
parts cut at UTF-8 character boundaries, all in one savepoint (delivered together, in order); the listener puts
them back together. An event that cannot be sent is dropped alone and counted; the rest of its batch goes.
"""

from __future__ import annotations

import collections
import logging
import threading
import uuid
from contextlib import AbstractAsyncContextManager
from typing import Any

from pydantic import BaseModel, ConfigDict

from qwen_image_editor.events.base import EventStats, Subscription
from qwen_image_editor.events.local import LocalEventBus
from qwen_image_editor.jobs.events import JobChanged, JobEvent, JobProgressed
from qwen_image_editor.pg_listen import RECONNECT_SECONDS, STOP_CHECK_SECONDS, listen_forever

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "qie_events"
# Part size in UTF-8 bytes, under the 8000-byte payload limit with room for the part's header.
PART_BYTES = 7800
# Events waiting to be sent while the database is slow or away: beyond this the oldest are dropped.
OUTBOX_SIZE = 1000
# Parts of events still being put together; more means parts were lost (a listener reconnected mid-event).
_MAX_PARTIAL = 100


class _Wire(BaseModel):
    """An event as it crosses processes: who sent it (a process ignores its own) and the event itself."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    origin: str
    changed: JobChanged | None = None
    progressed: JobProgressed | None = None

    @property
    def event(self) -> JobEvent:
        event = self.changed or self.progressed
        assert event is not None, "a wire message carries one event"
        return event


def encode(origin: str, event: JobEvent) -> str:
    if isinstance(event, JobChanged):
        return _Wire(origin=origin, changed=event).model_dump_json()
    return _Wire(origin=origin, progressed=event).model_dump_json()


def decode(payload: str) -> tuple[str, JobEvent]:
    wire = _Wire.model_validate_json(payload)
    return wire.origin, wire.event


def split(message_id: str, payload: str) -> list[str]:
    """`<message id>:<part>:<parts>:<text>` pieces that each fit in one NOTIFY: at most PART_BYTES of UTF-8
    text each (a CJK character is 3 bytes), never cut inside a character."""
    data = payload.encode()
    pieces: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + PART_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a continuation byte: back to the character's start
            end -= 1
        pieces.append(data[start:end].decode())
        start = end
    pieces = pieces or [""]
    return [f"{message_id}:{index}:{len(pieces)}:{piece}" for index, piece in enumerate(pieces)]


class Reassembler:
    """Puts split payloads back together; yields each whole one once its last part arrives."""

    def __init__(self) -> None:
        self._partial: collections.OrderedDict[str, list[str]] = collections.OrderedDict()

    def add(self, part: str) -> str | None:
        message_id, index_text, count_text, piece = part.split(":", 3)
        index, count = int(index_text), int(count_text)
        if count == 1:
            return piece
        pieces = self._partial.setdefault(message_id, [])
        if index != len(pieces):  # a part went missing (a reconnect): the event is lost, as any hint may be
            del self._partial[message_id]
            return None
        pieces.append(piece)
        if len(pieces) < count:
            while len(self._partial) > _MAX_PARTIAL:
                self._partial.popitem(last=False)
            return None
        del self._partial[message_id]
        return "".join(pieces)


class PostgresEventBus:
    """The in-process bus for this process's subscribers, plus NOTIFY out and (on API nodes) LISTEN in."""

    def __init__(self, conninfo: str) -> None:
        """`conninfo`: a libpq connection string or URL (`store.notify.postgres_conninfo` makes one)."""
        self._conninfo = conninfo
        self.local = LocalEventBus()
        self.origin = uuid.uuid4().hex[:12]  # one per process: its own events come back to it, and are skipped
        self._outbox: collections.deque[JobEvent] = collections.deque(maxlen=OUTBOX_SIZE)
        self._has_mail = threading.Condition()
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._sequence = 0
        self.listening = threading.Event()  # set while a LISTEN connection is open
        self._sent = self._dropped = 0  # events; written by the sender thread, and `publish` for a full outbox
        self._reassembler = Reassembler()  # a new one per LISTEN connection: parts never span connections

    # -- the EventBus interface -----------------------------------------------------------------
    def publish(self, event: JobEvent) -> None:
        self.local.publish(event)
        if "sender" in self._threads:
            with self._has_mail:
                if len(self._outbox) == self._outbox.maxlen:  # the oldest waiting event makes room
                    self._dropped += 1
                self._outbox.append(event)
                self._has_mail.notify()

    def subscribe(self, job_id: str) -> AbstractAsyncContextManager[Subscription]:
        return self.local.subscribe(job_id)

    def subscriber_count(self, job_id: str) -> int:
        return self.local.subscriber_count(job_id)

    def stats(self) -> EventStats:
        listening = self.listening.is_set() if "listener" in self._threads else None
        return EventStats(sent=self._sent, dropped=self._dropped, listening=listening)

    # -- running --------------------------------------------------------------------------------
    def start(self, *, listen: bool) -> None:
        """Send this process's events to the others; with `listen`, also hear theirs (API nodes do; a worker
        process has no watchers of its own). Calling it again only adds what was not running."""
        if "sender" not in self._threads:
            self._start_thread("sender", self._send_forever)
        if listen and "listener" not in self._threads:
            self._start_thread("listener", self._listen_forever)

    def stop(self) -> None:
        """Stop, after sending what is waiting (a worker's last events: its job handed back or finished)."""
        self._stop.set()
        with self._has_mail:
            self._has_mail.notify()
        for thread in self._threads.values():
            thread.join(STOP_CHECK_SECONDS * 4)

    def _start_thread(self, role: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=f"qie-events-{role}", daemon=True)
        self._threads[role] = thread
        thread.start()

    # -- sending --------------------------------------------------------------------------------
    def _next_batch(self) -> list[JobEvent]:
        with self._has_mail:
            while not self._outbox and not self._stop.is_set():
                self._has_mail.wait(STOP_CHECK_SECONDS)
            batch = list(self._outbox)
            self._outbox.clear()
            return batch

    def _send_forever(self) -> None:
        import psycopg

        batch: list[JobEvent] = []
        while True:
            try:
                with psycopg.connect(self._conninfo) as conn:
                    while True:
                        batch = batch or self._next_batch()
                        if not batch:  # stopping, and nothing is left to send
                            return
                        with conn.transaction():
                            for event in batch:
                                self._send(conn, event)
                        batch = []
            except Exception:
                # Watchers elsewhere fall back on re-reading the store; the events in hand are dropped, since
                # replaying stale progress later would only mislead.
                log.warning("sending job events failed; retrying in %gs", RECONNECT_SECONDS, exc_info=True)
                self._dropped += len(batch)
                batch = []
            if self._stop.wait(RECONNECT_SECONDS):
                return

    def _send(self, conn: Any, event: JobEvent) -> None:
        """One event's parts, in a savepoint of the batch's transaction: an event that cannot be sent is dropped
        alone (and counted), while a lost connection fails the batch for the reconnect above."""
        import psycopg

        self._sequence += 1
        try:
            parts = split(f"{self.origin}-{self._sequence}", encode(self.origin, event))
            with conn.transaction():
                for part in parts:
                    conn.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, part))
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except Exception:
            self._dropped += 1
            log.warning("dropped a %s event of job %s that could not be sent", event.kind, event.job_id, exc_info=True)
        else:
            self._sent += 1

    # -- listening ------------------------------------------------------------------------------
    def _listen_forever(self) -> None:
        # While the database is away, watchers re-read the store until we are back.
        listen_forever(
            self._conninfo,
            EVENTS_CHANNEL,
            self._receive,
            stop=self._stop,
            on_connect=self._connected,
            on_disconnect=lambda: self.listening.clear(),  # looked up each time: a test replaces the Event
        )

    def _connected(self) -> None:
        self._reassembler = Reassembler()
        self.listening.set()

    def _receive(self, part: str) -> None:
        try:
            payload = self._reassembler.add(part)
            if payload is None:
                return
            origin, event = decode(payload)
        except ValueError:  # not one of ours, or from a version that speaks differently: skip, loudly
            log.warning("ignored a malformed job event on %s", EVENTS_CHANNEL, exc_info=True)
            return
        if origin != self.origin:
            self.local.publish(event)
