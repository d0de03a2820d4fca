"""Bounded resources: what one client, or many at once, may cost the server."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LimitSettings(BaseModel):
    """Decoding slots, store reads, request timeouts and open connections."""

    max_concurrent_decodes: int = Field(
        default=2,
        ge=1,
        description="Uploaded images decoded at once (a 40 MP image takes ~150 MB while it decodes); "
        "about one per CPU core.",
    )
    decode_wait_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long an upload waits for a free decoding slot before it gets 503 with Retry-After.",
    )
    blob_read_threads: int = Field(
        default=16,
        ge=1,
        description="Job files read from the store at once for requests (downloads, images on the page); "
        "more wait their turn, within QIE_BLOB_READ_SECONDS.",
    )
    blob_read_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a request waits for the store to hand over a job file (or each part of it) before "
        "it gets 503 with Retry-After: a hung store never holds a request for good.",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A request body that sends nothing for this long is answered 408 and its connection closed.",
    )
    body_deadline_seconds: float = Field(
        default=120.0,
        gt=0,
        description="A request body not complete this long after its headers is answered 408 and its connection "
        "closed, however steadily it drips (time enough for a 20 MB upload at ~1.5 Mbit/s).",
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A request whose headers are not complete this long after its connection opened (on a "
        "kept-alive connection: after its first byte) is answered 408 and its connection closed.",
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections (WebSockets included) one server process serves at once; a request beyond "
        "them gets 503 with Retry-After and its connection closed. Keep the process's open-file limit "
        "(`ulimit -n`) above it.",
    )
