"""The layers match their names: checked on the source, so a wrong import fails here before it spreads."""

from __future__ import annotations

import ast
import re
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


# -- Routes call the application layer; the application layer names protocols ----------------------------------

ROUTES = "api.routes"
# What a route may not reach past the application layer for: the store, the blob store, their time-boxed reads.
BELOW_THE_APPLICATION = ("store", "blobs")
BYPASSING_ATTRIBUTES = frozenset({"store", "blobs", "reads"})
# The only store and blob modules the application layer may name: interfaces and pure rules, never a backend.
APPLICATION_MAY_NAME = frozenset({"store.base", "store.rules", "blobs.base"})


def attributes_read(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            yield node.lineno, node.attr


def test_routes_import_neither_the_store_nor_the_blobs() -> None:
    offenders = [
        f"{module} imports {name}"
        for module, path in modules()
        if module.startswith(ROUTES)
        for name in sorted(imported(path))
        if layer_of(name) in BELOW_THE_APPLICATION
    ]
    assert not offenders, "routes call the application layer (services.jobs, ...):\n" + "\n".join(offenders)


def test_routes_and_the_activity_feed_reach_no_store_through_services() -> None:
    offenders = [
        f"{module}:{line}: .{attribute}"
        for module, path in modules()
        if module.startswith(ROUTES) or module == "api.activity_feed"
        for line, attribute in attributes_read(path)
        if attribute in BYPASSING_ATTRIBUTES
    ]
    assert not offenders, "read the store and job files through application functions:\n" + "\n".join(offenders)


def test_the_application_layer_names_store_protocols_not_backends() -> None:
    offenders = [
        f"{module} imports {name}"
        for module, path in modules()
        if layer_of(module) == "application"
        for name in sorted(imported(path))
        if layer_of(name) in BELOW_THE_APPLICATION and ".".join(name.split(".")[:2]) not in APPLICATION_MAY_NAME
    ]
    assert not offenders, f"the application layer may name only {sorted(APPLICATION_MAY_NAME)}:\n" + "\n".join(
        offenders
    )


def test_a_route_that_imports_the_store_is_caught(tmp_path: Path) -> None:
    sample = tmp_path / "route.py"
    sample.write_text(
        "def f(services):\n    from qwen_image_editor.store.sql import SqlJobStore\n    return services.store\n"
    )
    assert layer_of(next(iter(imported(sample)))) in BELOW_THE_APPLICATION
    assert (3, "store") in set(attributes_read(sample))


# -- One source per fact: a limit or a vocabulary written as a literal outside its source fails --------------

# Where limits are defined: the request's limits, each model family's, and the operator's settings.
LIMIT_SOURCES = ("edit_request", "model_families", "settings")
UPPER_BOUNDS = frozenset({"le", "lt", "max_length", "max_items", "maximum", "maxItems", "max_images", "min_images"})
# A bound of this size or less is one of the request's limits (images, variations, LoRAs), not a page size.
SMALL_LIMIT = 99
ROLE_NAME = re.compile(r"^(input|output)_\d|^(thumbnail|mask)\.(png|webp)$")
CLOSE_CODES = frozenset({1008, 4404})


def is_limit_source(module: str) -> bool:
    return layer_of(module) in LIMIT_SOURCES


def keyword_literals(path: Path) -> Iterator[tuple[int, str, object]]:
    """Keyword arguments given a literal number (`le=4`), and dict entries keyed by a bound's name."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.keyword) and node.arg and isinstance(node.value, ast.Constant):
            yield node.lineno, node.arg, node.value.value
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str) and isinstance(value, ast.Constant):
                    yield node.lineno, key.value, value.value


def test_no_small_limit_is_written_as_a_literal_outside_its_source() -> None:
    offenders = [
        f"{module}:{line}: {name}={value}"
        for module, path in modules()
        if not is_limit_source(module)
        for line, name, value in keyword_literals(path)
        if name in UPPER_BOUNDS and type(value) is int and value <= SMALL_LIMIT
    ]
    assert not offenders, (
        "use the constant (edit_request.MAX_NUM_IMAGES, the model's Capabilities, ...):\n" + "\n".join(offenders)
    )


def test_job_file_names_are_made_in_blobs_base_only() -> None:
    offenders = [
        f"{module}:{line}: {text!r}"
        for module, path in modules()
        if module != "blobs.base"
        for line, text in string_literals(path)
        if ROLE_NAME.match(text)
    ]
    assert not offenders, "name job files with blobs.base (input_name, output_name, ...):\n" + "\n".join(offenders)


def test_close_codes_are_written_in_the_socket_schema_only() -> None:
    offenders = [
        f"{module}:{node.lineno}: {node.value}"
        for module, path in modules()
        if module != "api.schemas"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value in CLOSE_CODES
    ] + [
        f"{module}:{line}: code={value}"
        for module, path in modules()
        for line, name, value in keyword_literals(path)
        if name == "code" and type(value) is int
    ]
    assert not offenders, "close a WebSocket with api.schemas.WsCloseCode:\n" + "\n".join(offenders)


def test_the_terminal_states_are_listed_in_jobs_states_only() -> None:
    terminal = {"complete", "error", "cancelled"}
    offenders = [
        f"{module}:{node.lineno}"
        for module, path in modules()
        if module != "jobs.states"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Set | ast.List | ast.Tuple)
        and {element.value for element in node.elts if isinstance(element, ast.Constant)} >= terminal
    ]
    assert not offenders, "use jobs.states.TERMINAL_STATES (or TerminalJobStatus):\n" + "\n".join(offenders)


def test_the_literal_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "f(index=Query(ge=1, le=4))\n"
        "name = 'output_1.png'\n"
        "close(code=4404)\n"
        "FINAL = frozenset({'complete', 'error', 'cancelled'})\n"
    )
    assert (1, "le", 4) in set(keyword_literals(sample))
    assert any(ROLE_NAME.match(text) for _, text in string_literals(sample))
    assert (3, "code", 4404) in set(keyword_literals(sample))
