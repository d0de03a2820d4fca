"""API keys and web sessions on the same SQL database as the jobs (so every API node sees them).

On PostgreSQL, revoking a key or ending a session sends `NOTIFY qie_access` in the same transaction, so every
API node closes the sockets it held the moment it is committed, whichever process (a node, `qie keys`) did it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, RowMapping, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError

from qwen_image_editor.accounts import ApiKey, Role
from qwen_image_editor.errors import InvalidRequest
from qwen_image_editor.store import rules
from qwen_image_editor.store.connections import read_transaction, write_transaction
from qwen_image_editor.store.database import engine_for
from qwen_image_editor.store.notify import ACCESS_CHANNEL
from qwen_image_editor.store.schema import api_keys, sessions


class SqlKeyStore:
    """Keys by the hash of their secret; sessions by the hash of their token. Never a secret itself."""

    def __init__(self, database: str | Engine) -> None:
        """`database`: the process's engine (`open_database`), or a URL for a store of its own."""
        self._engine = engine_for(database)

    # -- keys -----------------------------------------------------------------------------------
    def create_key(self, name: str, role: Role, key_hash: str) -> ApiKey:
        """InvalidRequest when the name is taken."""
        key = ApiKey(id=str(uuid.uuid4()), name=name, role=role, created_at=rules.utcnow())
        try:
            with write_transaction(self._engine) as conn:
                conn.execute(
                    api_keys.insert().values(
                        id=key.id, name=name, role=role.value, key_hash=key_hash, created_at=key.created_at
                    )
                )
        except IntegrityError as exc:
            raise InvalidRequest(f"a key named {name!r} exists already; revoke it first or pick another name") from exc
        return key

    def list_keys(self) -> list[ApiKey]:
        with read_transaction(self._engine) as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.name)).mappings()
            return [_to_key(row) for row in rows]

    def count_keys(self) -> int:
        with read_transaction(self._engine) as conn:
            return int(conn.execute(select(func.count()).select_from(api_keys)).scalar_one())

    def key_by_hash(self, key_hash: str) -> tuple[ApiKey, str] | None:
        """The key and its stored hash (for the caller's constant-time check), or None."""
        with read_transaction(self._engine) as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash)).mappings().one_or_none()
        return None if row is None else (_to_key(row), row["key_hash"])

    def touch_key(self, key_id: str, now: datetime) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))

    def delete_key(self, name: str) -> bool:
        """Remove the key and its sessions; False when there is no such key."""
        with write_transaction(self._engine) as conn:
            key_id = conn.execute(select(api_keys.c.id).where(api_keys.c.name == name)).scalar_one_or_none()
            if key_id is None:
                return False
            conn.execute(delete(sessions).where(sessions.c.key_id == key_id))
            conn.execute(delete(api_keys).where(api_keys.c.id == key_id))
            _notify_access_ended(conn)
            return True

    # -- sessions -------------------------------------------------------------------------------
    def create_session(self, token_hash: str, key_id: str, lifetime: timedelta) -> datetime:
        """Record a session; returns when it expires. Expired sessions are swept on the way."""
        now = rules.utcnow()
        with write_transaction(self._engine) as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at < now))
            conn.execute(
                sessions.insert().values(
                    token_hash=token_hash, key_id=key_id, created_at=now, expires_at=now + lifetime
                )
            )
        return now + lifetime

    def key_by_session(self, token_hash: str) -> tuple[ApiKey, str, datetime] | None:
        """The key of a live session, the session's stored hash and its expiry; None if unknown or expired."""
        query = (
            select(api_keys, sessions.c.token_hash, sessions.c.expires_at)
            .join(sessions, sessions.c.key_id == api_keys.c.id)
            .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > rules.utcnow())
        )
        with read_transaction(self._engine) as conn:
            row = conn.execute(query).mappings().one_or_none()
        return None if row is None else (_to_key(row), row["token_hash"], row["expires_at"])

    def delete_session(self, token_hash: str) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash))
            _notify_access_ended(conn)

    def live_credentials(self, key_ids: set[str], session_hashes: set[str]) -> tuple[set[str], set[str]]:
        """Which of `key_ids` still exist, and which of `session_hashes` are still live (not ended, not expired)."""
        with read_transaction(self._engine) as conn:
            live_keys = set(conn.execute(select(api_keys.c.id).where(api_keys.c.id.in_(key_ids))).scalars())
            if not session_hashes:
                return live_keys, set()
            query = select(sessions.c.token_hash).where(
                sessions.c.token_hash.in_(session_hashes), sessions.c.expires_at > rules.utcnow()
            )
            return live_keys, set(conn.execute(query).scalars())

    def close(self) -> None:
        self._engine.dispose()  # a shared engine stays usable: its next use opens a new pool


def _notify_access_ended(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":  # delivered at commit; SQLite has one node, whose sockets poll
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": ACCESS_CHANNEL})


def _to_key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
    )
