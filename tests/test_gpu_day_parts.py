"""The GPU day's GPU-only paths, wired on the CPU (issue 22): parameters made on the device from the meta device with
the real buffers kept, the engine's loader handed the prebuilt pipeline (and refusing a plan that needs the loader
itself), which plans are skipped on a card and why, nvidia-smi's peak, and what the JSON shape check catches."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from benchmarks import gpu_day_session as session
from benchmarks.gpu_day_build import materialise
from benchmarks.gpu_day_measure import SmiPeak
from benchmarks.gpu_day_report import FAILED, RAN, Report, Row, check_shape

from qwen_image_editor.engine.devices import DevicePlan
from qwen_image_editor.engine.memory import MemoryPlan, PlanEstimate


def test_materialise_fills_meta_parameters_on_the_device_and_keeps_real_buffers() -> None:
    import torch
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = torch.nn.ModuleDict({"proj": torch.nn.Linear(8, 4), "norm": torch.nn.LayerNorm(4)})
    model.register_buffer("table", torch.arange(3.0))  # like a rotary table: computed at init, not a weight
    allocated = materialise(model, "cpu", torch.bfloat16, seed=3)
    assert allocated == (8 * 4 + 4 + 4 + 4) * 2
    assert {(p.device.type, p.dtype) for p in model.parameters()} == {("cpu", torch.bfloat16)}
    assert torch.all(model["norm"].weight == 1) and torch.all(model["proj"].bias == 0)
    assert 0 < model["proj"].weight.float().std() < 0.1
    assert torch.equal(model.table, torch.arange(3.0))


def test_the_engines_loader_gets_the_prebuilt_pipeline_and_refuses_loader_plans() -> None:
    import diffusers

    pipeline = object()
    with session._serving(pipeline):
        assert diffusers.DiffusionPipeline.from_pretrained("folder", dtype=None, use_safetensors=True) is pipeline
        with pytest.raises(RuntimeError, match="quantization_config"):
            diffusers.DiffusionPipeline.from_pretrained("folder", quantization_config=object())


def _case(estimates: dict[MemoryPlan, PlanEstimate]) -> Any:
    return SimpleNamespace(estimates=estimates)


def test_on_a_card_plans_that_do_not_fit_or_need_the_loader_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (int(50e9), int(150e9)))
    day: Any = SimpleNamespace(device=DevicePlan("cuda", "bfloat16"))
    case = _case(
        {
            MemoryPlan.FULL: PlanEstimate(MemoryPlan.FULL, 66.0, True),
            MemoryPlan.FP8: PlanEstimate(MemoryPlan.FP8, 40.0, True),
            MemoryPlan.GGUF: PlanEstimate(MemoryPlan.GGUF, 40.0, False, "set QIE_GGUF"),
            MemoryPlan.NF4: PlanEstimate(MemoryPlan.NF4, 20.0, True),
            MemoryPlan.LOW: PlanEstimate(MemoryPlan.LOW, 5.0, True),
        }
    )
    assert "does not fit: 66.0 GB estimated, 46.0 GB usable" in str(session._why_not(day, case, MemoryPlan.FULL))
    assert session._why_not(day, case, MemoryPlan.FP8) is None
    assert session._why_not(day, case, MemoryPlan.LOW) is None  # CUDA-only plans run on a card
    assert "GGUF file" in str(session._why_not(day, case, MemoryPlan.GGUF))
    assert "from_pretrained" in str(session._why_not(day, case, MemoryPlan.NF4))


def test_nvidia_smi_peak_is_sampled_while_the_edit_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 2048\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with SmiPeak("cuda") as smi:
        pass
    assert smi.peak_gb == pytest.approx(2048 * 2**20 / 1e9)
    with SmiPeak("cpu") as none:  # the dry run: no card to ask
        pass
    assert none.peak_gb is None


def test_shape_check_names_what_is_wrong(tmp_path: Path) -> None:
    report = Report(True, "CPU", 450.0, "now", tmp_path, matmul={"tflops": 0.01})
    report.add(Row("2511", "full", "base", RAN, steps=6))  # ran, but nothing measured
    report.add(Row("2511", "low", "all", FAILED, "OutOfMemoryError"))
    report.write()
    data = json.loads((tmp_path / "gpu-day.json").read_text())
    problems = check_shape(data)
    assert any("no positive s_per_step" in problem for problem in problems)
    assert any("tokens None" in problem for problem in problems)
    assert not any("low" in problem for problem in problems)  # a failure is a result, with its reason
    assert "failed: OutOfMemoryError" in (tmp_path / "gpu-day.md").read_text()
    del data["rows"]
    assert check_shape(data) == ["missing top-level key 'rows'"]
