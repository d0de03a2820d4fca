"""Store fixtures: one contract, run against every JobStore implementation."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qwen_image_editor.store.base import JobStore
from qwen_image_editor.store.sql import SqlJobStore

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgres"]


@dataclass
class Clock:
    """A clock the test moves by hand; `frozen` keeps every reading equal (ties in created_at)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    frozen: bool = False

    def __call__(self) -> datetime:
        reading = self.now
        if not self.frozen:
            self.now += timedelta(microseconds=1)
        return reading

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


_postgres_problem: list[str] = []


def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can (checked once per run)."""
    if not _postgres_problem:
        try:
            import psycopg

            # Generous: a slow answer from a loaded machine must not turn every PostgreSQL test into a skip
            # (a server that is not there refuses the connection at once).
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=30):
                _postgres_problem.append("")
        except Exception as exc:  # any failure to connect means: skip, and say why
            _postgres_problem.append(f"PostgreSQL at 127.0.0.1:5432/test is unreachable ({exc})")
    return _postgres_problem[0] or None


@dataclass
class Backend:
    """Builds stores of one kind that share one database, and closes them after the test."""

    name: str
    url: str
    stores: list[JobStore] = field(default_factory=list)

    def make(self, clock: Callable[[], datetime] | None = None) -> JobStore:
        store = SqlJobStore(self.url, clock=clock) if clock else SqlJobStore(self.url)
        self.stores.append(store)
        return store


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'qie.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema per test, dropped afterwards, so tests never see each other's jobs."""
    problem = postgres_unreachable()
    if problem:
        pytest.skip(problem)
    import psycopg

    schema = f"qie_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    name: str = request.param
    url = request.getfixturevalue(f"{name}_url")
    made = Backend(name, url)
    yield made
    for store in made.stores:
        store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(backend: Backend, clock: Clock) -> JobStore:
    return backend.make(clock)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, indirect=True)
