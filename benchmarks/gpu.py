"""`make bench-gpu`: the full-size Qwen-Image-Edit-2511 architecture with random weights on a real GPU.

No download: the shapes come from the released configs (`engine/published_configs.py`); the tokenizer and
processor are the tiny model's (token ids only index the full-size vocabulary). Built once into
`$QIE_BENCH_DIR/full-size-random` (default `data/bench`; ~58 GB of disk, ~60 GB of RAM while building).
For each memory plan whose estimate fits the GPU, it runs a 50-step guided edit and an 8-step Lightning edit
at ~1 MP through the service's own engine and prints one table. `QIE_BENCH_GGUF=1` also writes a Q8_0 GGUF
of the random transformer (~22 GB, slow) to measure the gguf plan. Without CUDA it says so and exits.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
PROMPT = "put the hat from picture 2 on the person in picture 1"


def _random_parameters(model: Any) -> Any:
    """Materialise a meta-device model's parameters as small random bf16 values (norm weights 1, biases 0)."""
    import torch
    from accelerate.utils import set_module_tensor_to_device

    for name, param in list(model.named_parameters()):
        value = torch.empty(param.shape, dtype=torch.bfloat16)
        if param.ndim == 1:
            value.fill_(1.0 if "norm" in name else 0.0)
        else:
            value.normal_(0.0, 0.02)
        set_module_tensor_to_device(model, name, "cpu", value=value)
    return model


def build_full_size_model(folder: Path) -> Path:
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKLQwenImage, QwenImageEditPlusPipeline, QwenImageTransformer2DModel
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from qwen_image_editor.engine import published_configs as published
    from qwen_image_editor.engine.tiny_model import TinyFlavour, build_tiny_components

    tiny = build_tiny_components(TinyFlavour.EDIT_2511)
    tokenizer = tiny["tokenizer"]
    ids = tokenizer.convert_tokens_to_ids
    te_config = Qwen2_5_VLConfig.from_dict(
        {
            **published.TEXT_ENCODER,
            "image_token_id": ids("<|image_pad|>"),
            "video_token_id": ids("<|video_pad|>"),
            "vision_start_token_id": ids("<|vision_start|>"),
            "vision_end_token_id": ids("<|vision_end|>"),
        }
    )
    with init_empty_weights():
        transformer = QwenImageTransformer2DModel(**published.TRANSFORMER[published.EDIT_2511])
        text_encoder = Qwen2_5_VLForConditionalGeneration(te_config)
        vae = AutoencoderKLQwenImage(**published.VAE)
    console.print("materialising ~28.8 B random parameters in bf16 (a few minutes) ...")
    pipeline = QwenImageEditPlusPipeline(
        transformer=_random_parameters(transformer),
        text_encoder=_random_parameters(text_encoder),
        vae=_random_parameters(vae),
        tokenizer=tokenizer,
        processor=tiny["processor"],
        scheduler=tiny["scheduler"],
    )
    staging = folder.with_name(folder.name + ".partial")
    pipeline.save_pretrained(staging, safe_serialization=True)
    staging.rename(folder)
    return folder


def _edit(engine: Any, images: list[Any], **fields: Any) -> tuple[float, float]:
    """(seconds per step, seconds per edit) of one edit."""
    from qwen_image_editor.edit_request import EditRequest

    rates: list[float] = []
    request = EditRequest(prompt=PROMPT, seed=0, **fields)
    started = time.perf_counter()
    engine.edit(images, request, on_step=lambda s: rates.append(s.seconds_per_step or 0.0))
    return (rates[-1] if rates else float("nan")), time.perf_counter() - started


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        console.print("make bench-gpu needs a CUDA GPU and none is visible here: nothing was run.")
        return 0
    from qwen_image_editor.engine.devices import plan_device
    from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
    from qwen_image_editor.engine.gguf import write_gguf
    from qwen_image_editor.engine.loras import make_random_lora
    from qwen_image_editor.engine.memory import PREFERENCE, USABLE_SHARE, MemoryPlan, estimate_plans
    from qwen_image_editor.engine.model_size import model_size
    from qwen_image_editor.engine.models import resolve_model
    from qwen_image_editor.engine.placement import MemoryOptions

    root = Path(os.environ.get("QIE_BENCH_DIR", "data/bench"))
    folder = root / "full-size-random"
    if not (folder / "model_index.json").is_file():
        build_full_size_model(folder)
    source = resolve_model(str(folder), root)
    lightning = folder / "lightning-8steps.safetensors"
    gguf = folder / "transformer-Q8_0.gguf"
    if not lightning.is_file() or (os.environ.get("QIE_BENCH_GGUF") == "1" and not gguf.is_file()):
        from diffusers import QwenImageTransformer2DModel

        transformer = QwenImageTransformer2DModel.from_pretrained(folder, subfolder="transformer")
        if not lightning.is_file():
            make_random_lora(transformer, lightning, rank=64, seed=8, scale=0.05, lightx2v=True)
        if os.environ.get("QIE_BENCH_GGUF") == "1" and not gguf.is_file():
            write_gguf(transformer.state_dict(), gguf, "Q8_0")
        del transformer
    free_gb = torch.cuda.mem_get_info()[0] / 1e9
    estimates = {
        e.plan: e
        for e in estimate_plans(model_size(source), gguf_bytes=gguf.stat().st_size if gguf.is_file() else None)
    }
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(1).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    images = [Image.fromarray(pixels)]
    table = Table(title=f"{torch.cuda.get_device_name()}: {free_gb:.1f} GB free, ~1 MP, 1 reference image")
    for column in (
        "plan",
        "estimate GB",
        "peak GB",
        "50 steps s/step",
        "50 steps s",
        "Lightning 8 s/step",
        "Lightning s",
    ):
        table.add_column(column)
    for plan in PREFERENCE:
        estimate = estimates[plan]
        if not estimate.available or estimate.peak_gb > free_gb * USABLE_SHARE:
            table.add_row(str(plan), f"{estimate.peak_gb:.1f}", estimate.note or "does not fit", "", "", "", "")
            continue
        engine = DiffusersEngine(
            source,
            plan_device("cuda"),
            memory=MemoryOptions(plan=plan, gguf=str(gguf) if plan is MemoryPlan.GGUF else None),
            lightning_lora=str(lightning),
        )
        try:
            engine.load()
            torch.cuda.reset_peak_memory_stats()
            guided = _edit(engine, images, num_inference_steps=50, true_cfg_scale=4.0)
            fast = _edit(engine, images, lightning=True)
            peak = torch.cuda.max_memory_allocated() / 1e9
            table.add_row(
                str(plan), f"{estimate.peak_gb:.1f}", f"{peak:.1f}", f"{guided[0]:.2f}", f"{guided[1]:.1f}",
                f"{fast[0]:.2f}", f"{fast[1]:.1f}",
            )  # fmt: skip
        except Exception as exc:  # one plan's failure (e.g. out of memory) is a result too
            table.add_row(
                str(plan), f"{estimate.peak_gb:.1f}", f"failed: {type(exc).__name__}: {exc}"[:80], "", "", "", ""
            )
        finally:
            del engine
            gc.collect()
            torch.cuda.empty_cache()
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
