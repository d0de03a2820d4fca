"""Whether a pytest node id names a test that exists, read from the test file's source (nothing is imported), so
a list of node ids (tests/test_guarantees.py) fails when a test it names is renamed, moved or deleted."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@cache
def defined_tests(path: str) -> frozenset[str]:
    """The test functions of a file, and `Class::method` for the tests of its classes."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    names: set[str] = set()
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, functions) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, functions) and item.name.startswith("test")
            )
    return frozenset(names)


def node_exists(node_id: str) -> bool:
    path, _, name = node_id.partition("::")
    if not name or not (ROOT / path).is_file():
        return False
    return name.split("[", 1)[0] in defined_tests(path)
