"""The component configs of the released Qwen-Image-Edit and Qwen-Image-2.1 checkpoints, as small public facts.

The weights cannot be downloaded here, but their shapes are known: memory estimates and the full-size GPU
benchmark build these configs on the meta device (no memory) instead of guessing sizes.
"""

from __future__ import annotations

from typing import Any

EDIT = "Qwen/Qwen-Image-Edit"
EDIT_2509 = "Qwen/Qwen-Image-Edit-2509"
EDIT_2511 = "Qwen/Qwen-Image-Edit-2511"
IMAGE_21 = "Qwen/Qwen-Image-2.1"

# QwenImageTransformer2DModel's class defaults (diffusers 0.42) are the released Edit transformer: 60 blocks,
# 24 heads x 128, joint dim 3584. 2511 differs only in zero_cond_t, which adds no parameters. 2.1's is
# QwenImage21Transformer2DModel's class defaults: 32 single-stream blocks, 32 heads x 128, context 4096, mlp x3,
# causal_condition (7.12 B parameters).
TRANSFORMER: dict[str, dict[str, Any]] = {EDIT: {}, EDIT_2509: {}, EDIT_2511: {"zero_cond_t": True}, IMAGE_21: {}}

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

# AutoencoderKLQwenImage21's class defaults are 2.1's VAE: 64 latent channels, 16x spatial, RGBA (0.34 B).
VAE_21: dict[str, Any] = {}

# Qwen3-VL-8B-Instruct, 2.1's text encoder (Qwen3VLConfig's own defaults count 12.6 B: not it), as its published
# config.json has it. Sources: the GGUF metadata of ollama.com/library/qwen3-vl:8b-instruct-bf16 (embedding 4096,
# feed-forward 12288, 36 blocks, 32 heads / 8 KV heads x 128; vision: 27 blocks of 1152, 16 heads, patch 16, merge 2,
# deepstack [8, 16, 24]), a copy of the config.json (huggingface.co/Steinate/Cortex/blob/main/config.json: the same
# text config, vocab 151936, tie_word_embeddings false) and public ports quoting the vision MLP (4304) and
# out_hidden_size (4096). Built on the meta device it counts 8,767,123,696 parameters, vision 576,388,336: the
# 8.767 B and 576.4 M that huggingface.co/OpenExplorer/Qwen3-VL-8B-Instruct counts from the checkpoint's tensors.
TEXT_ENCODER_21: dict[str, Any] = {
    "text_config": {
        "hidden_size": 4096,
        "intermediate_size": 12288,
        "num_hidden_layers": 36,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "vocab_size": 151936,
        "tie_word_embeddings": False,
    },
    "vision_config": {
        "depth": 27,
        "hidden_size": 1152,
        "intermediate_size": 4304,
        "num_heads": 16,
        "out_hidden_size": 4096,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [8, 16, 24],
    },
    "tie_word_embeddings": False,
}

# Which text encoder and VAE each release has.
TEXT_ENCODERS = {EDIT: TEXT_ENCODER, EDIT_2509: TEXT_ENCODER, EDIT_2511: TEXT_ENCODER, IMAGE_21: TEXT_ENCODER_21}
VAES = {EDIT: VAE, EDIT_2509: VAE, EDIT_2511: VAE, IMAGE_21: VAE_21}

# Each release's component classes, as its config.json files name them (`_class_name`, `architectures`).
_EDIT_CLASSES = {
    "transformer": "QwenImageTransformer2DModel",
    "text_encoder": "Qwen2_5_VLForConditionalGeneration",
    "vae": "AutoencoderKLQwenImage",
}
CLASSES: dict[str, dict[str, str]] = {
    EDIT: _EDIT_CLASSES,
    EDIT_2509: _EDIT_CLASSES,
    EDIT_2511: _EDIT_CLASSES,
    IMAGE_21: {
        "transformer": "QwenImage21Transformer2DModel",
        "text_encoder": "Qwen3VLForConditionalGeneration",
        "vae": "AutoencoderKLQwenImage21",
    },
}

# The pipeline class of each release (from its model_index.json).
PIPELINE_CLASS = {
    EDIT: "QwenImageEditPipeline",
    EDIT_2509: "QwenImageEditPlusPipeline",
    EDIT_2511: "QwenImageEditPlusPipeline",
    IMAGE_21: "QwenImage21Pipeline",
}


def component_configs(model_id: str) -> dict[str, dict[str, Any]]:
    """A release's three component configs as its `*/config.json` files hold them: with their class names."""
    classes = CLASSES[model_id]
    return {
        "transformer": {"_class_name": classes["transformer"], **TRANSFORMER[model_id]},
        "text_encoder": {"architectures": [classes["text_encoder"]], **TEXT_ENCODERS[model_id]},
        "vae": {"_class_name": classes["vae"], **VAES[model_id]},
    }
