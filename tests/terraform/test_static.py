"""Checks that need no cloud: formatting, validation, generated docs, checkov."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

from .stack import REPO, TERRAFORM

TF_DIRS = [
    ".",
    "modules/lambda_function",
    "modules/rest_api",
    "modules/alarms",
    "modules/custom_domain",
    "examples/basic",
    "examples/complete",
    "examples/multi-region",
]


def run(
    cmd: list[str],
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_terraform_files_are_formatted(tf_env: dict[str, str]) -> None:
    result = run([str(TERRAFORM), "fmt", "-check", "-diff", *TF_DIRS], env=tf_env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("directory", ["examples/basic", "examples/complete", "examples/multi-region", "."])
def test_configuration_is_valid(directory: str, tf_env: dict[str, str], tmp_path: Path) -> None:
    # A private data dir keeps .terraform out of the repo; a lock file init writes is removed again.
    env = {**tf_env, "TF_DATA_DIR": str(tmp_path / ".terraform")}
    lock_file = REPO / directory / ".terraform.lock.hcl"
    had_lock_file = lock_file.exists()
    try:
        init = run(
            [str(TERRAFORM), "init", "-backend=false", "-input=false", "-no-color"],
            cwd=REPO / directory,
            env=env,
        )
        assert init.returncode == 0, init.stdout + init.stderr
        result = run([str(TERRAFORM), "validate", "-no-color", "-json"], cwd=REPO / directory, env=env)
        report = json.loads(result.stdout)
        assert report["valid"], json.dumps(report["diagnostics"], indent=2)
    finally:
        if not had_lock_file:
            lock_file.unlink(missing_ok=True)


def test_module_docs_tables_are_up_to_date() -> None:
    # terraform-docs is built from the Go module proxy on first use (scripts/build-go-tool.sh).
    result = run(["bash", "scripts/terraform-docs.sh", "--check"], timeout=900)
    assert result.returncode == 0, (
        f"stale terraform-docs tables; run scripts/terraform-docs.sh\n{result.stdout}{result.stderr}"
    )


def test_checkov_finds_no_failed_checks(tmp_path: Path) -> None:
    checkov = run(["bash", "scripts/install-checkov.sh"], timeout=900)
    assert checkov.returncode == 0, checkov.stderr
    result = run(
        [
            checkov.stdout.strip(),
            "--directory",
            ".",
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
            "--skip-path",
            r"\.venv",
            "--skip-path",
            "build",
            "--skip-path",
            "out",
            "--skip-path",
            "tests",  # other parts' Terraform fixtures are not the module
        ],
        timeout=600,
    )
    reports = json.loads(result.stdout) if result.stdout.strip() else []
    reports = reports if isinstance(reports, list) else [reports]
    assert reports and reports[0]["summary"]["resource_count"] >= 30, (
        f"checkov ran on nothing: {result.stderr}"
    )
    failed = [
        f"{f['check_id']} {f['resource']} ({f['file_path']})"
        for r in reports
        for f in r.get("results", {}).get("failed_checks", [])
    ]
    assert failed == [], "\n".join(failed)
    skipped = [f for r in reports for f in r.get("results", {}).get("skipped_checks", [])]
    # Every suppression carries its reason in place: "#checkov:skip=CKV_...:reason".
    unexplained = [f"{s['check_id']} {s['resource']}" for s in skipped if not suppress_reason(s).strip()]
    assert unexplained == []


def suppress_reason(check: dict) -> str:
    result = check.get("check_result", {})
    if isinstance(result, str):  # checkov's JSON carries it as a Python repr
        result = ast.literal_eval(result)
    return str(result.get("suppress_comment", ""))
