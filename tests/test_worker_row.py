"""A worker that stops cleanly removes its row from the workers table, in burst mode and as a thread."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings, png_bytes


def test_a_worker_that_stops_cleanly_deletes_its_row(tmp_path: Path) -> None:
    engine = FakeEngine(step_seconds=0, output_pixels=SMALL_OUTPUT_PIXELS)
    services = build_services(make_settings(tmp_path), engine=engine)
    ever = datetime.now(UTC) - timedelta(days=1)
    try:
        gate = engine.hold(before_step=1)
        services.start_background()
        services.jobs.submit([io.BytesIO(png_bytes())], EditRequest(prompt="make it blue", seed=1))
        gate.wait_held()  # running, so it has said that it lives
        (row,) = services.store.workers_seen_since(ever)
        assert row.worker_id == services.worker.worker_id
        gate.open()
    finally:
        services.close()  # stops the worker thread
    reopened = build_services(make_settings(tmp_path), engine=engine)
    try:
        assert reopened.store.workers_seen_since(ever) == []
        reopened.jobs.submit([io.BytesIO(png_bytes())], EditRequest(prompt="make it red", seed=1))
        assert reopened.worker.run_until_idle() >= 1  # burst mode (`qie worker --burst`) too
        assert reopened.store.workers_seen_since(ever) == []
    finally:
        reopened.close()
