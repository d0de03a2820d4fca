"""Checkpoints of a running edit (issue 21, point 7): its latents every few steps, so that a run cut short by a
restart continues from the last saved step, with the result an uninterrupted run gives.

Why resuming gives the very same pixels: the pipelines' flow-matching scheduler turns a list of sigmas into its
timesteps one sigma at a time (the shift is elementwise; the stretch to `shift_terminal` reads only the last
sigma, the same for every tail of the list), and its steps draw no noise. So a call with the latents saved after
step k and the tail `sigmas[k:]` of the schedule the full run uses walks the same timesteps from the same
latents. What the seed gives besides the starting noise (a region's re-noising noise) is drawn again from it.
Schedulers that resample the whole list (Karras, exponential, beta sigmas) are not resumable: such a run starts
over (`resumable`).

The engine encodes the latents (safetensors: a tensor file, never a pickle) on the model thread; the caller
stores the bytes elsewhere (the worker: through the blob store, on a thread of its own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Scheduler config flags that make its sigmas depend on the whole list, not each sigma alone.
_WHOLE_LIST_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "stochastic_sampling")


@dataclass(frozen=True)
class Checkpoint:
    """An edit after `step` of `total` denoising steps (1-based): the latents as the engine encoded them."""

    step: int
    total: int
    latents: bytes


@dataclass(frozen=True)
class Checkpointing:
    """What an edit does about checkpoints: hand one to `save` after every `every`-th step (0: never; never after
    the last, whose result is moments away), and continue from `resume_from` when given."""

    every: int = 0
    save: Callable[[Checkpoint], None] | None = None
    resume_from: Checkpoint | None = None

    def due(self, step: int, total: int) -> bool:
        return self.save is not None and self.every > 0 and step < total and step % self.every == 0

    def due_on_stop(self, step: int, total: int) -> bool:
        """Whether an edit stopped after `step` (a cancel, or its worker shutting down for a restart) saves it too:
        so that a restart loses no step. Not when that step was saved already, nor before any step of this run."""
        return (
            self.save is not None
            and self.every > 0
            and 0 < step < total
            and step > self.start_step(total)
            and not self.due(step, total)
        )

    def keep(self, step: int, total: int, latents: Callable[[], bytes], *, stopping: bool = False) -> None:
        """Hand the state after `step` to `save` when a checkpoint is due then (`due`, or `due_on_stop` when the edit
        is stopping); `latents` encodes it, called only then."""
        if self.save is not None and (self.due_on_stop(step, total) if stopping else self.due(step, total)):
            self.save(Checkpoint(step, total, latents()))

    def start_step(self, total: int) -> int:
        """The steps already done: those of `resume_from` when it fits an edit of `total` steps, else 0."""
        resume = self.resume_from
        if resume is None or resume.total != total or not 0 < resume.step < total:
            return 0
        return resume.step


def resumable(scheduler: Any) -> bool:
    """Whether a call given a tail of the sigmas walks the same timesteps as the full call (see the module doc)."""
    if type(scheduler).__name__ != "FlowMatchEulerDiscreteScheduler":
        return False
    config = getattr(scheduler, "config", {})
    return not any(config.get(flag) for flag in _WHOLE_LIST_FLAGS)


def encode_latents(latents: Any) -> bytes:
    """The latents (a torch tensor, any device) as safetensors bytes, copied to the CPU."""
    from safetensors.torch import save

    return save({"latents": latents.detach().to("cpu").contiguous()})


def decode_latents(data: bytes) -> Any:
    """The tensor `encode_latents` wrote (on the CPU, in its dtype). ValueError if the bytes are not one."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        tensors = load(data)
    except (SafetensorError, ValueError) as exc:
        raise ValueError(f"not a latents checkpoint: {exc}") from exc
    if set(tensors) != {"latents"}:
        raise ValueError(f"not a latents checkpoint: it holds {sorted(tensors)}")
    return tensors["latents"]
