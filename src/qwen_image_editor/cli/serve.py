"""`qie serve` (API + in-process worker + web UI) and `qie worker` (a worker process on its own)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from qwen_image_editor.cli import app
from qwen_image_editor.cli.common import (
    EXIT_BAD_INPUT,
    DataDirOption,
    ModelOption,
    console,
    demo_warning,
    err_console,
    fail,
    load_settings,
    resolve_path,
)
from qwen_image_editor.settings import DEFAULT_PORT, Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


@app.command()
def serve(
    model: str | None = ModelOption,
    host: str | None = typer.Option(None, "--host", help="Address to bind. Default: $QIE_HOST or 127.0.0.1"),
    port: int | None = typer.Option(None, "--port", help=f"Port. Default: $QIE_PORT or {DEFAULT_PORT}"),
    data_dir: Path | None = DataDirOption,
    preload: bool | None = typer.Option(None, "--preload/--lazy", help="Load the model at start, or on the first job."),
    insecure_no_auth: bool | None = typer.Option(
        None,
        "--insecure-no-auth",
        help="Serve a non-loopback address with no API keys: anyone who reaches it can use it.",
    ),
    worker: bool | None = typer.Option(
        None,
        "--worker/--no-worker",
        help="Run queued jobs in this process too, or (an API node behind which `qie worker` processes run "
        "the jobs) not. Default: $QIE_WORKER_ENABLED or on.",
    ),
) -> None:
    """Run the web service: the API, the web UI at /, and a worker that runs queued jobs one at a time."""
    import uvicorn

    from qwen_image_editor.api.app import create_app
    from qwen_image_editor.api.serving import uvicorn_options

    settings = load_settings(
        model=model,
        host=host,
        port=port,
        data_dir=resolve_path(data_dir),
        preload=preload,
        insecure_no_auth=insecure_no_auth,
        worker_enabled=worker,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _refuse_an_open_public_server(settings)
    application = create_app(settings)
    console.print(
        f"Qwen Image Editor on [bold]http://{settings.host}:{settings.port}/[/] "
        f"(API docs at /docs, data in {settings.data_dir.resolve()})",
        highlight=False,
    )
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="info", **uvicorn_options(settings))


def _refuse_an_open_public_server(settings: Settings) -> None:
    from qwen_image_editor.application.access import exposure_problem, is_loopback
    from qwen_image_editor.services import build_access

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    access = build_access(settings)
    try:
        keys_exist = access.keys_exist
    finally:
        access.keys.close()
    problem = exposure_problem(settings.host, keys_exist=keys_exist, insecure_no_auth=settings.insecure_no_auth)
    if problem:
        fail(problem, EXIT_BAD_INPUT)
    if not is_loopback(settings.host) and not settings.allowed_hosts:
        err_console.print(
            f"[bold yellow]note:[/] only requests naming localhost, 127.0.0.1, [::1] or {settings.host} are "
            "answered (others get 400); list the names clients use (this machine's name or address, the proxy's "
            "public name) in QIE_ALLOWED_HOSTS",
            highlight=False,
        )
    if settings.insecure_no_auth and not keys_exist:
        err_console.print(
            f"[bold yellow]warning:[/] serving {settings.host} with NO authentication (--insecure-no-auth): "
            "anyone who reaches this port can use the GPU and read every job.",
            highlight=False,
        )


def _serve_metrics(registry: CollectorRegistry, host: str, port: int) -> None:
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host, registry=registry)  # a daemon thread; ends with the process
    except OSError as exc:
        fail(f"cannot serve metrics on {host}:{port}: {exc}", EXIT_BAD_INPUT)
    console.print(f"Metrics on http://{host}:{port}/metrics")


@app.command()
def worker(
    model: str | None = ModelOption,
    data_dir: Path | None = DataDirOption,
    database: str | None = typer.Option(None, "--database", help="SQLAlchemy URL of the shared job database."),
    burst: bool = typer.Option(False, "--burst", help="Run what is queued, then exit."),
    preload: bool | None = typer.Option(
        None, "--preload/--lazy", help="Load the model before taking jobs, or with the first. Default: $QIE_PRELOAD."
    ),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve this worker's Prometheus metrics at http://HOST:PORT/metrics."
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", "--metrics-host", help="Address of --metrics-port (unauthenticated: keep it on a private network)."
    ),
) -> None:
    """Run queued jobs in this process (for more GPU workers behind one API sharing a database)."""
    from qwen_image_editor.services import build_services
    from qwen_image_editor.worker.identity import WorkerNameInUse

    settings = load_settings(model=model, data_dir=resolve_path(data_dir), database_url=database, preload=preload)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = build_services(settings)
    if services.engine.is_demo:
        demo_warning(services.engine.model_id)
    try:
        try:
            services.prepare_worker()
        except WorkerNameInUse as exc:
            fail(str(exc), EXIT_BAD_INPUT)
        console.print(f"Worker {services.worker.worker_id} using {services.engine.model_id}")
        if metrics_port is not None:
            _serve_metrics(services.metrics.registry, metrics_host, metrics_port)
        if settings.preload:  # before taking a job: a job claimed now would hold its lease through the load
            console.print(f"Loading {services.engine.model_id} ...")
            try:
                services.engine.load()
            except Exception:  # the first job tries again, and reports why it cannot
                logging.getLogger(__name__).exception("loading %s failed", services.engine.model_id)
        if burst:
            console.print(f"Ran {services.worker.run_until_idle()} jobs")
            return
        stop = threading.Event()

        def request_stop(*_: object) -> None:
            services.worker.request_shutdown()  # the running job stops at its next step, back to the queue
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        console.print("Waiting for jobs (Ctrl+C hands the current job back to the queue and stops)")
        services.worker.run_forever(stop)
    finally:
        services.close()
