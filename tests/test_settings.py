"""Settings: `QIE_*` variables, `.env`, and the original deployment's names."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from qwen_image_editor.settings import Settings


def test_defaults_are_safe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("QIE_MODEL", "QIE_HOST", "HOST", "QIE_PORT", "PORT", "QIE_DATA_DIR", "JOBS_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.host, settings.port, settings.model) == ("127.0.0.1", 8002, "auto")
    assert settings.retention_hours == 0 and settings.max_attempts == 2  # results are kept until deleted
    assert settings.resolved_database_url.endswith("data/qie.db")


def test_the_original_deployments_names_still_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JOBS_DIR", str(tmp_path / "jobs-root"))
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "9001")
    settings = Settings()
    assert settings.data_dir == tmp_path / "jobs-root"
    assert (settings.host, settings.port) == ("0.0.0.0", 9001)


def test_qie_names_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("QIE_MODEL=tiny\nQIE_RETENTION_HOURS=2\n")
    monkeypatch.setenv("QIE_PORT", "8100")
    settings = Settings()
    assert (settings.model, settings.retention_hours, settings.port) == ("tiny", 2, 8100)


@pytest.mark.parametrize(("field", "value"), [("port", 70000), ("host", "example.com"), ("max_attempts", 0)])
def test_bad_values_are_refused_at_start(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: value})


def test_unsafe_combinations_are_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError, match="at most half of QIE_LEASE_SECONDS"):
        Settings(lease_seconds=10, heartbeat_seconds=8)
    with pytest.raises(ValidationError, match="cannot exceed QIE_MAX_UPLOAD_BYTES"):
        Settings(max_upload_bytes=10_000, max_image_bytes=20_000)


def test_job_files_live_in_a_folder_or_an_s3_bucket_and_nothing_else() -> None:
    with pytest.raises(ValidationError, match=r"QIE_BLOBS is a folder or s3://bucket/prefix; gs:// is not supported"):
        Settings(blobs="gs://bucket/jobs")
    with pytest.raises(ValidationError, match="needs a bucket name"):
        Settings(blobs="s3:///jobs")
    assert Settings(blobs="s3://my-bucket/site/jobs/").s3_blobs == ("my-bucket", "site/jobs")
    assert Settings(blobs="s3://my-bucket").s3_blobs == ("my-bucket", "")
    assert Settings(blobs="/srv/qie-jobs").jobs_dir == Path("/srv/qie-jobs")
    assert Settings(blobs="/srv/qie-jobs").s3_blobs is None
    assert Settings(data_dir=Path("d")).jobs_dir == Path("d") / "jobs"
    with pytest.raises(ValidationError):
        Settings(s3_presign_seconds=-1)
