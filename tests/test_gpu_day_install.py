"""The GPU day's offline install (issue 22, points 1-2): pip installs a wheel folder with no index into a directory
that becomes importable; torchvision is taken to match the machine's torch; and `make gpu-wheels` asks for what a
bare GPU machine lacks, not what it has. No network: the wheels here are made by the tests."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from benchmarks.gpu_day_install import chosen_wheels, foreign_wheels, install_wheels, pick_torchvision

ROOT = Path(__file__).resolve().parent.parent


def make_wheel(folder: Path, name: str, version: str, *, requires: str = "", tag: str = "py3-none-any") -> Path:
    """A minimal valid wheel: one module `<name>` whose VERSION is `version`."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + (f"Requires-Dist: {requires}\n" if requires else ""),
        f"{dist}/WHEEL": f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{dist}/RECORD"])
    path = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


@pytest.mark.process  # pip
def test_the_folder_installs_offline_and_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    make_wheel(folder, "gpu_day_probe_pkg", "1.2.3")
    # An index where nothing listens: the install must not ask it (nor any other).
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    done = install_wheels(folder, tmp_path / "site")
    assert done["installed"] == ["gpu_day_probe_pkg-1.2.3-py3-none-any.whl"]
    assert str(tmp_path / "site") == sys.path[-1]  # appended: the machine's own packages win where it has them
    module = importlib.import_module("gpu_day_probe_pkg")
    assert module.VERSION == "1.2.3"


def test_an_empty_folder_says_how_to_fill_it(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="make gpu-wheels"):
        chosen_wheels(tmp_path)


def test_torchvision_is_the_one_built_for_the_machines_torch(tmp_path: Path) -> None:
    old = make_wheel(tmp_path, "torchvision", "0.26.0", requires="torch (==2.11.0)")
    new = make_wheel(tmp_path, "torchvision", "0.29.1", requires="torch (>=2.14.0)")
    wheels = [old, new]
    assert pick_torchvision(wheels, "2.11.0+cu128") == old
    assert pick_torchvision(wheels, "2.14.1") == new
    assert pick_torchvision(wheels, "2.12.0") is None
    assert pick_torchvision(wheels, None) is None


def test_wheels_for_another_python_are_told_apart(tmp_path: Path) -> None:
    here = f"cp{sys.version_info.major}{sys.version_info.minor}"
    make_wheel(tmp_path, "pure", "1.0")
    make_wheel(tmp_path, "native", "1.0", tag=f"{here}-{here}-manylinux_2_28_x86_64")
    other = make_wheel(tmp_path, "other", "1.0", tag="cp39-cp39-manylinux_2_28_x86_64")
    assert foreign_wheels(tmp_path) == [other.name]


def test_gpu_wheels_asks_for_what_the_machine_lacks() -> None:
    spec = importlib.util.spec_from_file_location("gpu_wheels", ROOT / "scripts" / "gpu_wheels.py")
    assert spec is not None and spec.loader is not None
    gpu_wheels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_wheels)
    wanted = {requirement.split("==")[0] for requirement in gpu_wheels.needed("3.12")}
    assert {"diffusers", "pillow", "fastapi", "gguf", "rich"} <= wanted  # the machine lacks these
    on_the_machine = {"torch", "transformers", "peft", "accelerate", "safetensors", "numpy", "huggingface-hub"}
    assert not wanted & on_the_machine
    assert "torchvision" not in wanted  # one per torch, asked for apart
    assert "boto3" not in wanted and "botocore" not in wanted  # S3 only: left out to stay under 64 MiB
    assert all("==" in requirement for requirement in gpu_wheels.needed("3.12"))  # pinned


@pytest.mark.process
def test_make_gpu_day_without_a_gpu_or_dry_run_says_so(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    env = {"PATH": "/usr/bin:/bin", "GPU_DAY_WHEELS": "", "GPU_DAY_OUT": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_day"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0 and "GPU_DAY_DRY_RUN=1" in done.stderr
