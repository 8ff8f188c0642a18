"""CloudWatch (and other services) over the Smithy RPC v2 CBOR protocol.

boto3 1.44 picks the first protocol of its own priority list (json, rest-json, rest-xml, smithy-rpc-v2-cbor,
query) that the model lists, so for CloudWatch it uses JSON and the other tests cover that path. Here a copy
of the botocore model that lists only `smithy-rpc-v2-cbor` makes boto3 speak CBOR, as the Terraform provider
does.

Pages followed:
RPCV2   https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html (wire format, __type errors)
QCOMP   https://smithy.io/2.0/aws/protocols/aws-query-protocol.html#aws-protocols-awsquerycompatible-trait
PUTMA   https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
DESCR   https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html
GMS     https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html
GETDB   https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetDashboard.html
PUTMD   https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.rpcv2_cbor import decode

UTC = dt.UTC


def cbor_client(
    service: str,
    endpoint: str,
    tmp: Path,
    credentials: tuple[str, str, str | None] = ("test", "test", None),
    **config: Any,
) -> Any:
    """A boto3 client whose service model offers only smithy-rpc-v2-cbor (credentials: key, secret, token)."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    model = loader.load_service_model(service, "service-2")
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    target = tmp / service / model["metadata"]["apiVersion"]
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(model))
    loader.search_paths.insert(0, str(tmp))
    boto = boto3.Session(
        botocore_session=session,
        region_name="us-east-1",
        aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1],
        aws_session_token=credentials[2],
    )
    return boto.client(service, endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}, **config))


@pytest.fixture
def cw(localcloud: Any, tmp_path: Path) -> Any:
    client = cbor_client("cloudwatch", localcloud.endpoint_url, tmp_path)
    assert client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    return client


def test_boto3_uses_json_for_cloudwatch_unless_told_otherwise(aws_client: Any) -> None:
    # The default path, covered by the other CloudWatch tests, is JSON (botocore's priority order).
    assert aws_client("cloudwatch").meta.service_model.resolved_protocol == "json"


def test_a_cbor_client_reaches_the_same_alarms_and_metrics_as_a_json_client(cw: Any, aws_client: Any) -> None:
    name = f"cbor-{uuid.uuid4().hex[:8]}"
    sent: list[tuple[str, str]] = []
    cw.meta.events.register(
        "before-send", lambda request, **_: sent.append((request.url, request.headers.get("smithy-protocol")))
    )
    now = dt.datetime.now(UTC)
    cw.put_metric_data(
        Namespace=name, MetricData=[{"MetricName": "Count", "Value": v} for v in (1.0, 2.0, 3.0)]
    )
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=name,
        MetricName="Count",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.5,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": "team", "Value": "edge"}],
    )
    # RPCV2: the call went out as POST /service/{Service}/operation/{Operation} with the protocol header.
    assert sent[0][0].endswith("/service/GraniteServiceVersion20100801/operation/PutMetricData")
    assert sent[0][1] in (b"rpc-v2-cbor", "rpc-v2-cbor")

    # DESCR: the JSON client sees the alarm the CBOR client created, and vice versa the same fields come back.
    via_json = aws_client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    via_cbor = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert via_cbor["AlarmArn"] == via_json["AlarmArn"]
    assert via_cbor["Threshold"] == 1.5 and via_cbor["EvaluationPeriods"] == 1
    assert via_cbor["StateValue"] == via_json["StateValue"]
    # RPCV2: timestamps travel as tag-1 epoch seconds, which botocore turns back into datetimes.
    assert isinstance(via_cbor["AlarmConfigurationUpdatedTimestamp"], dt.datetime)
    assert via_cbor["AlarmConfigurationUpdatedTimestamp"] == via_json["AlarmConfigurationUpdatedTimestamp"]
    tags = cw.list_tags_for_resource(ResourceARN=via_cbor["AlarmArn"])["Tags"]
    assert tags == [{"Key": "team", "Value": "edge"}]

    # GMS: statistics over the three values, with the timestamp of the period they fell in.
    stats = cw.get_metric_statistics(
        Namespace=name,
        MetricName="Count",
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=5),
        Period=60,
        Statistics=["Sum", "SampleCount", "Maximum"],
    )["Datapoints"]
    assert sum(p["Sum"] for p in stats) == 6.0 and sum(p["SampleCount"] for p in stats) == 3.0
    assert all(abs((p["Timestamp"] - now).total_seconds()) < 300 for p in stats)

    cw.delete_alarms(AlarmNames=[name])
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []


def test_a_gzipped_put_metric_data_is_read(localcloud: Any, tmp_path: Path) -> None:
    # PUTMD: PutMetricData accepts gzip-compressed bodies; SDKs compress above a size threshold.
    cw = cbor_client("cloudwatch", localcloud.endpoint_url, tmp_path, request_min_compression_size_bytes=1)
    name = f"gz-{uuid.uuid4().hex[:8]}"
    encodings: list[Any] = []
    cw.meta.events.register(
        "before-send", lambda request, **_: encodings.append(request.headers.get("Content-Encoding"))
    )
    cw.put_metric_data(Namespace=name, MetricData=[{"MetricName": "Count", "Value": 4.0}])
    assert encodings[0] in (b"gzip", "gzip")
    metrics = cw.list_metrics(Namespace=name)["Metrics"]
    assert [m["MetricName"] for m in metrics] == ["Count"]


def test_a_missing_dashboard_is_a_404_whose_type_names_the_error_shape(cw: Any, localcloud: Any) -> None:
    # GETDB: GetDashboard of an unknown name fails with ResourceNotFound (shape DashboardNotFoundError, 404).
    with pytest.raises(ClientError) as raised:
        cw.get_dashboard(DashboardName=f"nope-{uuid.uuid4().hex[:6]}")
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # QCOMP: CloudWatch is awsQueryCompatible, so the query code arrives in x-amzn-query-error.
    assert response["Error"]["Code"] == "ResourceNotFound"
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-query-error"] == "ResourceNotFound;Sender"
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert headers["content-type"] == "application/cbor"


def test_the_error_body_is_a_cbor_map_with_the_shape_id_in_type(localcloud: Any) -> None:
    # RPCV2: an error is a CBOR map whose __type is the error's shape ID; clients match on the part after '#'.
    # 0xA1 = map of 1; 0x6D + "DashboardName"; 0x63 + "abc"
    body = bytes([0xA1, 0x6D]) + b"DashboardName" + bytes([0x63]) + b"abc"
    response = requests.post(
        f"{localcloud.endpoint_url}/service/GraniteServiceVersion20100801/operation/GetDashboard",
        data=body,
        headers={
            "smithy-protocol": "rpc-v2-cbor",
            "Content-Type": "application/cbor",
            "Accept": "application/cbor",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/monitoring/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
        timeout=10,
    )
    assert response.status_code == 404
    error = decode(response.content)
    assert error["__type"].rsplit("#", 1)[-1] == "DashboardNotFoundError"
    assert error["message"]


def test_an_unsigned_cbor_call_still_finds_its_service_by_the_path(localcloud: Any) -> None:
    # RPCV2: the path names the service shape, so the operation resolves without a SigV4 credential scope.
    response = requests.post(
        f"{localcloud.endpoint_url}/service/GraniteServiceVersion20100801/operation/ListDashboards",
        data=bytes([0xA0]),  # empty map: no input members
        headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"},
        timeout=30,
    )
    assert response.status_code == 200, response.content
    assert response.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert isinstance(decode(response.content).get("DashboardEntries", []), list)


def test_another_cbor_service_works_the_same_way(localcloud: Any, tmp_path: Path) -> None:
    # Any service whose model lists smithy-rpc-v2-cbor and json: CodePipeline, served by moto as JSON.
    client = cbor_client("codepipeline", localcloud.endpoint_url, tmp_path)
    assert client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    assert isinstance(client.list_pipelines()["pipelines"], list)
