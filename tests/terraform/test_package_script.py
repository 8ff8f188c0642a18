"""The lambda_function module's packaging script, on its own (no Terraform, no cloud)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from .stack import REPO

SCRIPT = REPO / "modules" / "lambda_function" / "scripts" / "package.py"


def package(source: Path, output: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PACKAGE_SOURCE_DIR": str(source), "PACKAGE_OUTPUT": str(output)}
    return subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, check=False)


def test_same_sources_give_byte_identical_zips_whatever_the_file_times(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "handler.py").write_text("def lambda_handler(e, c):\n    return 1\n")
    (src / "pkg" / "util.py").write_text("X = 1\n")
    assert package(src, tmp_path / "a.zip").returncode == 0
    os.utime(src / "handler.py", (1_000_000, 1_000_000))
    assert package(src, tmp_path / "b.zip").returncode == 0
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.namelist() == ["handler.py", "pkg/util.py"]


def test_bytecode_caches_are_left_out_and_executables_keep_their_mode(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "__pycache__").mkdir(parents=True)
    (src / "__pycache__" / "handler.cpython-312.pyc").write_bytes(b"\0")
    (src / "stale.pyc").write_bytes(b"\0")
    (src / "handler.py").write_text("")
    (src / "bootstrap").write_text("#!/bin/sh\n")
    (src / "bootstrap").chmod(0o755)
    assert package(src, tmp_path / "out" / "p.zip").returncode == 0
    with zipfile.ZipFile(tmp_path / "out" / "p.zip") as archive:
        assert archive.namelist() == ["bootstrap", "handler.py"]
        assert (archive.getinfo("bootstrap").external_attr >> 16) & 0o777 == 0o755
        assert (archive.getinfo("handler.py").external_attr >> 16) & 0o777 == 0o644


def test_a_missing_source_directory_is_reported_with_its_path(tmp_path: Path) -> None:
    result = package(tmp_path / "nope", tmp_path / "p.zip")
    assert result.returncode != 0
    assert f"source directory {tmp_path / 'nope'} does not exist" in result.stderr
