"""The derived floor of a denoising step: its FLOPs from the transformer's parameter counts and the run's token
counts, over the card's measured matmul rate. A step can't run faster than that, so measured / floor says how much
of the card a plan leaves unused (GPU_NOTES.md: real runs reach ~35-55% of peak, i.e. ~2-3x the floor).

Only the layers that run once per token count: the modulation and timestep layers run once per sample (in the Edit
transformer they hold a third of its 20.4 B parameters), so `2 x parameters x tokens` would overstate the work ~2x.
The Edit transformer is dual-stream (its `txt_*`/`add_*` layers run on the text tokens, the rest on the image
tokens); 2.1's is single-stream, and with its prefix KV cache later steps run only the target's tokens through its
layers, attending to every token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

TOKEN_PIXELS = 16 * 16  # one transformer token per 16x16 pixels (Edit: 8x VAE and 2x2 patches; 2.1: 16x VAE)
# Layers run once per sample (on the timestep embedding), not per token: left out of the per-token FLOPs.
PER_SAMPLE = ("_mod.", "modulation", "time_text_embed", "norm_out")
# The Edit transformer's text-stream layers; everything else per token runs on the image tokens.
TEXT_STREAM = ("txt_mlp", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")
TEXT_INPUT = "txt_in"  # the projection of the text encoder's states: text tokens only, in both families


@dataclass(frozen=True)
class TransformerShape:
    """What a transformer pass costs per token: parameters of the layers each token goes through, and attention."""

    image_params: int  # per-token parameters of the image stream (single-stream: of every token)
    text_params: int  # per-token parameters only the text tokens go through (Edit's text stream; 2.1's txt_in)
    layers: int
    width: int  # heads x head dim: the attention's width
    single_stream: bool


@dataclass(frozen=True)
class Tokens:
    target: int  # the output image's tokens
    references: int  # every reference image's tokens
    text: int  # the prompt's tokens as the transformer sees them

    @property
    def total(self) -> int:
        return self.target + self.references + self.text


def tokens_of(pixels: int) -> int:
    return pixels // TOKEN_PIXELS


def transformer_shape(transformer: Any) -> TransformerShape:
    """Counted from the module's own Linear layers (any device, the meta device too)."""
    import torch

    image = text = 0
    single = True  # until a block's text-stream layer turns up
    for name, layer in transformer.named_modules():
        if not isinstance(layer, torch.nn.Linear) or any(part in name for part in PER_SAMPLE):
            continue
        count = sum(p.numel() for p in layer.parameters(recurse=False))
        if any(part in name for part in TEXT_STREAM):
            text += count
            single = False
        elif name.startswith(TEXT_INPUT):
            text += count
        else:
            image += count
    config = transformer.config
    return TransformerShape(
        image_params=image,
        text_params=text,
        layers=int(config.num_layers),
        width=int(config.num_attention_heads) * int(config.attention_head_dim),
        single_stream=single,
    )


def pass_flops(shape: TransformerShape, tokens: Tokens, *, kv_cached: bool = False) -> float:
    """One transformer pass: 2 FLOPs per parameter per token through each Linear, and attention's QK^T and PV
    (2 x 2 x queries x keys x width per layer). `kv_cached`: 2.1's later steps, only the target's tokens run."""
    image_tokens = tokens.target if kv_cached else tokens.target + tokens.references
    text_tokens = 0 if kv_cached else tokens.text
    if shape.single_stream:
        linear = 2 * shape.image_params * (image_tokens + text_tokens) + 2 * shape.text_params * text_tokens
    else:
        linear = 2 * shape.image_params * image_tokens + 2 * shape.text_params * text_tokens
    attention = 4 * shape.layers * (image_tokens + text_tokens) * tokens.total * shape.width
    return float(linear + attention)


def step_flops(shape: TransformerShape, tokens: Tokens, *, passes: int, kv_cached: bool = False) -> float:
    """A denoising step: `passes` transformer passes (2 with true CFG, 1 without)."""
    return passes * pass_flops(shape, tokens, kv_cached=kv_cached)


def floor_seconds(flops: float, flops_per_second: float) -> float:
    return flops / flops_per_second


def matmul_rate(device: str, dtype: Any, size: int, repeats: int = 10) -> float:
    """FLOP/s of a square matmul on the device, in the dtype the engine computes in there (best of `repeats`)."""
    import torch

    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(3):  # warm-up: cuBLAS picks its kernel, the clocks rise
        a @ b
    sync()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best
