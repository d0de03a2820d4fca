"""A job records its edit region (issue 20): the approach, the crop box and the working size, from schema 9 on."""

from __future__ import annotations

import sqlite3
import uuid

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.jobs.records import JobRegion
from qwen_image_editor.store.schema import SCHEMA_VERSION
from qwen_image_editor.store.sql import SqlJobStore
from tests.store.test_sql import sqlite_file


def test_a_jobs_region_is_kept_and_read_back(sqlite_url: str) -> None:
    store = SqlJobStore(sqlite_url)
    try:
        region = JobRegion("latent-mask", (1700, 1300, 2300, 1700), (1248, 832))
        masked = store.create_job(str(uuid.uuid4()), EditRequest(prompt="a hat", seed=1), 1, region=region)
        whole = JobRegion("marks", None, (1024, 1024))
        other = store.create_job(str(uuid.uuid4()), EditRequest(prompt="a hat", seed=1), 1, region=whole)
        plain = store.create_job(str(uuid.uuid4()), EditRequest(prompt="no mask", seed=1), 1)
        assert store.get_job(masked.id).region == region and store.get_job(other.id).region == whole
        assert store.get_job(plain.id).region is None
    finally:
        store.close()


def test_a_version_8_database_gains_jobs_region(sqlite_url: str) -> None:
    store = SqlJobStore(sqlite_url)
    old = store.create_job(str(uuid.uuid4()), EditRequest(prompt="before regions", seed=1), 1)
    store.close()
    with sqlite3.connect(sqlite_file(sqlite_url)) as raw:  # back to what version 8 wrote
        raw.execute("ALTER TABLE jobs DROP COLUMN region")
        raw.execute("UPDATE schema_version SET version = 8")
    store = SqlJobStore(sqlite_url)
    try:
        assert store.get_job(old.id).region is None
        region = JobRegion("latent-mask", None, (1184, 880))
        new = store.create_job(str(uuid.uuid4()), EditRequest(prompt="after", seed=1), 1, region=region)
        assert store.get_job(new.id).region == region
    finally:
        store.close()
    with sqlite3.connect(sqlite_file(sqlite_url)) as raw:
        assert raw.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,) == (9,)
