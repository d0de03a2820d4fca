"""Who is calling: API keys, their roles, and the caller a request acts as. Pure Python, no I/O.

A key is 256 random bits, shown once when it is made; the server keeps only its SHA-256. Hashing without
a salt is safe here because keys are random, not chosen by people: there is nothing to guess from.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

KEY_PREFIX = "qie_"  # makes a leaked key easy to recognise (and to search for) in logs and repositories
KEY_BYTES = 32  # 256 bits
MAX_KEY_NAME = 64


class Role(StrEnum):
    """What a key may do."""

    USER = "user"  # its own jobs only
    ADMIN = "admin"  # every job, and cleanup


@dataclass(frozen=True)
class ApiKey:
    """A key as the server knows it: never the key itself."""

    id: str
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class Caller:
    """Whom a request acts for. `key` is None in open mode (no keys exist): one person on their machine."""

    key: ApiKey | None
    session_expires_at: datetime | None = None  # when it came through the web page's session
    session_hash: str | None = None  # which session it came through (its token's digest), to notice it end

    @property
    def is_admin(self) -> bool:
        return self.key is None or self.key.role is Role.ADMIN

    @property
    def owner(self) -> str | None:
        """What the jobs this caller submits record as their owner."""
        return self.key.id if self.key else None

    @property
    def sees(self) -> str | None:
        """The owner whose jobs this caller may see and change; None for every job (admins, open mode)."""
        return None if self.is_admin else self.owner


OPEN = Caller(key=None)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def new_session_token() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def digest(secret: str) -> str:
    """What the database keeps of a key or a session token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(stored: str, secret: str) -> bool:
    """Constant-time comparison, so timing tells an attacker nothing about how close a guess was."""
    return hmac.compare_digest(stored, digest(secret))


def check_key_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_KEY_NAME or not all(c.isalnum() or c in "-_.@" for c in name):
        raise ValueError(
            f"a key name is 1-{MAX_KEY_NAME} letters, digits or - _ . @ (e.g. 'alice' or 'ci-bot'), not {name!r}"
        )
    return name
