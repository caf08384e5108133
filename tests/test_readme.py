"""Every example in the README runs: the Python blocks, the CLI lines and the set-up commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from mmpipe.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)


def mmpipe_commands() -> list[str]:
    """`mmpipe ...` command lines from console blocks and the set-up commands."""
    commands = []
    for language, body in BLOCKS:
        for line in body.splitlines():
            if language == "console" and line.startswith("$ mmpipe "):
                commands.append(line[2:])
            elif language == "bash":
                commands += [p.strip() for p in line.split("&&") if p.strip().startswith("mmpipe ")]
    return commands


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_has_exactly_two_setup_commands() -> None:
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    assert len(re.findall(r"```bash\n", setup)) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    second = re.findall(r"```bash\n(.*?)```", setup, flags=re.S)[1].strip()
    assert second in ci


def test_cli_examples_in_order(workdir: Path) -> None:
    """The console lines run in one folder, in order: later ones use earlier outputs."""
    commands = mmpipe_commands()
    assert len(commands) >= 5
    for command in commands:
        assert main(shlex.split(command)[1:]) == 0, command
    assert (workdir / "path.png").stat().st_size > 10_000


def test_python_examples_in_order(workdir: Path) -> None:
    blocks = [body for language, body in BLOCKS if language == "python"]
    assert len(blocks) >= 2
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
