"""LoRA files: the operator's folder of .safetensors files, checks against the loaded transformer, and the
adapters of one pipeline, switched per job without reloading the base model.

Only safetensors are read (never pickles), and only from the folder or from files the settings name.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwen_image_editor.edit_request import LORA_NAME_PATTERN
from qwen_image_editor.errors import InvalidRequest

SUFFIX = ".safetensors"
MAX_LOADED_ADAPTERS = 8  # LRU beyond this: each loaded adapter costs memory on the model's device
_NAME = re.compile(LORA_NAME_PATTERN)
_A, _B = ".lora_A.weight", ".lora_B.weight"


@dataclass(frozen=True)
class LoraInfo:
    """One LoRA file a job may name."""

    name: str
    size_bytes: int
    matches: bool | None  # None until the model has loaded: the check needs its layers
    reason: str | None  # why it does not match, for people


def lora_files(folder: Path | None) -> list[Path]:
    """The usable LoRA files in the folder, by name; other files (pickles, notes) are ignored."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix == SUFFIX and path.is_file() and _NAME.fullmatch(path.name.removesuffix(SUFFIX))
    )


def lora_path(folder: Path | None, name: str) -> Path:
    """The file a job's LoRA name means; the name never carries a path (the request's pattern forbids it)."""
    if folder is None or not _NAME.fullmatch(name):
        raise InvalidRequest(f"no LoRA named {name!r}")
    path = folder / f"{name}{SUFFIX}"
    if not path.is_file():
        available = ", ".join(p.name.removesuffix(SUFFIX) for p in lora_files(folder)) or "none"
        raise InvalidRequest(f"no LoRA named {name!r} in {folder} (available: {available})")
    return path


def list_loras(folder: Path | None, pipeline: Any | None) -> list[LoraInfo]:
    infos = []
    for path in lora_files(folder):
        reason = check_lora(path, pipeline) if pipeline is not None else None
        matches = None if pipeline is None else reason is None
        infos.append(LoraInfo(path.name.removesuffix(SUFFIX), path.stat().st_size, matches, reason))
    return infos


def check_lora(path: Path, pipeline: Any) -> str | None:
    """Why this file cannot be applied to the pipeline's transformer, or None when it fits.

    Reads only the header (shapes on the meta device, the scalar alphas as values) and converts the keys
    the way diffusers will (lightx2v, kohya and PEFT formats), so the check agrees with the loader.
    """
    import torch
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            header: dict[str, Any] = {}
            for key in handle.keys():  # noqa: SIM118  # safe_open has no __iter__
                shape = handle.get_slice(key).get_shape()
                small = len(shape) == 0 or (len(shape) == 1 and shape[0] == 1)
                header[key] = handle.get_tensor(key) if small else torch.empty(shape, device="meta")
    except Exception as exc:
        return f"not a readable .safetensors file ({type(exc).__name__}: {exc})"
    if not header:
        return "holds no tensors"
    try:
        converted = type(pipeline).lora_state_dict(header)
    except Exception as exc:
        return f"not a LoRA format diffusers reads for Qwen-Image ({type(exc).__name__}: {exc})"
    return _check_shapes(converted, dict(pipeline.transformer.named_modules()))


def _check_shapes(converted: dict[str, Any], modules: dict[str, Any]) -> str | None:
    prefixed = any(key.startswith("transformer.") for key in converted)
    pairs = 0
    for key, tensor in converted.items():
        if not key.endswith((_A, _B)):
            continue
        if key.startswith("text_encoder") or (prefixed and not key.startswith("transformer.")):
            return f"has weights for the {key.split('.')[0]}; only transformer LoRAs are supported"
        layer_name = _layer_name(key)
        layer = modules.get(layer_name)
        if layer is None or not hasattr(layer, "in_features"):
            return f"expects a layer {layer_name} that this model does not have (made for another model?)"
        side, expected, found = (
            ("inputs", layer.in_features, tensor.shape[-1])
            if key.endswith(_A)
            else ("outputs", layer.out_features, tensor.shape[0])
        )
        if expected != found:
            return f"{layer_name} has {expected} {side} in this model but {found} in the LoRA (made for another model?)"
        pairs += 1
    if pairs == 0:
        return "holds no LoRA weights (lora_A/lora_B or lora_down/lora_up pairs)"
    return None


def _layer_name(key: str) -> str:
    """`transformer.<layer>.lora_A.weight` -> `<layer>`."""
    return key.removeprefix("transformer.").removesuffix(_A).removesuffix(_B)


class Adapters:
    """The LoRA adapters loaded into one pipeline. Not thread-safe: the engine calls it under its edit lock."""

    def __init__(self, compute_dtype: str = "bfloat16") -> None:
        self._compute_dtype = compute_dtype  # what fp8-stored layers compute in (the device plan's dtype)
        self._loaded: OrderedDict[str, tuple[str, tuple[int, int]]] = OrderedDict()  # key -> (adapter, file id)
        self._names = (f"qie_{n}" for n in itertools.count())

    def ensure(self, pipeline: Any, key: str, path: Path) -> str:
        """Load the file as an adapter unless it is loaded and unchanged; the adapter's name."""
        stat = path.stat()
        identity = (stat.st_mtime_ns, stat.st_size)
        if key in self._loaded and self._loaded[key][1] == identity:
            self._loaded.move_to_end(key)
            return self._loaded[key][0]
        if key in self._loaded:  # the file changed on disk
            self._discard(pipeline, self._loaded.pop(key)[0])
        reason = check_lora(path, pipeline)
        if reason is not None:
            raise InvalidRequest(f"LoRA {key}: {reason}")
        adapter = next(self._names)
        try:
            state = read_lora(path)
            with warnings.catch_warnings():  # several adapters on one model are the point here
                warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                pipeline.load_lora_weights(dict(state), adapter_name=adapter)
            self._keep_precise(pipeline, state, adapter)
        except Exception as exc:
            self._discard(pipeline, adapter)  # nothing half-loaded stays behind
            raise InvalidRequest(f"LoRA {key} could not be applied: {type(exc).__name__}: {exc}") from exc
        self._loaded[key] = (adapter, identity)
        while len(self._loaded) > MAX_LOADED_ADAPTERS:
            self._discard(pipeline, self._loaded.popitem(last=False)[1][0])
        return adapter

    def activate(self, pipeline: Any, weights: dict[str, float]) -> None:
        """Exactly these adapters at these weights; none gives the bare base model."""
        if weights:
            pipeline.enable_lora()
            pipeline.set_adapters(list(weights), adapter_weights=list(weights.values()))
        elif self._loaded:
            pipeline.disable_lora()

    def _keep_precise(self, pipeline: Any, state: dict[str, Any], adapter: str) -> None:
        """Under fp8 storage peft gives a new adapter its base layer's float8 dtype, which would round the
        LoRA and break its matmuls on the CPU: keep the adapter in the compute dtype, values from the file."""
        import torch

        float8 = (torch.float8_e4m3fn, torch.float8_e5m2)
        for key, value in type(pipeline).lora_state_dict(dict(state)).items():
            if not key.endswith((_A, _B)):
                continue
            layer = pipeline.transformer.get_submodule(_layer_name(key))
            factor = (layer.lora_A if key.endswith(_A) else layer.lora_B)[adapter]
            if factor.weight.dtype in float8:
                factor.to(getattr(torch, self._compute_dtype))
                with torch.no_grad():
                    factor.weight.copy_(value)

    @staticmethod
    def _discard(pipeline: Any, adapter: str) -> None:
        loaded = {name for names in pipeline.get_list_adapters().values() for name in names}
        if adapter in loaded:
            pipeline.delete_adapters([adapter])


def read_lora(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return dict(load_file(str(path)))


def make_random_lora(
    transformer: Any, path: Path, *, rank: int = 4, seed: int = 0, scale: float = 0.5, lightx2v: bool = False
) -> Path:
    """A random LoRA over every Linear of the transformer's blocks, written atomically.

    PEFT format (`transformer.<layer>.lora_A/B.weight`) by default; `lightx2v` writes the Lightning files'
    format (`diffusion_model.<layer>.lora_down/up.weight` and `.alpha`). Both factors are random: PEFT
    starts lora_B at zero, which would change nothing.
    """
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, Any] = {}
    for name, layer in transformer.named_modules():
        if not name.startswith("transformer_blocks.") or not isinstance(layer, torch.nn.Linear) or ".lora_" in name:
            continue  # (the last: a loaded adapter's own factors)
        name = name.removesuffix(".base_layer")  # a layer PEFT wrapped when an adapter was loaded: its own name
        down = torch.randn(rank, layer.in_features, generator=generator) * scale / layer.in_features**0.5
        up = torch.randn(layer.out_features, rank, generator=generator) * scale / rank**0.5
        if lightx2v:
            tensors[f"diffusion_model.{name}.lora_down.weight"] = down
            tensors[f"diffusion_model.{name}.lora_up.weight"] = up
            tensors[f"diffusion_model.{name}.alpha"] = torch.tensor(float(rank))
        else:
            tensors[f"transformer.{name}{_A}"] = down
            tensors[f"transformer.{name}{_B}"] = up
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, staging)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return path


def make_tiny_lora(path: Path, *, rank: int = 4, seed: int = 0) -> Path:
    """A random LoRA that fits every tiny model (their transformers share one shape)."""
    from qwen_image_editor.engine.tiny_model import TinyFlavour, build_tiny_transformer

    return make_random_lora(build_tiny_transformer(TinyFlavour.EDIT_2511), path, rank=rank, seed=seed)
