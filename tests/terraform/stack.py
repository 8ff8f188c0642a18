"""Apply Terraform configurations of this repo against the local cloud, from a scratch directory.

The repo's own directories stay clean (no .terraform, no state): each stack is a copy in a temporary directory
whose module sources point back at the repo. Reused by the e2e suite to get a stack for the controller.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tftest

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / ".venv" / "bin" / "terraform"
CACHE_DIR = Path(os.environ.get("APIGW_CANARY_CACHE", Path.home() / ".cache" / "apigw-canary"))
PROVIDER_VERSION_DIR = CACHE_DIR / "mirror/registry.terraform.io/hashicorp/aws/6.47.1"
# `make setup` puts it there either way: built from source (terraform-provider-aws_v6.47.1, linux_amd64) or
# downloaded from the registry (terraform-provider-aws_v6.47.1_x5, for this machine's platform).
PROVIDER_BINARY = next(
    iter(sorted(PROVIDER_VERSION_DIR.glob("*/terraform-provider-aws_v6.47.1*"))),
    PROVIDER_VERSION_DIR / "linux_amd64" / "terraform-provider-aws_v6.47.1",
)

# A root configuration that calls the repo's root module with a local-cloud provider. Terraform module
# sources cannot be variables, hence the template.
ROOT_WRAPPER = """\
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

provider "aws" {
  region = "us-east-1"
}

variable "stack" {
  type = any
}

module "stack" {
  source = "%(source)s"

  name_prefix                     = var.stack.name_prefix
  execute_api_endpoint            = var.stack.execute_api_endpoint
  metric_period_seconds           = var.stack.metric_period_seconds
  lambda_build_dir                = var.stack.lambda_build_dir
  routes                          = var.stack.routes
  canary_percent                  = try(var.stack.canary_percent, 0)
  extra_rollback_alarm_names         = try(var.stack.extra_rollback_alarm_names, [])
  controller_notification_topic_arns = try(var.stack.controller_notification_topic_arns, [])
  blue_source_dir                 = try(var.stack.blue_source_dir, null)
  green_source_dir                = try(var.stack.green_source_dir, null)
  # The module's own defaults unless a test sets them.
  error_5xx_rate_threshold_percent = try(var.stack.error_5xx_rate_threshold_percent, 5)
  lambda_errors_threshold          = try(var.stack.lambda_errors_threshold, 5)

  lambda_vpc_subnet_ids                 = try(var.stack.lambda_vpc_subnet_ids, [])
  lambda_vpc_security_group_ids         = try(var.stack.lambda_vpc_security_group_ids, [])
  lambda_dead_letter_target_arn         = try(var.stack.lambda_dead_letter_target_arn, null)
  create_dlq                            = try(var.stack.create_dlq, false)
  lambda_kms_key_arn                    = try(var.stack.lambda_kms_key_arn, null)
  lambda_tracing_mode                   = try(var.stack.lambda_tracing_mode, "Active")
  lambda_reserved_concurrent_executions = try(var.stack.lambda_reserved_concurrent_executions, -1)
  lambda_layers                         = try(var.stack.lambda_layers, [])
}

output "controller_config" {
  value = module.stack.controller_config
}

output "controller_iam_policy_json" {
  value = module.stack.controller_iam_policy_json
}

output "stack" {
  value = module.stack
}
"""


def terraform_env(aws_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(aws_env)
    # The project's CLI config installs providers only from the local mirror; a caller's own config wins
    # only if it exists (`make` exports the project's).
    given = os.environ.get("TF_CLI_CONFIG_FILE", "")
    env["TF_CLI_CONFIG_FILE"] = given if given and Path(given).is_file() else str(CACHE_DIR / "terraform.rc")
    env["TF_IN_AUTOMATION"] = "1"
    env["CHECKPOINT_DISABLE"] = "1"
    # Fail fast instead of the SDK's long retry loop when the local cloud rejects a call.
    env["AWS_MAX_ATTEMPTS"] = "3"
    return env


@dataclass
class Stack:
    """One Terraform working directory, its variables and its timings."""

    workdir: Path
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tf = tftest.TerraformTest(str(self.workdir), binary=str(TERRAFORM), env=self.env)

    @classmethod
    def for_root_module(cls, tmp: Path, env: dict[str, str], stack_vars: dict[str, Any]) -> Stack:
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "main.tf").write_text(ROOT_WRAPPER % {"source": REPO.as_posix()})
        (tmp / "terraform.tfvars.json").write_text(json.dumps({"stack": stack_vars}, indent=2))
        return cls(tmp, env)

    @classmethod
    def for_example(cls, name: str, tmp: Path, env: dict[str, str], tf_vars: dict[str, Any]) -> Stack:
        """A copy of examples/<name> whose relative module sources are made absolute."""
        src = REPO / "examples" / name
        tmp.mkdir(parents=True, exist_ok=True)
        for tf_file in src.glob("*.tf"):
            text = re.sub(
                r'source\s*=\s*"(\.\.?/[^"]*)"',
                lambda m: f'source = "{(src / m.group(1)).resolve().as_posix()}"',
                tf_file.read_text(),
            )
            (tmp / tf_file.name).write_text(text)
        (tmp / "terraform.tfvars.json").write_text(json.dumps(tf_vars, indent=2))
        return cls(tmp, env)

    def _timed(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            self.timings[name] = round(time.monotonic() - started, 2)

    def init(self) -> None:
        self._timed("init", self.tf.setup, cleanup_on_exit=False)

    def apply(self, label: str = "apply") -> None:
        self._timed(label, self.tf.apply)

    @contextmanager
    def applied(self) -> Iterator[Stack]:
        """init and apply; destroy and remove the directory afterwards, however the block ends."""
        try:
            self.init()
            self.apply()
            yield self
        finally:
            self.run("destroy", "-auto-approve", "-input=false", "-no-color")
            self.cleanup()

    def destroy(self) -> None:
        self._timed("destroy", self.tf.destroy)

    def outputs(self) -> dict[str, Any]:
        return {k: v for k, v in self.tf.output().items()}

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(TERRAFORM), *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def plan_exit_code(self) -> tuple[int, str]:
        """`terraform plan -detailed-exitcode`: 0 = no changes, 2 = changes, 1 = error."""
        result = self.run("plan", "-detailed-exitcode", "-input=false", "-no-color", "-lock=false")
        return result.returncode, result.stdout + result.stderr

    def managed_resources(self) -> list[str]:
        listed = self.run("state", "list").stdout.splitlines()
        return [r for r in listed if not re.search(r"(^|[.\]])data\.", r)]

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
