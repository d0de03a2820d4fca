"""The layers match their names: checked on the source, so a wrong import fails here before it spreads."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "qwen_image_editor"
ROOT = "qwen_image_editor"

# Packages and modules that read or write files, databases, sockets or devices.
DOES_IO = ("store", "blobs", "events", "imaging", "fileio", "api", "application", "worker", "engine", "services")

RULES: dict[str, tuple[str, ...]] = {
    # The domain: states, transitions, records, events. Pure Python.
    "jobs": (*DOES_IO, "cli", "settings"),
    # The model, usable without a server: knows nothing of jobs or HTTP.
    "engine": ("jobs", "api", "application", "worker", "store", "blobs", "events", "services", "cli"),
    # The shared request and its limits, and what each model family can do: below everything.
    "edit_request": (*DOES_IO, "jobs", "cli", "settings"),
    "model_families": (*DOES_IO, "jobs", "cli", "settings", "edit_request"),
    # Below the application layer: none of them calls up.
    "store": ("application", "worker", "api", "services", "cli", "blobs", "events", "engine"),
    "blobs": ("application", "worker", "api", "services", "cli", "store", "events", "engine"),
    "events": ("application", "worker", "api", "services", "cli", "store", "blobs", "engine"),
    "application": ("api", "worker", "services", "cli"),
    "worker": ("api", "services", "cli"),
}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield ".".join(parts), path


def layer_of(module: str) -> str:
    return module.split(".")[0]


def imported(path: Path) -> set[str]:
    """Every qwen_image_editor module imported anywhere in the file, function bodies included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name.removeprefix(f"{ROOT}.") for name in found if name.startswith(f"{ROOT}.")}


def string_literals(path: Path) -> Iterator[tuple[int, str]]:
    """String constants that are not docstrings (f-strings included, by their literal parts)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


@pytest.mark.parametrize("layer", sorted(RULES))
def test_each_layer_imports_only_what_it_may(layer: str) -> None:
    broken = []
    for module, path in modules():
        if layer_of(module) != layer:
            continue
        for name in sorted(imported(path)):
            if layer_of(name) in RULES[layer]:
                broken.append(f"{module} imports {name}")
    assert not broken, f"{layer} may not import {', '.join(RULES[layer])}:\n" + "\n".join(broken)


def test_the_rules_cover_real_modules() -> None:
    """A rule about a layer that does not exist would pass forever."""
    layers = {layer_of(module) for module, _ in modules()}
    assert set(RULES) <= layers


def test_nothing_below_the_api_builds_a_url() -> None:
    offenders = [
        f"{module}:{line}: {text!r}"
        for module, path in modules()
        if layer_of(module) not in ("api", "client")  # the client is the other end of the wire: it calls them
        for line, text in string_literals(path)
        if "/api/" in text or "/ws/" in text
    ]
    assert not offenders, "URLs are built in api/views.py only:\n" + "\n".join(offenders)


def test_the_checker_sees_function_level_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from qwen_image_editor.store.sql import SqlJobStore\n    return '/api/x'\n")
    assert "store.sql" in imported(sample)
    assert (3, "/api/x") in set(string_literals(sample))
