"""What a configured model can do: its family, from its name or its folder, without loading it. An API node
that never loads the weights validates requests against the same capabilities as the worker that runs them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from qwen_image_editor.engine.models import TINY_NAMES, ModelSourceKind, resolve_auto, resolve_model
from qwen_image_editor.engine.published_configs import EDIT, EDIT_2509, EDIT_2511, IMAGE_21
from qwen_image_editor.engine.tiny_model import TinyFlavour
from qwen_image_editor.model_families import DEFAULT_FAMILY, FAMILIES, Capabilities, ModelFamily

log = logging.getLogger(__name__)

# The timed stand-ins for tests and benchmarks of everything around the model, one per family they act as.
FAKE_MODELS = {"fake": ModelFamily.EDIT_2511, "fake-2.1": ModelFamily.IMAGE_21}
_PUBLISHED = {
    EDIT: ModelFamily.EDIT,
    EDIT_2509: ModelFamily.EDIT_2509,
    EDIT_2511: ModelFamily.EDIT_2511,
    IMAGE_21: ModelFamily.IMAGE_21,
}
_TINY = {
    TinyFlavour.EDIT: ModelFamily.EDIT,
    TinyFlavour.EDIT_PLUS: ModelFamily.EDIT_2509,
    TinyFlavour.EDIT_2511: ModelFamily.EDIT_2511,
    TinyFlavour.QWEN_IMAGE_21: ModelFamily.IMAGE_21,
}


def capabilities_of(model: str, models_dir: Path) -> Capabilities:
    """`model` as the settings name it: `auto`, a fake, a tiny twin, a published id, or a folder in diffusers
    layout."""
    return FAMILIES[family_of(model, models_dir)]


def family_of(model: str, models_dir: Path) -> ModelFamily:
    model = resolve_auto(model, has_cuda=False)  # `auto` is the default model or its tiny twin: one family
    if model in FAKE_MODELS:
        return FAKE_MODELS[model]
    source = resolve_model(model, models_dir)
    if source.kind is ModelSourceKind.TINY:
        return _TINY[TINY_NAMES[model]]
    if source.location in _PUBLISHED:
        return _PUBLISHED[source.location]
    if source.kind is ModelSourceKind.LOCAL and (Path(source.location) / "model_index.json").is_file():
        return family_of_folder(Path(source.location))
    log.warning(
        "cannot tell which model family %s is without its files; taking it for %s (its requests are checked "
        "against that family's limits)",
        model,
        FAMILIES[DEFAULT_FAMILY].name,
    )
    return DEFAULT_FAMILY


def family_of_folder(folder: Path) -> ModelFamily:
    """From the pipeline class in `model_index.json` (and 2511's transformer flag, its one difference)."""
    pipeline = json.loads((folder / "model_index.json").read_text()).get("_class_name", "")
    if pipeline == "QwenImage21Pipeline":
        return ModelFamily.IMAGE_21
    if pipeline == "QwenImageEditPipeline":
        return ModelFamily.EDIT
    if pipeline == "QwenImageEditPlusPipeline":
        config = folder / "transformer" / "config.json"
        zero_cond_t = config.is_file() and bool(json.loads(config.read_text()).get("zero_cond_t", False))
        return ModelFamily.EDIT_2511 if zero_cond_t else ModelFamily.EDIT_2509
    log.warning("%s holds a %s, not a Qwen image pipeline this service knows; taking it for 2511", folder, pipeline)
    return DEFAULT_FAMILY
