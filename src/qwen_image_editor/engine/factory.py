"""Builds the engine that settings ask for; the one place that turns `auto` into a concrete model."""

from __future__ import annotations

from qwen_image_editor.engine.base import EditEngine
from qwen_image_editor.engine.capabilities import FAKE_MODELS, capabilities_of
from qwen_image_editor.engine.devices import cuda_available, plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.engine.memory import MemoryPlan
from qwen_image_editor.engine.models import resolve_auto, resolve_model
from qwen_image_editor.engine.placement import MemoryOptions
from qwen_image_editor.settings import Settings


def build_engine(settings: Settings) -> EditEngine:
    if settings.model in FAKE_MODELS:  # for tests and benchmarks of everything around the model
        return FakeEngine(
            capabilities=capabilities_of(settings.model, settings.models_dir),
            step_seconds=settings.fake_step_seconds,
            output_pixels=settings.fake_output_pixels,
            previews=settings.previews,
            loras_dir=settings.loras_dir,
            hold_file=settings.fake_hold_file,
        )
    has_cuda = settings.device != "cpu" and cuda_available()
    source = resolve_model(resolve_auto(settings.model, has_cuda), settings.models_dir)
    cache_dir = settings.hf_home / "hub" if settings.hf_home else None
    return DiffusersEngine(
        source,
        plan_device(settings.device),
        memory=MemoryOptions(
            plan=MemoryPlan(settings.memory_plan),
            gguf=settings.gguf,
            attention=settings.attention,
            compile=settings.compile,
        ),
        lightning_lora=settings.lightning_lora,
        loras_dir=settings.loras_dir,
        cache_dir=cache_dir,
        previews=settings.previews,
    )
