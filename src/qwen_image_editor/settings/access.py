"""Who may use the service and how much: keys, browser origins, host names, proxies, per-key quotas."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

# A DNS name (optionally `*.` before it), an IPv4 address, an IPv6 one in brackets, or `*`.
_LABEL = r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^(\*|(\*\.)?{_LABEL}(\.{_LABEL})*|\[[0-9a-f:.]+\])$")


class AccessSettings(BaseModel):
    """Access: API keys, sessions, CORS, the host names answered, trusted proxies and per-key limits."""

    insecure_no_auth: bool = Field(
        default=False,
        description="Serve a non-loopback address with no API keys (anyone who reaches it can use it). "
        "Without it, such a start is refused until a key exists (`qie keys create`).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated browser origins (e.g. `http://localhost:5173`) allowed to call the API "
        "from their pages; any other origin gets no CORS headers.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host names (e.g. `gpu.example.com`, `*.example.com`) this server answers to, "
        "besides its bind address, `localhost`, `127.0.0.1` and `[::1]`; a request with any other `Host` gets 400 "
        "(a web page reaching us under a name of its own is a DNS-rebinding attack). List every name clients use: "
        "the machine's name or LAN address with `--host 0.0.0.0`, the public name behind a proxy. `*` answers any.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or networks (e.g. `127.0.0.1`, `10.0.0.0/8`) of reverse proxies "
        "whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed: the client's address then comes from them "
        "(for the wrong-key throttle). Default: none, so a client cannot claim an address.",
    )
    max_queued_per_key: int = Field(default=10, ge=1, description="Queued jobs one API key may have at once.")
    submits_per_minute: int = Field(default=30, ge=1, description="Jobs one API key may submit per minute.")
    session_hours: float = Field(default=168.0, gt=0, description="How long a web page's sign-in lasts.")
    failed_sign_ins_per_minute: int = Field(
        default=10,
        ge=1,
        description="Wrong keys one address (an IPv6 one by its /64) may send per minute; its further wrong keys "
        "get 429 until the minute is over. A right key or session is never refused by this.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [origin.strip() for origin in value.split(",") if origin.strip()]
        if isinstance(value, list):
            for origin in value:
                if origin == "*" or "://" not in str(origin) or str(origin).endswith("/"):
                    raise ValueError(
                        f"QIE_CORS_ORIGINS lists origins such as http://localhost:5173 (scheme, host, port; "
                        f"no path, no '*'), not {origin!r}"
                    )
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        value = _comma_list(value)
        if isinstance(value, list):
            value = [host.lower() for host in value]
            for host in value:
                if not _HOST_NAME.fullmatch(host):
                    raise ValueError(
                        f"QIE_ALLOWED_HOSTS lists host names such as gpu.example.com, *.example.com, 10.0.0.5 or "
                        f"[::1] (no scheme, port or path), not {host!r}"
                    )
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        value = _comma_list(value)
        if isinstance(value, list):
            for proxy in value:
                try:
                    ipaddress.ip_network(proxy, strict=False)
                except ValueError:
                    raise ValueError(
                        f"QIE_TRUSTED_PROXIES lists IP addresses or networks such as 127.0.0.1 or 10.0.0.0/8, "
                        f"not {proxy!r}"
                    ) from None
        return value


def _comma_list(value: object) -> object:
    """A setting's list from the environment's `a, b` or a list: its items stripped, empty ones dropped."""
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    return value
