"""The tiny, randomly initialised twin of Qwen-Image-2.1 (`QwenImage21Pipeline`), built offline in about a second.

2.1's geometry is kept where the pipeline depends on it: a 16x VAE with 64 RGBA latent channels (so sizes are
multiples of 32), Qwen3-VL's vision patch 16 / merge 2 (one vision token per 2x2 latent tokens, which the
transformer checks), and `causal_condition`, which the prefix KV cache needs. Widths and depths shrink.
"""

from __future__ import annotations

from typing import Any

from qwen_image_editor.engine.tiny_model import SCHEDULER_CONFIG, build_tokenizer

# QwenImage21Pipeline.sys_prompt. The pipeline drops the hidden states of the system message, counted with the
# processor's chat template at construction; the BPE learns these words whole, so the count is small and the
# template's prefix tokenizes the same alone as in the full prompt (tests/test_model_21.py checks it).
SYSTEM_PROMPT = "Comprehend and analyze the provided prompt."
_TOKENIZER_CORPUS = [
    SYSTEM_PROMPT,
    "system user assistant <image1> <image2> <image3> make the sky blue, add a red hat, remove the background, "
    "a cat on a sofa, turn it into a watercolor painting",
] * 4
# Qwen3-VL's chat template, cut down to what the pipeline renders: text and image parts, and the generation prompt.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n"
    "{% if message.content is string %}{{ message.content }}{% else %}{% for part in message.content %}"
    "{% if part.type == 'text' %}{{ part.text }}"
    "{% elif part.type == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_21_components(seed: int = 0) -> dict[str, Any]:
    """QwenImage21Pipeline's components with random weights, seeded so every build is identical."""
    import torch
    from diffusers import AutoencoderKLQwenImage21, FlowMatchEulerDiscreteScheduler, QwenImage21Transformer2DModel
    from transformers import Qwen2VLImageProcessor, Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    tokenizer = build_tokenizer(_TOKENIZER_CORPUS, vocab_size=400)
    token_id = tokenizer.convert_tokens_to_ids
    torch.manual_seed(seed)
    text_encoder = Qwen3VLForConditionalGeneration(  # real (Qwen3-VL-8B): 36 layers, hidden 4096, head_dim 128
        Qwen3VLConfig(
            text_config={
                "vocab_size": len(tokenizer),
                "hidden_size": 32,  # == vision out_hidden_size == transformer context_in_dim
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 1,
                "head_dim": 16,
                "pad_token_id": tokenizer.pad_token_id,
                # mrope_section sums to head_dim / 2, interleaved as in Qwen3-VL
                "rope_parameters": {
                    "rope_type": "default",
                    "rope_theta": 5e6,
                    "mrope_section": [2, 3, 3],
                    "mrope_interleaved": True,
                },
            },
            vision_config={  # the real patch 16, spatial merge 2 and temporal patch 2 are kept
                "depth": 2,
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_heads": 2,
                "out_hidden_size": 32,
                "num_position_embeddings": 64,  # a square grid, interpolated to the image's
                "deepstack_visual_indexes": [0],
            },
            image_token_id=token_id("<|image_pad|>"),
            video_token_id=token_id("<|video_pad|>"),
            vision_start_token_id=token_id("<|vision_start|>"),
            vision_end_token_id=token_id("<|vision_end|>"),
        )
    ).eval()
    processor = Qwen3VLProcessor(  # the real Qwen3-VL preprocessor_config.json's values
        image_processor=Qwen2VLImageProcessor(
            patch_size=16,
            merge_size=2,
            temporal_patch_size=2,
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
            size={"shortest_edge": 65536, "longest_edge": 16777216},
        ),
        tokenizer=tokenizer,
        video_processor=Qwen3VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )
    torch.manual_seed(seed)
    transformer = QwenImage21Transformer2DModel(  # real: 32 layers, 32 heads x 128, context 4096
        patch_size=1,  # latents go in unpatched: one token per 16x16 pixels
        in_channels=64,
        out_channels=64,
        num_layers=2,
        attention_head_dim=32,
        num_attention_heads=2,
        context_in_dim=32,
        mlp_ratio=3,
        axes_dims_rope=(8, 12, 12),  # must sum to attention_head_dim
        causal_condition=True,  # the prefix KV cache (use_kv_cache) needs it
    )
    torch.manual_seed(seed)
    vae = AutoencoderKLQwenImage21(  # RGBA in and out, 16x spatial (five levels), 64 channels, the real mean/std
        base_dim=8,
        decoder_base_dim=8,
        z_dim=64,
        dim_mult=[1, 2, 2, 2, 2],
        num_res_blocks=1,
        temperal_downsample=[False, True, True, True],
    )
    return {
        "transformer": transformer,
        "vae": vae,
        "text_encoder": text_encoder,
        "processor": processor,
        "scheduler": FlowMatchEulerDiscreteScheduler(**SCHEDULER_CONFIG),
    }
