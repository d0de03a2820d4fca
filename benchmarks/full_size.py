"""The full-size Qwen-Image-Edit-2511 and Qwen-Image-2.1 pipelines with random weights, for `make bench-gpu`.

No download: the shapes come from the released configs (`engine/published_configs.py`); the tokenizer, processor
and scheduler are the tiny twin's of the same family (token ids only index the full-size vocabulary). `meta_pipeline`
assembles a pipeline whose three models are on the meta device (no memory, nothing written: the wiring test builds
it too); `build_full_size_model` fills it with random bf16 values and saves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qwen_image_editor.engine import published_configs as published

MODELS = ("transformer", "text_encoder", "vae")  # the pipeline components with weights


def _vision_token_ids(tokenizer: Any) -> dict[str, int]:
    """The text encoder config's special token ids, as the tiny tokenizer numbers them."""
    ids = tokenizer.convert_tokens_to_ids
    return {
        "image_token_id": ids("<|image_pad|>"),
        "video_token_id": ids("<|video_pad|>"),
        "vision_start_token_id": ids("<|vision_start|>"),
        "vision_end_token_id": ids("<|vision_end|>"),
    }


def _meta_models(model_id: str, tokenizer: Any) -> dict[str, Any]:
    """The release's transformer, text encoder and VAE built from its published configs on the meta device."""
    import diffusers
    import transformers
    from accelerate import init_empty_weights

    configs = published.component_configs(model_id)
    te_class = getattr(transformers, published.CLASSES[model_id]["text_encoder"])
    te_config = te_class.config_class.from_dict({**published.TEXT_ENCODERS[model_id], **_vision_token_ids(tokenizer)})
    with init_empty_weights():
        return {
            "transformer": getattr(diffusers, published.CLASSES[model_id]["transformer"]).from_config(
                configs["transformer"]
            ),
            "text_encoder": te_class(te_config),
            "vae": getattr(diffusers, published.CLASSES[model_id]["vae"]).from_config(configs["vae"]),
        }


def _tiny_parts(model_id: str) -> dict[str, Any]:
    """The tiny twin's tokenizer / processor / scheduler that stand in for the release's."""
    if model_id == published.IMAGE_21:
        from qwen_image_editor.engine.tiny_model_21 import build_tiny_21_components

        tiny = build_tiny_21_components()
        return {"processor": tiny["processor"], "scheduler": tiny["scheduler"]}
    from qwen_image_editor.engine.tiny_model import TinyFlavour, build_tiny_components

    tiny = build_tiny_components(TinyFlavour.EDIT_2511)
    return {"tokenizer": tiny["tokenizer"], "processor": tiny["processor"], "scheduler": tiny["scheduler"]}


def meta_pipeline(model_id: str) -> Any:
    """The release's pipeline (`published.PIPELINE_CLASS`) with its three models on the meta device."""
    import diffusers

    parts = _tiny_parts(model_id)
    tokenizer = parts.get("tokenizer") or parts["processor"].tokenizer
    pipeline_class = getattr(diffusers, published.PIPELINE_CLASS[model_id])
    return pipeline_class(**parts, **_meta_models(model_id, tokenizer))


def random_parameters(model: Any) -> Any:
    """Materialise a meta-device model's parameters as small random bf16 values (norm weights 1, biases 0)."""
    import torch
    from accelerate.utils import set_module_tensor_to_device

    for name, param in list(model.named_parameters()):
        value = torch.empty(param.shape, dtype=torch.bfloat16)
        if param.ndim == 1:
            value.fill_(1.0 if "norm" in name else 0.0)
        else:
            value.normal_(0.0, 0.02)
        # dtype given: without it accelerate casts the value to the meta parameter's float32 (twice the RAM).
        set_module_tensor_to_device(model, name, "cpu", value=value, dtype=torch.bfloat16)
    return model


def build_full_size_model(model_id: str, folder: Path) -> Path:
    """Save the release's full-size pipeline with random weights into `folder` (RAM and disk: 2 bytes/param)."""
    from rich.console import Console

    pipeline = meta_pipeline(model_id)
    params = sum(p.numel() for part in MODELS for p in getattr(pipeline, part).parameters())
    Console().print(f"materialising {model_id}'s ~{params / 1e9:.1f} B random parameters in bf16 (minutes) ...")
    for part in MODELS:
        random_parameters(getattr(pipeline, part))
    staging = folder.with_name(folder.name + ".partial")
    pipeline.save_pretrained(staging, safe_serialization=True)
    staging.rename(folder)
    return folder
