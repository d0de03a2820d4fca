"""`qie serve --host 0.0.0.0` with keys (issue 19, points 1 and 2): the names the operator lists are answered,
others get 400, and X-Forwarded-For from a client (even a local one) is not believed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.live_server import free_port
from tests.serve_process import wait_until_answering
from tests.test_cli_keys import keys, serve
from tests.test_crash_recovery import PATIENCE


@pytest.mark.process
def test_a_public_server_answers_listed_names_and_believes_no_forwarded_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = keys(tmp_path, "create", "root", "--admin")
    assert code == 0
    key = output.strip().splitlines()[-1]
    monkeypatch.setenv("QIE_ALLOWED_HOSTS", "gpu.example.com")
    monkeypatch.setenv("QIE_FAILED_SIGN_INS_PER_MINUTE", "2")
    port = free_port()
    process = serve(tmp_path, "--host", "0.0.0.0", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, f"{url}/api/health", PATIENCE)
        with httpx.Client(base_url=url, timeout=PATIENCE) as http:
            listed = {"Host": f"gpu.example.com:{port}", "Authorization": f"Bearer {key}"}
            assert http.get("/api/jobs", headers=listed).status_code == 200
            other = http.get("/api/jobs", headers={**listed, "Host": f"elsewhere.test:{port}"})
            assert other.status_code == 400 and "QIE_ALLOWED_HOSTS" in other.json()["detail"]
            codes = [
                http.get(
                    "/api/jobs", headers={"Authorization": "Bearer qie_guess", "X-Forwarded-For": f"192.0.2.{n}"}
                ).status_code
                for n in range(4)
            ]
            assert codes == [401, 401, 429, 429]
            assert http.get("/api/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    finally:
        process.terminate()
        process.communicate(timeout=PATIENCE)
