"""Builds a tiny, randomly initialised Qwen-Image-Edit pipeline offline: the real architecture and on-disk
layout at a few megabytes, so every code path around the model runs here without a GPU or a download.

Its outputs are noise. Sizes follow the real checkpoints' geometry where it matters (8x / 16-channel VAE
latents, 2x2 patches, Qwen2.5-VL vision patch 14 / merge 2); only widths and depths shrink. Qwen-Image-2.1's twin
is built in `tiny_model_21`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

TINY_MARKER = "TINY_RANDOM_WEIGHTS.txt"

_SPECIAL_TOKENS = [
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# A byte-level BPE trained on the pipelines' own system prompt: the template prefix then encodes to
# exactly 64 tokens, as with the real Qwen tokenizer (the pipelines drop the first 64 hidden states).
_TOKENIZER_CORPUS = [
    "Describe the key features of the input image (color, shape, size, texture, objects, "
    "background), then explain how the user's text instruction should alter or modify the "
    "image. Generate a new image that meets the user's requirements while maintaining "
    "consistency with the original input where appropriate.",
    "system user assistant Picture 1: 2: 3: make the sky blue, add a red hat, remove the "
    "background, turn it into a watercolor painting, bad quality, blurry",
] * 4
# Qwen-Image's own scheduler config (scheduler/scheduler_config.json of the real checkpoints).
SCHEDULER_CONFIG: dict[str, Any] = {
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "max_image_seq_len": 8192,
    "max_shift": 0.9,
    "shift": 1.0,
    "shift_terminal": 0.02,
    "time_shift_type": "exponential",
    "use_dynamic_shifting": True,
}


class TinyFlavour(StrEnum):
    """Which pipeline family the tiny model mirrors."""

    EDIT = "edit"  # QwenImageEditPipeline, like Qwen/Qwen-Image-Edit: one image
    EDIT_PLUS = "edit-plus"  # QwenImageEditPlusPipeline, like Qwen-Image-Edit-2509: 1-3 images
    EDIT_2511 = "edit-2511"  # EditPlus with the transformer's zero_cond_t, like Qwen-Image-Edit-2511
    QWEN_IMAGE_21 = "2.1"  # QwenImage21Pipeline, like Qwen-Image-2.1: text alone or 1-10 references, RGBA


# The diffusers pipeline class each flavour is saved as (model_index.json's _class_name).
PIPELINE_CLASSES = {
    TinyFlavour.EDIT: "QwenImageEditPipeline",
    TinyFlavour.EDIT_PLUS: "QwenImageEditPlusPipeline",
    TinyFlavour.EDIT_2511: "QwenImageEditPlusPipeline",
    TinyFlavour.QWEN_IMAGE_21: "QwenImage21Pipeline",
}


def build_tokenizer(corpus: Sequence[str] = _TOKENIZER_CORPUS, vocab_size: int = 512) -> Any:
    """A byte-level BPE trained on `corpus`, as a Qwen2 tokenizer with the Qwen-VL special tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(corpus, trainer)
    merges = [tuple(merge) for merge in json.loads(bpe.to_str())["model"]["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=bpe.get_vocab(), merges=merges)  # adds <|endoftext|> = eos/pad/unk
    tokenizer.add_special_tokens({"additional_special_tokens": _SPECIAL_TOKENS})
    return tokenizer


def build_tiny_transformer(flavour: TinyFlavour) -> Any:
    """The tiny transformer with random weights from torch's current seed; the same shape in every flavour."""
    from diffusers import QwenImageTransformer2DModel

    return QwenImageTransformer2DModel(  # real: 60 layers, 24 heads x 128, joint dim 3584
        patch_size=2,
        in_channels=64,  # 4 x the VAE's z_dim: latents are packed 2x2
        out_channels=16,
        num_layers=2,
        attention_head_dim=32,
        num_attention_heads=2,
        joint_attention_dim=32,
        axes_dims_rope=(8, 12, 12),  # must sum to attention_head_dim
        zero_cond_t=flavour is TinyFlavour.EDIT_2511,
    )


def build_tiny_components(flavour: TinyFlavour, seed: int = 0) -> dict[str, Any]:
    """The pipeline's components with random weights, seeded so every build is identical."""
    import torch
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = build_tokenizer()
    token_id = tokenizer.convert_tokens_to_ids
    torch.manual_seed(seed)
    text_encoder = Qwen2_5_VLForConditionalGeneration(
        Qwen2_5_VLConfig(
            text_config={
                "vocab_size": len(tokenizer),
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 1,
                "bos_token_id": None,
                "eos_token_id": tokenizer.eos_token_id,
                "pad_token_id": tokenizer.pad_token_id,
                "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
            },
            vision_config={  # the real patch size 14 and spatial merge 2 are kept
                "depth": 2,
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_heads": 2,
                "out_hidden_size": 32,  # == text hidden size == transformer joint_attention_dim
                "fullatt_block_indexes": [1],
            },
            image_token_id=token_id("<|image_pad|>"),
            video_token_id=token_id("<|video_pad|>"),
            vision_start_token_id=token_id("<|vision_start|>"),
            vision_end_token_id=token_id("<|vision_end|>"),
        )
    ).eval()
    processor = Qwen2VLProcessor(  # pixel limits as in the real Qwen2.5-VL preprocessor_config.json
        image_processor=Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
    )
    torch.manual_seed(seed)
    transformer = build_tiny_transformer(flavour)
    torch.manual_seed(seed)
    vae = AutoencoderKLQwenImage(  # the real 8x spatial, 16-channel latent geometry
        base_dim=8,
        z_dim=16,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 16,
        latents_std=[1.0] * 16,
    )
    return {
        "transformer": transformer,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "processor": processor,
        "scheduler": FlowMatchEulerDiscreteScheduler(**SCHEDULER_CONFIG),
    }


def make_tiny_model(out_dir: Path, flavour: TinyFlavour = TinyFlavour.EDIT_2511, seed: int = 0) -> Path:
    """Write a tiny random-weight pipeline in diffusers layout to `out_dir`, atomically.

    The folder appears complete or not at all: it is built next to its final place and renamed.
    """
    import diffusers

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} exists and is not empty; choose a new folder or remove it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        pipeline = getattr(diffusers, PIPELINE_CLASSES[flavour])(**_components(flavour, seed))
        pipeline.save_pretrained(staging, safe_serialization=True)
        (staging / TINY_MARKER).write_text(
            f"Tiny {flavour.value} pipeline with RANDOM weights (seed {seed}), built offline by "
            "`qie make-tiny-model`.\nIts outputs are noise: it exists to test everything around the model.\n"
        )
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _components(flavour: TinyFlavour, seed: int) -> dict[str, Any]:
    if flavour is TinyFlavour.QWEN_IMAGE_21:  # another architecture, built in its own module
        from qwen_image_editor.engine.tiny_model_21 import build_tiny_21_components

        return build_tiny_21_components(seed)
    return build_tiny_components(flavour, seed)


def is_tiny_model(folder: Path) -> bool:
    return (Path(folder) / TINY_MARKER).is_file()
