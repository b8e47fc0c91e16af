"""Step 4 (run_checks): hidden pytest checks run against the scratch dir, one result per file, and files the
student left there (conftest.py, pytest.ini, a module named like one the check imports) change nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.sandbox import Limits
from autograder.steps.run_checks import run_checks

LIMITS = Limits(timeout_s=30, cell_timeout_s=30, memory_mb=1024, max_processes=32, max_output_mb=1)


@pytest.fixture
def tmp():
    path = Path(tempfile.mkdtemp(prefix="dscourse-test-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_each_check_file_passes_or_fails_with_its_message_and_student_files_cannot_rig_it(tmp):
    checks = tmp / "hidden"
    checks.mkdir()
    (checks / "test_artifact.py").write_text(
        "import json\nfrom pathlib import Path\n\n"
        "def test_saved():\n    assert json.loads(Path('model.json').read_text())['acc'] >= 0.95, 'accuracy below 0.95'\n"
    )
    (checks / "test_other.py").write_text(
        "def test_exists():\n    assert __import__('os').path.exists('missing.bin'), 'missing.bin not saved'\n"
    )
    work = tmp / "scratch"
    work.mkdir()
    (work / "model.json").write_text('{"acc": 0.97}')
    (work / "conftest.py").write_text(
        "import pytest\n@pytest.hookimpl(tryfirst=True)\ndef pytest_runtest_call(item):\n    pass\n"
    )
    (work / "pytest.ini").write_text("[pytest]\naddopts = -p no_such_plugin\n")
    (work / "json.py").write_text("raise SystemExit('shadowed')\n")
    results = run_checks([checks / "test_artifact.py", checks / "test_other.py"], workdir=work, limits=LIMITS)
    assert [(r.name, r.passed) for r in results] == [("test_artifact.py", True), ("test_other.py", False)]
    assert "missing.bin not saved" in results[1].message


@pytest.mark.skipif(not sandbox.is_root(), reason="needs root: sandbox uid")
def test_checks_run_as_the_sandbox_uid(tmp):
    check = tmp / "test_uid.py"
    check.write_text(f"import os\n\ndef test_uid():\n    assert os.getuid() >= {sandbox.UID_BASE}\n")
    (tmp / "scratch").mkdir()
    (result,) = run_checks([check], workdir=tmp / "scratch", limits=LIMITS)
    assert result.passed, result.message
