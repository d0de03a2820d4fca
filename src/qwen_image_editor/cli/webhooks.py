"""`qie webhook-secret`: the secret webhooks are signed with, for receivers to check them."""

from __future__ import annotations

from pathlib import Path

from qwen_image_editor.cli import app
from qwen_image_editor.cli.common import DataDirOption, load_settings, resolve_path
from qwen_image_editor.cli.keys import DatabaseOption


@app.command("webhook-secret")
def webhook_secret(data_dir: Path | None = DataDirOption, database: str | None = DatabaseOption) -> None:
    """Print the server's webhook signing secret (made once per database, shared by every API node)."""
    from qwen_image_editor.store.webhooks import SqlWebhookStore

    settings = load_settings(data_dir=resolve_path(data_dir), database_url=database)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqlWebhookStore(settings.resolved_database_url)
    try:
        print(store.secret())  # plain, alone: `export QIE_SECRET=$(qie webhook-secret)`
    finally:
        store.close()
