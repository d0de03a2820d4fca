"""A history that lasts: kept until deleted (or starred past a retention), searchable, paged, every result."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

from qwen_image_editor.application.cleanup import Cleanup
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from qwen_image_editor.settings import Settings
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings, submit, wait_for
from tests.live_server import LiveServer, live_server


def test_results_are_kept_by_default_and_say_until_when_with_a_retention(tmp_path: Path) -> None:
    assert Settings.model_fields["retention_hours"].default == 0
    for hours, expected in ((0, None), (48, timedelta(hours=48))):
        services = build_services(
            make_settings(tmp_path / str(hours), retention_hours=hours),
            engine=FakeEngine(0, output_pixels=SMALL_OUTPUT_PIXELS),
        )
        with live_server(services) as server:
            job = wait_for(server.http, submit(server.http, num_inference_steps=2).json()["job_id"], {"complete"})
            if expected is None:
                assert job["kept_until"] is None
            else:
                kept = datetime.fromisoformat(job["kept_until"]) - datetime.fromisoformat(job["finished_at"])
                assert kept == expected
                starred = server.http.put(f"/api/jobs/{job['job_id']}/star").json()
                assert starred["starred"] is True and starred["kept_until"] is None


def test_a_starred_job_outlives_the_retention_sweep(server: LiveServer) -> None:
    kept, swept = (submit(server.http, num_inference_steps=2).json()["job_id"] for _ in range(2))
    for job_id in (kept, swept):
        wait_for(server.http, job_id, {"complete"})
    assert server.http.put(f"/api/jobs/{kept}/star").status_code == 200
    report = Cleanup(server.services.store, server.services.blobs).delete_older_than(0)
    assert report.deleted == [swept]
    assert server.http.get(f"/api/jobs/{kept}").json()["starred"] is True
    unstarred = server.http.delete(f"/api/jobs/{kept}/star")
    assert unstarred.status_code == 200 and unstarred.json()["starred"] is False
    assert Cleanup(server.services.store, server.services.blobs).delete_older_than(0).deleted == [kept]


def test_history_is_searched_by_prompt_filtered_by_star_and_paged(server: LiveServer) -> None:
    prompts = [f"make the sky stormy {n}" for n in range(5)] + ["Add a RED hat", "remove the car 100%"]
    ids = [submit(server.http, prompt=prompt, num_inference_steps=2).json()["job_id"] for prompt in prompts]
    for job_id in ids:
        wait_for(server.http, job_id, {"complete"})
    server.http.put(f"/api/jobs/{ids[1]}/star")

    def found(**params: object) -> tuple[list[str], int]:
        body = server.http.get("/api/jobs", params=params).json()
        return [job["config"]["prompt"] for job in body["jobs"]], body["total"]

    assert found(search="red HAT") == (["Add a RED hat"], 1)
    assert found(search="100%") == (["remove the car 100%"], 1)  # % is a character, not a wildcard
    assert found(search="_") == ([], 0)
    assert found(search="stormy", limit=2, offset=0) == (["make the sky stormy 4", "make the sky stormy 3"], 5)
    assert found(search="stormy", limit=2, offset=4) == (["make the sky stormy 0"], 5)
    assert found(starred=True) == (["make the sky stormy 1"], 1)
    assert found(starred=False)[1] == 6


def test_variations_download_alone_or_all_in_a_zip(server: LiveServer) -> None:
    job_id = submit(server.http, num_inference_steps=2, num_images=2, seed=7).json()["job_id"]
    job = wait_for(server.http, job_id, {"complete"})
    assert job["outputs"] == [f"/api/jobs/{job_id}/files/output_{n}.png" for n in (1, 2)]
    assert job["config"]["seed"] == 7 and job["config"]["num_images"] == 2
    first, second = (server.http.get(f"/api/jobs/{job_id}/download", params={"index": n}) for n in (1, 2))
    assert first.status_code == second.status_code == 200 and first.content != second.content
    assert second.headers["content-disposition"] == 'attachment; filename="make-the-sky-stormy_seed8.png"'
    missing = server.http.get(f"/api/jobs/{job_id}/download", params={"index": 3})
    assert missing.status_code == 404 and "no result 3" in missing.json()["detail"]
    archive = server.http.get(f"/api/jobs/{job_id}/download.zip")
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    assert archive.headers["content-disposition"] == 'attachment; filename="make-the-sky-stormy_seeds7-8.zip"'
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        assert opened.namelist() == ["make-the-sky-stormy_seed7.png", "make-the-sky-stormy_seed8.png"]
        assert opened.read("make-the-sky-stormy_seed8.png") == second.content
    # the second variation is its seed made alone
    alone = submit(server.http, num_inference_steps=2, seed=8).json()["job_id"]
    wait_for(server.http, alone, {"complete"})
    assert server.http.get(f"/api/jobs/{alone}/download").content == second.content
