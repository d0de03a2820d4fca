"""One edit through the service's engine, measured: the step times (the first `WARMUP_STEPS` apart), the VAE's encode
and decode, the previews' share of each step, peak memory two ways, and the token counts the floor needs.

The pipeline is the benchmark's own object (it built it), so the probes attach to it directly: timers around
`vae.encode` / `vae.decode` and the previewer's `attach`, a pre-hook on the transformer, all removed afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from benchmarks.gpu_day_floor import Tokens, tokens_of
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.base import StepProgress
from qwen_image_editor.engine.preview import LatentPreviewer

WARMUP_STEPS = 2
TIMED_STEPS = 4


@dataclass
class Probe:
    """What the hooks saw during one edit."""

    marks: list[float] = field(default_factory=list)  # perf_counter at the end of each step
    encode_s: float = 0.0
    decode_s: float = 0.0
    encoded_pixels: int = 0  # every reference the VAE encoded
    preview_s: float = 0.0
    previews: int = 0
    text_tokens: int = 0  # the most the transformer was given in one pass


@dataclass(frozen=True)
class Measured:
    steps: int
    timed_steps: int
    warmup_s: float
    s_per_step: float
    edit_s: float
    vae_encode_s: float
    vae_decode_s: float
    preview_ms_per_step: float | None
    peak_gb: float | None
    smi_peak_gb: float | None
    output_px: int
    tokens: Tokens


def synchronizer(device: str) -> Callable[[], None]:
    import torch

    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


@contextmanager
def _timed_method(
    owner: Any, name: str, sync: Callable[[], None], record: Callable[[float, Any], None]
) -> Iterator[None]:
    """`owner.name(...)` timed (synchronised on the GPU) for the duration; the instance attribute is removed after."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        sync()
        started = time.perf_counter()
        result = original(*args, **kwargs)
        sync()
        record(time.perf_counter() - started, args[0] if args else kwargs.get("x"))
        return result

    setattr(owner, name, timed)
    try:
        yield
    finally:
        delattr(owner, name)


@contextmanager
def probes(pipeline: Any, device: str) -> Iterator[Probe]:
    probe = Probe()
    sync = synchronizer(device)

    def on_encode(seconds: float, images: Any) -> None:
        probe.encode_s += seconds
        shape = getattr(images, "shape", None)
        if shape is not None:
            probe.encoded_pixels += int(shape[0]) * int(shape[-1]) * int(shape[-2])

    def on_decode(seconds: float, _: Any) -> None:
        probe.decode_s += seconds

    real_attach = LatentPreviewer.attach

    def attach(previewer: LatentPreviewer, *args: Any) -> StepProgress:
        sync()
        started = time.perf_counter()
        step = real_attach(previewer, *args)
        sync()
        probe.preview_s += time.perf_counter() - started
        probe.previews += 1
        return step

    def before_transformer(_: Any, args: Any, kwargs: dict[str, Any]) -> None:
        text = kwargs.get("encoder_hidden_states")
        if text is not None:
            probe.text_tokens = max(probe.text_tokens, int(text.shape[1]))

    hook = pipeline.transformer.register_forward_pre_hook(before_transformer, with_kwargs=True)
    try:
        with ExitStack() as stack:
            stack.enter_context(_timed_method(pipeline.vae, "encode", sync, on_encode))
            stack.enter_context(_timed_method(pipeline.vae, "decode", sync, on_decode))
            stack.enter_context(mock.patch.object(LatentPreviewer, "attach", attach))
            yield probe
    finally:
        hook.remove()


class SmiPeak:
    """The GPU's memory.used as nvidia-smi reports it (the whole card: allocator cache and CUDA context included),
    sampled in a thread while the edit runs; None without nvidia-smi."""

    def __init__(self, device: str, interval_s: float = 0.1) -> None:
        self._command = shutil.which("nvidia-smi") if device == "cuda" else None
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.peak_mib: float | None = None

    def _sample(self) -> None:
        assert self._command is not None
        while True:  # at least one sample, however short the edit
            try:
                out = subprocess.run(
                    [self._command, "--query-gpu=memory.used", "--format=csv,noheader,nounits", "--id=0"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                ).stdout
                used = float(out.strip().splitlines()[0])
                self.peak_mib = used if self.peak_mib is None else max(self.peak_mib, used)
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                return
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> SmiPeak:
        if self._command:
            self._thread = threading.Thread(target=self._sample, name="nvidia-smi", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def peak_gb(self) -> float | None:
        return None if self.peak_mib is None else self.peak_mib * 2**20 / 1e9


def measure_edit(
    engine: Any, pipeline: Any, images: list[Any], request: EditRequest, device: str, *, kv_cache: bool = True
) -> Measured:
    """One edit through `engine.edit`, as the worker runs it (with a step callback, so previews where the family
    has them). `kv_cache=False`: 2.1 without its prefix KV cache (`benchmarks.gpu.without_kv_cache`)."""
    import torch

    from benchmarks.gpu import without_kv_cache

    sync = synchronizer(device)
    cuda = device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with probes(pipeline, device) as probe, SmiPeak(device) as smi, nullcontext() if kv_cache else without_kv_cache():

        def on_step(_: StepProgress) -> None:
            sync()
            probe.marks.append(time.perf_counter())

        sync()
        started = time.perf_counter()
        result = engine.edit(images, request, on_step=on_step)
        sync()
        edit_s = time.perf_counter() - started
    steps = len(probe.marks)
    if steps <= WARMUP_STEPS:
        raise RuntimeError(f"{steps} steps reported; a measurement needs more than {WARMUP_STEPS}")
    timed = steps - WARMUP_STEPS
    width, height = result.image.size
    return Measured(
        steps=steps,
        timed_steps=timed,
        warmup_s=probe.marks[WARMUP_STEPS - 1] - started,
        s_per_step=(probe.marks[-1] - probe.marks[WARMUP_STEPS - 1]) / timed,
        edit_s=edit_s,
        vae_encode_s=probe.encode_s,
        vae_decode_s=probe.decode_s,
        preview_ms_per_step=1000 * probe.preview_s / probe.previews if probe.previews else None,
        peak_gb=torch.cuda.max_memory_allocated() / 1e9 if cuda else None,
        smi_peak_gb=smi.peak_gb,
        output_px=width * height,
        tokens=Tokens(
            target=tokens_of(width * height), references=tokens_of(probe.encoded_pixels), text=probe.text_tokens
        ),
    )
