"""The ecosystem: OpenAI-compatible edits, webhooks, settings inside the result files."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EcosystemSettings(BaseModel):
    """OpenAI-compatible edits, webhooks, and the settings written into each result."""

    openai_wait_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How long `POST /v1/images/edits` waits for its job before answering 504 (the job runs on "
        "and stays in the history).",
    )
    embed_settings: bool = Field(
        default=True,
        description="Write the job's settings into each result (PNG text chunks, JPEG/WebP EXIF UserComment). "
        "0 turns it off.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Let webhooks reach loopback, private and link-local addresses (refused by default: a user "
        "could otherwise make the server call its own network).",
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="One webhook delivery attempt's timeout.")
    webhook_first_retry_seconds: float = Field(
        default=1.0, gt=0, description="The wait before a failed webhook's first retry; it doubles after each."
    )
    webhook_max_retry_seconds: float = Field(
        default=300.0, gt=0, description="The longest wait between two attempts of one webhook."
    )
    webhook_give_up_seconds: float = Field(
        default=3600.0, gt=0, description="A webhook still failing this long after its job ended is given up."
    )
