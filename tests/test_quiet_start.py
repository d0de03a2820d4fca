"""`qie serve` starts and runs a job quietly: no warnings, one log line per change in a job's life."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.conftest import submit, wait_for
from tests.live_server import free_port
from tests.test_crash_recovery import PATIENCE, server_process

pytestmark = pytest.mark.process

PROMPT = "make the private sky stormy"


def test_a_served_job_logs_its_life_and_nothing_warns(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    with server_process(data_dir, port), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=PATIENCE) as http:
        job_id = submit(http, prompt=PROMPT, num_inference_steps=3, true_cfg_scale=1).json()["job_id"]
        wait_for(http, job_id, {"complete"}, timeout=PATIENCE)
    log = (tmp_path / f"server-{port}.log").read_text()
    assert "Warning" not in log, log  # DeprecationWarning, UserWarning, ...: a start prints none
    for change in ("queued: new -> queued", "started: queued -> processing", "complete: processing -> complete"):
        assert f"job {job_id} {change}" in log, log
    assert PROMPT not in log
