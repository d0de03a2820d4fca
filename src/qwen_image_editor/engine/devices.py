"""Where the model runs and in which precision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cuda" or "cpu"
    dtype_name: str  # "bfloat16" on CUDA, "float32" on CPU (bf16 matmuls are slow and lossy on CPUs)

    @property
    def dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype_name)


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def plan_device(preference: str) -> DevicePlan:
    """`auto` takes CUDA when present; asking for `cuda` without one is an error, not a silent CPU run."""
    if preference == "cpu" or (preference == "auto" and not cuda_available()):
        return DevicePlan("cpu", "float32")
    if not cuda_available():
        raise RuntimeError("QIE_DEVICE=cuda but no CUDA GPU is visible; use QIE_DEVICE=auto or cpu")
    return DevicePlan("cuda", "bfloat16")


def gpu_summary() -> list[str]:
    """One line per visible GPU: name and total/free memory."""
    import torch

    if not torch.cuda.is_available():
        return []
    lines = []
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        name = torch.cuda.get_device_name(index)
        lines.append(f"cuda:{index} {name}: {free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB")
    return lines
