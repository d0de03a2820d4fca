"""Wake-ups from the database: PostgreSQL tells listeners (LISTEN/NOTIFY) the moment a job is queued, or a
key or session ends.

The stores send `NOTIFY qie_jobs` (`qie_access`) inside the transaction that queues a job (revokes a key, ends
a session), so a listener hears of it once it is committed. SQLite cannot notify other processes: there, the
other processes poll.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.engine import make_url

from qwen_image_editor.pg_listen import STOP_CHECK_SECONDS, listen_forever
from qwen_image_editor.store.connections import normalise_url

JOBS_CHANNEL = "qie_jobs"
ACCESS_CHANNEL = "qie_access"


def can_notify(url: str) -> bool:
    """True when the database at `url` can tell other processes that a job was queued."""
    return normalise_url(url).get_backend_name() == "postgresql"


def postgres_conninfo(url: str) -> str:
    """The libpq connection string for a PostgreSQL SQLAlchemy URL (which names a driver, as libpq does not)."""
    if not can_notify(url):
        raise ValueError(f"{make_url(url).get_backend_name()} cannot notify; only PostgreSQL can")
    return normalise_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Notifications:
    """Calls `on_notify` (from its own thread) whenever `channel` is notified in the PostgreSQL database at
    `url`, and once after each (re)connection, for anything notified while it was not listening."""

    def __init__(self, url: str, channel: str, on_notify: Callable[[], None]) -> None:
        self._conninfo = postgres_conninfo(url)
        self._channel = channel
        self._on_notify = on_notify
        self._stop = threading.Event()
        self.listening = threading.Event()  # set while a LISTEN connection is open
        self._thread = threading.Thread(target=self._run, name=f"qie-{channel}-notifications", daemon=True)

    def start(self) -> Notifications:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(STOP_CHECK_SECONDS * 4)

    def _run(self) -> None:
        # Polling covers the gaps while the database is away; each (re)connection wakes the owner once.
        listen_forever(
            self._conninfo,
            self._channel,
            lambda _payload: self._on_notify(),
            stop=self._stop,
            on_connect=self._connected,
            on_disconnect=self.listening.clear,
        )

    def _connected(self) -> None:
        self.listening.set()
        self._on_notify()


def job_notifications(url: str, on_queued: Callable[[], None]) -> Notifications:
    """Wakes `on_queued` whenever any process queues a job."""
    return Notifications(url, JOBS_CHANNEL, on_queued)
