"""A write that meets a SQLite database locked by another writer past its busy_timeout answers 503 with Retry-After,
saying to try again, not 500; once the lock goes, the same write succeeds. (Seen under 45 concurrent DELETEs of a
running job beside hung store reads: one answered 500.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings, submit, wait_for
from tests.live_server import live_server


def test_a_write_that_finds_the_database_locked_is_told_to_retry(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    services = build_services(settings, engine=FakeEngine(step_seconds=0, output_pixels=SMALL_OUTPUT_PIXELS))
    with live_server(services) as server:
        http = server.http
        job_id = submit(http).json()["job_id"]
        assert wait_for(http, job_id, {"complete"})["status"] == "complete"

        database = make_url(settings.resolved_database_url).database
        assert database is not None
        other = sqlite3.connect(database, isolation_level=None)  # another process's writer, as it were
        try:
            other.execute("BEGIN IMMEDIATE")  # holds the write lock past the server's busy_timeout
            refused = http.put(f"/api/jobs/{job_id}/star")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"].isdigit()
        assert "busy" in refused.json()["detail"] and "try again" in refused.json()["detail"]

        assert http.put(f"/api/jobs/{job_id}/star").json()["starred"] is True
