"""Retention and `qie cleanup`: finished jobs go, active ones stay, nothing outside the data directory."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qwen_image_editor.application.cleanup import RetentionSweeper
from qwen_image_editor.cli import app
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.services import Services, build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings
from tests.conftest import noise_image

runner = CliRunner()


class Jobs:
    """A data directory with complete, error, queued and processing jobs."""

    def __init__(self, data_dir: Path) -> None:
        self.services: Services = build_services(
            make_settings(data_dir), engine=FakeEngine(step_seconds=0, output_pixels=SMALL_OUTPUT_PIXELS)
        )
        self.data_dir = data_dir
        jobs = self.services.jobs
        self.complete = [jobs.submit([self._png(n)], self._request()).id for n in range(2)]
        self.failed = jobs.submit([self._png(3)], self._request("raise: boom")).id
        self.services.worker.run_until_idle()
        self.processing = jobs.submit([self._png(4)], self._request()).id
        self.services.store.claim_next_job("other-worker", lease_seconds=600)
        self.queued = jobs.submit([self._png(5)], self._request()).id

    def _png(self, seed: int) -> object:
        import io

        buffer = io.BytesIO()
        noise_image(32, 32, seed).save(buffer, format="PNG")
        buffer.seek(0)
        return buffer

    @staticmethod
    def _request(prompt: str = "make it blue") -> object:
        from qwen_image_editor.edit_request import EditRequest

        return EditRequest(prompt=prompt, num_inference_steps=2)

    def statuses(self) -> dict[str, JobStatus]:
        jobs, _ = self.services.store.list_jobs(limit=100)
        return {job.id: job.status for job in jobs}

    def cli(self, *args: str) -> tuple[int, str]:
        # An 80-column terminal: the job ids must still come out whole.
        result = runner.invoke(app, ["cleanup", "--data-dir", str(self.data_dir), *args], env={"COLUMNS": "80"})
        return result.exit_code, result.output


@pytest.fixture
def jobs(tmp_path: Path) -> Jobs:
    return Jobs(tmp_path / "data")


def test_status_reports_counts_and_disk_use(jobs: Jobs) -> None:
    code, output = jobs.cli("--status")
    assert code == 0
    cells = (re.split(r"\s*│\s*", line.strip("│ ")) for line in output.splitlines())
    rows = {row[0]: row[1] for row in cells if len(row) == 2}
    counts = {status: rows[status] for status in ("queued", "processing", "complete", "error", "cancelled")}
    assert counts == {"queued": "1", "processing": "1", "complete": "2", "error": "1", "cancelled": "0"}
    assert re.fullmatch(r"\d+(\.\d+)? (KiB|MiB)", rows["job files"]) and rows["jobs with files but no record"] == "0"


def test_list_shows_every_job(jobs: Jobs) -> None:
    code, output = jobs.cli("--list")
    assert code == 0
    for job_id in [*jobs.complete, jobs.failed, jobs.queued, jobs.processing]:
        assert job_id in output


def test_dry_run_deletes_nothing(jobs: Jobs) -> None:
    before = jobs.statuses()
    code, output = jobs.cli("--all", "--dry-run")
    assert code == 0 and "Would delete 3 jobs" in output
    assert jobs.statuses() == before


def test_all_removes_finished_jobs_and_their_files_but_never_active_ones(jobs: Jobs) -> None:
    code, output = jobs.cli("--all")
    assert code == 0 and "Deleted 3 jobs" in output and "Skipped 2" in output
    assert set(jobs.statuses()) == {jobs.queued, jobs.processing}
    for job_id in jobs.complete:
        assert not (jobs.data_dir / "jobs" / job_id).exists()
    assert (jobs.data_dir / "jobs" / jobs.processing / "input_1.png").is_file()


def test_by_status_and_by_job(jobs: Jobs) -> None:
    assert jobs.cli("--by-status", "error")[0] == 0
    assert jobs.failed not in jobs.statuses()
    assert jobs.cli("--job", jobs.complete[0])[0] == 0
    assert set(jobs.statuses()) == {jobs.complete[1], jobs.queued, jobs.processing}


def test_hours_keeps_recent_jobs(jobs: Jobs) -> None:
    code, output = jobs.cli("--hours", "1")
    assert code == 0 and "Deleted 0 jobs" in output
    assert jobs.cli("--hours", "0")[0] == 0
    assert set(jobs.statuses()) == {jobs.queued, jobs.processing}


@pytest.mark.parametrize("bad_id", ["../../etc", "not-a-uuid", "/tmp", "00000000-0000-4000-8000-000000000000"])
def test_job_ids_that_are_not_ours_are_refused(jobs: Jobs, bad_id: str) -> None:
    before = jobs.statuses()
    code, output = jobs.cli("--job", bad_id)
    assert code == 2 and "no job" in output
    assert jobs.statuses() == before


def test_folders_outside_the_job_layout_are_left_alone(jobs: Jobs) -> None:
    stranger = jobs.data_dir / "jobs" / "keep-me"
    stranger.mkdir()
    (stranger / "file.txt").write_text("not ours")
    jobs.cli("--all")
    jobs.cli("--hours", "0")
    assert (stranger / "file.txt").read_text() == "not ours"


def test_orphan_folders_without_a_record_are_removed_once_old(jobs: Jobs) -> None:
    orphan = jobs.complete[0]
    jobs.services.store.delete_job(orphan)  # the record is gone, the folder is not
    report = jobs.services.cleanup.delete_older_than(1)
    assert orphan not in report.deleted  # recent: could be an upload in progress
    report = jobs.services.cleanup.delete_older_than(0)
    assert orphan in report.deleted
    assert not (jobs.data_dir / "jobs" / orphan).exists()


def test_the_retention_sweep_runs_in_the_background(jobs: Jobs) -> None:
    sweeper = RetentionSweeper(jobs.services.cleanup, retention_hours=0, interval=0.05)
    sweeper.start()
    try:
        deadline = time.monotonic() + 45
        while sweeper.last_run is None:  # its first sweep, at once, has not ended yet
            assert time.monotonic() < deadline, "the retention sweep never ran"
            time.sleep(0.01)
    finally:
        sweeper.stop()
    assert set(jobs.statuses()) == {jobs.queued, jobs.processing}


def test_cleanup_without_a_data_directory_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["cleanup", "--data-dir", str(tmp_path / "nowhere"), "--status"])
    assert result.exit_code == 2 and "no data directory" in result.output
