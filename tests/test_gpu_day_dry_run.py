"""`make gpu-day GPU_DAY_DRY_RUN=1` (issue 22, point 3): the GPU day's own script, run as the window runs it (a process
from the repository root), on the tiny twins on the CPU, writing into a temporary folder. Its JSON must have the
shape the table and readers expect, with every run that can run on a CPU measured and the GPU-only ones accounted
for; nothing is fetched (HF_HUB_OFFLINE) and no number is compared with a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from benchmarks.gpu_day_report import COLUMNS, RAN, SKIPPED, check_shape

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str]:
    out = tmp_path_factory.mktemp("gpu-day")
    env = {
        **os.environ,
        "GPU_DAY_DRY_RUN": "1",
        "GPU_DAY_OUT": str(out),
        "GPU_DAY_WHEELS": "",  # this environment has the packages (tests/test_gpu_day_install.py: the install)
        "GPU_DAY_DEADLINE_S": "1800",  # the test waits for the whole run however busy the machine is
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_day"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "gpu-day.json").read_text()), (out / "gpu-day.md").read_text(), done.stdout


@pytest.mark.timeout(1800)
def test_the_dry_run_writes_json_of_the_expected_shape(dry_run: tuple[dict[str, Any], str, str]) -> None:
    data, _, _ = dry_run
    assert check_shape(data) == []
    assert data["dry_run"] is True and data["finished"] is True
    rows = data["rows"]
    assert isinstance(rows, list)
    ran = {(row["model"], row["plan"], row["run"]) for row in rows if row["status"] == RAN}
    assert ran == {
        ("2511", "full", "base"),
        ("2511", "full", "Lightning"),
        ("2511", "fp8", "base"),
        ("2511", "fp8", "Lightning"),
        ("2.1", "full", "base"),
        ("2.1", "full", "no KV cache"),
        ("2.1", "full", "fast"),
        ("2.1", "fp8", "base"),
        ("2.1", "fp8", "fast"),
    }
    skipped = {(row["model"], row["plan"], row["run"]): row["note"] for row in rows if row["status"] == SKIPPED}
    for model in ("2511", "2.1"):
        assert skipped[(model, "offload", "all")] == skipped[(model, "low", "all")] == "needs a CUDA GPU"
        assert skipped[(model, "full", "compile")] == "needs a CUDA GPU"
        assert "GGUF" in skipped[(model, "gguf", "all")]
    by_run = {(row["model"], row["plan"], row["run"]): row for row in rows}
    # The measured pieces: 2 warm-up + 4 timed steps, the fast paths' own counts, the VAE, 2511's previews.
    assert by_run[("2511", "full", "base")]["steps"] == 6 and by_run[("2511", "full", "base")]["timed_steps"] == 4
    assert by_run[("2511", "full", "Lightning")]["steps"] == 8 and by_run[("2.1", "full", "fast")]["steps"] == 8
    assert by_run[("2511", "full", "base")]["preview_ms_per_step"] is not None
    assert by_run[("2.1", "full", "base")]["preview_ms_per_step"] is None  # 2.1 has no previews
    assert all(by_run[key]["vae_encode_s"] > 0 and by_run[key]["vae_decode_s"] > 0 for key in ran)
    # 2511's guided step is two passes of the same tokens as its Lightning step's one: twice the floor.
    guided, lightning = by_run[("2511", "full", "base")], by_run[("2511", "full", "Lightning")]
    assert guided["tokens"] == lightning["tokens"]
    assert guided["floor_s_per_step"] == pytest.approx(2 * lightning["floor_s_per_step"])
    # 2.1's KV cache leaves only the target's tokens to run after the first step: a lower floor.
    cached, uncached = by_run[("2.1", "full", "base")], by_run[("2.1", "full", "no KV cache")]
    assert cached["floor_s_per_step"] < uncached["floor_s_per_step"]


def test_the_table_has_a_row_per_json_row(dry_run: tuple[dict[str, Any], str, str]) -> None:
    data, table, stdout = dry_run
    header = "| " + " | ".join(title for title, _ in COLUMNS) + " |"
    lines = table.splitlines()
    assert header in lines
    body = lines[lines.index(header) + 2 :]
    rows = data["rows"]
    assert isinstance(rows, list) and len(body) == len(rows)
    for line, row in zip(body, rows, strict=True):
        assert line.startswith(f"| {row['model']} | {row['plan']} | {row['run']} |")
    assert table in stdout  # the run prints it too, for the window's log


@pytest.mark.timeout(600)
def test_at_its_deadline_it_stops_and_keeps_what_is_done(tmp_path: Path) -> None:
    """A deadline already past when the measuring starts: the script writes both files, says why it stopped, and
    exits 0 at once (the window's command must end on its own, with its files)."""
    env = {**os.environ, "GPU_DAY_DRY_RUN": "1", "GPU_DAY_OUT": str(tmp_path), "GPU_DAY_WHEELS": ""}
    env["GPU_DAY_DEADLINE_S"] = "0.1"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_day"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads((tmp_path / "gpu-day.json").read_text())
    assert data["finished"] is False and "deadline" in data["stopped_because"]
    assert "stopped early: deadline" in (tmp_path / "gpu-day.md").read_text()
    assert "deadline reached" in done.stdout
