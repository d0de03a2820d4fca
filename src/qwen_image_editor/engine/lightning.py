"""Lightning: lightx2v's few-step, guidance-distilled LoRAs, with the scheduler settings they were made for.

A Lightning job swaps in this scheduler and the LoRA of the model's family for its own run; the base
model is never reloaded, and the next normal job gets the stock scheduler and no adapter back.
"""

from __future__ import annotations

import fcntl
import math
from enum import StrEnum
from pathlib import Path
from typing import Any

from qwen_image_editor.engine.loras import make_random_lora

# ModelTC's diffusers example for Qwen-Image-Lightning: mu is fixed at log(3) for every image size, so
# 4 steps run at sigmas 1, 0.9, 0.75, 0.5 and end at 0.
SCHEDULER_CONFIG: dict[str, Any] = {
    "base_image_seq_len": 256,
    "base_shift": math.log(3),
    "max_image_seq_len": 8192,
    "max_shift": math.log(3),
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "shift_terminal": None,
    "time_shift_type": "exponential",
    "use_dynamic_shifting": True,
    "invert_sigmas": False,
    "stochastic_sampling": False,
    "use_karras_sigmas": False,
    "use_exponential_sigmas": False,
    "use_beta_sigmas": False,
}


class ModelVariant(StrEnum):
    """The release a pipeline is shaped like; each has its own Lightning LoRAs."""

    EDIT = "edit"  # Qwen/Qwen-Image-Edit
    EDIT_2509 = "2509"  # Qwen/Qwen-Image-Edit-2509
    EDIT_2511 = "2511"  # Qwen/Qwen-Image-Edit-2511 (EditPlus with zero_cond_t)


_REPO = "lightx2v/Qwen-Image-Lightning"
# Hugging Face file references (repo id, then the path inside it), fetched into the HF cache on first use.
LORA_FILES: dict[tuple[ModelVariant, int], str] = {
    **{
        (ModelVariant.EDIT, steps): f"{_REPO}/Qwen-Image-Edit-Lightning-{steps}steps-V1.0-bf16.safetensors"
        for steps in (4, 8)
    },
    **{
        (ModelVariant.EDIT_2509, steps): (
            f"{_REPO}/Qwen-Image-Edit-2509/Qwen-Image-Edit-2509-Lightning-{steps}steps-V1.0-bf16.safetensors"
        )
        for steps in (4, 8)
    },
    **{
        (ModelVariant.EDIT_2511, steps): (
            f"lightx2v/Qwen-Image-Edit-2511-Lightning/Qwen-Image-Edit-2511-Lightning-{steps}steps-V1.0-bf16.safetensors"
        )
        for steps in (4, 8)
    },
}


def variant_of(pipeline: Any) -> ModelVariant:
    if type(pipeline).__name__ == "QwenImageEditPipeline":
        return ModelVariant.EDIT
    zero_cond_t = bool(getattr(pipeline.transformer.config, "zero_cond_t", False))
    return ModelVariant.EDIT_2511 if zero_cond_t else ModelVariant.EDIT_2509


def lightning_scheduler() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler.from_config(SCHEDULER_CONFIG)


def ensure_tiny_lightning_lora(model_folder: Path, steps: int, transformer: Any) -> Path:
    """The tiny model's Lightning LoRA (lightx2v format, random), built offline beside it on first use."""
    path = model_folder / "lightning" / f"tiny-lightning-{steps}steps.safetensors"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            make_random_lora(transformer, path, rank=4, seed=1000 + steps, lightx2v=True)
    return path
