"""Worker names: the same across a service's restarts, never held by two live processes at once."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qwen_image_editor import services as services_module
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.services import build_services
from qwen_image_editor.worker import identity
from qwen_image_editor.worker.identity import WorkerNameInUse, claim_worker_name
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings, png_bytes
from tests.store.conftest import postgres_url  # noqa: F401 (a fixture)


def test_a_name_held_by_a_live_process_goes_to_no_other_until_it_is_let_go(tmp_path: Path) -> None:
    first = claim_worker_name(tmp_path)
    second = claim_worker_name(tmp_path)
    assert first.name != second.name and first.name.endswith("-1") and second.name.endswith("-2")
    assert first.worker_id.startswith(f"{first.name}/") and first.run != second.run
    first.release()
    again = claim_worker_name(tmp_path)  # the restart of the first: the same name, a new run
    assert again.name == first.name and again.run != first.run
    second.release()
    again.release()


def test_a_killed_process_leaves_its_name_for_its_restart(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from qwen_image_editor.worker.identity import claim_worker_name;"
            f"print(claim_worker_name(Path({str(tmp_path)!r}), 'svc').name, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "svc"
    with pytest.raises(WorkerNameInUse, match="QIE_WORKER_NAME"):
        claim_worker_name(tmp_path, "svc")
    holder.kill()
    holder.wait(10)
    claim_worker_name(tmp_path, "svc").release()


def test_a_name_held_by_a_live_worker_on_another_machine_is_refused_and_its_job_left_alone(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two machines share the database, not a data folder: the second worker under the same name would otherwise
    take the first one's running job for its own previous run's, requeue it and run it again."""
    engine = FakeEngine(step_seconds=0, output_pixels=SMALL_OUTPUT_PIXELS)
    gate = engine.hold(before_step=1)
    monkeypatch.setattr(identity, "this_host", lambda: "machine-a")
    first = build_services(make_settings(tmp_path / "a", database_url=postgres_url, worker_name="gpu"), engine=engine)
    try:
        first.start_background()
        job = first.jobs.submit([io.BytesIO(png_bytes())], EditRequest(prompt="make it blue", seed=1))
        gate.wait_held()  # running on machine A, which has told the database it lives
        running = first.store.get_job(job.id)
        assert running.status is JobStatus.PROCESSING and running.claimed_by.startswith("gpu/machine-a:")
        assert [p.worker_id for p in first.store.workers_seen_since(datetime.now(UTC) - timedelta(minutes=1))] == [
            running.claimed_by
        ]

        monkeypatch.setattr(identity, "this_host", lambda: "machine-b")
        monkeypatch.setattr(services_module, "this_host", lambda: "machine-b")
        second = build_services(make_settings(tmp_path / "b", database_url=postgres_url, worker_name="gpu"))
        try:
            with pytest.raises(WorkerNameInUse, match=r"gpu/machine-a:.*another machine"):
                second.prepare_worker()
        finally:
            second.close()
        after = first.store.get_job(job.id)
        assert (after.status, after.claimed_by, after.attempts) == (JobStatus.PROCESSING, running.claimed_by, 1)
        # A default name on machine B simply takes one that no live worker holds.
        third = build_services(make_settings(tmp_path / "b", database_url=postgres_url))
        try:
            third.prepare_worker()
            assert third.worker.worker_id.startswith("machine-b-1/machine-b:")
        finally:
            third.close()
    finally:
        gate.open()
        first.close()
