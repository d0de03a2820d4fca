"""The GPU day's runs: each memory plan of each model, fastest plan first and both models at each plan before the
next (so a window cut short still has every model's fastest plans), then a `QIE_COMPILE=1` run where time is left.

Each plan gets a freshly built random-weight pipeline (a plan changes the pipeline it is placed on: fp8 casts it,
offload moves it) and the service's own `DiffusersEngine`, whose loader hands it that pipeline instead of reading
weights (`_serving`). On each: a base edit (2 warm-up + 4 timed steps), the fast path (Lightning for 2511, the base
model at few steps for 2.1); on `full` also 2.1 without its KV cache and each installed attention backend.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks.gpu import BENCHES, Bench, Run, _request
from benchmarks.gpu_day_build import build_on_device, parameter_counts, random_lightning_lora, write_configs
from benchmarks.gpu_day_floor import TransformerShape, floor_seconds, step_flops, transformer_shape
from benchmarks.gpu_day_measure import TIMED_STEPS, WARMUP_STEPS, measure_edit
from benchmarks.gpu_day_report import FAILED, SKIPPED, Report, Row
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.devices import DevicePlan
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.memory import (
    CUDA_ONLY,
    PREFERENCE,
    USABLE_SHARE,
    MemoryPlan,
    PlanEstimate,
    estimate_plans,
)
from qwen_image_editor.engine.model_size import model_size
from qwen_image_editor.engine.models import ModelSource, ModelSourceKind
from qwen_image_editor.engine.placement import MemoryOptions, attention_backends
from qwen_image_editor.model_families import ModelFamily

# Seconds a step must have left to start: a plan (build and place: offload and low copy the model to pinned RAM),
# one edit, and the compiled run (compiling the repeated block takes a minute or more).
NEEDS_S = {"plan": 45.0, "run": 20.0, "compile": 120.0}
LORA_RANK = {False: 32, True: 4}  # full size, tiny


@dataclass
class ModelCase:
    """One model's shapes, config folder, plan estimates and (2511) random Lightning LoRA."""

    key: str
    bench: Bench
    source: ModelSource
    estimates: dict[MemoryPlan, PlanEstimate]
    shape: TransformerShape
    lora: Path | None

    @property
    def label(self) -> str:
        return self.key


@dataclass
class Day:
    device: DevicePlan
    tiny: bool  # the dry run: tiny twins on the CPU, at small sizes
    report: Report
    work: Path  # a temporary folder: config folders, LoRA files
    deadline: float  # time.monotonic() by which to stop
    matmul_flops: float

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def add(self, row: Row) -> None:
        """Record a row and rewrite both files, so that a run cut short keeps it."""
        self.report.add(row)
        self.report.write()


def prepare(day: Day, key: str) -> ModelCase:
    """A model's config folder and estimates, from its shapes on the meta device (nothing materialised)."""
    from benchmarks.full_size import meta_pipeline
    from benchmarks.gpu_day_build import meta_tiny_pipeline

    bench = BENCHES[key]
    meta = meta_tiny_pipeline(bench.model_id) if day.tiny else meta_pipeline(bench.model_id)
    folder = write_configs(meta, day.work / f"model-{key}")
    source = ModelSource(f"{bench.model_id} (random weights)", ModelSourceKind.LOCAL, str(folder))
    lora = None
    if bench.lightning_lora:
        started = time.perf_counter()
        lora = random_lightning_lora(
            meta.transformer, day.work / f"lightning-{key}.safetensors", rank=LORA_RANK[day.tiny]
        )
        day.report.models.setdefault(key, {})["lora_s"] = round(time.perf_counter() - started, 1)
    day.report.models.setdefault(key, {}).update(model=bench.model_id, parameters=parameter_counts(meta))
    estimates = {e.plan: e for e in estimate_plans(model_size(source))}
    return ModelCase(key, bench, source, estimates, transformer_shape(meta.transformer), lora)


@contextmanager
def _serving(pipeline: Any) -> Iterator[None]:
    """The engine's `DiffusionPipeline.from_pretrained` hands it the prebuilt pipeline. A plan that needs the
    loader itself (a quantisation config, a GGUF transformer) is refused, not silently measured without it."""
    import diffusers

    def from_prebuilt(location: str, **kwargs: Any) -> Any:
        extra = set(kwargs) - {"dtype", "use_safetensors", "cache_dir"}
        if extra:
            raise RuntimeError(f"this plan loads through from_pretrained ({', '.join(sorted(extra))})")
        return pipeline

    with mock.patch.object(diffusers.DiffusionPipeline, "from_pretrained", from_prebuilt):
        yield


def new_engine(day: Day, case: ModelCase, pipeline: Any, plan: MemoryPlan, **speed: Any) -> DiffusersEngine:
    engine = DiffusersEngine(
        case.source,
        day.device,
        memory=MemoryOptions(plan=plan, **speed),
        lightning_lora=str(case.lora) if case.lora else None,
        cache_dir=day.work / "hf-cache",  # empty: nothing is looked up in the machine's own cache
    )
    with _serving(pipeline):
        engine.load()
    return engine


def references(day: Day, count: int) -> list[Any]:
    import numpy as np
    from PIL import Image

    side = DRY_RUN_RESOLUTION_21 if day.tiny else 1024
    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(count)]


def run_edit(
    day: Day, case: ModelCase, engine: Any, pipeline: Any, plan: MemoryPlan, label: str, request: EditRequest, **kw: Any
) -> None:
    """Measure one edit into a row (a failure, e.g. out of memory, is a row too)."""
    row = Row(case.label, str(plan), label, estimate_gb=case.estimates[plan].peak_gb)
    if day.left() < NEEDS_S["run"]:  # (the compiled run's own minutes were asked for before its build)
        row.status, row.note = SKIPPED, "out of time"
        day.add(row)
        return
    kv_cache = kw.get("kv_cache", True)
    try:
        measured = measure_edit(
            engine, pipeline, references(day, case.bench.references), request, day.device.device, **kw
        )
    except Exception as exc:
        row.status, row.note = FAILED, f"{type(exc).__name__}: {exc}"[:300]
        day.add(row)
        return
    for key, value in asdict(measured).items():
        setattr(row, key, value)
    passes = 2 if request.true_cfg_scale > 1 else 1
    cached = kv_cache and case.bench.family is ModelFamily.IMAGE_21
    flops = step_flops(case.shape, measured.tokens, passes=passes, kv_cached=cached)
    row.floor_s_per_step = floor_seconds(flops, day.matmul_flops)
    row.over_floor = measured.s_per_step / row.floor_s_per_step
    row.note = f"{passes} pass{'es' if passes > 1 else ''}/step, {flops / 1e12:.3g} TFLOP/step" + (
        f", kv cache {'on' if kv_cache else 'off'}" if case.bench.family is ModelFamily.IMAGE_21 else ""
    )
    day.add(row)


def _why_not(day: Day, case: ModelCase, plan: MemoryPlan) -> str | None:
    estimate = case.estimates[plan]
    if plan is MemoryPlan.GGUF:
        return "needs a GGUF file of the transformer: writing one of the random weights takes longer than the window"
    if not estimate.available:
        return estimate.note
    if plan is MemoryPlan.NF4:
        return "quantises while loading from disk (from_pretrained); the random weights are built in place instead"
    if day.device.device != "cuda":
        return "needs a CUDA GPU" if plan in CUDA_ONLY else None
    import torch

    free_gb = torch.cuda.mem_get_info()[0] / 1e9
    if estimate.peak_gb > free_gb * USABLE_SHARE:
        return f"does not fit: {estimate.peak_gb:.1f} GB estimated, {free_gb * USABLE_SHARE:.1f} GB usable"
    return None


def _free() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def plan_runs(day: Day, case: ModelCase, plan: MemoryPlan, *, compile: bool = False) -> None:
    label = "compile" if compile else "base"
    reason = _why_not(day, case, plan) if not compile else (None if day.device.device == "cuda" else "needs a CUDA GPU")
    if reason is None and day.left() < NEEDS_S["compile" if compile else "plan"]:
        reason = "out of time"
    if reason is not None:
        day.add(
            Row(
                case.label,
                str(plan),
                label if compile else "all",
                SKIPPED,
                reason,
                estimate_gb=case.estimates[plan].peak_gb,
            )
        )
        return
    started = time.perf_counter()
    pipeline = build_on_device(case.bench.model_id, day.device.device, day.device.dtype, tiny=day.tiny)
    builds = day.report.models[case.key].setdefault("build_s", {})
    builds[label if compile else str(plan)] = round(time.perf_counter() - started, 1)
    engine: Any = None
    try:
        engine = new_engine(day, case, pipeline, plan, compile=compile)
        base = _request(case.bench, Run("base")).model_copy(update={"num_inference_steps": WARMUP_STEPS + TIMED_STEPS})
        run_edit(day, case, engine, pipeline, plan, label, base)
        if compile:
            return
        if plan is MemoryPlan.FULL:
            _full_plan_extras(day, case, engine, pipeline, base)
        fast = Run("Lightning" if case.bench.lightning_lora else "fast", {"lightning": True})
        run_edit(day, case, engine, pipeline, plan, fast.label, _request(case.bench, fast))
    except Exception as exc:  # the plan itself failed to load or place (e.g. out of memory)
        day.add(Row(case.label, str(plan), label, FAILED, f"{type(exc).__name__}: {exc}"[:300]))
    finally:
        del engine, pipeline
        _free()


def _full_plan_extras(day: Day, case: ModelCase, engine: Any, pipeline: Any, base: EditRequest) -> None:
    """On `full`: 2.1 without its KV cache, and the base edit under each installed attention backend (an engine
    each, as QIE_ATTENTION gives the service one, over the same pipeline)."""
    plan = MemoryPlan.FULL
    if case.bench.family is ModelFamily.IMAGE_21:
        run_edit(day, case, engine, pipeline, plan, "no KV cache", base, kv_cache=False)
    backends = attention_backends()
    missing = [name for name, ok in backends.items() if not ok]
    if missing:
        note = f"not installed: {', '.join(missing)}"
        day.add(Row(case.label, str(plan), "attention", SKIPPED, note, estimate_gb=case.estimates[plan].peak_gb))
    for name in (name for name, ok in backends.items() if ok and name != "native"):
        try:
            other = new_engine(day, case, pipeline, plan, attention=name)
            run_edit(day, case, other, pipeline, plan, f"attention {name}", base)
        finally:
            pipeline.transformer.set_attention_backend("native")  # the next engines' default


DRY_RUN_AREA = 256 * 256  # the Edit pipelines' target and VAE area in the dry run (TINY_MODEL.md's speed-up)
DRY_RUN_RESOLUTION_21 = 320  # 2.1's output_resolution there (its tiny twin's tests use 320)


@contextmanager
def small_sizes() -> Iterator[None]:
    """The dry run's sizes: the tiny twins at ~0.07-0.1 MP instead of ~1 MP, so the whole run takes a minute or two
    on a small CPU. The same code runs; only the pipelines' target areas are lowered."""
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit, pipeline_qwenimage_edit_plus

    from qwen_image_editor.engine import families

    def capped(original: Any) -> Any:
        return lambda area, ratio: original(min(area, DRY_RUN_AREA), ratio)

    with (
        mock.patch.object(
            pipeline_qwenimage_edit, "calculate_dimensions", capped(pipeline_qwenimage_edit.calculate_dimensions)
        ),
        mock.patch.object(
            pipeline_qwenimage_edit_plus,
            "calculate_dimensions",
            capped(pipeline_qwenimage_edit_plus.calculate_dimensions),
        ),
        mock.patch.object(pipeline_qwenimage_edit_plus, "VAE_IMAGE_SIZE", DRY_RUN_AREA),
        mock.patch.object(families, "QWEN_IMAGE_21_RESOLUTION", DRY_RUN_RESOLUTION_21),
    ):
        yield


def run_day(day: Day, keys: list[str], progress: Callable[[str], None]) -> None:
    with small_sizes() if day.tiny else nullcontext():
        _run_day(day, keys, progress)


def _run_day(day: Day, keys: list[str], progress: Callable[[str], None]) -> None:
    cases = []
    for key in keys:
        progress(f"preparing {key}")
        cases.append(prepare(day, key))
    for plan in PREFERENCE:
        for case in cases:
            progress(f"{case.key}: plan {plan} ({day.left():.0f} s left)")
            plan_runs(day, case, plan)
    for case in cases:
        progress(f"{case.key}: QIE_COMPILE=1 ({day.left():.0f} s left)")
        plan_runs(day, case, MemoryPlan.FULL, compile=True)
