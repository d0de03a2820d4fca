"""What only the SQL store promises: durability on disk, SQLite settings, versioned schema, real processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from qwen_image_editor.edit_request import EditRequest, OutputFormat
from qwen_image_editor.jobs.records import Progress, ProgressStage, WorkerPresence
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.connections import make_engine, normalise_url
from qwen_image_editor.store.factory import build_store
from qwen_image_editor.store.schema import SCHEMA_VERSION, SchemaVersionError
from qwen_image_editor.store.sql import SqlJobStore

from .conftest import Backend


def sqlite_file(url: str) -> str:
    return url.removeprefix("sqlite:///")


def test_sqlite_jobs_survive_a_new_store_object(sqlite_url: str) -> None:
    first = SqlJobStore(sqlite_url)
    job = first.create_job(str(uuid.uuid4()), EditRequest(prompt="keep me", seed=3), 1, owner="alice")
    other = first.create_job(str(uuid.uuid4()), EditRequest(prompt="run me"), 2)
    first.claim_next_job("w", 30)
    first.update_progress(
        job.id,
        "w",
        Progress(stage=ProgressStage.SAVING, message="saving", progress=99, updated_at=datetime.now(UTC)),
    )
    before = [first.get_job(job.id), first.get_job(other.id)]
    first.close()  # no checkpoint is forced: the WAL alone must carry the commits

    second = SqlJobStore(sqlite_url)
    try:
        assert [second.get_job(job.id), second.get_job(other.id)] == before
        assert before[0].status is JobStatus.PROCESSING
        assert second.queue_positions([other.id]) == {other.id: 1}
    finally:
        second.close()

    with sqlite3.connect(sqlite_file(sqlite_url)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_connections_are_tuned_for_durability_and_contention(sqlite_url: str) -> None:
    SqlJobStore(sqlite_url).close()
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_sqlite_parent_folders_are_made(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "qie.db"
    SqlJobStore(f"sqlite:///{path}").close()
    assert path.is_file()


def test_sqlite_times_come_back_aware_utc(sqlite_url: str) -> None:
    store = SqlJobStore(sqlite_url)
    try:
        job = store.create_job(str(uuid.uuid4()), EditRequest(prompt="x"), 1)
        claimed = store.claim_next_job("w", 30)
        assert claimed is not None
        for moment in (job.created_at, claimed.started_at, claimed.lease_expires_at):
            assert moment is not None and moment.utcoffset() is not None and moment.tzinfo == UTC
    finally:
        store.close()


_CLAIMER = """
import json, sys
from qwen_image_editor.store.sql import SqlJobStore
store = SqlJobStore(sys.argv[1])
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()  # start together
claimed = []
while (job := store.claim_next_job(sys.argv[2], 30)) is not None:
    claimed.append(job.id)
store.close()
print(json.dumps(claimed))
"""


@pytest.mark.process
def test_sqlite_separate_processes_never_take_a_job_twice(sqlite_url: str) -> None:
    store = SqlJobStore(sqlite_url)
    made = {store.create_job(str(uuid.uuid4()), EditRequest(prompt="p"), 1).id for _ in range(40)}
    store.close()

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, sqlite_url, f"proc-{i}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    claimed: list[str] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        claimed.extend(json.loads(out.strip().splitlines()[-1]))
    assert len(claimed) == len(set(claimed)) == len(made)
    assert set(claimed) == made


def test_schema_version_is_recorded(backend: Backend) -> None:
    backend.make()
    engine = create_engine(normalise_url(backend.url))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT max(version) FROM schema_version")).scalar() == SCHEMA_VERSION
    finally:
        engine.dispose()
    backend.make()  # opening it again is a no-op


def test_a_newer_database_is_refused(backend: Backend) -> None:
    store = backend.make()
    store.create_job(str(uuid.uuid4()), EditRequest(prompt="p"), 1)
    engine = create_engine(normalise_url(backend.url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO schema_version (version, applied_at) VALUES (:v, :at)"),
                {"v": SCHEMA_VERSION + 1, "at": datetime.now(UTC)},
            )
    finally:
        engine.dispose()
    with pytest.raises(SchemaVersionError, match=rf"version {SCHEMA_VERSION + 1}.*upgrade"):
        backend.make()


def test_a_foreign_jobs_table_is_refused(sqlite_url: str) -> None:
    path = Path(sqlite_file(sqlite_url))
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY)")
    with pytest.raises(SchemaVersionError, match="not made by qwen-image-editor"):
        SqlJobStore(sqlite_url)


def test_build_store_picks_the_backend(sqlite_url: str) -> None:
    store = build_store(sqlite_url)
    try:
        assert isinstance(store, SqlJobStore) and store.dialect == "sqlite"
    finally:
        store.close()


def test_a_bare_postgresql_url_uses_psycopg() -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


V1_JOBS = """CREATE TABLE jobs (
    id VARCHAR(36) PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, status VARCHAR(16) NOT NULL, request TEXT NOT NULL,
    input_count INTEGER NOT NULL, owner VARCHAR(128), progress TEXT, error TEXT, created_at DATETIME NOT NULL,
    started_at DATETIME, finished_at DATETIME, updated_at DATETIME NOT NULL, attempts INTEGER NOT NULL,
    claimed_by VARCHAR(255), lease_expires_at DATETIME, cancel_requested BOOLEAN NOT NULL,
    output_names TEXT NOT NULL)"""


def test_a_version_1_database_is_migrated_and_keeps_its_jobs(sqlite_url: str) -> None:
    path = Path(sqlite_file(sqlite_url))
    path.parent.mkdir(parents=True)
    job_id = str(uuid.uuid4())
    with sqlite3.connect(path) as raw:
        raw.execute(V1_JOBS)
        raw.execute("CREATE INDEX ix_jobs_owner ON jobs (owner)")
        raw.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at DATETIME NOT NULL)")
        raw.execute("INSERT INTO schema_version VALUES (1, '2026-11-01 00:00:00')")
        raw.execute(
            "INSERT INTO jobs VALUES (?, 1, 'complete', ?, 1, NULL, NULL, NULL, '2026-11-01 00:00:00', NULL,"
            " '2026-11-01 00:01:00', '2026-11-01 00:01:00', 1, NULL, NULL, 0, '[\"output_1.png\"]')",
            (job_id, json.dumps(EditRequest(prompt="old", seed=1).model_dump(mode="json"))),
        )
    store = SqlJobStore(sqlite_url)
    try:
        old = store.get_job(job_id)
        assert old.request.prompt == "old" and old.output_names == ["output_1.png"] and old.original_sizes == []
        new = store.create_job(str(uuid.uuid4()), EditRequest(prompt="new"), 1, original_sizes=[(6000, 4000)])
        assert store.get_job(new.id).original_sizes == [(6000, 4000)]
    finally:
        store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"api_keys", "sessions"} <= tables


def test_a_version_4_database_gains_webhook_deliveries(sqlite_url: str) -> None:
    store = SqlJobStore(sqlite_url)
    old = store.create_job(str(uuid.uuid4()), EditRequest(prompt="before webhooks", seed=1), 1)
    store.close()
    with sqlite3.connect(sqlite_file(sqlite_url)) as raw:  # back to what version 4 wrote
        raw.execute("DROP TABLE webhook_deliveries")
        raw.execute("DROP TABLE server_secrets")
        raw.execute("DROP TABLE workers")  # since version 6
        raw.execute("ALTER TABLE jobs DROP COLUMN delete_requested")  # since version 7
        raw.execute("ALTER TABLE jobs DROP COLUMN flattened")  # since version 8
        raw.execute("ALTER TABLE jobs DROP COLUMN region")  # since version 9
        raw.execute("UPDATE schema_version SET version = 4")  # a new database records its version alone
    store = SqlJobStore(sqlite_url)
    try:
        assert store.get_job(old.id).webhook is None
        job = store.create_job(
            str(uuid.uuid4()), EditRequest(prompt="hooked", seed=1, webhook_url="https://example.com/h"), 1
        )
        claimed = store.claim_next_job("w", 30)
        assert claimed is not None and claimed.id == old.id
        store.complete_job(old.id, "w", ["output_1.png"])
        assert store.get_job(old.id).webhook is None  # no webhook_url: no delivery
        cancelled = store.request_cancel(job.id)  # a job that ends any way gets its delivery
        assert cancelled.webhook is not None and cancelled.webhook.url == "https://example.com/h"
        assert cancelled.webhook.status == "pending" and cancelled.webhook.attempts == 0
    finally:
        store.close()
    with sqlite3.connect(sqlite_file(sqlite_url)) as raw:
        assert raw.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,) == (9,)
        assert raw.execute("SELECT count(*) FROM webhook_deliveries").fetchone() == (1,)


def test_a_version_5_database_gains_the_workers_table(sqlite_url: str) -> None:
    store = SqlJobStore(sqlite_url)
    old = store.create_job(str(uuid.uuid4()), EditRequest(prompt="before workers", seed=1), 1)
    store.close()
    with sqlite3.connect(sqlite_file(sqlite_url)) as raw:  # back to what version 5 wrote
        raw.execute("DROP TABLE workers")
        raw.execute("ALTER TABLE jobs DROP COLUMN delete_requested")  # since version 7
        raw.execute("ALTER TABLE jobs DROP COLUMN flattened")  # since version 8
        raw.execute("ALTER TABLE jobs DROP COLUMN region")  # since version 9
        raw.execute("UPDATE schema_version SET version = 5")
    store = SqlJobStore(sqlite_url)
    try:
        assert store.get_job(old.id).request.prompt == "before workers"
        seen = datetime.now(UTC)
        store.record_worker(WorkerPresence("gpu0/1-ab", "Qwen/Qwen-Image-Edit-2511", "ready", "cuda:0", seen))
        assert [w.worker_id for w in store.workers_seen_since(seen)] == ["gpu0/1-ab"]
    finally:
        store.close()


def test_a_version_7_database_gains_jobs_flattened(sqlite_url: str) -> None:
    store = SqlJobStore(sqlite_url)
    old = store.create_job(str(uuid.uuid4()), EditRequest(prompt="before transparency", seed=1), 1)
    store.close()
    with sqlite3.connect(sqlite_file(sqlite_url)) as raw:  # back to what version 7 wrote
        raw.execute("ALTER TABLE jobs DROP COLUMN flattened")
        raw.execute("ALTER TABLE jobs DROP COLUMN region")  # since version 9
        raw.execute("UPDATE schema_version SET version = 7")
    store = SqlJobStore(sqlite_url)
    try:
        assert store.get_job(old.id).flattened is False
        jpeg = EditRequest(prompt="a cut-out", seed=1, output_format=OutputFormat.JPEG)
        new = store.create_job(str(uuid.uuid4()), jpeg, 1)
        for job in (old, new):
            claimed = store.claim_next_job("w", 30)
            assert claimed is not None and claimed.id == job.id
        assert store.complete_job(old.id, "w", ["output_1.png"]).flattened is False
        assert store.complete_job(new.id, "w", ["output_1.jpg"], flattened=True).flattened is True
        assert store.get_job(new.id).flattened is True and store.get_job(old.id).flattened is False
    finally:
        store.close()
    with sqlite3.connect(sqlite_file(sqlite_url)) as raw:
        assert raw.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,) == (9,)
