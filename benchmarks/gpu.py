"""`make bench-gpu`: the full-size Qwen-Image-Edit-2511 and Qwen-Image-2.1 architectures with random weights on a GPU.

`QIE_BENCH_MODELS` (default "2511,2.1") picks the models. Each is built once (`benchmarks.full_size`) into
`$QIE_BENCH_DIR/<folder>` (default `data/bench`; 2511: ~58 GB of disk and RAM while building, 2.1: ~33 GB). For
each memory plan whose estimate fits the GPU, it runs the model's edits (`BENCHES`) at ~1 MP through the service's
own engine and prints one table per model: peak GPU memory of each edit against the plan's estimate. 2511: a 50-step
guided edit and an 8-step Lightning edit of 1 reference. 2.1: 40-step edits of 3 references with its prefix KV
cache on and off, and its 8-step fast path. `QIE_BENCH_GGUF=1` also writes a Q8_0 GGUF of each random transformer
(2511: ~22 GB, slow) to measure the gguf plan. Without CUDA it says so and exits.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.full_size import build_full_size_model
from qwen_image_editor.edit_request import EditRequest, parse_request
from qwen_image_editor.engine import published_configs as published
from qwen_image_editor.model_families import FAMILIES, LIGHTNING, ModelFamily

console = Console()


@dataclass(frozen=True)
class Run:
    """One edit of a benchmark: the request's own fields (the rest are the model's defaults, `model_families`)."""

    label: str  # the table's column heading, with the steps run
    fields: dict[str, Any] = field(default_factory=dict)
    kv_cache: bool = True  # False: 2.1 without its prefix KV cache (see `without_kv_cache`)


@dataclass(frozen=True)
class Bench:
    model_id: str
    family: ModelFamily
    folder: str  # under $QIE_BENCH_DIR
    prompt: str
    references: int  # ~1 MP reference images
    runs: tuple[Run, ...]

    @property
    def lightning_lora(self) -> bool:
        """Whether its fast path is a Lightning LoRA (a random one here); 2.1's is the base model at few steps."""
        return FAMILIES[self.family].fast is LIGHTNING


BENCHES = {
    "2511": Bench(
        published.EDIT_2511,
        ModelFamily.EDIT_2511,
        folder="full-size-random",
        prompt="put the hat from picture 2 on the person in picture 1",
        references=1,
        runs=(Run("guided"), Run("Lightning", {"lightning": True})),
    ),
    "2.1": Bench(
        published.IMAGE_21,
        ModelFamily.IMAGE_21,
        folder="full-size-random-2.1",
        prompt="<image1> wears the hat of <image2> in the room of <image3>",
        references=3,
        runs=(Run("KV cache"), Run("no KV cache", kv_cache=False), Run("fast", {"lightning": True})),
    ),
}


@contextmanager
def without_kv_cache() -> Iterator[None]:
    """Benchmark only: the engine always runs 2.1 with `use_kv_cache=True` (`families.call_inputs`) and has no
    switch for it, so for the cache-off runs this wraps the engine's reference to `call_inputs` to turn it off."""
    from unittest import mock

    from qwen_image_editor.engine import diffusers_engine, families

    def inputs_without_cache(*args: Any, **kwargs: Any) -> dict[str, Any]:
        inputs = families.call_inputs(*args, **kwargs)
        if "use_kv_cache" not in inputs:
            raise RuntimeError("families.call_inputs no longer sets use_kv_cache: the cache-off run means nothing")
        return {**inputs, "use_kv_cache": False}

    with mock.patch.object(diffusers_engine, "call_inputs", inputs_without_cache):
        yield


def _references(count: int) -> list[Any]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)) for _ in range(count)]


def _request(bench: Bench, run: Run) -> EditRequest:
    return parse_request({"prompt": bench.prompt, "seed": 0, **run.fields}, FAMILIES[bench.family])


def _edit(engine: Any, bench: Bench, run: Run, images: list[Any]) -> list[str]:
    """Peak GB, seconds per step and seconds of one edit, as table cells."""
    import torch

    rates: list[float] = []
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    with nullcontext() if run.kv_cache else without_kv_cache():
        engine.edit(images, _request(bench, run), on_step=lambda s: rates.append(s.seconds_per_step or 0.0))
    seconds = time.perf_counter() - started
    per_step = rates[-1] if rates else float("nan")
    return [f"{torch.cuda.max_memory_allocated() / 1e9:.1f}", f"{per_step:.2f}", f"{seconds:.1f}"]


def _failed(exc: Exception) -> str:  # a plan's or a run's failure (e.g. out of memory) is a result too
    return f"failed: {type(exc).__name__}: {exc}"[:80]


def _extra_files(bench: Bench, folder: Path) -> tuple[Path | None, Path | None]:
    """The random Lightning LoRA (None where the model has none) and the GGUF (None unless QIE_BENCH_GGUF=1)."""
    from qwen_image_editor.engine.gguf import make_tiny_gguf
    from qwen_image_editor.engine.loras import make_random_lora

    lightning = folder / "lightning-8steps.safetensors" if bench.lightning_lora else None
    gguf = folder / "transformer-Q8_0.gguf" if os.environ.get("QIE_BENCH_GGUF") == "1" else None
    if lightning is not None and not lightning.is_file():
        import diffusers

        cls = getattr(diffusers, published.CLASSES[bench.model_id]["transformer"])
        transformer = cls.from_pretrained(folder, subfolder="transformer")
        make_random_lora(transformer, lightning, rank=64, seed=8, scale=0.05, lightx2v=True)
        del transformer
    if gguf is not None and not gguf.is_file():
        make_tiny_gguf(folder, gguf, "Q8_0")  # any diffusers folder's transformer (2.1's in ComfyUI's layout)
    return lightning, gguf


def bench_model(bench: Bench, root: Path) -> Table:
    """Every memory plan of one model: its estimate, then each run's peak memory and speed (or why it did not run)."""
    import torch

    from qwen_image_editor.engine.devices import plan_device
    from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
    from qwen_image_editor.engine.memory import PREFERENCE, USABLE_SHARE, MemoryPlan, estimate_plans
    from qwen_image_editor.engine.model_size import model_size
    from qwen_image_editor.engine.models import resolve_model
    from qwen_image_editor.engine.placement import MemoryOptions

    folder = root / bench.folder
    if not (folder / "model_index.json").is_file():
        build_full_size_model(bench.model_id, folder)
    source = resolve_model(str(folder), root)
    lightning, gguf = _extra_files(bench, folder)
    free_gb = torch.cuda.mem_get_info()[0] / 1e9
    estimates = {
        e.plan: e for e in estimate_plans(model_size(source), gguf_bytes=gguf.stat().st_size if gguf else None)
    }
    images = _references(bench.references)
    table = Table(
        title=f"{FAMILIES[bench.family].name} on {torch.cuda.get_device_name()}: {free_gb:.1f} GB free, ~1 MP, "
        f"{bench.references} reference image{'s' if bench.references > 1 else ''}"
    )
    table.add_column("plan")
    table.add_column("estimate GB")
    for run in bench.runs:
        label = f"{run.label} ({_request(bench, run).num_inference_steps} steps)"
        for what in ("peak GB", "s/step", "s"):
            table.add_column(f"{label} {what}")
    width = 3 * len(bench.runs)
    for plan in PREFERENCE:
        estimate = estimates[plan]
        if not estimate.available or estimate.peak_gb > free_gb * USABLE_SHARE:
            table.add_row(str(plan), f"{estimate.peak_gb:.1f}", estimate.note or "does not fit", *[""] * (width - 1))
            continue
        engine = DiffusersEngine(
            source,
            plan_device("cuda"),
            memory=MemoryOptions(plan=plan, gguf=str(gguf) if plan is MemoryPlan.GGUF and gguf else None),
            lightning_lora=str(lightning) if lightning else None,
        )
        cells: list[str] = []
        try:
            engine.load()
            for run in bench.runs:
                try:
                    cells += _edit(engine, bench, run, images)
                except Exception as exc:
                    cells += [_failed(exc), "", ""]
        except Exception as exc:
            cells = [_failed(exc)]
        finally:
            del engine
            gc.collect()
            torch.cuda.empty_cache()
        table.add_row(str(plan), f"{estimate.peak_gb:.1f}", *cells, *[""] * (width - len(cells)))
    return table


def chosen_benches(names: str) -> list[Bench]:
    """The benchmarks QIE_BENCH_MODELS names, comma-separated, in its order."""
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in BENCHES]
    if unknown:
        raise SystemExit(f"QIE_BENCH_MODELS: unknown {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    return [BENCHES[name] for name in wanted]


def main() -> int:
    import torch

    benches = chosen_benches(os.environ.get("QIE_BENCH_MODELS", ",".join(BENCHES)))
    if not torch.cuda.is_available():
        console.print("make bench-gpu needs a CUDA GPU and none is visible here: nothing was run.")
        return 0
    root = Path(os.environ.get("QIE_BENCH_DIR", "data/bench"))
    for bench in benches:
        console.print(bench_model(bench, root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
