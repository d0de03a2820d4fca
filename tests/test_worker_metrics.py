"""`qie worker --metrics-port`: a worker process serves its own Prometheus metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.live_server import free_port
from tests.test_crash_recovery import PATIENCE

pytestmark = pytest.mark.process


@contextmanager
def worker_serving_metrics(data_dir: Path, **settings: str) -> Iterator[str]:
    """A `qie worker` process (fake engine) with `--metrics-port`, once it waits for jobs; yields its URL."""
    port = free_port()
    qie = Path(sys.executable).parent / "qie"
    env = {**os.environ, "QIE_MODEL": "fake", **settings}
    command = [qie, "worker", "--data-dir", str(data_dir), "--metrics-port", str(port)]
    worker = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert worker.stdout is not None
        for line in worker.stdout:
            if "Waiting for jobs" in line:
                break
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        worker.terminate()
        worker.wait(PATIENCE)


def test_a_worker_process_serves_its_metrics_on_its_own_port(tmp_path: Path) -> None:
    with worker_serving_metrics(tmp_path, QIE_POLL_SECONDS="0.05") as metrics:
        deadline = time.monotonic() + PATIENCE
        while "qie_worker_last_heartbeat_timestamp_seconds{" not in (body := httpx.get(metrics, timeout=PATIENCE).text):
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
        assert 'qie_jobs{status="queued"} 0.0' in body
        assert "qie_queue_depth 0.0" in body
        assert 'qie_model_state{model="fake",state="not_loaded"} 1.0' in body


def test_a_worker_with_preload_has_its_model_ready_before_it_takes_a_job(tmp_path: Path) -> None:
    with worker_serving_metrics(tmp_path, QIE_PRELOAD="1") as metrics:
        assert 'qie_model_state{model="fake",state="ready"} 1.0' in httpx.get(metrics, timeout=PATIENCE).text
