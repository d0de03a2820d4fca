"""`qie cleanup`: see and reclaim the space (disk or object store) used by finished jobs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from qwen_image_editor.application.cleanup import Cleanup, CleanupReport
from qwen_image_editor.blobs.factory import build_blob_store
from qwen_image_editor.cli import app
from qwen_image_editor.cli.common import (
    EXIT_BAD_INPUT,
    DataDirOption,
    console,
    fail,
    job_id_column,
    load_settings,
    resolve_path,
)
from qwen_image_editor.errors import JobNotFound
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.factory import build_store


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB"


@app.command()
def cleanup(
    status: bool = typer.Option(False, "--status", help="Show job counts and the space job files use, delete nothing."),
    list_jobs: bool = typer.Option(False, "--list", help="List jobs (newest first), delete nothing."),
    hours: float | None = typer.Option(None, "--hours", min=0, help="Delete finished jobs older than N hours."),
    job: list[str] = typer.Option([], "--job", help="Delete this job (repeatable); must be a job UUID."),
    by_status: JobStatus | None = typer.Option(None, "--by-status", help="Delete finished jobs in this state."),
    delete_all: bool = typer.Option(False, "--all", help="Delete every finished job."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be deleted, delete nothing."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Remove finished jobs' records and files. Queued and running jobs are never touched.

    With no option, applies the retention policy (QIE_RETENTION_HOURS, default 24)."""
    settings = load_settings(data_dir=resolve_path(data_dir))
    if not settings.data_dir.is_dir():
        fail(f"no data directory at {settings.data_dir.resolve()}; pass --data-dir or set QIE_DATA_DIR", EXIT_BAD_INPUT)
    store = build_store(settings.resolved_database_url)
    cleaner = Cleanup(store, build_blob_store(settings))
    try:
        if status:
            _print_status(cleaner)
        elif list_jobs:
            _print_jobs(cleaner)
        else:
            try:
                if job:
                    report = cleaner.delete_jobs(job, dry_run=dry_run)
                elif delete_all or by_status is not None:
                    report = cleaner.delete_by_status(by_status, dry_run=dry_run)
                else:
                    report = cleaner.delete_older_than(
                        settings.retention_hours if hours is None else hours, dry_run=dry_run
                    )
            except JobNotFound as exc:
                fail(str(exc), EXIT_BAD_INPUT)
            _print_report(report)
    finally:
        store.close()


def _print_status(cleaner: Cleanup) -> None:
    state = cleaner.status()
    table = Table(title="Jobs", show_header=False)
    for job_status, count in state.counts.items():
        table.add_row(job_status.value, str(count))
    table.add_row("job files", _size(state.stored_bytes))
    table.add_row("jobs with files but no record", str(state.orphans))
    console.print(table)


def _print_jobs(cleaner: Cleanup) -> None:
    table = Table(job_id_column("job id"), "status", "created", "prompt")
    jobs, _ = cleaner.store.list_jobs(limit=200)
    for job in jobs:
        table.add_row(job.id, job.status.value, f"{job.created_at:%Y-%m-%d %H:%M}", job.request.prompt[:60])
    console.print(table)


def _print_report(report: CleanupReport) -> None:
    verb = "Would delete" if report.dry_run else "Deleted"
    console.print(f"{verb} {len(report.deleted)} jobs, freeing {_size(report.freed_bytes)}", highlight=False)
    for job_id in report.deleted:
        console.print(f"  {job_id}", highlight=False)
    if report.skipped_active:
        console.print(f"Skipped {len(report.skipped_active)} queued or running jobs", highlight=False)
