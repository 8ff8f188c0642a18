"""The command reference in README.md and docs/controller.md names every command and flag of `--help`."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from controller.cli_parser import build_parser

REPO = Path(__file__).resolve().parents[2]
PAGES = ("README.md", "docs/controller.md")
_BLOCK = re.compile(r"```\n(python -m controller status.*?)```", re.S)
# A nested command is named with its group: "gates validate", "plan validate".
_COMMAND = re.compile(r"^python -m controller ((?:(?:gates|plan) )?[a-z|]+)")


def subparsers(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command's parser by its name ("gates validate" for a nested one); only leaves."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = subparsers(sub, f"{prefix}{name} ")
                found.update(nested or {f"{prefix}{name}": sub})
    return found


def reference(page: str) -> dict[str, str]:
    """The usage block of a page: each command's lines, by command name."""
    block = _BLOCK.search((REPO / page).read_text())
    assert block, f"{page}: no usage block starting with `python -m controller status`"
    lines: dict[str, str] = {}
    names: list[str] = []
    for line in block[1].splitlines():
        found = _COMMAND.match(line)
        if found:
            head = found[1].split(" ")
            names = [" ".join([*head[:-1], name]) for name in head[-1].split("|")]
        for name in names:
            lines[name] = lines.get(name, "") + " " + line
    return lines


@pytest.mark.parametrize("page", PAGES)
def test_the_reference_names_every_command_and_every_flag_of_its_help(page: str) -> None:
    documented = reference(page)
    commands = subparsers(build_parser())
    assert set(documented) == set(commands)
    for name, parser in commands.items():
        for action in parser._actions:
            flags = [flag for flag in action.option_strings if flag not in ("-h", "--help")]
            if flags:
                assert any(
                    re.search(rf"(?<![\w-]){re.escape(flag)}\b", documented[name]) for flag in flags
                ), f"{page}: `{name}` does not name {'/'.join(flags)}"
