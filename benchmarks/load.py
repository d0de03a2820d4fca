"""`make bench-load`: what abuse costs the server. A measurement, not a test.

(a) eight simultaneous uploads of a ~128 KB PNG declaring 40 MP: the server's peak RSS above its idle RSS;
(b) a 25 MP camera JPEG (~5 MB): seconds to accept it, and the size of the stored input;
(c) 100 uploads that stall mid-body: what they are answered, server RSS while they hang and afterwards;
    and one client that disconnects mid-upload: the ERROR lines it leaves in the server log;
(d) eight rounds of 500 WebSocket watchers (offering compression, as browsers do): server RSS before and after.
Each against a fresh `qie serve` subprocess (fake engine, in-process worker off so only the API is measured)
on a free port. The server's memory comes from /proc/<pid>/status (VmRSS; VmHWM after resetting it).

To measure another version of the server, put its source first on PYTHONPATH (the benchmark itself imports
nothing from the package), e.g. the commit before a change:
    git worktree add --detach /tmp/before <commit>
    PYTHONPATH=/tmp/before/src .venv/bin/python -m benchmarks.load --label before --save /tmp/before.json
    .venv/bin/python -m benchmarks.load --label after --compare /tmp/before.json
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from benchmarks.serving import qie_serve

console = Console(width=200)
CONFIG = json.dumps({"prompt": "make the sky stormy", "num_inference_steps": 4, "seed": 1})
BODY_TIMEOUT_SECONDS = 30.0  # the default of QIE_BODY_TIMEOUT_SECONDS


@dataclass
class Server:
    url: str
    port: int
    pid: int
    data_dir: Path
    log: Path
    http: httpx.Client


@contextmanager
def server(**env_overrides: str) -> Iterator[Server]:
    with tempfile.TemporaryDirectory() as folder:
        data_dir, log = Path(folder) / "data", Path(folder) / "server.log"
        env = {
            "QIE_MODEL": "fake",
            "QIE_MAX_QUEUE": "10000",
            "QIE_WORKER_ENABLED": "false",
            "QIE_RETENTION_HOURS": "0",
            **env_overrides,
        }
        with log.open("wb") as log_file, qie_serve(data_dir, env, output=log_file, timeout=120) as running:
            process, port, http = running
            yield Server(f"http://127.0.0.1:{port}", port, process.pid, data_dir, log, http)


def proc_status(pid: int, field: str) -> float:
    """A /proc/<pid>/status memory field (VmRSS, VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def post(client: httpx.Client, data: bytes, name: str = "a.png", media_type: str = "image/png") -> httpx.Response:
    return client.post("/api/edit", files={"image1": (name, data, media_type)}, data={"config": CONFIG})


def warm_up(srv: Server) -> None:
    small = encoded(Image.new("RGB", (64, 64), (10, 20, 30)), "PNG")
    for _ in range(3):
        post(srv.http, small).raise_for_status()


# -- (a) --------------------------------------------------------------------------------------------
def png_declaring_40_mp() -> bytes:
    """A real 8000x5000 PNG that compresses to ~120 KB: every pixel must be decoded to read it."""
    image = Image.new("RGB", (8000, 5000), (200, 120, 40))
    return encoded(image, "PNG", compress_level=9)


def concurrent_large_uploads(count: int = 8) -> dict[str, str]:
    data = png_declaring_40_mp()
    with server() as srv:
        warm_up(srv)
        idle = proc_status(srv.pid, "VmRSS")
        reset_peak(srv.pid)
        statuses: list[int] = []
        barrier = threading.Barrier(count)

        def upload() -> None:
            with httpx.Client(base_url=srv.url, timeout=120) as own:
                barrier.wait()
                statuses.append(post(own, data).status_code)

        started = time.perf_counter()
        threads = [threading.Thread(target=upload) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        peak = proc_status(srv.pid, "VmHWM")
    answered = ", ".join(f"{statuses.count(code)}x{code}" for code in sorted(set(statuses)))
    return {
        f"(a) {count} simultaneous 40 MP PNG uploads ({len(data) // 1024} KB each): peak RSS above idle": (
            f"+{peak - idle:.0f} MiB (idle {idle:.0f}, peak {peak:.0f}); {answered} in {seconds:.1f}s"
        )
    }


# -- (b) --------------------------------------------------------------------------------------------
def camera_jpeg() -> bytes:
    """6144x4096 (25 MP), smooth shapes plus sensor-like noise, ~5 MB at quality 90, EXIF orientation 6."""
    height, width = 4096, 6144
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 90 * np.sin(x / 700) * np.cos(y / 500),
            128 + 90 * np.cos(x / 900 + y / 1300),
            128 + 90 * np.sin((x + y) / 1100),
        ],
        axis=-1,
    )
    pixels = np.clip(base + rng.normal(0, 6.0, base.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view, as phones write it
    return encoded(image, "JPEG", quality=90, exif=exif.tobytes())


def camera_upload(rounds: int = 3) -> dict[str, str]:
    data = camera_jpeg()
    with server() as srv:
        warm_up(srv)
        seconds, sizes = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            response = post(srv.http, data, "photo.jpg", "image/jpeg")
            seconds.append(time.perf_counter() - started)
            response.raise_for_status()
            stored = srv.data_dir / "jobs" / response.json()["job_id"] / "input_1.png"
            with Image.open(stored) as kept:
                sizes.append((stored.stat().st_size, kept.size))
    size, dimensions = sizes[-1]
    return {
        f"(b) 25 MP camera JPEG ({len(data) / 1e6:.1f} MB): seconds to accept (median of {rounds})": (
            f"{statistics.median(seconds):.2f}s"
        ),
        "(b) ... stored as": f"{size / 1e6:.1f} MB PNG, {dimensions[0]}x{dimensions[1]}",
    }


# -- (c) --------------------------------------------------------------------------------------------
def stalled_upload(port: int, sent_bytes: int) -> socket.socket:
    """Headers for a 10 MB multipart body, then `sent_bytes` of it, then nothing."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image1"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    request = (
        f"POST /api/edit HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 10000000\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(request + head + os.urandom(sent_bytes))
    return sock


def answer_of(sock: socket.socket, deadline: float) -> str:
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        first = sock.recv(64)
    except TimeoutError:
        return "no answer"
    except OSError:
        return "reset"
    return first.split(b"\r\n", 1)[0].decode(errors="replace").removeprefix("HTTP/1.1 ") or "closed"


def stalled_uploads(count: int = 100, sent_bytes: int = 1024 * 1024) -> dict[str, str]:
    with server() as srv:
        warm_up(srv)
        idle = proc_status(srv.pid, "VmRSS")
        sockets = [stalled_upload(srv.port, sent_bytes) for _ in range(count)]
        time.sleep(2)
        held = proc_status(srv.pid, "VmRSS")
        deadline = time.monotonic() + BODY_TIMEOUT_SECONDS + 5
        answers = [answer_of(sock, deadline) for sock in sockets]
        after = proc_status(srv.pid, "VmRSS")
        still_open = open_fds(srv.pid)
        for sock in sockets:
            sock.close()
        time.sleep(2)  # whatever their leaving logs comes before the count below
        # One client that gives up mid-upload.
        errors_before = _log_errors(srv.log)
        stalled_upload(srv.port, 200_000).close()
        time.sleep(1)
        srv.http.get("/api/health")
        disconnect_lines = _log_errors(srv.log)[len(errors_before) :]
    tally = ", ".join(f"{answers.count(a)}x {a}" for a in sorted(set(answers)))
    return {
        f"(c) {count} uploads stalled after {sent_bytes // 2**20} MiB: answer within "
        f"{BODY_TIMEOUT_SECONDS + 5:.0f}s": tally,
        "(c) ... server RSS idle / while stalled / after the answers": (
            f"{idle:.0f} / {held:.0f} / {after:.0f} MiB ({still_open} fds open before the clients left)"
        ),
        "(c) a client disconnecting mid-upload: ERROR/traceback lines in the log": str(len(disconnect_lines)),
    }


def _log_errors(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if "ERROR" in line or "Traceback" in line]


# -- (d) --------------------------------------------------------------------------------------------
async def watcher_rounds(url: str, job_id: str, pid: int, rounds: int, watchers: int) -> list[float]:
    from websockets.asyncio.client import connect

    async def watch() -> None:
        async with connect(f"{url}/ws/{job_id}", open_timeout=60, close_timeout=10) as ws:
            await ws.recv()

    samples = [proc_status(pid, "VmRSS")]
    for _ in range(rounds):
        await asyncio.gather(*(watch() for _ in range(watchers)))
        await asyncio.sleep(0.5)
        samples.append(proc_status(pid, "VmRSS"))
    return samples


def websocket_churn(rounds: int = 8, watchers: int = 500) -> dict[str, str]:
    with server() as srv:
        warm_up(srv)
        job_id = post(srv.http, encoded(Image.new("RGB", (64, 64)), "PNG")).json()["job_id"]  # stays queued
        fds_before = open_fds(srv.pid)
        samples = asyncio.run(watcher_rounds(f"ws://127.0.0.1:{srv.port}", job_id, srv.pid, rounds, watchers))
        time.sleep(2)
        fds_after = open_fds(srv.pid)
        cpu_before = cpu_seconds(srv.pid)
        time.sleep(5)
        idle_cpu = (cpu_seconds(srv.pid) - cpu_before) / 5
    return {
        f"(d) {rounds} rounds of {watchers} WebSocket watchers: server RSS start -> after each round (MiB)": (
            " -> ".join(f"{sample:.0f}" for sample in samples)
        ),
        "(d) ... after all watchers left: server fds open (before the rounds) / CPU use while idle": (
            f"{fds_after} ({fds_before}) / {idle_cpu:.0%}"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="this tree", help="Column name for these results.")
    parser.add_argument("--save", type=Path, help="Write the results to this JSON file.")
    parser.add_argument("--compare", type=Path, help="A JSON file from --save to show next to these results.")
    parser.add_argument("--only", default="abcd", help="Which figures to measure, e.g. `ac`.")
    args = parser.parse_args()
    figures = {"a": concurrent_large_uploads, "b": camera_upload, "c": stalled_uploads, "d": websocket_churn}
    results: dict[str, str] = {}
    for letter in args.only:
        console.print(f"measuring ({letter}) ...")
        results.update(figures[letter]())
        if args.save:  # after each figure, so a failure later keeps what was measured
            args.save.write_text(json.dumps({"label": args.label, "results": results}, indent=1))
    columns: list[tuple[str, dict[str, str]]] = []
    if args.compare:
        earlier = json.loads(args.compare.read_text())
        columns.append((earlier["label"], earlier["results"]))
    columns.append((args.label, results))
    table = Table(title="qie bench-load (fake engine, worker off)")
    table.add_column("figure")
    for label, _ in columns:
        table.add_column(label)
    for figure in dict.fromkeys(key for _, found in columns for key in found):
        table.add_row(figure, *(found.get(figure, "-") for _, found in columns))
    console.print(table)


if __name__ == "__main__":
    main()
