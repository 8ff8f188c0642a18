"""examples/multi-region on the local cloud: a stack per region, one name, latency or weighted alias records
with a Route 53 health check per region, and `terraform plan` empty after apply and after the controller
promotes each region's canary.

Pages followed:
LATENCY https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-values-latency-alias.html
        (Region, Health check, Evaluate target health, Record ID = SetIdentifier)
WEIGHT  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-values-weighted-alias.html
HCONFIG https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html
HEALTH  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html
CHOOSE  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-how-route-53-chooses-records.html
DOMAIN  https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-custom-domains.html
        (a regional custom domain name and its base path mapping live in the API's region)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
from botocore.exceptions import ClientError

from .conftest import record_timings
from .stack import REPO, Stack

EAST, WEST = "us-east-1", "eu-west-1"
DOMAIN, ZONE = "api.multi.test", "multi.test"


def _vars(aws_env: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "name_prefix": "tft-multi",
        "primary_region": EAST,
        "secondary_region": WEST,
        "domain_name": DOMAIN,
        "zone_name": ZONE,
        "health_check_failure_threshold": 2,
        "health_check_request_interval": 10,
        "execute_api_endpoint": aws_env["AWS_ENDPOINT_URL"],
        "metric_period_seconds": 10,
        **extra,
    }


def _answer(url: str) -> dict[str, Any]:
    response = requests.get(url, timeout=15)
    assert response.status_code == 200, response.text
    return response.json()


def _statuses(aws: Callable[..., Any], check_id: str) -> list[str]:
    observations = aws("route53").get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
    return [o["StatusReport"]["Status"] for o in observations]


def _all(aws: Callable[..., Any], check_id: str, prefix: str) -> bool:
    statuses = _statuses(aws, check_id)
    return bool(statuses) and all(s.startswith(prefix) for s in statuses)


def _answered(localcloud: Any, zone_id: str, client_region: str) -> str:
    """The set identifier Route 53 answers DOMAIN with for a client in client_region (the local stand-in)."""
    answer = localcloud.admin(
        "GET", f"route53/answer?zone_id={zone_id}&name={DOMAIN}&type=A&client_region={client_region}"
    )
    return next(r["set_identifier"] for r in answer["records"] if r["probability"] == 1.0)


def _promote(
    config: dict[str, Any], aws_env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """The controller, as a user runs it on one region's entry of controller_configs."""
    path = tmp_path / f"{config['region']}.json"
    path.write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | aws_env
    return subprocess.run(
        [sys.executable, "-m", "controller", "promote", "--outputs", str(path), "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_multi_region_example_serves_one_name_from_two_regions_with_a_health_check_each(
    stack_factory: Callable[..., Stack],
    aws_env: dict[str, str],
    aws: Callable[..., Any],
    tmp_path: Path,
    wait_until: Callable[..., Any],
    localcloud: Any,
) -> None:
    stack = stack_factory("multi-region", "multi-region", _vars(aws_env, canary_percent=10))
    stack.init()
    try:
        stack.apply()
        out = stack.outputs()
        configs, checks = out["controller_configs"], out["health_check_ids"]
        assert set(configs) == set(checks) == {EAST, WEST}
        port = urlparse(aws_env["AWS_ENDPOINT_URL"]).port

        for region, config in configs.items():
            other = WEST if region == EAST else EAST
            apigw = aws("apigateway", region)
            assert config["region"] == region
            assert apigw.get_rest_api(restApiId=config["api_id"])["name"] == f"tft-multi-{region}"
            with pytest.raises(ClientError):
                aws("apigateway", other).get_rest_api(restApiId=config["api_id"])
            assert _answer(f"{out['production_invoke_urls'][region]}/health")["environment"] in (
                "blue",
                "green",
            )
            # DOMAIN: each region has its own regional domain name for the one name, mapped to its production.
            mappings = apigw.get_base_path_mappings(domainName=DOMAIN)["items"]
            assert [(m["restApiId"], m["stage"]) for m in mappings] == [(config["api_id"], "production")]
            # HCONFIG: an HTTP check of this region's production /health on the local data plane.
            check = aws("route53").get_health_check(HealthCheckId=checks[region])["HealthCheck"]
            hc = check["HealthCheckConfig"]
            assert (hc["Type"], hc["IPAddress"], hc["Port"], hc["ResourcePath"]) == (
                "HTTP",
                "127.0.0.1",
                port,
                f"/restapis/{config['api_id']}/production/_user_request_/health",
            )
            assert (hc["FailureThreshold"], hc["RequestInterval"]) == (2, 10)

        records = aws("route53").list_resource_record_sets(HostedZoneId=out["zone_id"])["ResourceRecordSets"]
        aliases = {
            (r["Region"], r["Type"]): r
            for r in records
            if r["Name"].rstrip(".") == DOMAIN and r["Type"] in ("A", "AAAA")
        }
        # LATENCY: one record per region and type, with its Region, SetIdentifier, health check and target.
        assert sorted(aliases) == sorted([(EAST, "A"), (EAST, "AAAA"), (WEST, "A"), (WEST, "AAAA")])
        for (region, _), record in aliases.items():
            target = aws("apigateway", region).get_domain_name(domainName=DOMAIN)["regionalDomainName"]
            assert record["SetIdentifier"] == f"tft-multi-{region}"
            assert record["HealthCheckId"] == checks[region]
            assert record["AliasTarget"]["DNSName"].rstrip(".") == target
            assert record["AliasTarget"]["EvaluateTargetHealth"] is True
            assert "Weight" not in record

        for check_id in checks.values():
            wait_until(lambda c=check_id: _all(aws, c, "Success: HTTP Status Code 200"), timeout=30)
        code, plan = stack.plan_exit_code()
        assert code == 0, plan

        # A controller rollout's last act in each region: production adopts the canary (green).
        for config in configs.values():
            promoted = _promote(config, aws_env, tmp_path)
            assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        for region in configs:
            assert _answer(f"{out['production_invoke_urls'][region]}/hello")["environment"] == "green"
        code, plan = stack.plan_exit_code()
        assert code == 0, plan

        # HEALTH: stopping the function eu-west-1's production runs turns only that region's check unhealthy.
        # CHOOSE: latency records answer each client with its own region while both are healthy...
        assert _answered(localcloud, out["zone_id"], WEST) == f"tft-multi-{WEST}"
        assert _answered(localcloud, out["zone_id"], EAST) == f"tft-multi-{EAST}"
        west_live = f"tft-multi-{WEST}-green"
        aws("lambda", WEST).put_function_concurrency(FunctionName=west_live, ReservedConcurrentExecutions=0)
        try:
            wait_until(lambda: _all(aws, checks[WEST], "Failure: HTTP Status Code 500"), timeout=30)
            assert _all(aws, checks[EAST], "Success")
            # ...and eu-west-1's clients get us-east-1 once eu-west-1's health check fails.
            wait_until(lambda: _answered(localcloud, out["zone_id"], WEST) == f"tft-multi-{EAST}", timeout=30)
        finally:
            aws("lambda", WEST).delete_function_concurrency(FunctionName=west_live)
        wait_until(lambda: _all(aws, checks[WEST], "Success"), timeout=30)
        wait_until(lambda: _answered(localcloud, out["zone_id"], WEST) == f"tft-multi-{WEST}", timeout=30)

        resources = len(stack.managed_resources())
        stack.destroy()
        record_timings("example_multi_region", stack, {"resources": resources})
        assert stack.managed_resources() == []
        left = {c["Id"] for c in aws("route53").list_health_checks()["HealthChecks"]}
        assert not left & set(checks.values())
        for region in (EAST, WEST):
            assert aws("apigateway", region).get_domain_names()["items"] == []
    finally:
        if stack.managed_resources():
            stack.destroy()


def test_weighted_routing_gives_each_regions_records_its_weight(
    stack_factory: Callable[..., Stack], aws_env: dict[str, str]
) -> None:
    stack = stack_factory(
        "multi-region",
        "multi-weighted",
        _vars(
            aws_env,
            name_prefix="tft-weighted",
            routing_policy="weighted",
            weights={"primary": 90, "secondary": 10},
        ),
    )
    stack.init()
    planned = stack.run("plan", "-input=false", "-no-color", "-out=weighted.tfplan")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    plan = json.loads(stack.run("show", "-json", "weighted.tfplan").stdout)
    records = {
        (rc["module_address"].split(".")[1], rc["index"]): rc["change"]["after"]
        for rc in plan["resource_changes"]
        if rc["type"] == "aws_route53_record" and rc["name"] == "alias"
    }
    # WEIGHT: each region's records carry its weight and set identifier, and no latency region.
    assert sorted(records) == [
        ("primary", "A"),
        ("primary", "AAAA"),
        ("secondary", "A"),
        ("secondary", "AAAA"),
    ]
    for (stack_key, _), after in records.items():
        region = EAST if stack_key == "primary" else WEST
        assert after["weighted_routing_policy"] == [{"weight": 90 if stack_key == "primary" else 10}]
        assert after["latency_routing_policy"] == []
        assert after["set_identifier"] == f"tft-weighted-{region}"


ROOT_WITH_DOMAIN = """
provider "aws" {
  region = "us-east-1"
}

module "stack" {
  source      = "%(source)s"
  name_prefix = "tft-invalid"
  routes      = [{ path = "/hello", method = "GET" }, { path = "/health", method = "GET" }]

  custom_domain = {
    domain_name = "api.invalid.test"
    zone_id     = "Z0000000000000"
    %(domain)s
  }
}
"""


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        (
            'routing = { policy = "latency", set_identifier = "a" }\n    health_check = { path = "/status" }',
            "custom_domain.health_check.path must be served by a GET or ANY route in routes",
        ),
        ("health_check = {}", "health_check needs routing (weighted or latency)"),
        ('routing = { policy = "geo", set_identifier = "a" }', "routing.policy must be weighted or latency."),
        (
            'routing = { policy = "weighted", set_identifier = "a", weight = 300 }',
            "routing.weight must be a whole number from 0 to 255",
        ),
        (
            'routing = { policy = "latency", set_identifier = "a", weight = 5 }',
            "routing.weight applies to the weighted policy only",
        ),
    ],
)
def test_inconsistent_routing_and_health_check_inputs_are_refused_at_plan(
    tmp_path: Path, tf_env: dict[str, str], domain: str, message: str
) -> None:
    (tmp_path / "main.tf").write_text(ROOT_WITH_DOMAIN % {"source": REPO.as_posix(), "domain": domain})
    stack = Stack(tmp_path, tf_env)
    stack.init()
    result = stack.run("plan", "-input=false", "-no-color")
    assert result.returncode == 1
    assert message in " ".join(result.stderr.split()), result.stderr


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("-var=routing_policy=roundrobin", "routing_policy must be latency or weighted."),
        ("-var=health_check_request_interval=20", "health_check_request_interval must be 10 or 30."),
        ("-var=secondary_region=us-east-1", "other than primary_region"),
    ],
)
def test_the_example_refuses_bad_inputs_before_touching_aws(
    stack_factory: Callable[..., Stack], aws_env: dict[str, str], option: str, message: str
) -> None:
    stack = stack_factory("multi-region", "multi-invalid", _vars(aws_env, name_prefix="tft-invalid"))
    stack.init()
    result = stack.run("plan", "-input=false", "-no-color", option)
    assert result.returncode == 1
    assert message in " ".join(result.stderr.split()), result.stderr
