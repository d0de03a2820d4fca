"""Which model a name means: a Hugging Face id, a local diffusers folder, or the tiny offline demo."""

from __future__ import annotations

import fcntl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from qwen_image_editor.engine.tiny_model import TinyFlavour, is_tiny_model, make_tiny_model
from qwen_image_editor.settings import DEFAULT_MODEL

# `tiny` mirrors the default model (2511); the others mirror the older checkpoints and Qwen-Image-2.1.
TINY_NAMES = {
    "tiny": TinyFlavour.EDIT_2511,
    "tiny-2509": TinyFlavour.EDIT_PLUS,
    "tiny-edit": TinyFlavour.EDIT,
    "tiny-2.1": TinyFlavour.QWEN_IMAGE_21,
}


class ModelSourceKind(StrEnum):
    HUB = "hub"  # a Hugging Face repo id, loaded through the HF cache
    LOCAL = "local"  # a folder in diffusers layout
    TINY = "tiny"  # built offline into the data directory on first use


@dataclass(frozen=True)
class ModelSource:
    name: str  # as the user wrote it (after `auto` is resolved)
    kind: ModelSourceKind
    location: str  # repo id or folder path

    @property
    def is_demo(self) -> bool:
        return self.kind is ModelSourceKind.TINY or (
            self.kind is ModelSourceKind.LOCAL and is_tiny_model(Path(self.location))
        )


def resolve_auto(model: str, has_cuda: bool) -> str:
    """`auto` means the real default model on a CUDA machine and the tiny demo everywhere else."""
    if model != "auto":
        return model
    return DEFAULT_MODEL if has_cuda else "tiny"


def resolve_model(model: str, models_dir: Path) -> ModelSource:
    if model in TINY_NAMES:
        return ModelSource(model, ModelSourceKind.TINY, str(models_dir / model))
    path = Path(model).expanduser()
    if path.is_dir() or model.startswith((".", "/", "~")):
        return ModelSource(model, ModelSourceKind.LOCAL, str(path))
    return ModelSource(model, ModelSourceKind.HUB, model)


def ensure_tiny_model(source: ModelSource) -> Path:
    """Build the tiny model on first use; a file lock keeps two processes from building it at once."""
    folder = Path(source.location)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "model_index.json").is_file():
            make_tiny_model(folder, TINY_NAMES[source.name])
    return folder
