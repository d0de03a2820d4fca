"""Carrying out a memory plan: what `from_pretrained` is given, where the loaded pipeline is put, and the
speed switches (attention backend, regional compilation). The diffusers calls are named in GPU_NOTES.md."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwen_image_editor.engine.devices import DevicePlan
from qwen_image_editor.engine.gguf import gguf_file_bytes, load_gguf_transformer
from qwen_image_editor.engine.hub_files import resolve_file
from qwen_image_editor.engine.memory import (
    BITSANDBYTES_HINT,
    CUDA_ONLY,
    MemoryPlan,
    PlanChoice,
    bitsandbytes_installed,
    choose_plan,
    estimate_plans,
)
from qwen_image_editor.engine.model_size import model_size
from qwen_image_editor.engine.models import ModelSource
from qwen_image_editor.errors import ModelUnavailable

log = logging.getLogger(__name__)

ATTENTION_BACKENDS = ("native", "flash", "_flash_3", "sage")


@dataclass(frozen=True)
class MemoryOptions:
    """The memory and speed settings (QIE_MEMORY, QIE_GGUF, QIE_ATTENTION, QIE_COMPILE)."""

    plan: MemoryPlan = MemoryPlan.AUTO
    gguf: str | None = None
    attention: str = "native"
    compile: bool = False


def resolve_plan(
    options: MemoryOptions,
    device: DevicePlan,
    source: ModelSource,
    cache_dir: Path | None,
    *,
    free_gb: float | None = None,
) -> PlanChoice:
    """The concrete plan for this device: `auto` measured against the GPU's free memory (or `free_gb`)."""
    if device.device != "cuda" and free_gb is None:
        if options.plan is MemoryPlan.NF4:
            raise ModelUnavailable("QIE_MEMORY=nf4 needs a CUDA GPU (bitsandbytes 4-bit); use fp8 or gguf on the CPU")
        if options.plan is MemoryPlan.AUTO:
            return PlanChoice(MemoryPlan.FULL, 0.0, "no CUDA GPU: the model stays in RAM, in float32", ())
        note = " (a GPU memory saver: on the CPU the model stays in RAM)" if options.plan in CUDA_ONLY else ""
        return PlanChoice(options.plan, 0.0, f"asked for by QIE_MEMORY{note}", ())
    size = model_size(source, cache_dir)
    gguf_bytes = gguf_file_bytes(options.gguf, size.transformer.params)[0] if options.gguf else None
    estimates = estimate_plans(size, gguf_bytes=gguf_bytes)
    if free_gb is None:
        import torch

        free_gb = torch.cuda.mem_get_info()[0] / 1e9
    if options.plan is MemoryPlan.AUTO:
        return choose_plan(estimates, free_gb)
    chosen = next(e for e in estimates if e.plan is options.plan)
    return PlanChoice(options.plan, chosen.peak_gb, f"asked for by QIE_MEMORY ({free_gb:.1f} GB free)", estimates)


def load_kwargs(
    plan: MemoryPlan, options: MemoryOptions, device: DevicePlan, location: str, cache_dir: Path | None
) -> dict[str, Any]:
    """Extra `from_pretrained` arguments of a plan: a quantisation config or a ready GGUF transformer."""
    if plan is MemoryPlan.NF4:
        if not bitsandbytes_installed():
            raise ModelUnavailable(f"QIE_MEMORY=nf4 needs bitsandbytes: {BITSANDBYTES_HINT}")
        from diffusers import PipelineQuantizationConfig

        return {
            "quantization_config": PipelineQuantizationConfig(
                quant_backend="bitsandbytes_4bit",
                quant_kwargs={
                    "load_in_4bit": True,
                    "bnb_4bit_quant_type": "nf4",
                    "bnb_4bit_compute_dtype": device.dtype,
                },
                components_to_quantize=["transformer", "text_encoder"],
            )
        }
    if plan is MemoryPlan.GGUF:
        if not options.gguf:
            raise ModelUnavailable("QIE_MEMORY=gguf needs QIE_GGUF: a GGUF file of the transformer")
        path = resolve_file(options.gguf, cache_dir, what="GGUF file (QIE_GGUF)")
        return {"transformer": load_gguf_transformer(path, location, device.dtype, cache_dir)}
    return {}


def place(pipeline: Any, plan: MemoryPlan, device: DevicePlan) -> None:
    """Put the loaded pipeline where the plan says."""
    import torch

    if plan is MemoryPlan.FP8:
        pipeline.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=device.dtype)
    if device.device != "cuda":
        return
    if plan in (MemoryPlan.OFFLOAD, MemoryPlan.GGUF):
        pipeline.enable_model_cpu_offload()
    elif plan is MemoryPlan.LOW:
        pipeline.enable_group_offload(
            onload_device=torch.device("cuda"),
            offload_device=torch.device("cpu"),
            offload_type="leaf_level",
            use_stream=True,  # the next layer's copy overlaps this layer's compute
        )
    else:
        pipeline.to("cuda")


def apply_speed_switches(pipeline: Any, options: MemoryOptions, device: DevicePlan) -> None:
    if options.attention != "native":
        available = attention_backends()
        if not available.get(options.attention):
            raise ModelUnavailable(
                f"QIE_ATTENTION={options.attention} is not installed here (available: "
                f"{', '.join(name for name, ok in available.items() if ok)}); install its package or use native"
            )
        pipeline.transformer.set_attention_backend(options.attention)
    if options.compile:
        if device.device != "cuda":
            log.warning("QIE_COMPILE=1 is for CUDA GPUs; ignored on the %s", device.device)
        else:
            pipeline.transformer.compile_repeated_blocks(fullgraph=True)


def attention_backends() -> dict[str, bool]:
    """Which QIE_ATTENTION values can run here (all but native need a CUDA GPU besides their package)."""
    return {
        "native": True,
        "flash": importlib.util.find_spec("flash_attn") is not None,
        "_flash_3": importlib.util.find_spec("flash_attn_interface") is not None,
        "sage": importlib.util.find_spec("sageattention") is not None,
    }


def compile_available(has_cuda: bool) -> tuple[bool, str]:
    if not has_cuda:
        return False, "needs a CUDA GPU"
    if importlib.util.find_spec("triton") is None:
        return False, "needs triton (installed with CUDA builds of torch)"
    return True, "set QIE_COMPILE=1"
