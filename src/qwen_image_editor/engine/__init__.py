"""Everything about the model and nothing about jobs: load a pipeline once, run one edit at a time."""

from qwen_image_editor.engine.base import EditEngine, EditResult, ModelState, StepProgress

__all__ = ["EditEngine", "EditResult", "ModelState", "StepProgress"]
