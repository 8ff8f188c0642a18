"""The real Terraform AWS provider manages CloudWatch alarms and dashboards on the local cloud.

hashicorp/aws 6.x talks to CloudWatch in smithy-rpc-v2-cbor only (aws-sdk-go-v2), so this is the end-to-end
check of `localcloud/rpcv2_cbor.py`: apply, a no-change plan, destroy.

Pages followed:
PUTMA   https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
MATHAL  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create-alarm-on-metric-math-expression.html
COMPOS  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutCompositeAlarm.html
DASH    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html
DESCR   https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html
TAGS    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_ListTagsForResource.html
PLAN    https://developer.hashicorp.com/terraform/cli/commands/plan#detailed-exitcode
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from terraform.stack import CACHE_DIR as CACHE
from terraform.stack import PROVIDER_BINARY as PROVIDER
from terraform.stack import TERRAFORM

pytestmark = pytest.mark.skipif(
    not (PROVIDER.is_file() and TERRAFORM.exists()),
    reason=f"needs the hashicorp/aws 6.47.1 provider built by `make setup` at {PROVIDER} and {TERRAFORM}",
)

CONFIG = Path(__file__).parent / "fixtures" / "cloudwatch_stack" / "main.tf"


def _env(endpoint: str) -> dict[str, str]:
    # The machine exports its own TF_CLI_CONFIG_FILE; the project's installs providers from the mirror only.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(
        {
            "TF_CLI_CONFIG_FILE": str(CACHE / "terraform.rc"),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            # A call the local cloud rejects should fail the test, not sit in the SDK's retry loop.
            "AWS_MAX_ATTEMPTS": "2",
        }
    )
    return env


def _tf(
    workdir: Path, env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(TERRAFORM), *args, "-no-color"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode not in ok:
        raise AssertionError(
            f"terraform {' '.join(args)} exited {proc.returncode}\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def test_terraform_applies_replans_clean_and_destroys_alarms_and_a_dashboard(
    tmp_path: Path, localcloud: Any, aws_client: Any
) -> None:
    prefix = f"tfcw-{uuid.uuid4().hex[:8]}"
    (tmp_path / "main.tf").write_text(CONFIG.read_text())
    env = _env(localcloud.endpoint_url)
    cw = aws_client("cloudwatch")
    var = f"-var=prefix={prefix}"

    _tf(tmp_path, env, "init", "-input=false")
    applied = False
    try:
        _tf(tmp_path, env, "apply", "-auto-approve", "-input=false", var)
        applied = True

        # DESCR/MATHAL: the metric-math alarm keeps its queries, with the expression as the returned one.
        alarms = cw.describe_alarms(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        by_name = {a["AlarmName"]: a for a in alarms["MetricAlarms"]}
        rate = by_name[f"{prefix}-5xx-rate"]
        assert {q["Id"]: q.get("ReturnData", False) for q in rate["Metrics"]} == {
            "rate": True,
            "errors": False,
            "requests": False,
        }
        assert (rate["EvaluationPeriods"], rate["DatapointsToAlarm"], rate["Threshold"]) == (3, 2, 5.0)
        # PUTMA: a percentile goes in ExtendedStatistic.
        assert by_name[f"{prefix}-p99-latency"]["ExtendedStatistic"] == "p99"
        # COMPOS: the rule is stored as written; new alarms start in INSUFFICIENT_DATA (DESCR).
        composite = alarms["CompositeAlarms"][0]
        assert composite["AlarmName"] == f"{prefix}-rollback"
        assert f'ALARM("{prefix}-5xx-rate")' in composite["AlarmRule"]
        # TAGS: tags given to PutMetricAlarm / PutCompositeAlarm are listed on the alarm ARN.
        tags = cw.list_tags_for_resource(ResourceARN=composite["AlarmArn"])["Tags"]
        assert {"Key": "Purpose", "Value": "canary"} in tags
        # DASH: the dashboard body is returned as it was put.
        body = json.loads(cw.get_dashboard(DashboardName=f"{prefix}-canary")["DashboardBody"])
        assert body["widgets"][0]["properties"]["title"] == "Canary 5XX rate"

        # PLAN: -detailed-exitcode is 0 when there are no changes, 2 when there are.
        plan = _tf(tmp_path, env, "plan", "-detailed-exitcode", "-input=false", var, ok=(0, 2))
        assert plan.returncode == 0, f"a second plan should show no changes:\n{plan.stdout[-4000:]}"
    finally:
        if applied or (tmp_path / "terraform.tfstate").exists():
            _tf(tmp_path, env, "destroy", "-auto-approve", "-input=false", var)

    left = cw.describe_alarms(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    assert left["MetricAlarms"] == [] and left["CompositeAlarms"] == []
    assert cw.list_dashboards(DashboardNamePrefix=prefix)["DashboardEntries"] == []
