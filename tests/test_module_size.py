"""Small modules named after one concept (issue 23): a module over 400 lines, Python (the package, its tests,
benchmarks and scripts) or the page's TypeScript, is split by concern before it grows further. Generated files
(the page's schema.d.ts) are not written by hand and do not count."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent
MAX_LINES = 400
GENERATED = {"schema.d.ts"}


def modules() -> list[Path]:
    python = [path for folder in ("src", "tests", "benchmarks", "scripts") for path in (ROOT / folder).rglob("*.py")]
    page = [path for pattern in ("*.ts", "*.tsx") for path in (ROOT / "frontend" / "src").rglob(pattern)]
    return [path for path in python + page if path.name not in GENERATED]


def test_no_module_is_over_400_lines() -> None:
    long = sorted(
        f"{path.relative_to(ROOT)}: {count} lines"
        for path in modules()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    )
    assert not long, f"split these by concern (at most {MAX_LINES} lines a module):\n" + "\n".join(long)


def test_the_check_reads_both_sides() -> None:
    names = {path.name for path in modules()}
    assert {"runner.py", "test_module_size.py", "Editor.tsx", "client.ts"} <= names
    assert "schema.d.ts" not in names
