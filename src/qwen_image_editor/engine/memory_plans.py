"""The memory plans' names (QIE_MEMORY), alone: the settings name them too, and must not import the estimates
(`memory.py`), which read the model's files through modules that read the settings."""

from __future__ import annotations

from enum import StrEnum


class MemoryPlan(StrEnum):
    """Where the weights live while an edit runs (QIE_MEMORY)."""

    AUTO = "auto"  # the first plan below, in this order, whose estimate fits the GPU's free memory
    FULL = "full"  # everything in bf16 on the GPU: the fastest
    FP8 = "fp8"  # transformer stored in float8 (upcast layer by layer to bf16); everything resident
    OFFLOAD = "offload"  # components take turns on the GPU (model CPU offload); all bf16
    GGUF = "gguf"  # the transformer from a GGUF file, dequantised per layer; components take turns
    NF4 = "nf4"  # transformer and text encoder in 4-bit NF4 (bitsandbytes), resident
    LOW = "low"  # every layer streamed to the GPU when it runs (group offload): least memory, slowest
