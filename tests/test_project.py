"""The project's own promises: one source of dependency pins, the dslib line budget, and a README
quickstart whose two commands are exactly what the scripts and CI run."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _load_count_lines():
    spec = importlib.util.spec_from_file_location("count_lines", ROOT / "scripts" / "count_lines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


count_lines = _load_count_lines()


# ----- dependency pins -----


def _requirement_lines(path: Path) -> list[str]:
    """Requirement lines of a pip requirements file, comments stripped, `-r other.txt` expanded."""
    out = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            out += _requirement_lines(path.parent / line[3:].strip())
        elif line:
            out.append(line)
    return out


def _pins(lines: list[str]) -> dict[str, str]:
    """{normalized name: version} of `name==version` lines; anything else is an error."""
    pins = {}
    for line in lines:
        m = re.fullmatch(r"([A-Za-z0-9._-]+)\s*==\s*([A-Za-z0-9.+!-]+)", line)
        assert m, f"not an exact pin (write name==version): {line!r}"
        name = re.sub(r"[-_.]+", "-", m[1]).lower()
        assert name not in pins, f"{name} is pinned twice"
        pins[name] = m[2]
    return pins


def _environment_pip_lines() -> tuple[list, list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_deps = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    lines = []
    for entry in pip_sections[0]:
        entry = entry.strip()
        if entry.startswith("-r "):  # conda runs pip from environment.yml's folder
            lines += _requirement_lines(ROOT / entry[3:].strip())
        elif entry != "-e .":  # the project itself, editable
            lines.append(entry)
    return conda_deps, lines


def test_every_requirement_is_an_exact_pin():
    _pins(_requirement_lines(ROOT / "requirements.txt"))


def test_environment_yml_installs_exactly_the_pins_of_requirements_txt():
    conda_deps, pip_lines = _environment_pip_lines()
    assert _pins(pip_lines) == _pins(_requirement_lines(ROOT / "requirements.txt"))
    assert "python=3.11" in conda_deps and "pip" in conda_deps
    # Everything Python comes from the pins: conda provides only the interpreter and pip.
    assert sorted(conda_deps) == ["pip", "python=3.11"], f"conda packages outside the pins: {conda_deps}"


def test_torch_is_pinned_to_the_cpu_build_and_torchvision_is_absent():
    pins = _pins(_requirement_lines(ROOT / "requirements.txt"))
    assert pins["torch"] == "2.13.0"  # not 2.13.0+cpu: the file is meant for other machines too
    assert "torchvision" not in pins, "torchvision fails to import beside this torch build"


def test_pin_comparison_notices_a_drifted_version(tmp_path):
    """The mirror check is not vacuous: a changed version or an extra package makes the pin sets differ."""
    base = _pins(_requirement_lines(ROOT / "requirements.txt"))
    drifted = dict(base, numpy="0.0.1")
    assert drifted != base
    (tmp_path / "r.txt").write_text("numpy==1.0\n-r s.txt\n")
    (tmp_path / "s.txt").write_text("# comment\ntorch==2.13.0  # note\n")
    assert _pins(_requirement_lines(tmp_path / "r.txt")) == {"numpy": "1.0", "torch": "2.13.0"}
    with pytest.raises(AssertionError, match="exact pin"):
        _pins(["numpy>=2"])


# ----- line budget -----


def test_dslib_code_lines_stay_within_the_budget():
    counts = count_lines.count_tree(ROOT / "dslib")
    total = sum(counts.values())
    biggest = sorted(counts.items(), key=lambda kv: -kv[1])[:5]
    assert total <= count_lines.LINE_BUDGET, (
        f"dslib/ has {total} code lines, over the budget of {count_lines.LINE_BUDGET}; largest files: {biggest}"
    )


def test_readme_states_the_budget_that_the_test_checks():
    assert f"**{count_lines.LINE_BUDGET:,} code lines**" in (ROOT / "README.md").read_text()


def test_line_count_skips_blanks_comments_and_docstrings():
    source = '''"""Module docstring
spanning lines."""

import math  # a comment on a code line still counts


def f(x):
    """Docstring."""
    # a comment line
    s = """a multi-line
string value"""
    return math.exp(x) + len(s)


class A:
    "one-line docstring"

    y = (1,
         2)
'''
    # import, def, s = (2 lines), return, class, y = (2 lines)
    assert count_lines.count_code_lines(source) == 8


# ----- the README's two commands, the scripts and CI -----


def _readme_quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^## Quickstart\n(.*?)^```(?:bash|sh)\n(.*?)^```", text, re.M | re.S)
    assert m, "README.md needs a '## Quickstart' section with a ```bash block"
    commands = [line.split(" #", 1)[0].strip() for line in m[2].splitlines()]  # drop trailing comments
    return [c for c in commands if c and not c.startswith("#")]


def _commands(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_readme_quickstart_is_the_demo_command_and_the_test_command():
    assert _readme_quickstart_commands() == ["bash scripts/demo.sh", "bash scripts/test.sh"]


def test_ci_runs_exactly_the_readme_test_command():
    test_command = _readme_quickstart_commands()[1]
    ci = ROOT / ".ci" / "run"
    assert ci.read_text().startswith("#!/usr/bin/env bash\n")
    commands = _commands(ci)
    assert "set -euo pipefail" in commands
    assert commands[-1] == f"exec {test_command}", f".ci/run must end with 'exec {test_command}'"


@pytest.mark.parametrize("script", ["demo.sh", "test.sh"])
def test_readme_commands_set_up_the_environment_first(script):
    commands = _commands(ROOT / "scripts" / script)
    body = [c for c in commands if c not in ("set -euo pipefail",) and not c.startswith("cd ")]
    assert body[0] == "bash scripts/setup.sh", f"scripts/{script} must call scripts/setup.sh first"


def test_test_script_runs_ruff_lint_and_format_checks_before_pytest():
    commands = _commands(ROOT / "scripts" / "test.sh")
    order = [c for c in commands if c.startswith((".venv/bin/ruff", ".venv/bin/python -m pytest"))]
    assert order[:2] == [".venv/bin/ruff check .", ".venv/bin/ruff format --check ."]
    assert order[2].startswith(".venv/bin/python -m pytest")


@pytest.mark.parametrize("script", ["scripts/setup.sh", "scripts/demo.sh", "scripts/test.sh", ".ci/run"])
def test_shell_scripts_parse_and_stop_on_the_first_error(script):
    path = ROOT / script
    assert "set -euo pipefail" in _commands(path)
    subprocess.run(["bash", "-n", str(path)], check=True)
