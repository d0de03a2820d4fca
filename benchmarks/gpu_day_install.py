"""The offline install of the GPU day: the wheel folder `make gpu-wheels` fills, into a temporary directory, with pip
and no index. Standard library (and packaging, which pip and transformers bring) only: nothing of this package or
diffusers can be imported before it has run.

The folder holds exactly what a bare GPU machine lacks, so pip installs every wheel in it with `--no-deps` (pip's
`--target` resolves without the machine's own packages, so it would fetch torch). The directory is appended to
`sys.path`, so where the machine has a package already, its own copy wins. torchvision must match the machine's
torch, so the folder holds one per torch pairing and the one whose requirement the installed torch meets is taken.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

TORCHVISION = "torchvision-"


def wheel_requirement(wheel: Path, name: str) -> str | None:
    """The version specifier a wheel's metadata puts on `name` ("==2.11.0"), None when it names none."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        for line in archive.read(metadata).decode().splitlines():
            if not line.startswith("Requires-Dist:"):
                continue
            requirement = line.removeprefix("Requires-Dist:").split(";")[0].strip()
            head = requirement.split("(")[0].split("=")[0].split(">")[0].split("<")[0].split("!")[0].split("~")[0]
            if head.strip().lower() == name:
                return requirement[len(head) :].strip().strip("()").replace(" ", "")
    return None


def pick_torchvision(wheels: list[Path], torch_version: str | None) -> Path | None:
    """The torchvision wheel whose torch requirement `torch_version` meets (None: none does, or no torch)."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    if torch_version is None:
        return None
    version = Version(Version(torch_version).base_version)  # 2.11.0+cu128 -> 2.11.0
    for wheel in sorted(wheels):
        if wheel.name.startswith(TORCHVISION) and version in SpecifierSet(wheel_requirement(wheel, "torch") or ""):
            return wheel
    return None


def chosen_wheels(folder: Path) -> tuple[list[Path], str]:
    """The wheels to install, and a note on torchvision."""
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        raise SystemExit(
            f"{folder} holds no wheels. Run `make gpu-wheels` on a machine with network access first, and copy "
            "the folder along with the working tree."
        )
    others = [wheel for wheel in wheels if not wheel.name.startswith(TORCHVISION)]
    if importlib.util.find_spec("torchvision") is not None:
        return others, "torchvision: the machine's own"
    try:
        torch_version: str | None = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = None
    vision = pick_torchvision(wheels, torch_version)
    if vision is None:
        offered = ", ".join(w.name.split("-")[1] for w in wheels if w.name.startswith(TORCHVISION)) or "none"
        raise SystemExit(
            f"no torchvision wheel in {folder} fits torch {torch_version} (offered: {offered}); rebuild the folder "
            "with `make gpu-wheels GPU_TORCHVISION='<the matching version> ...'`"
        )
    return [*others, vision], f"torchvision: {vision.name} for torch {torch_version}"


def install_wheels(folder: Path, target: Path) -> dict[str, Any]:
    """Install the folder's wheels into `target` offline and make them importable; what was done, for the report."""
    started = time.perf_counter()
    wheels, note = chosen_wheels(folder)
    command = [
        sys.executable,
        "-m",
        "pip",
        "--isolated",  # no configuration files or PIP_* variables: no index, no extra find-links
        "install",
        "--no-index",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        "--target",
        str(target),
        *map(str, wheels),
    ]
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"the offline install of {folder} failed ({' '.join(command[:9])} ...):\n{done.stderr}")
    if str(target) not in sys.path:
        sys.path.append(str(target))
    importlib.invalidate_caches()
    return {
        "wheels": str(folder),
        "installed": [wheel.name for wheel in wheels],
        "seconds": round(time.perf_counter() - started, 1),
        "note": note,
    }


def foreign_wheels(folder: Path) -> list[str]:
    """The folder's wheels built for another CPython than this one (a wheel's name ends python-abi-platform)."""
    here = f"cp{sys.version_info.major}{sys.version_info.minor}"
    tags = [(wheel.name, wheel.name.split("-")[-3]) for wheel in sorted(folder.glob("*.whl"))]
    return [name for name, tag in tags if tag.startswith("cp") and here not in tag.split(".")]


def missing_modules(
    names: tuple[str, ...] = ("diffusers", "qwen_image_editor", "torchvision", "PIL", "rich"),
) -> list[str]:
    return [name for name in names if importlib.util.find_spec(name) is None]
