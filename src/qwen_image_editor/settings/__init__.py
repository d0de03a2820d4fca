"""All configuration in one class: `QIE_*` environment variables, a `.env` file, and the old deployment's names.
Its settings are written down by group, one module each; `Settings` is all of them, with the checks that span
groups."""

from __future__ import annotations

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qwen_image_editor.engine.memory_plans import MemoryPlan
from qwen_image_editor.settings.access import AccessSettings
from qwen_image_editor.settings.core import DEFAULT_MODEL, DEFAULT_PORT, CoreSettings
from qwen_image_editor.settings.ecosystem import EcosystemSettings
from qwen_image_editor.settings.limits import LimitSettings
from qwen_image_editor.settings.model import ModelSettings

__all__ = ["DEFAULT_MODEL", "DEFAULT_PORT", "Settings"]

# QIE_OFFLOAD, replaced by QIE_MEMORY
_MEMORY_BY_OFFLOAD = {"model": MemoryPlan.OFFLOAD, "sequential": MemoryPlan.LOW}


# The groups in the order their settings are listed (the README's table, `qie doctor`): the last base first.
class Settings(EcosystemSettings, ModelSettings, LimitSettings, AccessSettings, CoreSettings, BaseSettings):
    """Every knob of the service, each with a safe default."""

    model_config = SettingsConfigDict(env_prefix="QIE_", env_file=".env", extra="ignore", populate_by_name=True)

    @property
    def answered_hosts(self) -> frozenset[str]:
        """Host names (lower case, IPv6 without brackets) a request may name: QIE_ALLOWED_HOSTS and our own."""
        listed = {host.removeprefix("[").removesuffix("]") for host in self.allowed_hosts}
        return frozenset({self.host, "localhost", "127.0.0.1", "::1"} | listed)

    @model_validator(mode="after")
    def _refuse_unsafe_combinations(self) -> Settings:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(
                f"QIE_HEARTBEAT_SECONDS ({self.heartbeat_seconds:g}) must be at most half of QIE_LEASE_SECONDS "
                f"({self.lease_seconds:g}), or a live worker's lease could expire and its job run twice"
            )
        if self.max_image_bytes > self.max_upload_bytes:
            raise ValueError(
                f"QIE_MAX_IMAGE_BYTES ({self.max_image_bytes}) cannot exceed QIE_MAX_UPLOAD_BYTES "
                f"({self.max_upload_bytes}): one image must fit in a request"
            )
        return self

    @property
    def memory_plan(self) -> MemoryPlan:
        """QIE_MEMORY, or what the older QIE_OFFLOAD asked for when QIE_MEMORY is left at `auto`."""
        if self.memory is MemoryPlan.AUTO and self.offload != "none":
            return _MEMORY_BY_OFFLOAD[self.offload]
        return self.memory

    @model_validator(mode="after")
    def _memory_plan_is_complete(self) -> Settings:
        if self.memory_plan is MemoryPlan.GGUF and not self.gguf:
            raise ValueError(
                "QIE_MEMORY=gguf needs QIE_GGUF: a local .gguf file of the transformer or a Hugging Face file "
                "reference such as owner/repo/file.gguf"
            )
        if (
            self.memory is not MemoryPlan.AUTO
            and self.offload != "none"
            and _MEMORY_BY_OFFLOAD[self.offload] != self.memory
        ):
            raise ValueError(
                f"QIE_OFFLOAD={self.offload} and QIE_MEMORY={self.memory} disagree; QIE_MEMORY replaces "
                "QIE_OFFLOAD, so remove QIE_OFFLOAD"
            )
        return self
