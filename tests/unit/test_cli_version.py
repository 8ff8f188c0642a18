"""`--version` and the console script: what a CI log shows about the controller it ran."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from controller import cli
from controller.cli_parser import CONSOLE_SCRIPT

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())


def test_version_names_the_installed_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"apigw-canary {version('apigw-canary')}\n"
    assert version("apigw-canary") == PYPROJECT["project"]["version"]


def test_the_console_script_runs_the_same_main_as_python_m_controller() -> None:
    assert PYPROJECT["project"]["scripts"] == {CONSOLE_SCRIPT: "controller.cli:main"}
