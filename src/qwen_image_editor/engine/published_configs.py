"""The component configs of the released Qwen-Image-Edit checkpoints, as small public facts.

The weights cannot be downloaded here, but their shapes are known: memory estimates and the full-size GPU
benchmark build these configs on the meta device (no memory) instead of guessing sizes.
"""

from __future__ import annotations

from typing import Any

EDIT = "Qwen/Qwen-Image-Edit"
EDIT_2509 = "Qwen/Qwen-Image-Edit-2509"
EDIT_2511 = "Qwen/Qwen-Image-Edit-2511"
IMAGE_21 = "Qwen/Qwen-Image-2.1"

# QwenImageTransformer2DModel's class defaults (diffusers 0.42) are the released transformer: 60 blocks,
# 24 heads x 128, joint dim 3584. 2511 differs only in zero_cond_t, which adds no parameters.
TRANSFORMER: dict[str, dict[str, Any]] = {EDIT: {}, EDIT_2509: {}, EDIT_2511: {"zero_cond_t": True}}

# AutoencoderKLQwenImage's class defaults are the released VAE (Wan-2.1 style, 16 latent channels).
VAE: dict[str, Any] = {}

# Qwen2.5-VL-7B as the pipelines use it; Qwen2_5_VLConfig's own defaults are a far larger model.
TEXT_ENCODER: dict[str, Any] = {
    "text_config": {
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "tie_word_embeddings": False,
    },
    "vision_config": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 3584,
    },
    "tie_word_embeddings": False,
}

# The pipeline class of each release (from its model_index.json).
PIPELINE_CLASS = {
    EDIT: "QwenImageEditPipeline",
    EDIT_2509: "QwenImageEditPlusPipeline",
    EDIT_2511: "QwenImageEditPlusPipeline",
    IMAGE_21: "QwenImage21Pipeline",
}
