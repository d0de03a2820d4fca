"""`qie remote edit | jobs`: the same edits on a running server (e.g. a GPU pod), through `qwen_image_editor.client`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from qwen_image_editor.cli import app
from qwen_image_editor.cli.common import EXIT_BAD_INPUT, console, fail, job_id_column
from qwen_image_editor.client import FINAL_STATES, Client, ServerError, result_path
from qwen_image_editor.edit_request import OutputFormat

remote = typer.Typer(help="Use a running server: `qie remote edit`, `qie remote jobs`.", no_args_is_help=True)
app.add_typer(remote, name="remote")

ServerOption = typer.Option(
    "http://127.0.0.1:8002", "--server", "-s", envvar="QIE_SERVER", help="The server's URL ($QIE_SERVER)."
)
KeyOption = typer.Option(None, "--key", "-k", envvar="QIE_KEY", help="An API key, if the server needs one ($QIE_KEY).")


@remote.command("edit")
def remote_edit(
    images: list[Path] | None = typer.Argument(
        None, help="The input images (JPEG, PNG or WebP), as many as the server's model takes; none to make one."
    ),
    prompt: str = typer.Option(..., "--prompt", "-p", help="The edit instruction."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the result (out_2.png ... for more)."),
    server: str = ServerOption,
    key: str | None = KeyOption,
    steps: int | None = typer.Option(None, "--steps", help="Denoising steps (2-150); the server's default if omitted."),
    cfg: float | None = typer.Option(None, "--cfg", help="True CFG scale; the model's default and range."),
    negative_prompt: str | None = typer.Option(None, "--negative-prompt", "-n", help="What to steer away from."),
    seed: int | None = typer.Option(None, "--seed", help="Seed; chosen by the server if omitted."),
    num_images: int | None = typer.Option(None, "--num-images", help="Variations (1-4): seed, seed+1, ..."),
    lightning: bool = typer.Option(
        False, "--lightning", help="The model's few-step path (`fast` in the server's limits)."
    ),
    webhook_url: str | None = typer.Option(None, "--webhook-url", help="POSTed the job when it ends."),
    mask: Path | None = typer.Option(
        None, "--mask", help="Edit only where this image is white (at image 1's size); the rest stays exact."
    ),
    mask_grow: int | None = typer.Option(None, "--mask-grow", help="Pixels to grow the mask by (default 8)."),
    mask_feather: int | None = typer.Option(None, "--mask-feather", help="Pixels to blend over (default 16)."),
) -> None:
    """Queue an edit on the server, follow it with a progress bar, and download the result(s)."""
    images = images or []
    for path in [*images, *([mask] if mask is not None else [])]:
        if not path.is_file():
            fail(f"{path} does not exist or is not a file", EXIT_BAD_INPUT)
    options: dict[str, Any] = {
        "num_inference_steps": steps,
        "true_cfg_scale": cfg,
        "negative_prompt": negative_prompt,
        "seed": seed,
        "num_images": num_images,
        "lightning": lightning or None,
        "output_format": OutputFormat.named(output.suffix) or OutputFormat.PNG,
        "webhook_url": webhook_url,
        "mask_grow": mask_grow,
        "mask_feather": mask_feather,
    }
    try:
        with Client(server, key) as client:
            job = client.edit(list(images), prompt, mask=mask, **options)
            _follow(job)
            if job.status != "complete":
                fail(f"job {job.id} ended {job.status}: {job.view.get('error') or 'no result'}")
            count = len(job.view.get("outputs") or [])
            written = [job.download(result_path(output, index, count), index) for index in range(1, count + 1)]
    except ServerError as exc:
        fail(exc.message, EXIT_BAD_INPUT if 400 <= exc.status < 500 else 1)
    except (httpx.HTTPError, OSError) as exc:
        fail(f"cannot reach {server}: {exc}")
    seed_used = job.view["config"]["seed"]
    console.print(f"Wrote {', '.join(map(str, written))} (job {job.id}, seed {seed_used})", highlight=False)


def _follow(job: Any) -> None:
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), console=console,
    ) as bar:  # fmt: skip
        task = bar.add_task("Queued", total=100)
        for message in job.progress():
            progress = message.get("progress") or {}
            description = progress.get("message") or message.get("status", "")
            bar.update(task, completed=progress.get("progress", 0), description=str(description))
            if message.get("type") in FINAL_STATES:  # the final message is named after the final state
                bar.update(task, completed=100 if message["type"] == "complete" else progress.get("progress", 0))
        if job.status not in FINAL_STATES:
            job.wait()


@remote.command("jobs")
def remote_jobs(
    server: str = ServerOption,
    key: str | None = KeyOption,
    limit: int = typer.Option(20, "--limit", help="How many, newest first."),
    status: str | None = typer.Option(None, "--status", help="Only jobs in this state."),
) -> None:
    """List the server's jobs (yours, with a key), newest first."""
    try:
        with Client(server, key) as client:
            jobs = client.jobs(limit=limit, status=status)
    except ServerError as exc:
        fail(exc.message, EXIT_BAD_INPUT if 400 <= exc.status < 500 else 1)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {server}: {exc}")
    table = Table(job_id_column("job"), "status", "created", "seed", "prompt")
    for job in jobs:
        config = job.view["config"]
        table.add_row(job.id, job.status, job.view["created_at"][:19], str(config["seed"]), config["prompt"])
    console.print(table)
