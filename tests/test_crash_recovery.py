"""Accepted means not lost: SIGKILL the server mid-job, restart it, and every job reaches a final state;
the interrupted job runs again at once (its lease need not expire: the service knows its own), and first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import submit
from tests.live_server import free_port
from tests.serve_process import serve_process

pytestmark = pytest.mark.process

# How long to wait for what must happen (a start, a job's end) on a loaded machine; free when it happens.
PATIENCE = 120.0


@contextmanager
def server_process(
    data_dir: Path,
    port: int,
    *args: str,
    env: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`qie serve` on the fake engine (more options in `args`, more settings in `env`), once it answers.
    `environ` is the environment to start from (default: this process's), for tests that must leave out
    some of it."""
    env = {
        **(os.environ if environ is None else environ),
        "QIE_MODEL": "fake",
        "QIE_FAKE_STEP_SECONDS": "0.1",
        # The default 30 s lease: recovery may not wait for it to expire.
        "QIE_RETENTION_HOURS": "0",
        **(env or {}),
    }
    qie = Path(sys.executable).parent / "qie"
    command = [qie, "serve", "--data-dir", str(data_dir), "--port", str(port), *args]
    with serve_process(command, port=port, env=env, log=data_dir.parent / f"server-{port}.log", patience=PATIENCE) as p:
        yield p


def test_sigkill_mid_job_then_restart_finishes_every_accepted_job(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    hold = tmp_path / "hold"  # the first job's edit waits before its first step while this file is there
    hold.touch()
    # A lease this test never outlives: the rerun cannot come from its expiry, only from the restart itself.
    env = {"QIE_FAKE_HOLD_FILE": str(hold), "QIE_FAKE_STEP_SECONDS": "0.02", "QIE_LEASE_SECONDS": "3600"}
    url = f"http://127.0.0.1:{port}"
    with server_process(data_dir, port, env=env) as first, httpx.Client(base_url=url, timeout=PATIENCE) as http:
        ids = [submit(http, num_inference_steps=10, prompt=f"job {n}").json()["job_id"] for n in range(4)]
        deadline = time.monotonic() + PATIENCE
        while http.get(f"/api/jobs/{ids[0]}").json()["status"] != "processing":
            assert time.monotonic() < deadline, "the first job never started"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)  # mid-job: its edit is held until the file goes
        first.wait(30)
    hold.unlink()

    with server_process(data_dir, port, env=env), httpx.Client(base_url=url, timeout=PATIENCE) as http:
        deadline = time.monotonic() + PATIENCE
        jobs = []
        while time.monotonic() < deadline:
            jobs = [http.get(f"/api/jobs/{job_id}").json() for job_id in ids]
            if all(job["status"] in {"complete", "error", "cancelled"} for job in jobs):
                break
            time.sleep(0.2)
        assert [job["status"] for job in jobs] == ["complete"] * 4, jobs
        assert jobs[0]["attempts"] == 2  # the killed run, then the rerun: at once, long before its lease ends
        assert jobs[0]["requeue_reason"] == "restart"  # the page says "requeued after a restart"
        rerun_started = datetime.fromisoformat(jobs[0]["started_at"])
        assert all(rerun_started < datetime.fromisoformat(job["started_at"]) for job in jobs[1:])  # first
        for job_id in ids:
            assert (data_dir / "jobs" / job_id / "output_1.png").stat().st_size > 0
            assert http.get(f"/api/jobs/{job_id}/download").status_code == 200
        log = (tmp_path / f"server-{port}.log").read_text()
        assert f"job {ids[0]} requeued: processing -> queued (attempt 1, worker (restart)" in log
