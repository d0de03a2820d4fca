"""`make bench-health`: `/api/health` while slow requests hold the server (issue 19, point 7). A measurement, not a
test.

A `qie serve` subprocess (fake engine, QIE_FAKE_STEP_SECONDS slow steps) keeps its job files in a moto S3 server
that it reaches through a TCP proxy in this process. The proxy can be frozen: it keeps every connection open and
forwards no byte, as a hung store looks (no refusal, no reset: only boto3's and the server's own deadlines end a
request). One job completes; a slow one (many steps) is left running. Then:
- baseline: /api/health probed at idle, a fresh connection every 100 ms (as a load balancer probes);
- under load: the proxy freezes, then at once 45 DELETEs of the running job and 48 GETs of the completed job's
  output file, each on its own connection, and /api/health probed the same way while they are in flight.
It reports each probe series' median, p95 and max latency and how many took over 100 ms, and what the DELETEs
and GETs were answered and when (a read gets 503 with Retry-After once QIE_BLOB_READ_SECONDS passes).

The server, the loading requests (a spawned process of their own) and the probes (this process) are separate
processes, so the figures are the server's, not a shared GIL's. To
measure another version of the server, put its source first on PYTHONPATH (the benchmark imports nothing from
the package), e.g. `PYTHONPATH=/tmp/before/src .venv/bin/python -m benchmarks.health_under_load`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import io
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
from PIL import Image
from rich.console import Console
from rich.table import Table

from benchmarks.scale import percentile
from benchmarks.scale_topology import moto_server
from benchmarks.serving import add_settings_option, qie_serve, settings_of

console = Console(width=160)
SLOW_MS = 100.0  # issue 19, point 7: liveness answers within this however busy the request threads are
BUCKET = "bench-scale"  # the bucket moto_server() makes


class FreezableProxy:
    """A TCP proxy on a free port to `upstream_port`, on an event loop of its own thread. `freeze()` stops the
    bytes both ways (new connections are still accepted and held); `thaw()` lets them flow again."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="freezable-proxy", daemon=True)

    def __enter__(self) -> FreezableProxy:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def freeze(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def thaw(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.set)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._flowing.set()
        server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        self.port = int(server.sockets[0].getsockname()[1])
        self._started.set()
        self._loop.run_forever()
        server.close()

    async def _connection(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        try:
            upstream_in, upstream_out = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_out.close()
            return
        await asyncio.gather(self._pipe(client_in, upstream_out), self._pipe(upstream_in, client_out))

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await source.read(65536)
                if not data:
                    break
                await self._flowing.wait()  # bytes read just before a freeze are held too
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()


@dataclass
class Answer:
    method: str
    status: str  # the HTTP status, or the exception's name when none came
    retry_after: str | None
    seconds: float


def request(port: int, method: str, path: str, timeout: float) -> Answer:
    """One request on a fresh connection of its own (http.client: no pool, little client-side cost)."""
    began = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return Answer(method, str(response.status), response.getheader("Retry-After"), time.perf_counter() - began)
    except OSError as exc:
        return Answer(method, type(exc).__name__, None, time.perf_counter() - began)
    finally:
        connection.close()


def _load(port: int, calls: list[tuple[str, str]], wait: float, pipe: Connection) -> None:
    """The loading requests, in a process of their own: their threads' start-up and parsing take nothing from the
    probes' measurement. Sends "started" once every thread is about to connect, then the answers."""
    start, sending = threading.Barrier(len(calls) + 1), threading.Lock()

    def send(message: object) -> None:
        with sending:  # the answers' threads report as they end
            pipe.send(message)

    def call(method: str, path: str) -> Answer:
        start.wait()
        return request(port, method, path, timeout=wait)

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call, method, path) for method, path in calls]
        start.wait()
        send("started")
        for future in futures:
            future.add_done_callback(lambda _: send("done"))
        send([future.result() for future in futures])


class Loader:
    """`calls` fired at once, each on a fresh connection, from a spawned process; returns once they are sent."""

    def __init__(self, port: int, calls: list[tuple[str, str]], wait: float = 120) -> None:
        self._pipe, child = multiprocessing.Pipe(duplex=False)
        self._process = multiprocessing.get_context("spawn").Process(target=_load, args=(port, calls, wait, child))
        self._process.start()
        child.close()  # so that a child that dies ends recv() with EOFError instead of a wait for good
        self._calls, self._done = len(calls), 0
        self._answers: list[Answer] | None = None
        while self._receive() != "started":
            pass

    def _receive(self) -> object:
        message = self._pipe.recv()
        self._done += message == "done"
        if isinstance(message, list):
            self._answers = message
        return message

    def in_flight(self) -> int:
        while self._answers is None and self._pipe.poll():
            self._receive()
        return self._calls - self._done

    def answers(self, timeout: float) -> list[Answer]:
        while self._answers is None:
            if not self._pipe.poll(timeout):
                self._process.kill()
                raise TimeoutError(f"the loading requests were not all answered within {timeout:g} s")
            self._receive()
        self._process.join(10)
        return self._answers


def probe_health(port: int, seconds: float, every: float = 0.1) -> list[Answer]:
    """/api/health every `every` seconds for `seconds`, each on a fresh connection, as a load balancer probes."""
    answers, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        began = time.monotonic()
        answers.append(request(port, "GET", "/api/health", timeout=30))
        time.sleep(max(0.0, every - (time.monotonic() - began)))
    return answers


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (40, 90, 140)).save(buffer, format="PNG")
    return buffer.getvalue()


def submit(http: httpx.Client, steps: int) -> str:
    config = json.dumps({"prompt": "make the sky stormy", "num_inference_steps": steps, "seed": 1})
    answer = http.post("/api/edit", files={"image1": ("a.png", png(), "image/png")}, data={"config": config})
    answer.raise_for_status()
    return str(answer.json()["job_id"])


def wait_for(http: httpx.Client, job_id: str, status: str, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        seen = http.get(f"/api/jobs/{job_id}").json()["status"]
        if seen == status:
            return
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} not {status} within {timeout:g} s (last: {seen})")


def latency(answers: list[Answer]) -> dict[str, float | int]:
    ms = sorted(answer.seconds * 1000 for answer in answers)
    return {
        "probes": len(ms),
        "median_ms": statistics.median(ms),
        "p95_ms": percentile(ms, 0.95),
        "max_ms": ms[-1],
        "over_100_ms": sum(value > SLOW_MS for value in ms),
        "not_200": sum(answer.status != "200" for answer in answers),
    }


def tally(answers: list[Answer]) -> dict[str, object]:
    seconds = sorted(answer.seconds for answer in answers)
    return {
        "count": len(answers),
        "statuses": dict(Counter(answer.status for answer in answers)),
        "with_retry_after": sum(answer.retry_after is not None for answer in answers),
        "first_s": seconds[0] if seconds else None,
        "median_s": statistics.median(seconds) if seconds else None,
        "last_s": seconds[-1] if seconds else None,
    }


@contextlib.contextmanager
def serving(folder: Path, env: dict[str, str]) -> Iterator[tuple[int, httpx.Client, FreezableProxy, Path]]:
    """moto, the freezable proxy in front of it and `qie serve` keeping its job files there through the proxy."""
    log = folder / "server.log"
    with moto_server() as moto_url, FreezableProxy(int(moto_url.rsplit(":", 1)[1])) as proxy:
        env = {
            "QIE_MODEL": "fake",
            "QIE_RETENTION_HOURS": "0",
            "QIE_FAKE_OUTPUT_PIXELS": "65536",
            "QIE_BLOBS": f"s3://{BUCKET}/health",
            "QIE_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            **env,
        }
        with log.open("wb") as output, qie_serve(folder / "data", env, output=output, timeout=120) as running:
            _, port, http = running
            try:
                yield port, http, proxy, log
            finally:
                proxy.thaw()  # the server's threads stuck in the store finish, so it stops cleanly


def measure(args: argparse.Namespace) -> dict[str, object]:
    env = {"QIE_FAKE_STEP_SECONDS": str(args.step_seconds), **settings_of(args)}
    with tempfile.TemporaryDirectory() as folder, serving(Path(folder), env) as (port, http, proxy, log):
        http.get("/api/health").raise_for_status()
        done = submit(http, steps=2)
        wait_for(http, done, "complete")
        output = f"/api/jobs/{done}/files/output_1.png"
        assert request(port, "GET", output, timeout=30).status == "200", "the output is not readable before"
        slow = submit(http, steps=args.slow_steps)
        wait_for(http, slow, "processing")
        baseline = probe_health(port, args.baseline_seconds)

        proxy.freeze()
        loader = Loader(
            port, [("DELETE", f"/api/jobs/{slow}")] * args.deletes + [("GET", output)] * args.reads, args.wait
        )
        loaded = probe_health(port, args.probe_seconds)
        in_flight = loader.in_flight()
        answers = loader.answers(args.wait + 30)
        proxy.thaw()
        lines = log.read_text(errors="replace").splitlines()
    warnings = [line for line in lines if " WARNING " in line or " ERROR " in line]
    return {
        "step_seconds": args.step_seconds,
        "server_env": args.env,
        "baseline": latency(baseline),
        "under_load": latency(loaded),
        "under_load_ms": [round(answer.seconds * 1000, 1) for answer in loaded],
        "in_flight_after_probing": in_flight,
        "deletes": tally([answer for answer in answers if answer.method == "DELETE"]),
        "reads": tally([answer for answer in answers if answer.method == "GET"]),
        "answers": [asdict(answer) for answer in answers],
        "server_warnings": warnings,
    }


def report(result: dict[str, object], args: argparse.Namespace) -> None:
    warnings = result["server_warnings"]
    assert isinstance(warnings, list)
    table = Table(title=f"qie bench-health: /api/health probes, fresh connection every 100 ms (over {SLOW_MS:g} ms)")
    for column in ("series", "probes", "median ms", "p95 ms", "max ms", "over 100 ms", "not 200"):
        table.add_column(column, justify="left" if column == "series" else "right")
    for key, label in (
        ("baseline", "idle (slow job running)"),
        ("under_load", f"{args.deletes} DELETEs + {args.reads} reads of a hung store"),
    ):
        row = result[key]
        assert isinstance(row, dict)
        table.add_row(
            label,
            str(row["probes"]),
            f"{row['median_ms']:.1f}",
            f"{row['p95_ms']:.1f}",
            f"{row['max_ms']:.1f}",
            str(row["over_100_ms"]),
            str(row["not_200"]),
        )
    console.print(table)
    calls = Table(title="the requests that loaded it (store frozen throughout)")
    for column in ("requests", "answered", "with Retry-After", "first s", "median s", "last s"):
        calls.add_column(column, justify="left" if column in ("requests", "answered") else "right")
    for key, label in (("deletes", "DELETE of the running job"), ("reads", "GET of the completed job's output")):
        row = result[key]
        assert isinstance(row, dict)
        statuses = row["statuses"]
        assert isinstance(statuses, dict)
        calls.add_row(
            f"{row['count']}x {label}",
            ", ".join(f"{n}x {status}" for status, n in sorted(statuses.items())),
            str(row["with_retry_after"]),
            *(f"{row[k]:.2f}" if row[k] is not None else "-" for k in ("first_s", "median_s", "last_s")),
        )
    console.print(calls)
    probes = result["under_load_ms"]
    assert isinstance(probes, list)
    slow = [f"#{i + 1} ({ms:.0f} ms)" for i, ms in enumerate(probes) if ms > SLOW_MS]
    console.print(f"probes under load over {SLOW_MS:g} ms, in order (one every 100 ms): {', '.join(slow) or 'none'}")
    console.print(
        f"{result['in_flight_after_probing']} requests still in flight when probing ended; "
        f"{len(warnings)} WARNING or ERROR lines in the server's log:"
    )
    for line in warnings[:10]:
        console.print(f"  {line}", markup=False, highlight=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deletes", type=int, default=45, help="Concurrent DELETEs of the running job.")
    parser.add_argument("--reads", type=int, default=48, help="Concurrent GETs of the completed job's output.")
    parser.add_argument("--step-seconds", type=float, default=0.3, help="The fake engine's seconds per step.")
    parser.add_argument("--slow-steps", type=int, default=150, help="Steps of the job the DELETEs hit.")
    parser.add_argument("--baseline-seconds", type=float, default=3.0, help="Probing at idle (every 100 ms).")
    parser.add_argument("--probe-seconds", type=float, default=10.0, help="Probing under load (every 100 ms).")
    parser.add_argument("--wait", type=float, default=120.0, help="The longest a DELETE or GET waits for its answer.")
    add_settings_option(parser, "QIE_BLOB_READ_SECONDS=5")
    parser.add_argument("--json", type=Path, help="Save the figures to this file as JSON.")
    args = parser.parse_args()
    result = measure(args)
    report(result, args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
