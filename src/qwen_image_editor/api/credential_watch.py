"""A socket lives no longer than its caller's credentials: revoking a key or ending a session (signing out, or
its expiry) closes every socket opened with it, on every API node, within about a second.

Each node reads, for all its sockets at once, which of their keys and sessions are still live: one read,
however many sockets. It reads when this process ends a credential, when PostgreSQL says that another process
did (`NOTIFY qie_access`, sent in the revoking transaction), and otherwise every POLL_SECONDS, since SQLite
cannot notify and `qie keys revoke` runs in a process of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from qwen_image_editor.accounts import Caller
from qwen_image_editor.application.access import Access
from qwen_image_editor.store.notify import ACCESS_CHANNEL, Notifications, can_notify

log = logging.getLogger(__name__)

# How often the credentials of open sockets are read without being told that one ended (SQLite, or while
# PostgreSQL's notifications are not heard).
POLL_SECONDS = 1.0
# While PostgreSQL's notifications are heard, reading is only a safety net: the listener also wakes the watch
# after each reconnection, for what was revoked while it was away.
NOTIFIED_POLL_SECONDS = 30.0

KEY_REVOKED = "your API key was revoked; ask the server's operator for a new one"
SESSION_ENDED = "your session has ended (signed out, expired, or its key was revoked); sign in again"


class CredentialWatch:
    """Made on the event loop, by the first socket; `close` at shutdown."""

    def __init__(self, access: Access, database_url: str) -> None:
        self._access = access
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._watched: dict[Caller, set[asyncio.Future[str]]] = {}
        self._notifications = (
            Notifications(database_url, ACCESS_CHANNEL, self.wake).start() if can_notify(database_url) else None
        )
        access.when_credentials_end(self.wake)
        self._task = self._loop.create_task(self._run(), name="qie-credential-watch")

    def wake(self) -> None:
        """Read the credentials now (from any thread)."""
        self._loop.call_soon_threadsafe(self._wake.set)

    @contextlib.asynccontextmanager
    async def watching(self, caller: Caller) -> AsyncIterator[asyncio.Future[str]]:
        """A future that gets, once `caller`'s key or session has ended, the reason to give its socket.
        Open mode's caller has nothing to end."""
        ended: asyncio.Future[str] = self._loop.create_future()
        if caller.key is not None:
            self._watched.setdefault(caller, set()).add(ended)
        try:
            yield ended
        finally:
            futures = self._watched.get(caller)
            if futures is not None:
                futures.discard(ended)
                if not futures:
                    del self._watched[caller]
            ended.cancel()

    def close(self) -> None:
        self._task.cancel()
        if self._notifications is not None:
            self._notifications.stop()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds())
            self._wake.clear()
            if self._watched:
                await self._end_revoked()

    def _poll_seconds(self) -> float:
        heard = self._notifications is not None and self._notifications.listening.is_set()
        return NOTIFIED_POLL_SECONDS if heard else POLL_SECONDS

    async def _end_revoked(self) -> None:
        callers = list(self._watched)
        try:
            live = await run_in_threadpool(self._access.still_valid, callers)
        except Exception:  # the database is away: the sockets stay until it is back and says otherwise
            log.warning("could not read whether the open sockets' keys are still valid", exc_info=True)
            return
        for caller in callers:
            if caller in live:
                continue
            reason = SESSION_ENDED if caller.session_hash is not None else KEY_REVOKED
            for ended in self._watched.pop(caller, set()):
                if not ended.done():
                    ended.set_result(reason)
