"""What a model's components weigh, counted exactly by building their configs on the meta device.

Configs come from the model's own folder (or the Hugging Face cache), else from the published configs of
the releases (`published_configs.py`): nothing is downloaded and nothing is guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from qwen_image_editor.engine import published_configs as published
from qwen_image_editor.engine.models import ModelSource, ModelSourceKind, ensure_tiny_model

_COMPONENTS = ("transformer", "text_encoder", "vae")


@dataclass(frozen=True)
class ComponentSize:
    """Parameter counts of one component, split the ways the memory plans treat them."""

    params: int
    castable: int  # in Linear/Conv layers that layerwise fp8 casting stores in float8
    quantizable: int  # in Linear layers that 4-bit loading quantizes (not the LM head)
    largest_leaf: int  # the largest single layer: what leaf-level streaming keeps on the GPU (x2 prefetched)
    largest_linear: int  # the largest Linear: upcast one at a time under fp8 storage
    width: int  # the hidden width activations scale with
    vocab: int = 0  # text encoder only: the logits row
    # Transformer only: values its prefix KV cache keeps per text and reference token (keys and values of every
    # block), 0 where it keeps none. Qwen-Image-2.1's (causal_condition) keeps them from the first step to the last.
    cached_per_token: int = 0


@dataclass(frozen=True)
class ModelSize:
    transformer: ComponentSize
    text_encoder: ComponentSize
    vae: ComponentSize
    source: str  # where the configs came from, for people
    transformer_class: str = "QwenImageTransformer2DModel"  # which family's pipeline runs it (memory.WORKLOADS)

    @property
    def params(self) -> int:
        return self.transformer.params + self.text_encoder.params + self.vae.params


def model_size(source: ModelSource, cache_dir: Path | None = None) -> ModelSize:
    configs, where = component_configs(source, cache_dir)
    return ModelSize(
        transformer=_count("transformer", json.dumps(configs["transformer"], sort_keys=True)),
        text_encoder=_count("text_encoder", json.dumps(configs["text_encoder"], sort_keys=True)),
        vae=_count("vae", json.dumps(configs["vae"], sort_keys=True)),
        source=where,
        transformer_class=class_name("transformer", configs["transformer"]),
    )


def component_configs(source: ModelSource, cache_dir: Path | None) -> tuple[dict[str, dict[str, Any]], str]:
    """The three component configs and a note on where they came from."""
    if source.kind is ModelSourceKind.TINY:
        folder = ensure_tiny_model(source)
        return _read_folder(folder), f"{folder}/*/config.json"
    if source.kind is ModelSourceKind.LOCAL:
        return _read_folder(Path(source.location)), f"{source.location}/*/config.json"
    cached = _read_cache(source.location, cache_dir)
    if cached is not None:
        return cached, f"the cached configs of {source.location}"
    known = source.location if source.location in published.TRANSFORMER else published.EDIT_2511
    configs = published.component_configs(known)
    note = "" if known == source.location else f" (assumed: {source.location} is not cached)"
    return configs, f"the published configs of {known}{note}"


def _read_folder(folder: Path) -> dict[str, dict[str, Any]]:
    configs = {}
    for part in _COMPONENTS:
        path = folder / part / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; {folder} is not a complete diffusers model folder")
        configs[part] = json.loads(path.read_text())
    return configs


def _read_cache(repo_id: str, cache_dir: Path | None) -> dict[str, dict[str, Any]] | None:
    from huggingface_hub import try_to_load_from_cache

    configs = {}
    for part in _COMPONENTS:
        found = try_to_load_from_cache(repo_id, f"{part}/config.json", cache_dir=cache_dir)
        if not isinstance(found, str):
            return None
        configs[part] = json.loads(Path(found).read_text())
    return configs


@lru_cache(maxsize=16)
def _count(part: str, config_json: str) -> ComponentSize:
    """Build the component on the meta device (exact shapes, no memory) and count its parameters."""
    from accelerate import init_empty_weights

    config = json.loads(config_json)
    with init_empty_weights():
        module, width, vocab, skip, cached = _build(part, config)
    return _measure(module, width, vocab, skip, cached)


# The component classes the releases use (a config that names none is an Edit release's).
_KNOWN_CLASSES = {
    part: tuple(dict.fromkeys(classes[part] for classes in published.CLASSES.values())) for part in _COMPONENTS
}


def class_name(part: str, config: dict[str, Any]) -> str:
    """The class a component's config.json names (diffusers' `_class_name`, transformers' `architectures`)."""
    named = config.get("_class_name") or (config.get("architectures") or [None])[0]
    if named is None:
        return published.CLASSES[published.EDIT_2511][part]
    if named not in _KNOWN_CLASSES[part]:
        raise ValueError(f"the {part} is a {named}; memory plans know {', '.join(_KNOWN_CLASSES[part])}")
    return str(named)


def _build(part: str, config: dict[str, Any]) -> tuple[Any, int, int, tuple[str, ...], int]:
    import diffusers
    import transformers

    name = class_name(part, config)
    if part == "transformer":
        cls = getattr(diffusers, name)
        model = cls.from_config(config)
        width = model.config.num_attention_heads * model.config.attention_head_dim
        # 2.1 keeps the keys and values of the text and reference tokens of every block (use_kv_cache, which its
        # causal_condition allows) for the whole run.
        cached = 2 * model.config.num_layers * width if model.config.get("causal_condition", False) else 0
        return model, width, 0, tuple(cls._skip_layerwise_casting_patterns or ()), cached
    if part == "text_encoder":
        cls = getattr(transformers, name)
        te_config = cls.config_class.from_dict(config)
        model = cls(te_config)
        return model, te_config.text_config.hidden_size, te_config.text_config.vocab_size, (), 0
    vae = getattr(diffusers, name).from_config(config)
    # The widest full-resolution activations: 2.1's decoder is wider than its encoder.
    width = max(vae.config.base_dim, vae.config.get("decoder_base_dim") or 0)
    return vae, width, 0, (), 0


def _measure(module: Any, width: int, vocab: int, skip: tuple[str, ...], cached: int) -> ComponentSize:
    import torch

    params = castable = quantizable = largest_leaf = largest_linear = 0
    for name, layer in module.named_modules():
        own = sum(p.numel() for p in layer.parameters(recurse=False))
        params += own
        if not any(True for _ in layer.children()):
            largest_leaf = max(largest_leaf, own)
        if isinstance(layer, torch.nn.Linear | torch.nn.Conv2d | torch.nn.Conv3d) and not any(s in name for s in skip):
            castable += own
        if isinstance(layer, torch.nn.Linear):
            largest_linear = max(largest_linear, own)
            if not name.endswith("lm_head"):  # 4-bit loading keeps the output embedding in bf16
                quantizable += own
    return ComponentSize(params, castable, quantizable, largest_leaf, largest_linear, width, vocab, cached)
