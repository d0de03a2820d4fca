"""The GGUF memory plan: a quantised transformer file read by diffusers, and tiny GGUF files made offline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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


def load_gguf_transformer(path: Path, config_location: str, dtype: Any, cache_dir: Path | None) -> Any:
    """The transformer from a GGUF file, with its config from the model (a folder or a hub id)."""
    from diffusers import GGUFQuantizationConfig, QwenImageTransformer2DModel

    return QwenImageTransformer2DModel.from_single_file(
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
    """A GGUF of a (tiny) diffusers model folder's transformer, built offline."""
    from diffusers import QwenImageTransformer2DModel

    transformer = QwenImageTransformer2DModel.from_pretrained(model_folder, subfolder="transformer")
    return write_gguf(transformer.state_dict(), path, quant)
