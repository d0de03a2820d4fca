"""Files named by the operator's settings: a local path, or `owner/repo/path/in/repo` on the Hugging Face Hub.

Only settings name such files (QIE_GGUF, QIE_LIGHTNING_LORA, the Lightning LoRA of a model's family):
a job never makes the service download anything.
"""

from __future__ import annotations

from pathlib import Path

from qwen_image_editor.errors import ModelUnavailable


def is_local(reference: str) -> bool:
    return reference.startswith(("/", ".", "~")) or Path(reference).expanduser().exists()


def split_hub_reference(reference: str) -> tuple[str, str]:
    """`owner/repo/sub/file.ext` -> (`owner/repo`, `sub/file.ext`)."""
    parts = reference.split("/")
    if len(parts) < 3 or not all(parts):
        raise ModelUnavailable(
            f"{reference!r} is neither an existing file nor a Hugging Face file reference owner/repo/file"
        )
    return "/".join(parts[:2]), "/".join(parts[2:])


def resolve_file(reference: str, cache_dir: Path | None = None, *, what: str = "file") -> Path:
    """The local path of the file, fetched once into the Hugging Face cache when it is a hub reference."""
    if is_local(reference):
        path = Path(reference).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"the {what} {path} does not exist")
        return path
    repo_id, filename = split_hub_reference(reference)
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, filename, cache_dir=cache_dir))
    except Exception as exc:
        raise ModelUnavailable(
            f"the {what} {reference} is not in the Hugging Face cache and could not be downloaded "
            f"({type(exc).__name__}). Fix: run `hf download {repo_id} {filename}` where there is internet, "
            "with HF_HOME pointing at this cache, or point the setting at a local file."
        ) from exc
