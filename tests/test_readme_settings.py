"""The README's settings table is generated from the Settings class (scripts/settings_table.py): they never drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from qwen_image_editor.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _script() -> ModuleType:
    # scripts/ is no package: load the script from its file, as `make settings-table` runs it.
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "scripts" / "settings_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


settings_table = _script()


def _readme_rows() -> dict[str, str]:
    """The README table's rows by environment name (the first name in the row's first cell)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(settings_table.START, 1)[1].split(settings_table.END, 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("| `")]
    return {row.split("`")[1]: row for row in rows}


def test_readme_table_is_what_settings_py_generates() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_table.with_table(readme) == readme, (
        f"README.md's settings table differs from settings.py: {settings_table.FIX}"
    )


def test_every_setting_has_a_row_with_its_real_default() -> None:
    rows = _readme_rows()
    assert set(rows) == {f"QIE_{name.upper()}" for name in Settings.model_fields}
    # The hand-written README once said 24 here; the code keeps every result (0).
    assert "| `0` |" in rows["QIE_RETENTION_HOURS"]
    assert "| `5` |" in rows["QIE_CHECKPOINT_EVERY_STEPS"]
    assert rows["QIE_DATA_DIR"].startswith("| `QIE_DATA_DIR` (or `JOBS_DIR`) | `data` |")


def test_each_group_of_settings_names_the_module_that_declares_it() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(settings_table.START, 1)[1].split(settings_table.END, 1)[0]
    leads = [line.split("`")[1] for line in body.splitlines() if line.startswith("**`")]
    assert leads, "no group headings in the README's settings tables"
    package = ROOT / "src" / "qwen_image_editor"
    assert [path for path in leads if not (package / path).is_file()] == []
    # A setting sits under the group that declares it (CORS is not where the model is).
    cors = settings_table.lead(settings_table.group_of("cors_origins"))
    assert cors != settings_table.lead(settings_table.group_of("model"))
    assert body.index("QIE_CORS_ORIGINS") > body.index(cors) > body.index("QIE_MODEL")


def test_check_fails_on_a_drifted_table_and_the_target_fixes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    good = (ROOT / "README.md").read_text(encoding="utf-8")
    drifted = good.replace("| `QIE_RETENTION_HOURS` | `0` |", "| `QIE_RETENTION_HOURS` | `24` |")
    assert drifted != good
    readme.write_text(drifted, encoding="utf-8")
    monkeypatch.setattr(settings_table, "README", readme)

    assert settings_table.main(["--check"]) == 1
    assert "make settings-table" in capsys.readouterr().err
    assert readme.read_text(encoding="utf-8") == drifted  # --check writes nothing

    assert settings_table.main([]) == 0
    assert readme.read_text(encoding="utf-8") == good
    assert settings_table.main(["--check"]) == 0


def test_a_readme_without_the_markers_is_refused_with_what_to_add() -> None:
    with pytest.raises(SystemExit, match="settings-table:start"):
        settings_table.with_table("# A README\n\nno table here\n")


def test_a_pipe_in_a_description_stays_inside_its_cell() -> None:
    assert settings_table.cell("a | b\n  c") == "a \\| b c"
