"""Random-weight pipelines built where they run: the models' shapes on the meta device, then each parameter an empty
tensor on the device filled in place (no disk, no copy through the CPU), and a folder of their configs alone (a few
KB) that the service's engine reads as the model (its memory plans count parameters from those configs).

Full size: the released shapes (`benchmarks.full_size.meta_pipeline`). The dry run: the tiny twins' shapes
(`engine.tiny_model*`), built the same way on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.full_size import MODELS, meta_pipeline
from qwen_image_editor.engine import published_configs as published
from qwen_image_editor.engine.tiny_model import PIPELINE_CLASSES, TinyFlavour

TINY_FLAVOURS = {published.EDIT_2511: TinyFlavour.EDIT_2511, published.IMAGE_21: TinyFlavour.QWEN_IMAGE_21}


def meta_tiny_pipeline(model_id: str) -> Any:
    """The tiny twin of `model_id` with its three models on the meta device (tokenizer and processor real)."""
    import diffusers
    from accelerate import init_empty_weights

    from qwen_image_editor.engine.tiny_model import build_tiny_components
    from qwen_image_editor.engine.tiny_model_21 import build_tiny_21_components

    flavour = TINY_FLAVOURS[model_id]
    with init_empty_weights():  # parameters on meta; buffers (rotary tables) stay real, as from_pretrained keeps them
        parts = build_tiny_21_components() if flavour is TinyFlavour.QWEN_IMAGE_21 else build_tiny_components(flavour)
    return getattr(diffusers, PIPELINE_CLASSES[flavour])(**parts)


def materialise(module: Any, device: str, dtype: Any, seed: int = 0) -> int:
    """Give every meta parameter an empty tensor on `device`, filled in place there (small normal values; 1-D norm
    weights 1, other 1-D tensors 0), then move the real buffers over. Returns the bytes allocated."""
    import torch

    generator = torch.Generator(device=device).manual_seed(seed)
    allocated = 0
    with torch.no_grad():
        for name, param in list(module.named_parameters()):
            value = torch.empty(param.shape, dtype=dtype, device=device)
            if param.ndim == 1:
                value.fill_(1.0 if "norm" in name else 0.0)
            else:
                value.normal_(0.0, 0.02, generator=generator)
            owner_name, _, leaf = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            owner._parameters[leaf] = torch.nn.Parameter(value, requires_grad=False)
            allocated += value.numel() * value.element_size()
    module.to(device)  # the buffers, which init_empty_weights left real on the CPU; the parameters are there
    return allocated


def build_on_device(model_id: str, device: str, dtype: Any, *, tiny: bool) -> Any:
    """The release's pipeline (or its tiny twin's) with random weights on `device`, in `dtype`."""
    pipeline = meta_tiny_pipeline(model_id) if tiny else meta_pipeline(model_id)
    for seed, part in enumerate(MODELS):
        materialise(getattr(pipeline, part), device, dtype, seed=seed)
    return pipeline


def write_configs(pipeline: Any, folder: Path) -> Path:
    """model_index.json and the three models' config.json, as save_pretrained lays them out, without weights."""
    folder.mkdir(parents=True, exist_ok=True)
    pipeline.save_config(folder)
    for part in ("transformer", "vae"):
        getattr(pipeline, part).save_config(folder / part)
    text_encoder = pipeline.text_encoder
    text_encoder.config.architectures = [type(text_encoder).__name__]  # what model_size reads the class from
    text_encoder.config.save_pretrained(folder / "text_encoder")
    if not (folder / "model_index.json").is_file() or not json.loads((folder / "model_index.json").read_text()):
        raise RuntimeError(f"{folder}: the pipeline's model_index.json was not written")
    return folder


def random_lightning_lora(transformer: Any, path: Path, *, rank: int) -> Path:
    """A random LoRA in the Lightning files' (lightx2v) format over the transformer's blocks, as the 2511 Lightning
    run loads it; its factors are made on the CPU from the layers' shapes alone."""
    from qwen_image_editor.engine.loras import make_random_lora

    return make_random_lora(transformer, path, rank=rank, seed=8, scale=0.05, lightx2v=True)


def parameter_counts(pipeline: Any) -> dict[str, int]:
    return {part: sum(p.numel() for p in getattr(pipeline, part).parameters()) for part in MODELS}
