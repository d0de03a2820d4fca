"""`make bench-gpu`'s wiring on the CPU (issue 18, point 8): both full-size architectures built on the meta device by
the benchmark's own builder (nothing materialised or written) count what `model_size` estimates and assemble their
pipelines; the runs ask for each model's published settings; the cache-off switch turns 2.1's KV cache off and back."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from benchmarks import gpu
from benchmarks.full_size import MODELS, meta_pipeline, random_parameters
from PIL import Image

from qwen_image_editor.engine import diffusers_engine, families
from qwen_image_editor.engine import published_configs as published
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.families import PipelineFamily
from qwen_image_editor.engine.model_size import model_size
from qwen_image_editor.engine.models import ModelSource, ModelSourceKind, resolve_model
from tests.conftest import noise_image


def _params(module: object) -> int:
    return sum(p.numel() for p in module.parameters())  # type: ignore[attr-defined]


@pytest.mark.parametrize("model_id", [published.IMAGE_21, published.EDIT_2511])
def test_full_size_pipeline_on_meta_counts_what_model_size_estimates(model_id: str, tmp_path: Path) -> None:
    pipeline = meta_pipeline(model_id)
    assert type(pipeline).__name__ == published.PIPELINE_CLASS[model_id]
    # An empty cache: model_size counts the published configs, as `qie doctor` does without the weights.
    size = model_size(ModelSource(model_id, ModelSourceKind.HUB, model_id), cache_dir=tmp_path)
    for part in MODELS:
        module = getattr(pipeline, part)
        assert type(module).__name__ == published.CLASSES[model_id][part]
        assert {p.device.type for p in module.parameters()} == {"meta"}, f"{part} was materialised"
        assert _params(module) == getattr(size, part).params, part
    assert not list(tmp_path.iterdir()), "nothing is written"


def test_full_size_21_is_the_published_size() -> None:
    pipeline = meta_pipeline(published.IMAGE_21)
    billions = {part: round(_params(getattr(pipeline, part)) / 1e9, 2) for part in MODELS}
    assert billions == {"transformer": 7.12, "text_encoder": 8.77, "vae": 0.34}
    # The tiny twin's processor stands in: its tokenizer's ids are the text encoder's vision tokens.
    tokenizer = pipeline.processor.tokenizer
    assert pipeline.text_encoder.config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")


def test_random_parameters_are_bf16_on_the_cpu() -> None:
    import torch
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = torch.nn.ModuleDict({"proj": torch.nn.Linear(8, 4), "norm": torch.nn.LayerNorm(4)})
    random_parameters(model)
    assert {(p.device.type, p.dtype) for p in model.parameters()} == {("cpu", torch.bfloat16)}
    assert torch.all(model["norm"].weight == 1) and torch.all(model["proj"].bias == 0)
    assert 0 < model["proj"].weight.float().std() < 0.1


def test_runs_ask_for_each_models_published_settings() -> None:
    assert [bench.model_id for bench in gpu.chosen_benches("2511,2.1")] == [published.EDIT_2511, published.IMAGE_21]
    assert gpu.chosen_benches(" 2.1 ") == [gpu.BENCHES["2.1"]]
    with pytest.raises(SystemExit, match="unknown 2509"):
        gpu.chosen_benches("2.1,2509")

    def settings(key: str) -> list[tuple[int, float, bool]]:
        bench = gpu.BENCHES[key]
        return [
            (request.num_inference_steps, request.true_cfg_scale, run.kv_cache)
            for run in bench.runs
            for request in [gpu._request(bench, run)]
        ]

    assert settings("2511") == [(50, 4.0, True), (8, 1.0, True)]
    assert settings("2.1") == [(40, 1.0, True), (40, 1.0, False), (8, 1.0, True)]
    assert gpu.BENCHES["2.1"].references == 3 and not gpu.BENCHES["2.1"].lightning_lora
    assert gpu.BENCHES["2511"].lightning_lora


def test_without_kv_cache_turns_the_engines_cache_off_and_back() -> None:
    pipeline = SimpleNamespace(config={})  # what call_inputs reads of a 2.1 pipeline: no sample_sigmas

    def kv_cache() -> bool:  # as the engine calls it
        inputs = vars(diffusers_engine)["call_inputs"](PipelineFamily.QWEN_IMAGE_21, pipeline, [], None, 40)
        return bool(inputs["use_kv_cache"])

    assert kv_cache()
    with gpu.without_kv_cache():
        assert not kv_cache()
    assert kv_cache()
    with gpu.without_kv_cache(), pytest.raises(RuntimeError, match="use_kv_cache"):  # an Edit model has no cache
        vars(diffusers_engine)["call_inputs"](PipelineFamily.EDIT_PLUS, None, [Image.new("RGB", (64, 64))], None, 50)


def test_without_cuda_it_says_so_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("QIE_BENCH_MODELS", raising=False)
    assert gpu.main() == 0
    assert "needs a CUDA GPU" in capsys.readouterr().out


def test_each_21_run_reaches_the_pipeline_as_asked(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real engine on tiny-2.1 (at 2 steps, a small size): the cache-off run calls the pipeline without it."""
    engine = DiffusersEngine(resolve_model("tiny-2.1", models_dir), plan_device("cpu"))
    engine.load()
    monkeypatch.setattr(families, "QWEN_IMAGE_21_RESOLUTION", 320)
    pipeline_class = type(engine._pipeline)
    calls: list[tuple[bool, float, int]] = []
    real_call = pipeline_class.__call__

    def spy(self: object, *args: object, **kwargs: Any) -> Any:
        calls.append((kwargs["use_kv_cache"], kwargs["true_cfg_scale"], len(kwargs["image"])))
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(pipeline_class, "__call__", spy)
    bench = gpu.BENCHES["2.1"]
    images = [noise_image(320, 320, seed) for seed in range(bench.references)]
    for run in bench.runs:
        request = gpu._request(bench, run).model_copy(update={"num_inference_steps": 2})
        with nullcontext() if run.kv_cache else gpu.without_kv_cache():
            engine.edit(images, request)
    assert calls == [(True, 1.0, 3), (False, 1.0, 3), (True, 1.0, 3)]
