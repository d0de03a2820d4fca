"""Memory plans: how the model sits on the GPU, each plan's estimated peak, and what `auto` picks.

Peaks are weights from the real parameter counts (`model_size.py`) plus activations from the shapes of
a ~1 MP edit with 3 reference images (and, for Qwen-Image-2.1, the prefix KV cache it keeps of them). Sizes are in
GB of 10^9 bytes, as GPU makers and GPU_NOTES.md count.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass

from qwen_image_editor.engine import published_configs as published
from qwen_image_editor.engine.families import QWEN_IMAGE_21_RESOLUTION
from qwen_image_editor.engine.memory_plans import MemoryPlan as MemoryPlan  # re-exported: its old home
from qwen_image_editor.engine.model_size import ModelSize

GB = 1e9
BF16 = 2  # bytes per parameter
FP8 = 1
NF4_BITS = 4.5  # 4-bit codes plus one float32 absmax per 64 weights
# Weights and activations must fit in this share of the free memory; the rest absorbs the allocator's
# fragmentation and its cached blocks.
USABLE_SHARE = 0.92
OVERHEAD_BYTES = 0.5 * GB  # cuBLAS workspaces, RNG state, pipeline tensors
ACTIVATION_COPIES = 12  # tensors of the hidden width alive at once inside one block (qkv, rope, 4x MLP, ...)
TOKEN_PIXELS = 16 * 16  # one latent token per 16x16 pixels (Edit: 8x VAE, 2x2 patches; 2.1: 16x VAE, unpatched)


PREFERENCE = (MemoryPlan.FULL, MemoryPlan.FP8, MemoryPlan.OFFLOAD, MemoryPlan.GGUF, MemoryPlan.NF4, MemoryPlan.LOW)
CUDA_ONLY = frozenset({MemoryPlan.OFFLOAD, MemoryPlan.NF4, MemoryPlan.LOW})
BITSANDBYTES_HINT = "pip install bitsandbytes (CUDA only; not a dependency of this package)"


@dataclass(frozen=True)
class Workload:
    """The edit the margin is sized for: the largest the service accepts at its default sizes."""

    output_megapixels: float = 1.0
    reference_images: int = 3
    reference_megapixels: float = 1.0  # EditPlus VAE-encodes every reference at ~1 MP
    text_tokens_per_image: int = 200  # each reference is shown to the text encoder at 384x384
    prompt_tokens: int = 300
    # The Edit transformers read the text encoder's states of the references' vision tokens as text; 2.1's puts
    # each reference's latents in their places instead (2x2 latent tokens per vision token).
    vision_tokens_in_transformer: bool = True


# Qwen-Image-2.1 shows each reference to Qwen3-VL at the size it draws at (output_resolution squared), one vision
# token per 32x32 pixels (patch 16, merge 2), and keeps the keys and values of the text and reference tokens of
# every block from the first step to the last. Sized like the Edit models for 3 references; it takes up to 10, and
# each further one adds ~2.6 GB to every plan (2.2 GB of it its KV cache).
_PIXELS_21 = QWEN_IMAGE_21_RESOLUTION**2
_VISION_21 = published.TEXT_ENCODER_21["vision_config"]
WORKLOAD_21 = Workload(
    output_megapixels=_PIXELS_21 / 1e6,
    reference_megapixels=_PIXELS_21 / 1e6,
    text_tokens_per_image=_PIXELS_21 // (_VISION_21["patch_size"] * _VISION_21["spatial_merge_size"]) ** 2,
    vision_tokens_in_transformer=False,
)
# The workload of each family's pipeline, by its transformer class (any other: the Edit models').
WORKLOADS = {published.CLASSES[published.IMAGE_21]["transformer"]: WORKLOAD_21}


def workload_for(size: ModelSize) -> Workload:
    return WORKLOADS.get(size.transformer_class, Workload())


@dataclass(frozen=True)
class PlanEstimate:
    plan: MemoryPlan
    peak_gb: float
    available: bool
    note: str = ""  # what the plan needs when it is not available


@dataclass(frozen=True)
class PlanChoice:
    plan: MemoryPlan
    peak_gb: float
    reason: str
    estimates: tuple[PlanEstimate, ...]


@dataclass(frozen=True)
class Activations:
    text_encoder: float
    transformer: float
    vae: float

    @property
    def largest(self) -> float:
        return max(self.text_encoder, self.transformer, self.vae)


def activations(size: ModelSize, work: Workload | None = None) -> Activations:
    """Bytes of the largest activations of each phase (flash/SDPA attention: linear in the tokens), with the
    transformer's prefix KV cache where it keeps one. `work`: the model's own workload unless given."""
    work = work or workload_for(size)
    pixels = work.output_megapixels * 1e6
    reference_tokens = work.reference_images * work.reference_megapixels * 1e6 / TOKEN_PIXELS
    image_tokens = pixels / TOKEN_PIXELS + reference_tokens
    encoder_tokens = work.prompt_tokens + work.reference_images * work.text_tokens_per_image
    text_tokens = encoder_tokens if work.vision_tokens_in_transformer else work.prompt_tokens
    te, t = size.text_encoder, size.transformer
    kv_cache = (text_tokens + reference_tokens) * t.cached_per_token * BF16
    return Activations(
        text_encoder=encoder_tokens * (te.width * BF16 * ACTIVATION_COPIES + te.vocab * BF16),
        transformer=(image_tokens + text_tokens) * t.width * BF16 * ACTIVATION_COPIES + kv_cache,
        vae=max(pixels, work.reference_megapixels * 1e6) * size.vae.width * BF16 * ACTIVATION_COPIES,
    )


def estimate_peak(
    plan: MemoryPlan, size: ModelSize, work: Workload | None = None, *, gguf_bytes: int | None = None
) -> float:
    """A plan's peak GPU memory in GB for this model and workload."""
    t, te, vae = size.transformer, size.text_encoder, size.vae
    act = activations(size, work)
    all_bf16 = (t.params + te.params + vae.params) * BF16
    if plan is MemoryPlan.FULL:
        peak = all_bf16 + act.largest
    elif plan is MemoryPlan.FP8:
        saved = t.castable * (BF16 - FP8)
        peak = all_bf16 - saved + t.largest_linear * BF16 + act.largest
    elif plan is MemoryPlan.OFFLOAD:
        peak = _taking_turns(size, act, t.params * BF16)
    elif plan is MemoryPlan.GGUF:
        peak = _taking_turns(size, act, gguf_bytes if gguf_bytes is not None else t.params * BF16)
    elif plan is MemoryPlan.NF4:
        peak = _nf4_bytes(t.params, t.quantizable) + _nf4_bytes(te.params, te.quantizable)
        peak += vae.params * BF16 + act.largest
    elif plan is MemoryPlan.LOW:  # two layers on the GPU at a time: the one running and the one arriving
        peak = max(
            2 * te.largest_leaf * BF16 + act.text_encoder,
            2 * t.largest_leaf * BF16 + act.transformer,
            vae.params * BF16 + act.vae,
        )
    else:
        raise ValueError(f"{plan} is not a concrete plan")
    return (peak + OVERHEAD_BYTES) / GB


def _taking_turns(size: ModelSize, act: Activations, transformer_bytes: float) -> float:
    return max(
        size.text_encoder.params * BF16 + act.text_encoder,
        transformer_bytes + act.transformer,
        size.vae.params * BF16 + act.vae,
    )


def _nf4_bytes(params: int, quantizable: int) -> float:
    return (params - quantizable) * BF16 + quantizable * NF4_BITS / 8


def estimate_plans(
    size: ModelSize,
    work: Workload | None = None,
    *,
    gguf_bytes: int | None = None,
    bitsandbytes: bool | None = None,
) -> tuple[PlanEstimate, ...]:
    """Every concrete plan's estimate, and whether it can run here (its library, its file)."""
    has_bnb = bitsandbytes_installed() if bitsandbytes is None else bitsandbytes
    estimates = []
    for plan in PREFERENCE:
        note = ""
        if plan is MemoryPlan.GGUF and gguf_bytes is None:
            note = "set QIE_GGUF to a GGUF file of the transformer"
        elif plan is MemoryPlan.NF4 and not has_bnb:
            note = BITSANDBYTES_HINT
        peak = estimate_peak(plan, size, work, gguf_bytes=gguf_bytes)
        estimates.append(PlanEstimate(plan, round(peak, 1), available=not note, note=note))
    return tuple(estimates)


def _why_not(estimate: PlanEstimate, usable: float) -> str:
    """Why a faster plan was passed over: "would fit" only where its estimate does fit, so that a small card is
    not sent to install a library (or find a file) for a plan that would not fit it anyway."""
    if estimate.available:
        return f"{estimate.plan} needs {estimate.peak_gb:.1f} GB"
    if estimate.peak_gb <= usable:
        return f"{estimate.plan} would fit but needs: {estimate.note}"
    return f"{estimate.plan} needs {estimate.peak_gb:.1f} GB (and: {estimate.note})"


def choose_plan(estimates: Sequence[PlanEstimate], free_gb: float) -> PlanChoice:
    """The first available plan (fastest first) whose estimate fits in the usable share of `free_gb`."""
    usable = free_gb * USABLE_SHARE
    for estimate in estimates:
        if estimate.available and estimate.peak_gb <= usable:
            faster = [e for e in estimates if PREFERENCE.index(e.plan) < PREFERENCE.index(estimate.plan)]
            why = "; ".join(_why_not(e, usable) for e in faster if not (e.available and e.peak_gb <= usable))
            reason = (
                f"{estimate.plan} is the fastest plan that fits: {estimate.peak_gb:.1f} GB estimated of "
                f"{usable:.1f} GB usable ({USABLE_SHARE:.0%} of {free_gb:.1f} GB free)" + (f"; {why}" if why else "")
            )
            return PlanChoice(estimate.plan, estimate.peak_gb, reason, tuple(estimates))
    low = next(e for e in estimates if e.plan is MemoryPlan.LOW)
    reason = (
        f"no plan fits {usable:.1f} GB usable of {free_gb:.1f} GB free; low needs the least "
        f"({low.peak_gb:.1f} GB) and may still run out of memory: use smaller or fewer images"
    )
    return PlanChoice(MemoryPlan.LOW, low.peak_gb, reason, tuple(estimates))


def bitsandbytes_installed() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None
