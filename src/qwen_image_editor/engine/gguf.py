"""The GGUF memory plan: a quantised transformer file read by diffusers, and tiny GGUF files made offline.

Both transformer classes load from GGUF in diffusers 0.42.1: `QwenImageTransformer2DModel` (Edit) takes the
file's tensors as they are, `QwenImage21Transformer2DModel` (2.1) through its single-file converter
(`convert_qwen_image21_transformer_checkpoint_to_diffusers`: drops ComfyUI's `model.diffusion_model.` prefix and
splits its fused `img_mlp.gate_up` into `gate_layer` and `proj`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from qwen_image_editor.engine import published_configs as published
from qwen_image_editor.engine.hub_files import is_local

DEFAULT_QUANT = "Q8_0"
_QUANT_IN_NAME = re.compile(r"(?<![A-Za-z0-9])(I?Q\d_[A-Z0-9]+?|BF16|F16|F32)(?:_[SML])?\.gguf$", re.IGNORECASE)


def gguf_file_bytes(reference: str, transformer_params: int) -> tuple[int, str]:
    """The transformer's size under this GGUF: the file's own size when it is here, else parameters times
    the bytes per weight of the quant type in its name (Q5_K_M counts as Q5_K)."""
    import gguf

    if is_local(reference) and Path(reference).expanduser().is_file():
        return Path(reference).expanduser().stat().st_size, "the GGUF file's size"
    match = _QUANT_IN_NAME.search(reference)
    quant = match.group(1).upper() if match else DEFAULT_QUANT
    try:
        kind = gguf.GGMLQuantizationType[quant]
    except KeyError:
        kind, quant = gguf.GGMLQuantizationType.Q8_0, DEFAULT_QUANT
    block, type_size = gguf.GGML_QUANT_SIZES[kind]
    return int(transformer_params * type_size / block), f"{quant} at {8 * type_size / block:.2f} bits per weight"


def transformer_class(config_location: str, cache_dir: Path | None) -> Any:
    """The diffusers class of the model's transformer, as its config names it (a folder, the Hugging Face cache, or
    the published releases)."""
    import diffusers

    from qwen_image_editor.engine.model_size import class_name, component_configs
    from qwen_image_editor.engine.models import ModelSource, ModelSourceKind

    kind = ModelSourceKind.LOCAL if Path(config_location).is_dir() else ModelSourceKind.HUB
    configs, _ = component_configs(ModelSource(config_location, kind, config_location), cache_dir)
    return getattr(diffusers, class_name("transformer", configs["transformer"]))


def load_gguf_transformer(path: Path, config_location: str, dtype: Any, cache_dir: Path | None) -> Any:
    """The transformer from a GGUF file, with its config from the model (a folder or a hub id)."""
    from diffusers import GGUFQuantizationConfig

    return transformer_class(config_location, cache_dir).from_single_file(
        str(path),
        quantization_config=GGUFQuantizationConfig(compute_dtype=dtype),
        config=config_location,
        subfolder="transformer",
        dtype=dtype,
        cache_dir=cache_dir,
    )


def write_gguf(state_dict: dict[str, Any], path: Path, quant: str = DEFAULT_QUANT) -> Path:
    """Write a transformer's weights as GGUF: matrices in `quant` where their rows fit its blocks, the rest
    (biases, norms, odd shapes) in float32, as llama.cpp's converters do."""
    import gguf
    import numpy as np

    kind = gguf.GGMLQuantizationType[quant]
    block, _ = gguf.GGML_QUANT_SIZES[kind]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    writer = gguf.GGUFWriter(str(staging), arch="qwen_image")
    for name, tensor in state_dict.items():
        array = tensor.detach().float().cpu().numpy()
        if array.ndim == 2 and array.shape[-1] % block == 0:
            writer.add_tensor(name, gguf.quants.quantize(array, kind), raw_dtype=kind)
        else:
            writer.add_tensor(name, array.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    staging.replace(path)
    return path


def make_tiny_gguf(model_folder: Path, path: Path, quant: str = DEFAULT_QUANT) -> Path:
    """A GGUF of a (tiny) diffusers model folder's transformer, built offline. A 2.1 transformer is written in
    ComfyUI's layout (gate and up projections fused, gate rows first), which diffusers' converter undoes on loading."""
    cls = transformer_class(str(model_folder), None)
    state_dict = cls.from_pretrained(model_folder, subfolder="transformer").state_dict()
    if cls.__name__ == published.CLASSES[published.IMAGE_21]["transformer"]:
        state_dict = _fuse_gate_up(state_dict)
    return write_gguf(state_dict, path, quant)


def _fuse_gate_up(state_dict: dict[str, Any]) -> dict[str, Any]:
    import torch

    fused = {}
    for name, tensor in state_dict.items():
        if name.endswith("img_mlp.gate_layer.weight"):
            up = state_dict[name.replace("gate_layer", "proj")]
            fused[name.replace("gate_layer", "gate_up")] = torch.cat([tensor, up], dim=0)
        elif not name.endswith("img_mlp.proj.weight"):
            fused[name] = tensor
    return fused
