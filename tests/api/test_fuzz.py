"""Schemathesis over the server's own OpenAPI schema (multipart included): no 5xx, no schema violation.

Run through its command line (`st run`) against a live server, with a fixed seed so CI is repeatable, on
SQLite and on PostgreSQL (which refuses NUL characters in text: strings with them are generated).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings
from tests.live_server import live_server
from tests.store.conftest import postgres_url  # noqa: F401 (a fixture)

# Its own process, and a run that takes ~8 s on an idle machine and over 30 s on a loaded one: a time limit
# far beyond that (the suite's 60 s per test is for hangs, not for slow machines).
pytestmark = [pytest.mark.process, pytest.mark.timeout(300)]

SEED = "20261124"


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_fuzzing_the_api_finds_no_server_error_and_no_schema_violation(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("postgres_url") if database == "postgres" else None
    services = build_services(
        make_settings(tmp_path / "data", database_url=database_url),
        engine=FakeEngine(step_seconds=0, output_pixels=SMALL_OUTPUT_PIXELS),
    )
    with live_server(services) as server:
        result = subprocess.run(
            [
                Path(sys.executable).parent / "st",
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error,response_schema_conformance",
                "--max-examples",
                "25",
                "--seed",
                SEED,
                "--generation-allow-x00",
                "true",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=tmp_path,  # its caches (.schemathesis/, .hypothesis/) stay out of the checkout
        )
        assert server.http.get("/api/health").status_code == 200
        operations = sum(len(path) for path in server.http.get("/openapi.json").json()["paths"].values())
    assert result.returncode == 0, result.stdout[-6000:]
    assert f"Tested: {operations}" in result.stdout  # every operation was exercised
