"""The derived floor of the GPU day (issue 22, point 4): FLOPs per step from the transformers' own layers and the
run's tokens, checked against the figures GPU_NOTES.md derives by hand for the full-size models."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from benchmarks.gpu_day_floor import (
    Tokens,
    TransformerShape,
    floor_seconds,
    matmul_rate,
    pass_flops,
    step_flops,
    tokens_of,
    transformer_shape,
)

from qwen_image_editor.engine import published_configs as published

pytestmark = pytest.mark.timeout(300)  # importing diffusers on a busy 2-core machine can take a minute
ONE_MP = tokens_of(1024 * 1024)  # 4,096 tokens
H100_BF16 = 989e12  # dense bf16 FLOP/s at 100% of peak, as GPU_NOTES' table counts


def _meta_transformer(model_id: str) -> Any:
    import diffusers
    from accelerate import init_empty_weights

    config = published.component_configs(model_id)["transformer"]
    with init_empty_weights():
        return getattr(diffusers, published.CLASSES[model_id]["transformer"]).from_config(config)


@pytest.fixture(scope="module")
def edit_2511() -> TransformerShape:
    return transformer_shape(_meta_transformer(published.EDIT_2511))


@pytest.fixture(scope="module")
def image_21() -> TransformerShape:
    return transformer_shape(_meta_transformer(published.IMAGE_21))


def test_per_sample_layers_are_left_out_of_the_per_token_parameters(edit_2511: TransformerShape) -> None:
    # 20.43 B in all; the img_mod/txt_mod modulation (6.8 B) runs once per sample. Each stream: 6.8 B per token.
    assert edit_2511.image_params == pytest.approx(6.80e9, rel=0.01)
    assert edit_2511.text_params == pytest.approx(6.80e9, rel=0.01)
    assert not edit_2511.single_stream
    assert (edit_2511.layers, edit_2511.width) == (60, 24 * 128)


def test_2511_pass_matches_gpu_notes_h100_floor(edit_2511: TransformerShape) -> None:
    # GPU_NOTES: 1 MP output with 1 reference, 0.17 s per transformer pass on an H100 at 100% of peak.
    tokens = Tokens(target=ONE_MP, references=ONE_MP, text=300)
    assert floor_seconds(pass_flops(edit_2511, tokens), H100_BF16) == pytest.approx(0.17, abs=0.01)
    # True CFG runs two passes per step; Lightning one.
    assert step_flops(edit_2511, tokens, passes=2) == 2 * step_flops(edit_2511, tokens, passes=1)


def test_21_cached_step_matches_gpu_notes(image_21: TransformerShape) -> None:
    assert image_21.single_stream and (image_21.layers, image_21.width) == (32, 32 * 128)
    tokens = Tokens(target=ONE_MP, references=3 * ONE_MP, text=40)
    # GPU_NOTES: with the prefix KV cache, "4,096 tokens through 7.1 B parameters is ~58 TFLOP per step" (its
    # Linear layers; this counts the 7.0 B that run per token, and attention on top).
    linear_only = replace(image_21, layers=0)
    assert pass_flops(linear_only, tokens, kv_cached=True) == pytest.approx(57.2e12, rel=0.01)
    cached, uncached = pass_flops(image_21, tokens, kv_cached=True), pass_flops(image_21, tokens)
    assert cached > pass_flops(linear_only, tokens, kv_cached=True)  # the target still attends to every token
    assert uncached / cached > 3.5  # without the cache the references and text run again every step


def test_attention_grows_with_the_square_of_the_tokens() -> None:
    attention_only = TransformerShape(image_params=0, text_params=0, layers=2, width=64, single_stream=True)
    small, large = Tokens(100, 0, 0), Tokens(200, 0, 0)
    assert pass_flops(attention_only, small) == 4 * 2 * 100 * 100 * 64
    assert pass_flops(attention_only, large) == 4 * pass_flops(attention_only, small)


def test_dual_stream_runs_text_tokens_through_the_text_layers_only() -> None:
    shape = TransformerShape(image_params=10, text_params=1000, layers=0, width=1, single_stream=False)
    assert pass_flops(shape, Tokens(target=3, references=2, text=0)) == 2 * 10 * 5
    assert pass_flops(shape, Tokens(target=0, references=0, text=7)) == 2 * 1000 * 7


def test_floor_and_the_measured_rate() -> None:
    assert floor_seconds(2e12, 1e12) == 2.0
    assert tokens_of(1024 * 768) == 3072
    assert matmul_rate("cpu", __import__("torch").float32, size=64, repeats=2) > 0
