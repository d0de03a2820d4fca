"""How the model runs: its memory plan and speed (GPU_NOTES.md), and the worker's pipeline around it (finishing
threads, checkpoints, live previews, its name)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from qwen_image_editor.engine.memory_plans import MemoryPlan  # the plans, named once


class ModelSettings(BaseModel):
    """Memory plans and speed; the worker's pipeline, wake-ups and live previews."""

    memory: MemoryPlan = Field(
        default=MemoryPlan.AUTO,
        description="How the model sits on the GPU: `full` (all bf16 on the GPU), `offload` (components take "
        "turns on the GPU), `fp8` (transformer stored in float8, computed in bf16), `gguf` (transformer from "
        "QIE_GGUF, components take turns), `nf4` (4-bit transformer and text encoder; needs bitsandbytes), "
        "`low` (blocks streamed to the GPU: the least memory, the slowest), or `auto` (the fastest plan whose "
        "estimated peak fits the GPU's free memory; `qie doctor` shows the choice and why).",
    )
    gguf: str | None = Field(
        default=None,
        description="The transformer as a GGUF file for QIE_MEMORY=gguf (and a candidate for `auto`): a local "
        "path or a Hugging Face file reference `owner/repo/file.gguf` (fetched into the HF cache once).",
    )
    lightning_lora: str | None = Field(
        default=None,
        description="The Lightning LoRA for `lightning` jobs, instead of the one of the model's family: a local "
        ".safetensors path or a Hugging Face file reference `owner/repo/file.safetensors`.",
    )
    attention: Literal["native", "flash", "_flash_3", "sage"] = Field(
        default="native",
        description="The transformer's attention backend (`flash`, `_flash_3`, `sage` need their package "
        "and a CUDA GPU; `qie doctor` says which are installed).",
    )
    compile: bool = Field(
        default=False,
        description="CUDA only: compile the transformer's repeated blocks (torch.compile, regional); the first "
        "edit of each new size is slower, the rest faster.",
    )
    # -- the worker's pipeline, wake-ups and live previews ---------------------------------------
    previews: bool = Field(
        default=True,
        description="Live previews while denoising: a small picture of the latents (no VAE decode), at most "
        "4 a second, on the job's WebSocket only. 0 turns them off.",
    )
    finish_threads: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Threads that encode and store results while the model runs the next job; two encode two "
        "results at once on two cores. Each holds one result's pixels in memory until it is saved.",
    )
    checkpoint_every_steps: int = Field(
        default=5,
        ge=0,
        description="A running job's state (its latents) is saved through the blob store after every this many "
        "steps, so that a job requeued by a restart or crash continues from there, with the same result; 0 turns "
        "checkpoints off (a requeued job starts over).",
    )
    worker_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="This service's worker name, the same across restarts, so that after a crash it requeues "
        "the jobs its previous run held at once. Default: `<host>-<n>`, the first n not in use by a running "
        "process on this data directory. Two live workers must never share one.",
    )
    fake_output_pixels: int = Field(
        default=1024 * 1024,
        ge=32 * 32,
        description="With model `fake`: the result's area (the real pipelines' ~1 MP by default, so encoding "
        "costs what it does with a real model; tests set it small).",
    )
    fake_hold_file: Path | None = Field(
        default=None,
        description="With model `fake` (tests): while this file exists, every edit waits before its first step "
        "(a running job that stays running, however fast the machine; delete the file to let them go).",
    )
