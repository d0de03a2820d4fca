"""The image builds in an order that keeps the heavy layer cached: the pinned dependencies are installed from
constraints.txt before any source is copied, so a code change never reinstalls torch."""

from __future__ import annotations

from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[1] / "deploy" / "Dockerfile"


def _service_stage() -> list[str]:
    """The service stage's instructions, one string each (continuation lines joined)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    stages = text.split("\nFROM ")
    return [line.strip() for line in stages[-1].splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dependencies_are_installed_from_constraints_before_the_source_is_copied() -> None:
    lines = _service_stage()
    installs = [i for i, line in enumerate(lines) if line.startswith("RUN") and "-c constraints.txt" in line]
    copies_source = [i for i, line in enumerate(lines) if line.startswith("COPY src/")]
    assert installs and copies_source, lines
    first_install = installs[0]
    assert "--no-deps" not in lines[first_install]  # this one brings the dependencies
    assert first_install < copies_source[0]
    copied_before = [line for line in lines[:first_install] if line.startswith("COPY")]
    assert copied_before == ["COPY pyproject.toml constraints.txt README.md ./"]
    # What comes after the source installs the package alone.
    assert all("--no-deps" in lines[i] for i in installs[1:])
