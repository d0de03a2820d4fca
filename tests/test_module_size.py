"""Small modules named after one concept (issue 23): a Python module over 400 lines is split by concern before it
grows further."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent
MAX_LINES = 400


def test_no_python_module_is_over_400_lines() -> None:
    long = sorted(
        f"{path.relative_to(ROOT)}: {count} lines"
        for folder in ("src", "benchmarks", "scripts")
        for path in (ROOT / folder).rglob("*.py")
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    )
    assert not long, f"split these by concern (at most {MAX_LINES} lines a module):\n" + "\n".join(long)
