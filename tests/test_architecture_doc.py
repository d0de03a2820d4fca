"""docs/architecture.md names real files: every path it mentions exists, and every `path:Name` is defined there.

Modules get renamed and split; this keeps the newcomer's page from pointing at files that are gone.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
# The page writes Python paths from the package and the page's paths from frontend/src (it says so).
BASES = (ROOT, ROOT / "src" / "qwen_image_editor", ROOT / "frontend" / "src")
# A file path (with a known extension), optionally followed by `:Name` or `:Class.method`.
PATH = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+(?:\.[\w-]+)*\.(?:py|tsx|ts|md))(?::([A-Za-z_][\w.]*))?")


def _defines(text: str, name: str) -> bool:
    return re.search(rf"\b(class|def|function|const|interface|type)\s+{re.escape(name)}\b", text) is not None


def problems(doc: str) -> tuple[list[str], int]:
    """What the page names that does not exist, and how many names it checked."""
    found: list[str] = []
    checked = 0
    for match in PATH.finditer(doc):
        path, symbol = match.group(1), match.group(2)
        checked += 1
        files = [base / path for base in BASES if (base / path).is_file()]
        if not files:
            found.append(f"{path}: no such file under {', '.join(str(b.relative_to(ROOT)) or '.' for b in BASES)}")
            continue
        if symbol is None:
            continue
        text = files[0].read_text(encoding="utf-8")
        missing = [part for part in symbol.split(".") if not _defines(text, part)]
        if missing:
            found.append(f"{path}:{symbol}: {', '.join(missing)} is not defined in {files[0].relative_to(ROOT)}")
    return found, checked


def test_every_file_and_name_in_the_architecture_page_exists() -> None:
    found, checked = problems(DOC.read_text(encoding="utf-8"))
    assert checked >= 30, f"only {checked} paths recognised in {DOC.name}: has the pattern stopped matching?"
    assert not found, (
        "docs/architecture.md names what is not there (a module was renamed or moved?); fix these in it:\n"
        + "\n".join(found)
    )


def test_a_renamed_module_or_function_is_reported() -> None:
    doc = (
        "`worker/runner.py:Worker` and `store/engine_gone.py` and `application/jobs.py:JobService.submit_all`, "
        "and in a diagram api/routes/nowhere.py"
    )
    found, checked = problems(doc)
    assert checked == 4
    assert [line.split(":")[0] for line in found] == [
        "store/engine_gone.py",
        "application/jobs.py",
        "api/routes/nowhere.py",
    ]
    assert "submit_all is not defined" in found[1]
