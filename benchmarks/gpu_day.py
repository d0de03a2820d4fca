"""`make gpu-day`: one prepared run that measures speed and memory on a bare GPU machine in under 8 minutes.

1. Installs the wheel folder (`make gpu-wheels`: diffusers, this package with its page, ...) into a temporary
   directory with pip, offline (`benchmarks.gpu_day_install`).
2. Measures the card's matmul rate, for the derived floor of every step (`benchmarks.gpu_day_floor`).
3. Builds full-size random-weight Qwen-Image-Edit-2511 and Qwen-Image-2.1 on the GPU (meta device, then each
   parameter filled in place there) and runs each memory plan that fits through the service's own engine at ~1 MP
   (`benchmarks.gpu_day_session`).
4. Writes `gpu-day.json` and `gpu-day.md` into `GPU_DAY_OUT` (default benchmarks/results/) after every run, and
   stops itself at `GPU_DAY_DEADLINE_S` (default 450 s from its start), writing whatever is done.

`GPU_DAY_DRY_RUN=1` runs the same on the tiny twins on the CPU at small sizes, then checks the JSON's shape (exit 1
when it is wrong or a run failed): CI's proof that the real run can't break silently. `GPU_DAY_WHEELS` names the wheel
folder (default gpu-wheels/; empty: use this environment's packages), `GPU_DAY_MODELS` the models (default 2511,2.1).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STARTED = time.monotonic()
DEADLINE_S = 450.0  # 7.5 minutes: the window's command gets 9, and pip and the imports come first
DEFAULT_OUT = Path("benchmarks/results")
DEFAULT_WHEELS = Path("gpu-wheels")


def _say(message: str) -> None:
    print(f"[gpu-day {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def install(wheels: str, target: Path) -> dict[str, Any]:
    """The wheel folder, installed offline; or this environment's packages where no folder is given."""
    from benchmarks.gpu_day_install import foreign_wheels, install_wheels, missing_modules

    folder = Path(wheels) if wheels else None
    if folder is not None and folder.is_dir() and not (foreign_wheels(folder) and not missing_modules()):
        result = install_wheels(folder, target)
    elif folder is not None and folder.is_dir():  # e.g. the dry run here, with cp312 wheels and Python 3.11
        note = f"{folder} is built for another Python ({foreign_wheels(folder)[0]}, ...); this one has every package"
        result = {"wheels": str(folder), "installed": [], "note": note}
    elif folder is not None and missing_modules():
        raise SystemExit(
            f"no wheel folder at {folder} and this Python lacks {', '.join(missing_modules())}: run `make gpu-wheels` "
            "(on a machine with network access) and copy the folder with the working tree"
        )
    else:
        result = {"wheels": None, "installed": [], "note": "no wheel folder: this environment's own packages"}
    if missing_modules():
        raise SystemExit(f"after the install, still missing: {', '.join(missing_modules())}")
    return result


def _watchdog(report: Any, deadline: float) -> threading.Timer:
    """At the deadline: write what is done and end the process at once (a CUDA call can't be interrupted)."""

    def stop() -> None:
        report.stopped_because = f"deadline of {deadline:.0f} s"
        report.seconds = time.monotonic() - STARTED
        report.write()
        _say(f"deadline reached: wrote {report.path}/gpu-day.json and gpu-day.md; stopping")
        os._exit(0)

    timer = threading.Timer(max(0.0, deadline - (time.monotonic() - STARTED)), stop)
    timer.daemon = True
    timer.start()
    return timer


def main() -> int:
    dry_run = os.environ.get("GPU_DAY_DRY_RUN", "") not in ("", "0")
    out = Path(os.environ.get("GPU_DAY_OUT") or DEFAULT_OUT)
    deadline = float(os.environ.get("GPU_DAY_DEADLINE_S") or DEADLINE_S)
    keys = [key.strip() for key in os.environ.get("GPU_DAY_MODELS", "2511,2.1").split(",") if key.strip()]
    with tempfile.TemporaryDirectory(prefix="gpu-day-") as scratch:
        work = Path(scratch)
        installed = install(os.environ.get("GPU_DAY_WHEELS", str(DEFAULT_WHEELS)), work / "site")
        _say(f"installed: {installed.get('note')}")
        return _measure(dry_run, out, deadline, keys, installed, work)


def _measure(dry_run: bool, out: Path, deadline: float, keys: list[str], installed: dict[str, Any], work: Path) -> int:
    import torch

    from benchmarks.gpu import BENCHES
    from benchmarks.gpu_day_floor import matmul_rate
    from benchmarks.gpu_day_report import FAILED, Report, check_shape
    from benchmarks.gpu_day_session import Day, run_day
    from qwen_image_editor.engine.devices import plan_device

    unknown = [key for key in keys if key not in BENCHES]
    if unknown:
        raise SystemExit(f"GPU_DAY_MODELS: unknown {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    if not dry_run and not torch.cuda.is_available():
        raise SystemExit("make gpu-day needs a CUDA GPU and none is visible; GPU_DAY_DRY_RUN=1 runs it on the CPU")
    device = plan_device("cpu" if dry_run else "cuda")
    name = f"CPU, {torch.get_num_threads()} threads" if dry_run else torch.cuda.get_device_name()
    report = Report(dry_run, name, deadline, datetime.now(UTC).isoformat(timespec="seconds"), out, install=installed)
    timer = _watchdog(report, deadline)
    size = 1024 if dry_run else 8192
    rate = matmul_rate(device.device, device.dtype, size)
    report.matmul = {"dtype": device.dtype_name, "size": size, "tflops": rate / 1e12}
    _say(f"{name}: {device.dtype_name} matmul {rate / 1e12:.3g} TFLOP/s")
    day = Day(device, dry_run, report, work, STARTED + deadline, rate)
    try:
        run_day(day, keys, _say)
        report.finished = True
    finally:
        timer.cancel()
        report.seconds = time.monotonic() - STARTED
        report.write()
    _say(f"wrote {out}/gpu-day.json and gpu-day.md")
    print((out / "gpu-day.md").read_text())
    if not dry_run:
        return 0
    problems = check_shape(json.loads((out / "gpu-day.json").read_text()))
    problems += [f"{r.model} {r.plan} {r.run} failed: {r.note}" for r in report.rows if r.status == FAILED]
    for problem in problems:
        print(f"dry run: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
