"""The README's "How it is built" picture matches the tree: every file and folder it names exists, and every
package, top-level module and page folder that exists is named in it. A rename or a new folder fails here until
the picture says so."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "qwen_image_editor"
PAGE = ROOT / "frontend" / "src"
FILE = re.compile(r"(?<![\w/.-])([\w-]+(?:\.[\w-]+)*\.(?:py|tsx|ts))\b")


def _picture() -> dict[str, list[tuple[str, str]]]:
    """The picture's entries by root folder: (the entry's name, its lines of description)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How it is built", 1)[1]
    block = section.split("```", 2)[1]
    roots: dict[str, list[tuple[str, str]]] = {}
    entries: list[tuple[str, str]] = []
    for line in block.splitlines()[1:]:
        if line and not line.startswith(" "):  # a root: `src/qwen_image_editor/  ...`
            entries = roots.setdefault(line.split()[0], [])
        elif line.startswith("  ") and not line.startswith("   "):  # an entry: `  name  description`
            name, _, text = line.strip().partition(" ")
            entries.append((name, text))
        elif entries:  # the entry's description, continued
            name, text = entries[-1]
            entries[-1] = (name, f"{text} {line.strip()}")
    return roots


def _problems(root: Path, entries: list[tuple[str, str]]) -> list[str]:
    """What the entries name that is not there: the entry itself, and the files its description names (in the
    entry's folder, or beside the entry when it is a file)."""
    found = []
    for name, text in entries:
        entry = root / name.rstrip("/")
        if not entry.exists():
            found.append(f"{entry.relative_to(ROOT)} (an entry)")
            continue
        folder = entry if entry.is_dir() else root
        found += [
            f"{(folder / file).relative_to(ROOT)} (named under {name})"
            for file in FILE.findall(text)
            if not (folder / file).is_file()
        ]
    return found


def test_every_file_and_folder_in_the_picture_exists() -> None:
    roots = _picture()
    assert set(roots) == {"src/qwen_image_editor/", "frontend/src/"}, f"the picture's roots are {sorted(roots)}"
    found = _problems(PACKAGE, roots["src/qwen_image_editor/"]) + _problems(PAGE, roots["frontend/src/"])
    assert not found, "README.md's 'How it is built' names what is not there; fix it:\n" + "\n".join(found)


def test_every_package_module_and_page_folder_is_in_the_picture() -> None:
    roots = _picture()
    python = " ".join(f"{name} {text}" for name, text in roots["src/qwen_image_editor/"])
    packages = [path.name + "/" for path in PACKAGE.iterdir() if path.is_dir() and any(path.glob("*.py"))]
    modules = [path.name for path in PACKAGE.glob("*.py") if path.name != "__init__.py"]
    page = " ".join(f"{name} {text}" for name, text in roots["frontend/src/"])
    folders = [path.name + "/" for path in PAGE.iterdir() if path.is_dir()]
    features = [path.name for path in (PAGE / "features").iterdir() if path.is_dir()]
    missing = [name for name in packages + modules if not re.search(rf"(?<![\w/]){re.escape(name)}", python)]
    missing += [f"frontend/src/{name}" for name in folders if not re.search(rf"(?<![\w/]){re.escape(name)}", page)]
    missing += [
        f"features/{name}"
        for name in features
        if not re.search(rf"\b{name}\b", dict(roots["frontend/src/"])["features/"])
    ]
    assert len(packages) >= 8 and len(folders) >= 4 and features, "the tree was not read: has the layout moved?"
    assert not missing, "README.md's 'How it is built' leaves these out; add them:\n" + "\n".join(missing)


def test_a_renamed_file_or_folder_is_reported() -> None:
    entries = [("worker/", "the loop (runner.py), the old stages (gone_stage.py)"), ("nowhere/", "")]
    assert _problems(PACKAGE, entries) == [
        "src/qwen_image_editor/worker/gone_stage.py (named under worker/)",
        "src/qwen_image_editor/nowhere (an entry)",
    ]
