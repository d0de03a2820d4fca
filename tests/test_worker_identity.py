"""Worker names: the same across a service's restarts, never held by two live processes at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qwen_image_editor.worker.identity import WorkerNameInUse, claim_worker_name


def test_a_name_held_by_a_live_process_goes_to_no_other_until_it_is_let_go(tmp_path: Path) -> None:
    first = claim_worker_name(tmp_path)
    second = claim_worker_name(tmp_path)
    assert first.name != second.name and first.name.endswith("-1") and second.name.endswith("-2")
    assert first.worker_id.startswith(f"{first.name}/") and first.run != second.run
    first.release()
    again = claim_worker_name(tmp_path)  # the restart of the first: the same name, a new run
    assert again.name == first.name and again.run != first.run
    second.release()
    again.release()


def test_a_killed_process_leaves_its_name_for_its_restart(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from qwen_image_editor.worker.identity import claim_worker_name;"
            f"print(claim_worker_name(Path({str(tmp_path)!r}), 'svc').name, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "svc"
    with pytest.raises(WorkerNameInUse, match="QIE_WORKER_NAME"):
        claim_worker_name(tmp_path, "svc")
    holder.kill()
    holder.wait(10)
    claim_worker_name(tmp_path, "svc").release()
