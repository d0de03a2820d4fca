"""The README's Models table restates what `model_families` says of each model (references, text to image, alpha,
default steps and guidance, the few-step switch, previews, the license) and the memory plans' estimates: this
fails when one of them changes and the table does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_image_editor.engine.memory import estimate_plans
from qwen_image_editor.engine.model_size import model_size
from qwen_image_editor.engine.models import resolve_model
from qwen_image_editor.model_families import DEFAULT_FAMILY, FAMILIES, LIGHTNING, Capabilities, ModelFamily

ROOT = Path(__file__).resolve().parent.parent
MODEL_IDS = {
    ModelFamily.EDIT_2511: "Qwen/Qwen-Image-Edit-2511",
    ModelFamily.EDIT_2509: "Qwen/Qwen-Image-Edit-2509",
    ModelFamily.EDIT: "Qwen/Qwen-Image-Edit",
    ModelFamily.IMAGE_21: "Qwen/Qwen-Image-2.1",
}
# The table's memory rows: the first cell, and the plan whose estimate it gives.
MEMORY_ROWS = {"memory, `full`": "full", "`fp8`": "fp8", "`offload`": "offload", "`gguf` (Q8_0 transformer)": "gguf",
               "`nf4`": "nf4", "`low`": "low"}  # fmt: skip
Q8_0_BYTES_PER_WEIGHT = 34 / 32  # a block of 32 int8 weights and one float16 scale


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table() -> dict[str, dict[str, str]]:
    """The Models table: row name -> model name (its column header) -> cell, without bold."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Models\n", 1)[1].splitlines()
    start = next(n for n, line in enumerate(section) if line.startswith("|"))
    end = next(n for n, line in enumerate(section[start:], start=start) if not line.startswith("|"))
    header, rows = _cells(section[start])[1:], section[start + 2 : end]
    columns = [name.removesuffix(" (default)") for name in header]
    assert [name for name in header if name.endswith(" (default)")] == [f"{FAMILIES[DEFAULT_FAMILY].name} (default)"]
    return {
        _cells(row)[0]: {column: cell.replace("**", "") for column, cell in zip(columns, _cells(row)[1:], strict=True)}
        for row in rows
    }


def column(capabilities: Capabilities) -> dict[str, str]:
    rows = table()
    return {row: cells[capabilities.name] for row, cells in rows.items()}


def test_the_table_has_a_column_for_every_model() -> None:
    assert set(next(iter(table().values()))) == {capabilities.name for capabilities in FAMILIES.values()}


@pytest.mark.parametrize("family", list(ModelFamily))
def test_each_models_column_says_what_model_families_says(family: ModelFamily) -> None:
    capabilities = FAMILIES[family]
    cells = column(capabilities)
    assert cells["license"] in (capabilities.license.id, capabilities.license.name)
    references = (
        str(capabilities.max_images)
        if capabilities.min_images == capabilities.max_images
        else f"{capabilities.min_images}-{capabilities.max_images}"
    )
    assert cells["reference images"].split(" ")[0] == references
    assert cells["image from text alone"].startswith("yes" if capabilities.text_to_image else "no")
    assert cells["transparency (RGBA in and out)"].startswith("yes" if capabilities.alpha else "no")
    c = capabilities
    steps_and_guidance = f"{c.default_steps}, {c.default_cfg:g} ({c.min_cfg:g}-{c.max_cfg:g})"
    assert cells["default steps, guidance (range)"].startswith(steps_and_guidance)
    fast = cells["few-step switch (`lightning`)"]
    if capabilities.fast is LIGHTNING:
        assert fast.startswith("Lightning LoRA")
    else:
        assert fast == f"base model, {capabilities.fast.default_steps} steps, guidance 1"
    assert cells["live preview"].startswith("no" if capabilities.no_previews_because else "yes")


@pytest.mark.parametrize("family", list(ModelFamily))
def test_each_models_memory_is_the_plans_estimate(family: ModelFamily) -> None:
    """`qie doctor`'s estimates for the published configs (~1 MP from 3 references), the GGUF row for a Q8_0
    transformer."""
    size = model_size(resolve_model(MODEL_IDS[family], ROOT), None)
    q8_0 = round(size.transformer.params * Q8_0_BYTES_PER_WEIGHT)
    estimates = {e.plan.value: e.peak_gb for e in estimate_plans(size, gguf_bytes=q8_0)}
    cells = column(FAMILIES[family])
    assert {plan: cells[row] for row, plan in MEMORY_ROWS.items()} == {
        plan: f"{estimates[plan]:.1f} GB" for plan in MEMORY_ROWS.values()
    }
