"""Several regions at once: each region keeps its own APIs, functions, metrics and alarms, and the data plane
serves an API whichever region it lives in.

Pages followed:
REGIONS  https://docs.aws.amazon.com/general/latest/gr/rande.html (API Gateway, Lambda and CloudWatch are
         regional: a region's endpoint sees that region's resources only)
INVOKE   https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-call-api.html
         (https://{restapi_id}.execute-api.{region}.amazonaws.com/{stage}/ - the local path has no region)
APIGWMET https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
LAMMET   https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
ALARMS   https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import requests

EAST, WEST = "us-east-1", "eu-west-1"


@dataclass
class RegionalStack:
    region: str
    function: str
    api_id: str
    api_name: str
    url: str


@pytest.fixture
def two_regions(make_function, make_api, aws_client):
    """The same function name in both regions (VERSION tells them apart), and an API in each calling it."""

    def build(west_env=None):
        name = f"fn-{time.monotonic_ns() % 10**8}"
        stacks = {}
        for region, env in ((EAST, {"VERSION": "east"}), (WEST, west_env or {"VERSION": "west"})):
            make_function(name=name, env=env, region=region)
            api = make_api(function=name, region=region)
            aws_client("apigateway", region).create_deployment(restApiId=api.id, stageName="production")
            stacks[region] = RegionalStack(region, name, api.id, api.name, api.url("production", ""))
        return stacks

    return build


def _sum(cw, namespace, metric, dims):
    now = datetime.now(tz=UTC)
    result = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dims},
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
    )
    return sum(result["MetricDataResults"][0]["Values"])


def test_each_region_lists_only_its_own_apis_and_functions(two_regions, aws_client):
    stacks = two_regions()
    # REGIONS: a regional endpoint answers for its own region's resources.
    east_apis = {a["id"] for a in aws_client("apigateway", EAST).get_rest_apis(limit=500)["items"]}
    west_apis = {a["id"] for a in aws_client("apigateway", WEST).get_rest_apis(limit=500)["items"]}
    assert stacks[EAST].api_id in east_apis and stacks[EAST].api_id not in west_apis
    assert stacks[WEST].api_id in west_apis and stacks[WEST].api_id not in east_apis
    west_fn = aws_client("lambda", WEST).get_function(FunctionName=stacks[WEST].function)
    assert west_fn["Configuration"]["FunctionArn"].startswith(f"arn:aws:lambda:{WEST}:")


def test_the_data_plane_serves_an_api_from_any_region_with_that_regions_function(two_regions):
    stacks = two_regions()
    # INVOKE: each API is reached through its own invoke URL; the function its integration names runs.
    for region, expected in ((EAST, "east"), (WEST, "west")):
        response = requests.get(f"{stacks[region].url}/hello", timeout=15)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == expected
        assert response.json()["stage"] == "production"


def test_metrics_land_in_the_region_of_the_api_and_of_the_function(two_regions, aws_client, wait_until):
    stacks = two_regions()
    west = stacks[WEST]
    for _ in range(3):
        assert requests.get(f"{west.url}/hello", timeout=15).status_code == 200
    api_dims = [{"Name": "ApiName", "Value": west.api_name}, {"Name": "Stage", "Value": "production"}]
    fn_dims = [{"Name": "FunctionName", "Value": west.function}]
    west_cw, east_cw = aws_client("cloudwatch", WEST), aws_client("cloudwatch", EAST)
    # APIGWMET / LAMMET: metrics are published in the region of the API and of the function.
    wait_until(lambda: _sum(west_cw, "AWS/ApiGateway", "Count", api_dims) == 3, message="west API Count")
    wait_until(lambda: _sum(west_cw, "AWS/Lambda", "Invocations", fn_dims) == 3, message="west Invocations")
    assert _sum(east_cw, "AWS/ApiGateway", "Count", api_dims) == 0
    # The east function has the same name but served no request.
    assert _sum(east_cw, "AWS/Lambda", "Invocations", fn_dims) == 0
    listed = east_cw.list_metrics(
        Namespace="AWS/ApiGateway", Dimensions=[{"Name": "ApiName", "Value": west.api_name}]
    )
    assert listed["Metrics"] == []


def test_an_alarm_judges_its_own_regions_metrics_only(two_regions, aws_client, localcloud, wait_until):
    stacks = two_regions(west_env={"VERSION": "west", "MODE": "raise"})
    west = stacks[WEST]
    alarm = f"{west.api_name}-5xx"
    for region in (EAST, WEST):
        # The same alarm, by name and dimensions, in both regions.
        aws_client("cloudwatch", region).put_metric_alarm(
            AlarmName=alarm,
            Namespace="AWS/ApiGateway",
            MetricName="5XXError",
            Dimensions=[
                {"Name": "ApiName", "Value": west.api_name},
                {"Name": "Stage", "Value": "production"},
            ],
            Statistic="Sum",
            Period=10,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        )
    assert requests.get(f"{west.url}/hello", timeout=15).status_code == 502

    def state(region):
        localcloud.admin("POST", "alarms/evaluate")
        return aws_client("cloudwatch", region).describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0][
            "StateValue"
        ]

    # ALARMS: the alarm evaluates the metric in its own region; the west API's errors are west's only.
    wait_until(lambda: state(WEST) == "ALARM", timeout=30, message="west alarm in ALARM")
    assert state(EAST) == "INSUFFICIENT_DATA"
