"""`gpu-day.json` and `gpu-day.md`: one row per measured (or skipped) run, rewritten after every row so that a run
cut short still leaves whatever was done. `check_shape` is what the dry run (and its test) hold the JSON to."""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = 1
RAN, SKIPPED, FAILED = "ran", "skipped", "failed"


@dataclass
class Row:
    """One run of one model under one memory plan (or why it did not run)."""

    model: str
    plan: str
    run: str  # "base", "Lightning", "fast", "no KV cache", "attention flash", "compile", ...
    status: str = RAN
    note: str = ""
    steps: int | None = None
    timed_steps: int | None = None
    warmup_s: float | None = None  # to the end of the warm-up steps: text encoding, VAE encoding, (compiling)
    s_per_step: float | None = None  # the timed steps' mean
    edit_s: float | None = None  # the whole edit through the engine
    vae_encode_s: float | None = None
    vae_decode_s: float | None = None
    preview_ms_per_step: float | None = None  # None where the family has no previews
    peak_gb: float | None = None  # torch.cuda.max_memory_allocated
    smi_peak_gb: float | None = None  # nvidia-smi's memory.used, sampled during the edit
    estimate_gb: float | None = None  # the memory plan's estimate (engine.memory)
    output_px: int | None = None
    tokens: dict[str, int] | None = None  # target, references, text (gpu_day_floor.Tokens)
    floor_s_per_step: float | None = None
    over_floor: float | None = None  # s_per_step / floor_s_per_step


@dataclass
class Report:
    dry_run: bool
    device: str
    deadline_s: float
    started: str
    path: Path  # the folder the two files go to
    install: dict[str, Any] = field(default_factory=dict)
    matmul: dict[str, Any] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # parameter counts and build times
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    finished: bool = False  # False: cut short by the deadline (or still running)
    stopped_because: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, row: Row) -> None:
        with self._lock:
            self.rows.append(row)

    def as_json(self) -> dict[str, Any]:
        data = {key: value for key, value in vars(self).items() if not key.startswith("_")}
        data["path"] = str(self.path)
        data["rows"] = [asdict(row) for row in self.rows]
        data["schema"] = SCHEMA
        return data

    def write(self) -> None:
        """Both files, each replaced whole (a reader never sees half of one)."""
        with self._lock:
            self.path.mkdir(parents=True, exist_ok=True)
            _replace(self.path / "gpu-day.json", json.dumps(self.as_json(), indent=2, default=str) + "\n")
            _replace(self.path / "gpu-day.md", markdown(self))


def _replace(path: Path, text: str) -> None:
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text)
    os.replace(staging, path)


COLUMNS = (
    ("model", "model"),
    ("plan", "plan"),
    ("run", "run"),
    ("steps", "steps"),
    ("s/step", "s_per_step"),
    ("x floor", "over_floor"),
    ("edit s", "edit_s"),
    ("warm-up s", "warmup_s"),
    ("VAE enc s", "vae_encode_s"),
    ("VAE dec s", "vae_decode_s"),
    ("preview ms/step", "preview_ms_per_step"),
    ("peak GB", "peak_gb"),
    ("smi GB", "smi_peak_gb"),
    ("estimate GB", "estimate_gb"),
    ("note", "note"),
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value).replace("|", "/").replace("\n", " ")


def markdown(report: Report) -> str:
    rate = report.matmul.get("tflops")
    stopped = "" if report.finished else f" (stopped early: {report.stopped_because or 'unfinished'})"
    measured = (
        f" Matmul rate {rate:.3g} TFLOP/s ({report.matmul.get('dtype')}); x floor = measured s/step over the "
        "step's FLOPs at that rate."
        if rate
        else " No matmul rate measured yet."
    )
    head = (
        f"# GPU day{' (dry run on the CPU, tiny twins)' if report.dry_run else ''}: {report.device}\n\n"
        f"Started {report.started}, {report.seconds:.0f} s{stopped}.{measured} The estimate is the plan's peak for "
        "the largest edit the service sizes for (engine.memory: 3 references at ~1 MP; 2511's runs here have 1).\n\n"
    )
    lines = ["| " + " | ".join(title for title, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in report.rows:
        values = asdict(row)
        note = row.note if row.status == RAN else f"{row.status}: {row.note}"
        lines.append("| " + " | ".join(_cell(note if key == "note" else values[key]) for _, key in COLUMNS) + " |")
    return head + "\n".join(lines) + "\n"


_ROW_TYPES = {
    "model": str,
    "plan": str,
    "run": str,
    "status": str,
    "note": str,
}
_NUMBERS = (
    "warmup_s",
    "s_per_step",
    "edit_s",
    "vae_encode_s",
    "vae_decode_s",
    "preview_ms_per_step",
    "peak_gb",
    "smi_peak_gb",
    "estimate_gb",
    "floor_s_per_step",
    "over_floor",
)
_TOP = {"schema", "dry_run", "device", "deadline_s", "started", "install", "matmul", "models", "rows", "finished"}


def check_shape(data: dict[str, Any]) -> list[str]:
    """What is wrong with a gpu-day.json, as sentences (none: it has the shape the table and readers expect)."""
    problems = [f"missing top-level key {key!r}" for key in sorted(_TOP - set(data))]
    if problems:
        return problems
    if data["schema"] != SCHEMA:
        problems.append(f"schema {data['schema']!r}, expected {SCHEMA}")
    if not isinstance(data["matmul"].get("tflops"), int | float) or data["matmul"]["tflops"] <= 0:
        problems.append("matmul.tflops is not a positive number")
    if not isinstance(data["rows"], list):
        return [*problems, "rows is not a list"]
    for index, row in enumerate(data["rows"]):
        where = f"rows[{index}] ({row.get('model')} {row.get('plan')} {row.get('run')})"
        problems += [
            f"{where}: {key} is not a {kind.__name__}"
            for key, kind in _ROW_TYPES.items()
            if not isinstance(row.get(key), kind)
        ]
        problems += [
            f"{where}: {key} is {row.get(key)!r}, not a number or null"
            for key in _NUMBERS
            if row.get(key) is not None and not isinstance(row.get(key), int | float)
        ]
        if row.get("status") not in (RAN, SKIPPED, FAILED):
            problems.append(f"{where}: status {row.get('status')!r}")
        if row.get("status") == RAN:
            for key in ("steps", "timed_steps", "s_per_step", "edit_s", "floor_s_per_step", "over_floor"):
                value = row.get(key)
                if not isinstance(value, int | float) or value <= 0:
                    problems.append(f"{where}: a run that ran has no positive {key} ({value!r})")
            tokens = row.get("tokens") or {}
            if sorted(tokens) != ["references", "target", "text"]:
                problems.append(f"{where}: tokens {row.get('tokens')!r}, not target, references and text")
    return problems
