"""The `qie` command line: serve, worker, edit, cleanup, keys, webhook-secret, make-tiny-model, doctor."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="qie",
    help="Qwen Image Editor: edit images with the Qwen-Image-Edit diffusion models, "
    "from the command line (`qie edit`) or as a web service with a job queue (`qie serve`).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each command lives in its own module and registers itself on `app`.
from qwen_image_editor.cli import cleanup, doctor, edit, keys, remote, serve, tiny, webhooks  # noqa: E402,F401
