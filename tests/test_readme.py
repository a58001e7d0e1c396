"""The README is executed: its two commands, its Python blocks, its policy files, its CLI lines."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

from deconnexion.cli import main
from deconnexion.core.policy import Policy

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)
BLOCKS = [(lang, body) for lang, body in BLOCK.findall(README)]

# Commands that start servers or run for minutes are exercised by their own tests.
LONG_RUNNING = {"worker", "gateway", "simulate"}


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCKS if kind == lang]


def test_readme_opens_with_the_simulator_then_the_tests_command():
    first, second = _blocks("sh")[:2]
    assert "pip install -e ." in first and "python -m examples.simulator" in first
    assert "pip install -e '.[dev]'" in second and "python -m pytest" in second


def test_ci_runs_both_readme_commands_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in _blocks("sh")[:2]:
        assert command.strip() in ci


@pytest.mark.parametrize("body", _blocks("python"), ids=lambda b: b.splitlines()[0][:40])
def test_python_example_runs(body, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(body, "README.md", "exec"), {"__name__": "readme_example"})


@pytest.mark.parametrize("body", _blocks("toml"), ids=lambda b: b.splitlines()[0][:40])
def test_toml_example_is_valid(body):
    data = tomllib.loads(body)
    if "routes" in data:
        from deconnexion.web.routes import RouteRules  # the gateway's routes file

        RouteRules.model_validate(data)
    else:
        Policy.from_mapping(data, source="README policy")


def _cli_lines() -> list[list[str]]:
    lines = []
    for body in _blocks("sh")[2:]:
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("deconnexion "):
                argv = shlex.split(line)[1:]
                if argv[0] not in LONG_RUNNING and argv[:2] != ["calendar", "import"]:
                    lines.append(argv)
    return lines


@pytest.mark.parametrize("argv", _cli_lines(), ids=lambda a: " ".join(a)[:50])
def test_cli_example_exits_0(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # The README audits a policy file of the reader's; an empty file is the national rule.
    (tmp_path / "ma-politique.toml").write_text("# national rule\n")
    assert main(argv) == 0, capsys.readouterr().err
