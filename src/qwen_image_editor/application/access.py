"""Who may call the service: API keys, web sessions made from them, the open mode, and slowing down guessing.

Open mode (no key exists) is for one person on their own machine; it is refused on a non-loopback address
unless the operator says `--insecure-no-auth`. Once a key exists, every caller needs one (or a session).
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from qwen_image_editor.accounts import OPEN, ApiKey, Caller, Role, check_key_name, digest, new_key, new_session_token
from qwen_image_editor.accounts import same_digest as matches
from qwen_image_editor.errors import InvalidRequest, NotAuthenticated, QuotaExceeded
from qwen_image_editor.store.base import KeyStore
from qwen_image_editor.store.rules import utcnow

HOW_TO_GET_A_KEY = (
    "send an API key as `Authorization: Bearer <key>` (or `X-API-Key: <key>`), or sign in on the web page; "
    "the operator makes keys with `qie keys create NAME`"
)
# A key's `last used` is written at most this often: a write per request would cost more than it tells.
_TOUCH_EVERY = timedelta(minutes=1)
# Whether any key exists is re-read at most this often (a key made by `qie keys` in another process
# takes effect within this time).
_MODE_TTL_SECONDS = 1.0


class FailedSignIns:
    """Wrong keys per address: past `limit` within `window` seconds, that address's further wrong keys get 429.

    Only wrong keys are counted and refused: a right key is never checked here, so one client's guessing (or
    many users behind one proxy address) never locks out anyone holding a key. Keys are 256-bit random, so
    slowing guesses is about load and noise, not about luck. The table is an LRU of at most `max_addresses`
    entries, each forgotten once its window is over: a flood of addresses costs bounded memory.
    """

    def __init__(
        self, limit: int, window: float, *, max_addresses: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.max_addresses, self._clock = limit, window, max_addresses, clock
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()  # address -> (window start, count)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    def record(self, address: str) -> None:
        """Count one wrong key from `address`; QuotaExceeded (not counted) when it already sent `limit` of them."""
        address, now = throttled_address(address), self._clock()
        with self._lock:
            self._forget_expired(now)
            started, count = self._failures.pop(address, (now, 0))
            if now - started >= self.window:
                started, count = now, 0
            self._failures[address] = (started, min(count + 1, self.limit))
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)
        if count >= self.limit:
            wait = max(1, math.ceil(started + self.window - now))
            raise QuotaExceeded(
                f"too many wrong keys from {address}; wait {wait} s before trying again", retry_after=wait
            )

    def _forget_expired(self, now: float) -> None:
        """Drop the least recently failing entries whose window is over (the rest go when they are next used)."""
        while self._failures:
            started, _ = next(iter(self._failures.values()))
            if now - started < self.window:
                return
            self._failures.popitem(last=False)


def throttled_address(address: str) -> str:
    """What the throttle counts by: an IPv4 address, an IPv6 one's /64 (one subscriber's share), else the text."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Access:
    def __init__(
        self,
        keys: KeyStore,
        *,
        session_lifetime: timedelta,
        failed_sign_ins: FailedSignIns,
        always_require_keys: bool = False,
    ) -> None:
        self.keys = keys
        self.session_lifetime = session_lifetime
        self.failed_sign_ins = failed_sign_ins
        # Served on a public address without --insecure-no-auth: revoking the last key must lock the server,
        # not open it to everyone.
        self.always_require_keys = always_require_keys
        self._mode_checked: tuple[float, bool] = (float("-inf"), False)
        self._touched: dict[str, datetime] = {}
        self._credentials_ended: list[Callable[[], None]] = []

    # -- keys (the `qie keys` command) ----------------------------------------------------------
    def create_key(self, name: str, role: Role) -> tuple[ApiKey, str]:
        """A new key and its secret: the only time the secret exists outside the caller's hands."""
        try:
            name = check_key_name(name)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc
        secret = new_key()
        return self.keys.create_key(name, role, digest(secret)), secret

    def list_keys(self) -> list[ApiKey]:
        return self.keys.list_keys()

    def revoke(self, name: str) -> bool:
        """Delete the key and end its sessions; False when there is no key of that name."""
        revoked = self.keys.delete_key(name)
        if revoked:
            self._tell_credentials_ended()
        return revoked

    # -- requests -------------------------------------------------------------------------------
    @property
    def keys_exist(self) -> bool:
        return self.keys.count_keys() > 0

    @property
    def keys_required(self) -> bool:
        if self.always_require_keys:
            return True
        checked_at, required = self._mode_checked
        if time.monotonic() - checked_at > _MODE_TTL_SECONDS:
            required = self.keys_exist
            self._mode_checked = (time.monotonic(), required)
        return required

    def caller_without_credentials(self) -> Caller:
        if self.keys_required:
            raise NotAuthenticated(f"this server needs an API key: {HOW_TO_GET_A_KEY}")
        return OPEN

    def caller_with_key(self, secret: str, address: str) -> Caller:
        """The caller a key stands for; NotAuthenticated for a wrong key, QuotaExceeded after too many."""
        found = self.keys.key_by_hash(digest(secret))
        if found is None or not matches(found[1], secret):
            self.failed_sign_ins.record(address)  # QuotaExceeded past the limit
            raise NotAuthenticated(f"that API key is not valid (revoked, or mistyped): {HOW_TO_GET_A_KEY}")
        self._touch(found[0])
        return Caller(key=found[0])

    def caller_with_session(self, token: str) -> Caller:
        found = self.keys.key_by_session(digest(token))
        if found is None or not matches(found[1], token):
            raise NotAuthenticated(
                "your session has ended (signed out, expired, or its key was revoked); sign in again"
            )
        key, session_hash, expires_at = found
        self._touch(key)
        return Caller(key=key, session_expires_at=expires_at, session_hash=session_hash)

    def open_session(self, secret: str, address: str) -> tuple[str, datetime, Caller]:
        """Exchange a key for a session token (for the web page's cookie) and its expiry."""
        if not self.keys_required:
            raise InvalidRequest("this server is open (no API key exists yet): there is nothing to sign in to")
        try:
            caller = self.caller_with_key(secret, address)
        except NotAuthenticated:  # said for people at a sign-in form, not for programs
            raise NotAuthenticated(
                "that key is not valid: check it for typos, or ask the server's operator for a key "
                "(they make one with `qie keys create NAME`)"
            ) from None
        assert caller.key is not None
        token = new_session_token()
        expires = self.keys.create_session(digest(token), caller.key.id, self.session_lifetime)
        return token, expires, Caller(key=caller.key, session_expires_at=expires)

    def close_session(self, token: str) -> None:
        self.keys.delete_session(digest(token))
        self._tell_credentials_ended()

    def when_credentials_end(self, listener: Callable[[], None]) -> None:
        """Call `listener` after this process revokes a key or closes a session (other processes' revocations
        reach their own listeners, and are seen here by `still_valid` alone)."""
        self._credentials_ended.append(listener)

    def still_valid(self, callers: Iterable[Caller]) -> set[Caller]:
        """Those of `callers` whose key and session (if they came through one) are still live; open-mode
        callers always are. One read for all of them, however many sockets they hold."""
        callers = set(callers)
        keyed = [caller for caller in callers if caller.key is not None]
        if not keyed:
            return callers
        key_ids = {caller.key.id for caller in keyed if caller.key is not None}
        session_hashes = {caller.session_hash for caller in keyed if caller.session_hash is not None}
        live_keys, live_sessions = self.keys.live_credentials(key_ids, session_hashes)
        return {
            caller
            for caller in callers
            if caller.key is None
            or (caller.key.id in live_keys and (caller.session_hash is None or caller.session_hash in live_sessions))
        }

    def _tell_credentials_ended(self) -> None:
        for listener in self._credentials_ended:
            listener()

    def _touch(self, key: ApiKey) -> None:
        now = utcnow()
        last = self._touched.get(key.id) or key.last_used_at
        if last is None or now - last > _TOUCH_EVERY:
            self._touched[key.id] = now
            self.keys.touch_key(key.id, now)


def is_loopback(host: str) -> bool:
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


def exposure_problem(host: str, *, keys_exist: bool, insecure_no_auth: bool) -> str | None:
    """Why serving on `host` would expose an open server, with the two fixes; None when it is fine."""
    if keys_exist or insecure_no_auth or is_loopback(host):
        return None
    return (
        f"refusing to serve on {host} without API keys: anyone who can reach it could use the GPU and read "
        "every job. Either make a key first (`qie keys create NAME --admin`, then sign in with it), or, on a "
        "network you trust, start with `--insecure-no-auth`"
    )
