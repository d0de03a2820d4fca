"""`make gpu-wheels`: the wheels a bare GPU machine needs to run `make gpu-day` offline, in one folder (under 64 MiB).

Such a machine has Python with torch, transformers, peft, accelerate and safetensors (so also torch's dependencies
and the core of transformers'; see THEIR_CORE). The folder holds the rest of this package's runtime dependencies
(pyproject.toml's, less LEAVE_OUT) at the versions constraints.txt pins, built for that machine's CPython on
manylinux x86_64; torchvision for each torch the machine may have (each torchvision is pinned to one torch, and
`benchmarks.gpu_day_install` takes the one that matches); and this package itself as a wheel, with its built page.
The dependencies' own dependencies are read from this environment's installed metadata (`make setup`'s pins).

    python scripts/gpu_wheels.py OUT_DIR [--python-version 3.12] [--torchvision 0.26.0 0.29.1]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "qwen-image-editor"
ON_THE_MACHINE = ("torch", "transformers", "peft", "accelerate", "safetensors")
# What those surely brought with them, whichever versions the machine has: the hard dependencies of every
# transformers / huggingface-hub release. The rest of their dependencies (pydantic, typer, rich, httpx, ...) came
# with some releases only, so the folder carries them too; where the machine has them, its own copies win.
THEIR_CORE = ("huggingface-hub", "tokenizers", "numpy", "packaging", "pyyaml", "regex", "tqdm", "psutil", "hf-xet")
LIMIT = 64 * 2**20  # what the window copies over, wheel folder and working tree together
PAGE = "qwen_image_editor/static/index.html"
# Left out to stay under the limit: boto3 (with botocore, 17 MiB) serves only QIE_BLOBS=s3://, imported by those
# who use it; the GPU day does not.
LEAVE_OUT = ("boto3",)


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if version:
            pins[canonicalize_name(name)] = version.strip()
    return pins


def closure(roots: list[tuple[str, frozenset[str]]], python: str) -> set[str]:
    """Every distribution the roots need at run time on Linux x86_64 with this Python, by canonical name."""
    environment = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux"}
    environment |= {"platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = list(roots)
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({**environment, "extra": e}) for e in (*extras, "")):
                todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return {name for name, _ in seen}


def needed(python: str, leave_out: tuple[str, ...] = LEAVE_OUT) -> list[str]:
    """`name==version` of each runtime dependency of this package (as pyproject.toml lists them, their own from the
    installed metadata) that the machine lacks."""
    declared = [
        Requirement(text) for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ]
    roots = [(canonicalize_name(r.name), frozenset(r.extras)) for r in declared]
    ours = closure([root for root in roots if root[0] not in leave_out], python)
    theirs = closure([("torch", frozenset())], python) | set(ON_THE_MACHINE) | set(THEIR_CORE)
    pins = _pins()
    wanted = sorted(ours - theirs - {canonicalize_name(PACKAGE), "torchvision"})
    return [f"{name}=={pins.get(name) or importlib.metadata.version(name)}" for name in wanted]


def download(requirements: list[str], out: Path, python: str) -> None:
    tags = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    tags += ["--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64"]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *tags, "-d", str(out), *requirements]
    subprocess.run(command, check=True)


def build_package(out: Path) -> Path:
    """This package's wheel, built from a clean copy of its sources (no stale build/ folder), with the page."""
    if not (ROOT / "src" / PAGE).is_file():
        raise SystemExit(f"src/{PAGE} is missing: build the page first (`make ui`)")
    with tempfile.TemporaryDirectory() as staging:
        copy = Path(staging) / "src-copy"
        copy.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(ROOT / name, copy / name)
        shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out)]
        subprocess.run([*command, str(copy)], check=True)
    wheel = next(out.glob("qwen_image_editor-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        if PAGE not in archive.namelist():
            raise SystemExit(f"{wheel.name} lacks {PAGE}: the page would be missing on the GPU machine")
    return wheel


def tree_bytes() -> int:
    """The working tree as git tracks it: what is copied besides the wheel folder."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return sum((ROOT / name).stat().st_size for name in listed.decode().split("\0") if name and (ROOT / name).is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's CPython (default 3.12)")
    parser.add_argument(
        "--torchvision", nargs="*", default=["0.26.0", "0.29.1"], help="versions: one per torch the machine may have"
    )
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):  # nothing left over from an earlier build's versions
        old.unlink()
    requirements = needed(args.python_version)
    print(f"{len(requirements)} dependencies the GPU machine lacks: {' '.join(requirements)}")
    download(requirements, out, args.python_version)
    for version in args.torchvision:  # one call each: pip refuses two versions of one package in one
        download([f"torchvision=={version}"], out, args.python_version)
    build_package(out)
    wheels = sorted(out.glob("*.whl"), key=lambda w: w.stat().st_size, reverse=True)
    total = sum(wheel.stat().st_size for wheel in wheels)
    tree = tree_bytes()
    print(
        f"{out}: {len(wheels)} wheels, {total / 2**20:.1f} MiB; with the working tree {(total + tree) / 2**20:.1f} MiB"
    )
    if total + tree > LIMIT:
        largest = ", ".join(f"{w.name} {w.stat().st_size / 2**20:.1f} MiB" for w in wheels[:5])
        print(f"TOO LARGE: over the window's {LIMIT / 2**20:.0f} MiB. Largest: {largest}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
