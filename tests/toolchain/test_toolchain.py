"""The toolchain is real: Terraform core and hashicorp/aws from the project's filesystem mirror, offline once
`make setup` has filled it (from the registry's releases, or built from source: test_setup_paths.py)."""

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO

REQUIRES_AWS = """
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
  }
}

variable "name" {
  type = string
}

resource "aws_api_gateway_rest_api" "this" {
  name = var.name
}
"""


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def initialised_dir(tmp_path_factory, terraform_bin, terraform_env) -> Path:
    workdir = tmp_path_factory.mktemp("toolchain")
    (workdir / "main.tf").write_text(REQUIRES_AWS)
    result = run([terraform_bin, "init", "-input=false", "-no-color"], workdir, terraform_env)
    assert result.returncode == 0, result.stderr + result.stdout
    return workdir


def test_terraform_is_a_recent_core(terraform_bin, terraform_env, tmp_path):
    result = run([terraform_bin, "version", "-json"], tmp_path, terraform_env)
    assert result.returncode == 0, result.stderr
    major, minor, _ = (int(part) for part in json.loads(result.stdout)["terraform_version"].split("."))
    assert (major, minor) >= (1, 9)


def test_launcher_passes_exit_code_and_stderr_through(terraform_bin, terraform_env, tmp_path):
    result = run([terraform_bin, "no-such-command"], tmp_path, terraform_env)
    assert result.returncode == 1
    assert "no-such-command" in result.stderr
    assert result.stdout == ""


def test_init_installs_aws_v6_from_the_filesystem_mirror(initialised_dir):
    lock = (initialised_dir / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock
    version = lock.split('version     = "', 1)[1].split('"', 1)[0]
    assert version.startswith("6."), version


def test_validate_passes_offline(initialised_dir, terraform_bin, terraform_env):
    result = run([terraform_bin, "validate", "-no-color"], initialised_dir, terraform_env)
    assert result.returncode == 0, result.stderr
    assert "The configuration is valid" in result.stdout


def test_provider_schema_has_stage_canary_settings(initialised_dir, terraform_bin, terraform_env):
    result = run([terraform_bin, "providers", "schema", "-json"], initialised_dir, terraform_env)
    assert result.returncode == 0, result.stderr
    schemas = json.loads(result.stdout)["provider_schemas"]["registry.terraform.io/hashicorp/aws"]
    stage = schemas["resource_schemas"]["aws_api_gateway_stage"]["block"]
    canary = stage["block_types"]["canary_settings"]["block"]["attributes"]
    assert {"percent_traffic", "stage_variable_overrides", "use_stage_cache", "deployment_id"} <= set(canary)


def test_providers_outside_the_mirror_are_refused_not_downloaded(terraform_bin, terraform_env, tmp_path):
    (tmp_path / "main.tf").write_text(
        'terraform {\n  required_providers {\n    random = { source = "hashicorp/random" }\n  }\n}\n'
    )
    result = run([terraform_bin, "init", "-input=false", "-no-color"], tmp_path, terraform_env, timeout=120)
    assert result.returncode != 0
    assert "hashicorp/random" in result.stderr


def test_make_env_exports_point_every_client_at_the_local_cloud():
    result = subprocess.run(["make", "-s", "env"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("export ")]
    exported = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    assert exported["AWS_ENDPOINT_URL"].strip('"') == "http://127.0.0.1:4566"
    assert exported["TF_CLI_CONFIG_FILE"].strip('"').endswith("terraform.rc")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"):
        assert exported[name].strip('"')
