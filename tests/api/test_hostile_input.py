"""Input built to break the parser or the database gets a 4xx that says what to fix, never a 500: configs nested
20,000 deep (the 64 KB form-part limit refuses deeper ones), numbers thousands of digits long, and NUL
characters, which PostgreSQL cannot store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings, png_bytes
from tests.live_server import LiveServer, live_server
from tests.store.conftest import postgres_url  # noqa: F401 (a fixture)


@pytest.fixture
def server_on_postgres(tmp_path: Path, postgres_url: str) -> Iterator[LiveServer]:  # noqa: F811
    settings = make_settings(tmp_path, database_url=postgres_url)
    services = build_services(settings, engine=FakeEngine(step_seconds=0, output_pixels=SMALL_OUTPUT_PIXELS))
    with live_server(services) as running:
        yield running


def submit_config(http: httpx.Client, config: str) -> httpx.Response:
    files = {"image1": ("in.png", png_bytes(), "image/png")}
    return http.post("/api/edit", files=files, data={"config": config})


def refused(response: httpx.Response, *codes: int) -> str:
    assert response.status_code in codes, (response.status_code, response.text[:300])
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else json.dumps(detail)


def test_a_config_nested_twenty_thousand_deep_is_refused(server_on_postgres: LiveServer) -> None:
    for nested in ("[" * 20_000 + "]" * 20_000, '{"prompt": ' + '{"a": ' * 9_000 + "1" + "}" * 9_001):
        assert "nested" in refused(submit_config(server_on_postgres.http, nested), 400)


def test_a_seed_of_five_thousand_digits_is_refused(server_on_postgres: LiveServer) -> None:
    config = '{"prompt": "make the sky stormy", "seed": ' + "9" * 5000 + "}"
    assert "digits" in refused(submit_config(server_on_postgres.http, config), 400)


@pytest.mark.parametrize("field", ["prompt", "negative_prompt"])
def test_a_nul_character_in_a_prompt_is_refused(server_on_postgres: LiveServer, field: str) -> None:
    config = {"prompt": "make the sky stormy", field: "make the sky\x00 stormy"}
    assert "NUL" in refused(submit_config(server_on_postgres.http, json.dumps(config)), 422)


def test_a_nul_character_in_a_search_is_refused(server_on_postgres: LiveServer) -> None:
    refused(server_on_postgres.http.get("/api/jobs", params={"search": "sky\x00"}), 422)
    assert server_on_postgres.http.get("/api/jobs", params={"search": "sky"}).status_code == 200


def test_a_nul_character_in_an_openai_prompt_is_refused(server_on_postgres: LiveServer) -> None:
    response = server_on_postgres.http.post(
        "/v1/images/edits",
        files={"image": ("in.png", png_bytes(), "image/png")},
        data={"prompt": "make the sky\x00 stormy"},
    )
    assert response.status_code == 400, response.text
    assert "NUL" in response.json()["error"]["message"]
