"""The control-plane rate quotas the local cloud enforces with --enforce-quotas: the numbers, in one place.

Each quota is a token bucket per (account, region, bucket): `rate` tokens per second refill it up to `burst`.
"1 request every 5 seconds" is rate 0.2, burst 1; "5 requests every 2 seconds" is rate 2.5, burst 5. A request
takes one token from its operation's own bucket (when the operation has one) and one from its service's shared
budget (when the service has one); it is refused, and takes nothing, unless both have a token.

Sources (read for this table; localcloud/README.md repeats it with the differences from AWS):
- API Gateway: "Amazon API Gateway quotas", section "API Gateway quotas for creating, deploying and managing
  an API" ("fixed quotas ... can't be increased"; "Other operations: No quota up to the total account quota";
  "Total operations: 10 requests per second with a burst quota of 40 requests per second").
- CloudWatch: "CloudWatch service quotas" (DescribeAlarms 9 TPS, GetMetricData 50 TPS, both adjustable by
  request: these are the default values).
"""

from __future__ import annotations

from dataclasses import dataclass

APIGATEWAY_QUOTAS_PAGE = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"
CLOUDWATCH_QUOTAS_PAGE = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html"
)

# Every API Gateway management call (REST APIs and API Gateway V2) shares this budget; per-operation quotas
# come on top of it.
TOTAL = "*"


@dataclass(frozen=True)
class Quota:
    service: str  # the SigV4 signing name: apigateway, monitoring
    operation: str  # API operation name, or TOTAL for the service's shared budget
    rate: float  # tokens per second
    burst: float  # bucket size
    aws_wording: str  # the quota as the AWS page states it
    source: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.service, self.operation)


def _apigw(operation: str, rate: float, burst: float, wording: str) -> Quota:
    return Quota("apigateway", operation, rate, burst, wording, APIGATEWAY_QUOTAS_PAGE)


def _cw(operation: str, tps: float) -> Quota:
    wording = f"{tps:g} transactions per second (TPS)"
    return Quota("monitoring", operation, tps, tps, wording, CLOUDWATCH_QUOTAS_PAGE)


QUOTAS: tuple[Quota, ...] = (
    _apigw(TOTAL, 10.0, 40.0, "Total operations: 10 requests per second with a burst quota of 40 per second"),
    _apigw("CreateApiKey", 5.0, 5.0, "5 requests per second per account"),
    _apigw("CreateDeployment", 1 / 5, 1.0, "1 request every 5 seconds per account"),
    _apigw("CreateDocumentationVersion", 1 / 20, 1.0, "1 request every 20 seconds per account"),
    _apigw("CreateDomainName", 1 / 30, 1.0, "1 request every 30 seconds per account"),
    _apigw("CreateResource", 5.0, 5.0, "5 requests per second per account"),
    _apigw(
        "CreateRestApi:REGIONAL", 1 / 3, 1.0, "Regional or private API: 1 request every 3 seconds per account"
    ),
    _apigw("CreateRestApi:EDGE", 1 / 30, 1.0, "edge-optimized API: 1 request every 30 seconds per account"),
    _apigw("CreateVpcLink (V2)", 1 / 15, 1.0, "1 request every 15 seconds per account"),
    _apigw("DeleteApiKey", 5.0, 5.0, "5 requests per second per account"),
    _apigw("DeleteDomainName", 1 / 30, 1.0, "1 request every 30 seconds per account"),
    _apigw("DeleteResource", 5.0, 5.0, "5 requests per second per account"),
    _apigw("DeleteRestApi", 1 / 30, 1.0, "1 request every 30 seconds per account"),
    _apigw("GetResources", 5 / 2, 5.0, "5 requests every 2 seconds per account"),
    _apigw("DeleteVpcLink (V2)", 1 / 30, 1.0, "1 request every 30 seconds per account"),
    _apigw("ImportDocumentationParts", 1 / 30, 1.0, "1 request every 30 seconds per account"),
    _apigw(
        "ImportRestApi:REGIONAL", 1 / 3, 1.0, "Regional or private API: 1 request every 3 seconds per account"
    ),
    _apigw("ImportRestApi:EDGE", 1 / 30, 1.0, "edge-optimized API: 1 request every 30 seconds per account"),
    _apigw("PutRestApi", 1.0, 1.0, "1 request per second per account"),
    _apigw("UpdateAccount", 1 / 20, 1.0, "1 request every 20 seconds per account"),
    _apigw("UpdateDomainName", 1 / 30, 1.0, "1 request every 30 seconds per account"),
    _apigw("UpdateUsagePlan", 1 / 20, 1.0, "1 request every 20 seconds per account"),
    _cw("DescribeAlarms", 9.0),
    _cw("GetMetricData", 50.0),
)

BY_KEY: dict[tuple[str, str], Quota] = {q.key: q for q in QUOTAS}
