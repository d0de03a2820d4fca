"""`qie keys` and the start-up refusal: an open server on a public address needs a key or a loud flag."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from qwen_image_editor.cli import app
from tests.live_server import free_port
from tests.serve_process import wait_until_answering
from tests.test_crash_recovery import PATIENCE

runner = CliRunner()
QIE = Path(sys.executable).parent / "qie"


def keys(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["keys", *args, "--data-dir", str(data_dir)], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_create_prints_the_key_once_on_its_last_line_and_list_never_shows_it(tmp_path: Path) -> None:
    code, output = keys(tmp_path, "create", "alice")
    assert code == 0
    secret = output.strip().splitlines()[-1]
    assert secret.startswith("qie_") and len(secret) >= 4 + 43  # 256 bits in URL-safe base64
    code, admin_output = keys(tmp_path, "create", "root", "--admin")
    assert code == 0 and admin_output.strip().splitlines()[-1] != secret

    code, listing = keys(tmp_path, "list")
    assert code == 0 and "alice" in listing and "root" in listing and "admin" in listing and "never" in listing
    assert secret not in listing and secret[4:12] not in listing

    assert keys(tmp_path, "create", "alice")[0] == 2  # names are unique
    assert keys(tmp_path, "create", "no spaces please")[0] == 2
    assert keys(tmp_path, "revoke", "alice") == (0, "Revoked key alice.\n")  # root remains
    code, output = keys(tmp_path, "revoke", "alice")
    assert code == 2 and "no key named 'alice'" in output
    assert "alice" not in keys(tmp_path, "list")[1]
    code, output = keys(tmp_path, "revoke", "root")
    assert code == 0 and "No key remains" in output


def test_keys_reads_the_same_database_setting_as_serve(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = runner.invoke(app, ["keys", "create", "bot", "--data-dir", str(tmp_path / "d")],
                           env={"QIE_DATABASE_URL": database})  # fmt: skip
    assert result.exit_code == 0
    assert (tmp_path / "elsewhere.db").is_file() and not (tmp_path / "d" / "qie.db").exists()


def serve(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "QIE_MODEL": "fake", "QIE_RETENTION_HOURS": "0"}
    return subprocess.Popen(
        [QIE, "serve", "--data-dir", str(data_dir), *args], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@pytest.mark.process
def test_an_open_server_on_a_public_address_is_refused_with_both_fixes(tmp_path: Path) -> None:
    process = serve(tmp_path, "--host", "0.0.0.0", "--port", str(free_port()))
    output, _ = process.communicate(timeout=PATIENCE)
    assert process.returncode == 2
    flat = " ".join(output.split())
    assert "qie keys create NAME --admin" in flat and "--insecure-no-auth" in flat


@pytest.mark.process
def test_insecure_no_auth_starts_and_says_so_at_start_and_in_health(tmp_path: Path) -> None:
    port = free_port()
    process = serve(tmp_path, "--host", "0.0.0.0", "--port", str(port), "--insecure-no-auth")
    try:
        wait_until_answering(process, f"http://127.0.0.1:{port}/api/health", PATIENCE)
        health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=PATIENCE).json()
        assert health["keys_required"] is False and "--insecure-no-auth" in health["warning"]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=PATIENCE)
    assert "NO authentication" in " ".join(output.split())


@pytest.mark.process
def test_with_a_key_a_public_address_is_served(tmp_path: Path) -> None:
    assert keys(tmp_path, "create", "root", "--admin")[0] == 0
    port = free_port()
    process = serve(tmp_path, "--host", "0.0.0.0", "--port", str(port))
    try:
        wait_until_answering(process, f"http://127.0.0.1:{port}/api/jobs", PATIENCE)
        assert httpx.get(f"http://127.0.0.1:{port}/api/jobs", timeout=PATIENCE).status_code == 401
    finally:
        process.terminate()
        process.communicate(timeout=PATIENCE)
