"""Where a model's weights are before the pipeline loads them: their folder or Hugging Face id, the pipeline family
their model_index.json names (no weights read, nothing downloaded), and what to do when they cannot be had."""

from __future__ import annotations

import json
from pathlib import Path

from qwen_image_editor.engine.families import FAMILY_BY_CLASS, PipelineFamily
from qwen_image_editor.engine.models import TINY_NAMES, ModelSource, ModelSourceKind, ensure_tiny_model
from qwen_image_editor.engine.tiny_model import PIPELINE_CLASSES
from qwen_image_editor.errors import ModelUnavailable


def locate_weights(source: ModelSource) -> str:
    """What `from_pretrained` loads: the tiny model's folder (built on first use), a local folder, or a hub id."""
    if source.kind is ModelSourceKind.TINY:
        return str(ensure_tiny_model(source))
    if source.kind is ModelSourceKind.LOCAL:
        folder = Path(source.location)
        if not (folder / "model_index.json").is_file():
            raise ModelUnavailable(
                f"{folder} is not a diffusers model folder (no model_index.json). Point --model at a "
                "folder saved with save_pretrained, a Hugging Face id, or `tiny`."
            )
    return source.location


def family_on_disk(source: ModelSource, cache_dir: Path | None) -> PipelineFamily | None:
    """The family model_index.json names, where that file is on disk already (no weights, no download)."""
    if source.kind is ModelSourceKind.TINY:
        return FAMILY_BY_CLASS.get(PIPELINE_CLASSES[TINY_NAMES[source.name]])
    if source.kind is ModelSourceKind.LOCAL:
        index: str | Path | None = Path(source.location) / "model_index.json"
    else:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(source.location, "model_index.json", cache_dir=cache_dir)
        index = found if isinstance(found, str) else None
    try:
        class_name = json.loads(Path(index).read_text())["_class_name"] if index else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return FAMILY_BY_CLASS.get(class_name) if isinstance(class_name, str) else None


def explain_load_failure(source: ModelSource, cache_dir: Path | None, exc: Exception) -> str:
    if source.kind is not ModelSourceKind.HUB:
        return f"loading {source.name} from {source.location} failed: {exc}"
    from huggingface_hub import constants

    cache = cache_dir or Path(constants.HF_HUB_CACHE)
    return (
        f"The weights of {source.name} are not in the Hugging Face cache ({cache}) and could not be "
        f"downloaded ({type(exc).__name__}). Fix: on a machine with internet access run "
        f"`hf download {source.name}` with HF_HOME pointing at this cache, or set QIE_MODEL / --model "
        "to a local diffusers folder, or use --model tiny for the random-weight demo."
    )
