"""One database engine per process: the job, key and webhook stores share one pool, sized by a setting, and
the schema is checked (migrated) once per start, not once per store."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from qwen_image_editor.accounts import Role
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings, png_bytes
from tests.store.conftest import postgres_url  # noqa: F401


@contextmanager
def engines_and_migrations(database: str) -> Iterator[tuple[set[int], list[str]]]:
    """The engines on `database` (a part of its URL no other test's has) that ran statements, and each reading
    of the schema version (one per migration run). Engines of other tests' threads that outlive them are not
    this process's start: they are left out."""
    engines: set[int] = set()
    migrations: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if database not in str(conn.engine.url):  # type: ignore[attr-defined]
            return
        engines.add(id(conn.engine))  # type: ignore[attr-defined]
        if "max(schema_version.version)" in statement:
            migrations.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield engines, migrations
    finally:
        event.remove(Engine, "before_cursor_execute", record)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_process_has_one_engine_of_the_configured_size_migrated_once(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    settings = make_settings(tmp_path, worker_enabled=False, database_url=url, database_pool_size=3)
    build_services(settings).close()  # the database exists: every later start checks its version
    # The test's own database: its folder (SQLite) or its schema (PostgreSQL), which no other test shares.
    database = re.search(r"qie_test_[0-9a-f]+", url).group(0) if url else str(tmp_path)  # type: ignore[union-attr]
    with engines_and_migrations(database) as (engines, migrations):
        services = build_services(settings, engine=FakeEngine(step_seconds=0, output_pixels=SMALL_OUTPUT_PIXELS))
        try:
            services.access.create_key("alice", Role.USER)  # keys
            services.jobs.submit([io.BytesIO(png_bytes())], EditRequest(prompt="p", seed=1))  # jobs
            assert services.webhook_sender.secret  # webhooks
            services.worker.run_until_idle()
            assert len(migrations) == 1
            assert len(engines) == 1
            (engine,) = {services.database} if services.database is not None else set()
            assert id(engine) in engines and engine.pool.size() == 3  # type: ignore[attr-defined]
        finally:
            services.close()
