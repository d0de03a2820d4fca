"""Everything about the model and nothing about jobs: load a pipeline once, run one edit at a time.

torch, diffusers and transformers are imported inside the functions that use them: importing them costs
seconds, and `qie --help`, the API's start-up and the fake engine should not pay for it."""

from qwen_image_editor.engine.base import EditEngine, EditResult, ModelState, StepProgress

__all__ = ["EditEngine", "EditResult", "ModelState", "StepProgress"]
