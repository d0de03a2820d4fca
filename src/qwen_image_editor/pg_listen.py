"""One PostgreSQL LISTEN connection, kept open: it reconnects after a failure and hands its owner each
notification. The job store's wake-ups (`store/notify.py`) and the cross-process event bus (`events/postgres.py`)
both listen through it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# How often a thread waiting on its socket looks up to see whether it should stop.
STOP_CHECK_SECONDS = 0.5
RECONNECT_SECONDS = 2.0


def listen_forever(
    conninfo: str,
    channel: str,
    on_payload: Callable[[str], None],
    *,
    stop: threading.Event,
    on_connect: Callable[[], None],
    on_disconnect: Callable[[], None],
) -> None:
    """Until `stop` is set: LISTEN on `channel`, call `on_connect` once per (re)connection (anything notified
    while not listening is lost: the owner catches up there), then `on_payload` for each notification, and
    `on_disconnect` when the connection ends. Run it on a thread of its own: it blocks."""
    import psycopg

    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f"LISTEN {channel}")
                on_connect()
                while not stop.is_set():
                    for notification in conn.notifies(timeout=STOP_CHECK_SECONDS):
                        on_payload(notification.payload)
        except Exception:  # the database went away: the owner's fallback (polling, re-reading) covers the gap
            log.warning("listening on %s failed; retrying in %gs", channel, RECONNECT_SECONDS, exc_info=True)
        finally:
            on_disconnect()
        stop.wait(RECONNECT_SECONDS)  # read each time: a test shortens it
