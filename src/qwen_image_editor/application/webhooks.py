"""Webhooks: the address check (at submit and again before every attempt), the signature, and the sender
thread that delivers what the job store recorded, with backoff, for a bounded time (README, "Webhooks")."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx

from qwen_image_editor.errors import InvalidRequest, JobNotFound
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.store.base import Delivery, JobStore, WebhookStore
from qwen_image_editor.store.rules import utcnow

log = logging.getLogger("qwen_image_editor.webhooks")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class WebhookRefused(InvalidRequest):
    """The webhook's address is one a user may not make the server call."""


def system_resolver(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


# Not globally routable, although Python's `is_global` (3.11) says they are: the 6to4 relay anycast (deprecated,
# RFC 7526), site-local (deprecated, RFC 3879), local-use NAT64 (RFC 8215) and IPv4-compatible IPv6 (deprecated,
# RFC 4291; `::` and `::1` are in it and are refused anyway).
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(network) for network in ("192.88.99.0/24", "fec0::/10", "64:ff9b:1::/48", "::/96")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: the last 32 bits are the IPv4 address reached


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to: IPv4-mapped, 6to4, NAT64 or Teredo (its client); None if none."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_public(address: IPAddress) -> bool:
    """Globally routable and unicast, and so is any IPv4 address hidden inside an IPv6 one."""
    if any(address.version == network.version and address in network for network in _NOT_GLOBAL):
        return False
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)) is not None:
        if not _is_public(inner):
            return False
        if address.ipv4_mapped is not None:  # a mapped address is its IPv4 address
            return True
    return address.is_global and not address.is_multicast


def checked_addresses(url: str, *, allow_private: bool, resolve: Resolver = system_resolver) -> list[IPAddress]:
    """The addresses `url`'s host resolves to, all of them allowed; WebhookRefused otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(host, port)]
    except (OSError, UnicodeError) as exc:
        raise WebhookRefused(f"webhook_url's host {host!r} does not resolve ({exc})") from exc
    if not addresses:
        raise WebhookRefused(f"webhook_url's host {host!r} does not resolve")
    if not allow_private:
        private = sorted({str(a) for a in addresses if not _is_public(a)})
        if private:
            raise WebhookRefused(
                f"webhook_url's host {host!r} is at {', '.join(private)}: a loopback, private, link-local or "
                "reserved address, which webhooks may not reach unless the operator sets QIE_WEBHOOK_ALLOW_PRIVATE=1"
            )
    return addresses


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-QIE-Signature` value: HMAC-SHA256 of `<timestamp>.<body>` under the server's secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class WebhookTiming:
    timeout_seconds: float
    first_retry_seconds: float
    max_retry_seconds: float
    give_up_seconds: float
    poll_seconds: float = 1.0  # how soon deliveries recorded by other processes are noticed

    def retry_delay(self, attempts: int) -> float:
        """The wait after the `attempts`-th failed attempt: first_retry, doubling, at most max_retry."""
        return float(min(self.first_retry_seconds * 2 ** min(attempts - 1, 60), self.max_retry_seconds))


class WebhookSender:
    """Sends due deliveries, `concurrency` at once, so that a receiver that never answers delays no other;
    `run_until_idle` is the deterministic loop tests call."""

    def __init__(
        self,
        webhooks: WebhookStore,
        jobs: JobStore,
        render: Callable[[Job], bytes],
        timing: WebhookTiming,
        *,
        allow_private: bool,
        resolve: Resolver = system_resolver,
        concurrency: int = 4,
    ) -> None:
        self.webhooks, self.jobs, self.render, self.timing = webhooks, jobs, render, timing
        self.allow_private, self.resolve, self.concurrency = allow_private, resolve, concurrency
        self._secret: str | None = None
        # never follows redirects: a 3xx could point anywhere, past the address check
        self._http = httpx.Client(timeout=timing.timeout_seconds, follow_redirects=False)

    @property
    def secret(self) -> str:
        if self._secret is None:
            self._secret = self.webhooks.secret()
        return self._secret

    def run_until_idle(self) -> int:
        """Attempt every delivery due now, `concurrency` at once; returns how many were attempted."""
        attempted = 0
        lease = self.timing.timeout_seconds + 30  # an address lookup and one request, with room to spare
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="qie-webhook") as pool:
            running: set[Future[None]] = set()
            while True:
                while len(running) < self.concurrency and (delivery := self.webhooks.claim_due(lease)) is not None:
                    running.add(pool.submit(self.attempt, delivery))
                    attempted += 1
                if not running:
                    return attempted
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for finished in done:
                    finished.result()  # a failure to record one goes to the caller's log, as before

    def attempt(self, delivery: Delivery) -> None:
        body = delivery.body
        if body is None:  # the first attempt fixes the body: every retry then sends the same bytes
            try:
                job = self.jobs.get_job(delivery.job_id)
            except JobNotFound:
                self._settle(delivery, None, "the job was deleted before its webhook was sent", give_up=True)
                return
            body = self.render(job).decode()
            self.webhooks.save_body(delivery.id, body)
        status, error = self._send(delivery, body.encode())
        if status is not None and 200 <= status < 300:
            self.webhooks.settle(delivery.id, status=status, error=None, delivered=True, retry_at=None)
            log.info("webhook %s for job %s delivered (HTTP %d)", delivery.id, delivery.job_id, status)
        else:
            self._settle(delivery, status, error or f"the receiver answered HTTP {status}")

    def _settle(self, delivery: Delivery, status: int | None, error: str, *, give_up: bool = False) -> None:
        attempts = delivery.attempts + 1
        deadline = delivery.created_at + timedelta(seconds=self.timing.give_up_seconds)
        retry_at = utcnow() + timedelta(seconds=self.timing.retry_delay(attempts))
        if give_up or retry_at > deadline:
            self.webhooks.settle(delivery.id, status=status, error=error, delivered=False, retry_at=None)
            log.warning(
                "webhook %s for job %s given up after %d attempts: %s", delivery.id, delivery.job_id, attempts, error
            )
        else:
            self.webhooks.settle(delivery.id, status=status, error=error, delivered=False, retry_at=retry_at)
            log.info(
                "webhook %s for job %s failed (attempt %d, %s); retrying at %s",
                delivery.id,
                delivery.job_id,
                attempts,
                error,
                f"{retry_at:%H:%M:%S}",
            )

    def _send(self, delivery: Delivery, body: bytes) -> tuple[int | None, str | None]:
        """POST to an address checked just now, connecting to that very address (no second lookup that
        DNS rebinding could answer differently). Returns the HTTP status or None, and what went wrong."""
        try:
            address = checked_addresses(delivery.url, allow_private=self.allow_private, resolve=self.resolve)[0]
        except WebhookRefused as exc:
            return None, str(exc)
        parts = urlsplit(delivery.url)
        host = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{host}:{parts.port}" if parts.port else host
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        timestamp = str(int(time.time()))
        job_status = _job_status(body)
        headers = {
            "Host": parts.netloc,
            "Content-Type": "application/json",
            "User-Agent": "qwen-image-editor-webhook",
            "X-QIE-Event": f"job.{job_status}",
            "X-QIE-Delivery": delivery.id,
            "X-QIE-Timestamp": timestamp,
            "X-QIE-Signature": signature(self.secret, timestamp, body),
        }
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        try:
            response = self._http.post(pinned, content=body, headers=headers, extensions=extensions)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return response.status_code, None

    def close(self) -> None:
        self._http.close()


def _job_status(body: bytes) -> str:
    try:
        return str(json.loads(body).get("status", "ended"))
    except ValueError:
        return "ended"


class WebhookThread:
    """Runs the sender in a daemon thread: at once when woken (a job ended here), else every poll."""

    def __init__(self, sender: WebhookSender) -> None:
        self.sender = sender
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="qie-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(self.sender.timing.timeout_seconds + 5)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        poll = self.sender.timing.poll_seconds
        while not self._stop.is_set():
            self._wake.clear()
            wait = poll
            try:
                self.sender.run_until_idle()
                due = self.sender.webhooks.next_due_in()
                wait = poll if due is None else min(poll, due)
            except Exception:
                log.exception("webhook delivery failed; trying again in %ss", poll)
            self._wake.wait(wait)
