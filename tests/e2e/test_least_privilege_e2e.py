"""The controller run under the module's own policy, on a local cloud that enforces IAM.

A CI user gets exactly `controller_iam_policy_json` (Terraform renders it for this stack) and nothing else.
With its keys every controller command a release needs succeeds; with the same keys, what is outside the
job is refused with AccessDenied and changes nothing. The calls each command made are recorded from the
local cloud's log (out/e2e/least_privilege_calls.json): the local cloud traces each allowed (action,
resource) with LOCALCLOUD_IAM_TRACE=1, and each command runs with AWS_SDK_UA_APP_ID set to its name. The last
test holds docs/iam.md's table of each command's calls to that trace.
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonapigatewaymanagement.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import iam_docs_table
import pytest
from conftest import StackView, applied_root_module
from e2e_controller_helpers import REPO, ControllerProcess, WatchedTraffic, controller_env, run_controller
from terraform.stack import Stack

from localcloud.testing import LocalCloudProcess

RATE_PER_S = 20.0
FAST = ["--interval", "2s", "--min-requests", "10", "--steps", "50,100", "--bake", "6s"]
EXTRA_ALARM = "lp-payments-errors"
APPROVAL = ["--approval", "before-promotion", "--approval-timeout", "5m"]
CALLS = REPO / "out" / "e2e" / "least_privilege_calls.json"
NO_ROW = iam_docs_table.Row("", "", "", frozenset())
_TRACED = re.compile(r"iam: allowed (?P<action>\S+) (?P<resource>\S+) caller=\S+ app=(?P<app>\S+)")


@pytest.fixture(scope="module")
def guarded_cloud() -> Iterator[LocalCloudProcess]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOCALCLOUD_IAM_TRACE", "1")  # read once, when the server starts
        cloud = LocalCloudProcess(metric_period=2, enforce_iam=True).start()
    try:
        assert cloud.admin("GET", "health")["iam_enforced"] is True
        yield cloud
    finally:
        cloud.stop()
        record_calls(Path(cloud.log_path))


def traced_calls(log: Path) -> dict[str, set[tuple[str, str]]]:
    """(action, resource) pairs each tagged command was allowed so far, from the local cloud's trace."""
    calls: dict[str, set[tuple[str, str]]] = {}
    for line in log.read_text(errors="replace").splitlines():
        found = _TRACED.search(line)
        if found and found["app"] != "-":
            calls.setdefault(found["app"], set()).add((found["action"], found["resource"]))
    return calls


def record_calls(log: Path) -> None:
    """The trace, by command tag, in out/e2e (out/ is not versioned)."""
    calls = traced_calls(log)
    CALLS.parent.mkdir(parents=True, exist_ok=True)
    CALLS.write_text(json.dumps({app: sorted(pairs) for app, pairs in sorted(calls.items())}, indent=2))


def as_command(env: dict[str, str], name: str) -> dict[str, str]:
    """The environment with botocore's app id set, so the local cloud's trace names the command."""
    return {**env, "AWS_SDK_UA_APP_ID": name}


def bootstrap(cloud: LocalCloudProcess, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=cloud.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def topic(guarded_cloud: LocalCloudProcess) -> str:
    return bootstrap(guarded_cloud, "sns").create_topic(Name="lp-releases")["TopicArn"]


@pytest.fixture(scope="module")
def stack(
    guarded_cloud: LocalCloudProcess, topic: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    # An alarm the team already has, handed to the module as an extra rollback alarm (Terraform, like any
    # admin, applies with the bootstrap keys).
    bootstrap(guarded_cloud, "cloudwatch").put_metric_alarm(
        AlarmName=EXTRA_ALARM,
        Namespace="Shop",
        MetricName="PaymentErrors",
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=1000,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    with applied_root_module(
        guarded_cloud.env(),
        "e2e-lp",
        tmp_path_factory,
        extra_rollback_alarm_names=[EXTRA_ALARM],
        controller_notification_topic_arns=[topic],
    ) as applied:
        yield applied


@pytest.fixture(scope="module")
def world(stack: Stack, guarded_cloud: LocalCloudProcess, tmp_path_factory: pytest.TempPathFactory):
    outputs = stack.outputs()
    saved = tmp_path_factory.mktemp("lp-outputs") / "outputs.json"
    saved.write_text(json.dumps({k: {"value": v} for k, v in outputs.items()}))
    iam = bootstrap(guarded_cloud, "iam")
    iam.create_user(UserName="ci-release")
    iam.put_user_policy(
        UserName="ci-release", PolicyName="controller", PolicyDocument=outputs["controller_iam_policy_json"]
    )
    key = iam.create_access_key(UserName="ci-release")["AccessKey"]
    env = controller_env(guarded_cloud.env())
    env.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    cfg = outputs["controller_config"]
    clients = {n: bootstrap(guarded_cloud, n) for n in ("apigateway", "cloudwatch")}
    return saved, env, StackView(cfg, clients, guarded_cloud), key


def ci_client(cloud: LocalCloudProcess, key: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=cloud.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )


def shift(outputs: Path, env: dict[str, str], *extra: str, tag: str = "shift") -> ControllerProcess:
    args = ["shift", "--outputs", str(outputs), "--json", *FAST, *extra]
    return ControllerProcess(args, as_command(env, tag))


def command(name: str, outputs: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_controller([name, "--outputs", str(outputs), "--json"], as_command(env, name))


def test_status_shift_with_gates_and_notifications_promote_and_undo_run_under_the_policy(
    world, topic: str, tmp_path: Path
) -> None:
    outputs, env, view, _ = world
    view.wait_idle()
    done = command("status", outputs, env)
    assert done.returncode == 0, done.stderr
    gates = tmp_path / "gates.yaml"
    gates.write_text(
        (REPO / "examples" / "gates" / "checkout.yaml").read_text()
        + f"  - name: payments\n    alarm: {EXTRA_ALARM}\n"
    )
    candidate = view.candidate()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs, env, "--gates", str(gates), "--notify", topic, tag="shift--gates--notify")
        code = run.wait(240)
    assert code == 0, run.stderr
    assert view.live() == candidate
    undone = command("undo", outputs, env)
    assert undone.returncode == 0, undone.stderr
    assert view.live() != candidate


def test_a_faulty_release_is_rolled_back_under_the_policy(world) -> None:
    outputs, env, view, _ = world
    view.wait_idle()
    live, candidate = view.live(), view.candidate()
    view.fault(view.cfg["slots"][candidate]["function_name"], 0.5)
    try:
        with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
            run = shift(outputs, env, tag="shift-faulty")
            code = run.wait(240)
    finally:
        view.clear_faults()
    assert code == 3, run.stderr
    assert view.live() == live


def test_approval_abort_pause_resume_promote_and_rollback_run_under_the_policy(world) -> None:
    outputs, env, view, _ = world
    view.wait_idle()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs, env, *APPROVAL, tag="shift--approval")
        run.wait_event("hold_started", hold="approval", timeout_s=180)
        done = command("abort", outputs, env)
        assert done.returncode == 0, done.stderr
        assert run.wait(120) == 3, run.stderr
    view.wait_idle()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs, env, *APPROVAL, tag="shift--approval")
        run.wait_event("step_started", timeout_s=120)
        for name in ("pause", "resume"):
            done = command(name, outputs, env)
            assert done.returncode == 0, f"{name}: {done.stderr}"
            run.wait_event("hold_ended" if name == "resume" else "hold_started", timeout_s=60)
        run.wait_event("hold_started", hold="approval", timeout_s=180)
        done = command("approve", outputs, env)
        assert done.returncode == 0, done.stderr
        assert run.wait(120) == 0, run.stderr
    # A canary left for the one-shot commands: created by a shift that is told to leave it when stopped.
    view.wait_idle()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs, env, "--on-interrupt", "leave", tag="shift--on-interrupt-leave")
        run.wait_event("step_started", timeout_s=120)
        run.proc.send_signal(2)
        run.wait(60)
    assert view.stage("production")["canarySettings"] is not None  # left, to resume or to settle by hand
    done = command("rollback", outputs, env)
    assert done.returncode == 0, done.stderr
    assert view.stage("production")["canarySettings"] is None
    view.wait_idle()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs, env, "--on-interrupt", "leave", tag="shift--on-interrupt-leave")
        run.wait_event("step_started", timeout_s=120)
        run.proc.send_signal(2)
        run.wait(60)
        done = command("promote", outputs, env)
        assert done.returncode == 0, done.stderr
    assert view.stage("production")["canarySettings"] is None


def test_a_one_wave_plan_is_shifted_to_a_promotion_and_its_status_read_under_the_policy(
    world, tmp_path: Path
) -> None:
    # After the tests above production serves a controller snapshot, so this promotion's clean-up deletes one:
    # the plan's calls are the ones a release makes, measured for docs/iam.md's `shift --plan` column.
    outputs, env, view, _ = world
    view.wait_idle()
    candidate = view.candidate()
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        f"name: lp\nwaves:\n  - stacks: [{{name: lp, outputs: {outputs}, region: {view.cfg['region']}}}]\n"
    )
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        args = ["shift", "--plan", str(plan), "--json", *FAST]
        run = ControllerProcess(args, as_command(env, "shift--plan"))
        code = run.wait(240)
    assert code == 0, run.stderr
    assert run.event("plan_finished", outcome="promoted") is not None, run.events[-3:]
    assert view.live() == candidate
    done = run_controller(["status", "--plan", str(plan), "--json"], as_command(env, "status--plan"))
    assert done.returncode == 0, done.stderr
    shown = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    stacks = next(e for e in shown if e["event"] == "plan_status")["stacks"]
    assert [s["state"] for s in stacks] == ["promoted"]


def test_the_same_keys_are_refused_everything_outside_the_job_and_nothing_changes(
    world, guarded_cloud: LocalCloudProcess
) -> None:
    outputs, env, view, key = world
    view.wait_idle()
    api = view.cfg["api_id"]
    before = view.snapshot()
    apigw = view.apigw
    resource = next(r for r in apigw.get_resources(restApiId=api)["items"] if r.get("path") == "/hello")
    # The AWS CLI, as a user would try it: update-integration and delete-stage are AccessDenied.
    cli_env = {**env}
    for args in (
        [
            "update-integration",
            "--rest-api-id",
            api,
            "--resource-id",
            resource["id"],
            "--http-method",
            "GET",
            "--patch-operations",
            "op=replace,path=/timeoutInMillis,value=1000",
        ],
        ["delete-stage", "--rest-api-id", api, "--stage-name", "production"],
    ):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "awscli",
                "apigateway",
                *args,
                "--endpoint-url",
                guarded_cloud.endpoint_url,
            ],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode != 0 and "AccessDenied" in done.stderr, (args[0], done.stderr)
    ci = {n: ci_client(guarded_cloud, key, n) for n in ("apigateway", "lambda", "cloudwatch")}
    other_api = bootstrap(guarded_cloud, "apigateway").create_rest_api(name="someone-elses")["id"]
    refusals = {
        "patch another API's stage": lambda: ci["apigateway"].update_stage(
            restApiId=other_api, stageName="production", patchOperations=[]
        ),
        "invoke a function": lambda: ci["lambda"].invoke(
            FunctionName=view.cfg["slots"]["blue"]["function_name"]
        ),
        "update a function": lambda: ci["lambda"].update_function_configuration(
            FunctionName=view.cfg["slots"]["blue"]["function_name"], Timeout=30
        ),
        "delete an alarm": lambda: ci["cloudwatch"].delete_alarms(
            AlarmNames=[view.cfg["rollback_alarm_name"]]
        ),
    }
    from botocore.exceptions import ClientError

    for what, call in refusals.items():
        with pytest.raises(ClientError) as caught:
            call()
        error = caught.value.response["Error"]
        assert error["Code"] in ("AccessDenied", "AccessDeniedException"), what
    assert view.snapshot() == before
    kept = view.cw.describe_alarms(
        AlarmNames=[view.cfg["rollback_alarm_name"]], AlarmTypes=["CompositeAlarm"]
    )
    assert kept["CompositeAlarms"]  # the alarm the CI user tried to delete is still there


def test_a_gate_alarm_the_policy_does_not_cover_is_a_one_line_error_that_changes_nothing(world) -> None:
    outputs, env, view, _ = world
    view.wait_idle()
    before = view.snapshot()
    done = run_controller(
        ["shift", "--outputs", str(outputs), "--json", *FAST, "--gate-alarm", "not-in-the-policy"],
        as_command(env, "shift--gate-alarm-uncovered"),
    )
    assert done.returncode == 1
    assert "AccessDenied" in done.stderr and done.stderr.strip().count("\n") == 0
    assert view.snapshot() == before


# A traced resource as docs/iam.md writes it: this stack's names become the page's placeholders.
_AS_DOCUMENTED = (
    (
        re.compile(r"^arn:aws:apigateway:[^:]+::/restapis/[^/]+"),
        "arn:aws:apigateway:REGION::/restapis/API_ID",
    ),
    (
        re.compile(r"/deployments/[^/]+$"),
        "/deployments/DEPLOYMENT_ID",
    ),
    (
        re.compile(r"^arn:aws:cloudwatch:[^:]+:\d+:alarm:.+$"),
        "arn:aws:cloudwatch:REGION:ACCOUNT:alarm:ALARM",
    ),
    (
        re.compile(r"^arn:aws:lambda:[^:]+:\d+:function:.+$"),
        "arn:aws:lambda:REGION:ACCOUNT:function:FUNCTION",
    ),
    (
        re.compile(r"^arn:aws:sns:[^:]+:\d+:.+$"),
        "arn:aws:sns:REGION:ACCOUNT:TOPIC",
    ),
)


def as_documented(resource: str) -> str:
    for pattern, placeholder in _AS_DOCUMENTED:
        resource = pattern.sub(placeholder, resource)
    return resource


def command_of(tag: str) -> str:
    """docs/iam.md's column for a tag: its command ("shift--gates--notify" is shift), a plan's in its own
    ("shift--plan" is `shift --plan`)."""
    name, _, how = tag.partition("-")
    return f"{name} --plan" if how.startswith("-plan") else name


def test_the_calls_each_command_made_are_the_ones_docs_iam_md_lists(guarded_cloud: LocalCloudProcess) -> None:
    # Runs last: the commands above are the measurement. A tag is a command and how it was run
    # ("shift--approval"); docs/iam.md's columns are commands, `shift --plan` and `status --plan` their own.
    made: set[tuple[str, str, str]] = set()
    for tag, pairs in traced_calls(Path(guarded_cloud.log_path)).items():
        made |= {(command_of(tag), action, as_documented(resource)) for action, resource in pairs}
    rows = {(row.action, row.resource): row for row in iam_docs_table.rows()}
    undocumented = sorted(call for call in made if call[0] not in rows.get(call[1:], NO_ROW).made_by)
    assert not undocumented, f"made, but not marked in docs/iam.md: {undocumented}"
    documented = {(command, *key) for key, row in rows.items() for command in row.made_by}
    assert documented <= made, f"marked in docs/iam.md, never made: {sorted(documented - made)}"
