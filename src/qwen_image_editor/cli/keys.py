"""`qie keys create | list | revoke`: the API keys of a server, on the same settings as `qie serve`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from qwen_image_editor.accounts import Role
from qwen_image_editor.cli import app
from qwen_image_editor.cli.common import EXIT_BAD_INPUT, DataDirOption, console, fail, load_settings, resolve_path
from qwen_image_editor.errors import InvalidRequest

if TYPE_CHECKING:
    from qwen_image_editor.application.access import Access

keys_app = typer.Typer(help="Make, list and revoke API keys (once one exists, every caller needs one).")
app.add_typer(keys_app, name="keys")

DatabaseOption = typer.Option(None, "--database", help="SQLAlchemy URL of the job database. Default: $QIE_DATABASE_URL")


def _access(data_dir: Path | None, database: str | None) -> Access:
    from qwen_image_editor.services import build_access

    settings = load_settings(data_dir=resolve_path(data_dir), database_url=database)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return build_access(settings)


@keys_app.command("create")
def create(
    name: str = typer.Argument(..., help="Who or what the key is for, e.g. alice or ci-bot."),
    admin: bool = typer.Option(False, "--admin", help="May see and manage every job, and clean up."),
    data_dir: Path | None = DataDirOption,
    database: str | None = DatabaseOption,
) -> None:
    """Make a key and print it once: it is not stored, only its hash is."""
    access = _access(data_dir, database)
    try:
        key, secret = access.create_key(name, Role.ADMIN if admin else Role.USER)
    except InvalidRequest as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    finally:
        access.keys.close()
    console.print(
        f"Made {key.role} key [bold]{key.name}[/]. It is shown only now; keep it somewhere safe. Send it as "
        "`Authorization: Bearer <key>`, or sign in with it on the web page:",
        highlight=False,
    )
    print(secret)  # alone on the last line, plain, so scripts can take it with `tail -1`


@keys_app.command("list")
def list_keys(data_dir: Path | None = DataDirOption, database: str | None = DatabaseOption) -> None:
    """Every key: name, role, when it was made and last used (never the key itself)."""
    access = _access(data_dir, database)
    try:
        keys = access.list_keys()
    finally:
        access.keys.close()
    if not keys:
        console.print("No keys: the server is open to whoever reaches it (on loopback only, by default).")
        return
    table = Table("name", "role", "created", "last used")
    for key in keys:
        last = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        table.add_row(key.name, key.role.value, f"{key.created_at:%Y-%m-%d %H:%M}", last)
    console.print(table)


@keys_app.command("revoke")
def revoke(
    name: str = typer.Argument(..., help="The key's name."),
    data_dir: Path | None = DataDirOption,
    database: str | None = DatabaseOption,
) -> None:
    """Delete a key; its sessions end and it stops working at once. Its jobs stay (admins still see them)."""
    access = _access(data_dir, database)
    try:
        if not access.revoke(name):
            fail(f"there is no key named {name!r}; `qie keys list` shows them", EXIT_BAD_INPUT)
        remaining = access.keys_exist
    finally:
        access.keys.close()
    console.print(f"Revoked key {name}.", highlight=False)
    if not remaining:
        console.print(
            "No key remains: a server on loopback is open again; one on a public address now refuses everyone "
            "until you make a key.",
            highlight=False,
        )
