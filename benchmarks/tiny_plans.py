"""How close the CPU-capable memory plans come to `full` on the tiny model, and what a 50-step job and a
Lightning job cost on it: `.venv/bin/python -m benchmarks.tiny_plans` (the default ~1 MP output)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.gguf import make_tiny_gguf
from qwen_image_editor.engine.memory import MemoryPlan
from qwen_image_editor.engine.models import ensure_tiny_model, resolve_model
from qwen_image_editor.engine.placement import MemoryOptions


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def main() -> int:
    models = Path(tempfile.mkdtemp(prefix="qie-tiny-plans-"))
    source = resolve_model("tiny", models)
    gguf = make_tiny_gguf(ensure_tiny_model(source), models / "tiny-Q8_0.gguf", "Q8_0")
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8))
    request = EditRequest(prompt="make the sky stormy", num_inference_steps=8, seed=1)
    outputs = {}
    for plan, memory in [
        ("full", MemoryOptions(plan=MemoryPlan.FULL)),
        ("fp8", MemoryOptions(plan=MemoryPlan.FP8)),
        ("gguf Q8_0", MemoryOptions(plan=MemoryPlan.GGUF, gguf=str(gguf))),
    ]:
        engine = DiffusersEngine(source, plan_device("cpu"), memory=memory)
        outputs[plan] = np.asarray(engine.edit([image], request).image)
    print(f"output {outputs['full'].shape[1]}x{outputs['full'].shape[0]}, 8 steps with CFG, seed 1")
    for plan in ("fp8", "gguf Q8_0"):
        print(f"PSNR {plan} vs full: {psnr(outputs[plan], outputs['full']):.1f} dB")
    engine = DiffusersEngine(source, plan_device("cpu"))
    engine.edit([image], EditRequest(prompt="warm up", num_inference_steps=2, seed=1))
    for label, job in [
        ("50-step guided job", EditRequest(prompt="make the sky stormy", seed=1)),
        ("Lightning job (8 steps, no CFG)", EditRequest(prompt="make the sky stormy", seed=1, lightning=True)),
    ]:
        started = time.perf_counter()
        engine.edit([image], job)
        print(f"{label}: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
