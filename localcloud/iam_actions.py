"""Which IAM actions on which resources a call needs, per the Service Authorization Reference
(https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).

- apigateway (list_amazonapigatewaymanagement.html): the HTTP verb as the action (`apigateway:GET|POST|PUT|
  PATCH|DELETE`) on the request path as the resource, `arn:{partition}:apigateway:{region}::{path}`
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html);
- cloudwatch (list_amazoncloudwatch.html): metric reads and writes have no resource-level permissions
  (resource `*`); alarm actions act on `arn:...:cloudwatch:{region}:{account}:alarm:{name}`, one per alarm
  named; dashboards on `arn:...:cloudwatch::{account}:dashboard/{name}`; creating or updating with tags also
  needs `cloudwatch:TagResource`;
- lambda (list_awslambda.html): `lambda:{Operation}` (Invoke is `lambda:InvokeFunction`) on the function ARN,
  qualified when the call names a version or alias; CreateFunction and a role change also need `iam:PassRole`;
- sns (list_amazonsns.html): `sns:{Operation}` on the topic ARN;
- sts (list_awssecuritytokenservice.html): GetCallerIdentity needs no permission; AssumeRole is
  `sts:AssumeRole` on the role ARN (and the role's trust policy must allow the caller, see iam_enforcement);
- iam (list_awsidentityandaccessmanagementiam.html): `iam:{Operation}` on the user, role, group or policy the
  call names;
- any other service: `{prefix}:{Operation}` on `*`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .iam_requests import AwsCall

# No permission is needed, even with an explicit deny
# (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})


class UnmappedCall(Exception):
    """The local cloud cannot tell which action a call needs (answered as AccessDenied: fail closed)."""


@dataclass(frozen=True)
class Authorization:
    action: str
    resource: str
    context: dict[str, tuple[str, ...]] = field(default_factory=dict)  # service-specific condition keys


@dataclass(frozen=True)
class Target:
    """What a mapping needs besides the call: the account, and the caller for IAM calls about itself."""

    account: str
    partition: str = "aws"
    caller_arn: str = ""
    iam_arn: Callable[[str, str], str | None] = lambda kind, name: None  # existing IAM entity's ARN


def _tag_context(call: AwsCall) -> dict[str, tuple[str, ...]]:
    tags = call.tags()
    context: dict[str, tuple[str, ...]] = {f"aws:RequestTag/{k}": (v,) for k, v in tags.items()}
    if tags:
        context["aws:TagKeys"] = tuple(tags)
    return context


def apigateway(call: AwsCall, target: Target) -> list[Authorization]:
    resource = f"arn:{target.partition}:apigateway:{call.region}::{call.raw_path}"
    return [Authorization(f"apigateway:{call.method}", resource)]


_ALARM_LIST_OPS = {"DescribeAlarms", "DeleteAlarms", "EnableAlarmActions", "DisableAlarmActions"}
_ALARM_OPS = {"PutMetricAlarm", "PutCompositeAlarm", "SetAlarmState", "DescribeAlarmHistory"}
_TAG_OPS = {"TagResource", "UntagResource", "ListTagsForResource"}


def cloudwatch(call: AwsCall, target: Target) -> list[Authorization]:
    op = call.operation or ""
    action = f"cloudwatch:{op}"
    alarm = f"arn:{target.partition}:cloudwatch:{call.region}:{target.account}:alarm:"
    dashboard = f"arn:{target.partition}:cloudwatch::{target.account}:dashboard/"
    context = _tag_context(call)
    if op == "PutMetricData" and call.param("Namespace"):
        context["cloudwatch:namespace"] = (call.param("Namespace") or "",)
    if op in ("PutMetricAlarm", "PutCompositeAlarm"):
        actions = [
            *call.param_list("AlarmActions"),
            *call.param_list("OKActions"),
            *call.param_list("InsufficientDataActions"),
        ]
        if actions:
            context["cloudwatch:AlarmActions"] = tuple(actions)
    if op in _ALARM_LIST_OPS:
        # DescribeAlarms without names (all alarms, or a name prefix) is checked against every alarm.
        names = call.param_list("AlarmNames") or (["*"] if op == "DescribeAlarms" else [])
        resources = [alarm + name for name in names]
    elif op in _ALARM_OPS:
        resources = [alarm + (call.param("AlarmName") or "*")]
    elif op in ("GetDashboard", "PutDashboard"):
        resources = [dashboard + (call.param("DashboardName") or "")]
    elif op == "DeleteDashboards":
        resources = [dashboard + name for name in call.param_list("DashboardNames")]
    elif op in _TAG_OPS:
        resources = [call.param("ResourceARN") or "*"]
    else:
        resources = ["*"]
    out = [Authorization(action, resource, context) for resource in resources or ["*"]]
    if op in ("PutMetricAlarm", "PutCompositeAlarm", "PutDashboard") and call.tags():
        out += [Authorization("cloudwatch:TagResource", resource, context) for resource in resources]
    return out


_LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeAsync": "InvokeFunction"}
_LAMBDA_ACTIONS["InvokeWithResponseStream"] = "InvokeFunction"


def _function_arn(name: str, qualifier: str | None, call: AwsCall, target: Target) -> str:
    """FunctionName in any documented form (name, name:qualifier, partial or full ARN) -> its ARN."""
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in name:  # partial ARN: 123456789012:function:name
        arn = f"arn:{target.partition}:lambda:{call.region}:{name}"
    else:
        arn = f"arn:{target.partition}:lambda:{call.region}:{target.account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier and arn.count(":") == 6 else arn


def lambda_(call: AwsCall, target: Target) -> list[Authorization]:
    if call.operation is None:
        raise UnmappedCall(f"no Lambda operation answers {call.method} {call.raw_path}")
    op = call.operation
    action = f"lambda:{_LAMBDA_ACTIONS.get(op, op)}"
    name = call.param("FunctionName")
    if name:
        resource = _function_arn(name, call.param("Qualifier"), call, target)
    elif op in ("TagResource", "UntagResource", "ListTags"):
        resource = call.param("Resource") or "*"
    elif call.param("UUID"):
        resource = f"arn:{target.partition}:lambda:{call.region}:{target.account}:event-source-mapping:"
        resource += call.param("UUID") or ""
    else:
        resource = "*"
    out = [Authorization(action, resource, _tag_context(call))]
    role = call.param("Role")
    if role and op in ("CreateFunction", "UpdateFunctionConfiguration"):
        out.append(Authorization("iam:PassRole", role, {"iam:PassedToService": ("lambda.amazonaws.com",)}))
    if op == "CreateFunction" and call.tags():
        out.append(Authorization("lambda:TagResource", resource, _tag_context(call)))
    return out


def sns(call: AwsCall, target: Target) -> list[Authorization]:
    op = call.operation or ""
    topic = call.param("TopicArn") or call.param("ResourceArn") or call.param("TargetArn")
    if op == "CreateTopic" and call.param("Name"):
        topic = f"arn:{target.partition}:sns:{call.region}:{target.account}:{call.param('Name')}"
    return [Authorization(f"sns:{op}", topic or "*", _tag_context(call))]


# moto does not record whose credentials these calls issue, so here they would act as the administrator.
_UNTRACKED_CREDENTIALS = ("GetSessionToken", "GetFederationToken")


def sts(call: AwsCall, target: Target) -> list[Authorization]:
    op = call.operation or ""
    if op in _UNTRACKED_CREDENTIALS:
        raise UnmappedCall(f"{op} credentials would not carry the caller's permissions here; use AssumeRole")
    if op in ("AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"):
        role = call.param("RoleArn") or "*"
        context: dict[str, tuple[str, ...]] = {}
        if call.param("ExternalId"):
            context["sts:ExternalId"] = (call.param("ExternalId") or "",)
        if call.param("RoleSessionName"):
            context["sts:RoleSessionName"] = (call.param("RoleSessionName") or "",)
        out = [Authorization(f"sts:{op}", role, context)]
        if call.tags():
            out.append(Authorization("sts:TagSession", role, {**context, **_tag_context(call)}))
        return out
    return [Authorization(f"sts:{op}", "*")]


_IAM_KINDS = (("UserName", "user"), ("RoleName", "role"), ("GroupName", "group"))


def iam(call: AwsCall, target: Target) -> list[Authorization]:
    op = call.operation or ""
    context: dict[str, tuple[str, ...]] = {}
    if call.param("PolicyArn"):
        context["iam:PolicyARN"] = (call.param("PolicyArn") or "",)
    base = f"arn:{target.partition}:iam::{target.account}:"
    resource = None
    for param, kind in _IAM_KINDS:
        name = call.param(param)
        if name:
            path = call.param("Path") or "/"
            resource = target.iam_arn(kind, name) or f"{base}{kind}{path}{name}"
            break
    if resource is None and call.param("PolicyArn"):
        resource = call.param("PolicyArn")
    if resource is None and op == "CreatePolicy" and call.param("PolicyName"):
        resource = f"{base}policy{call.param('Path') or '/'}{call.param('PolicyName')}"
    if resource is None and call.param("InstanceProfileName"):
        resource = f"{base}instance-profile{call.param('Path') or '/'}{call.param('InstanceProfileName')}"
    self_ops = ("GetUser", "ListAccessKeys", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey")
    if resource is None and op in self_ops and ":user/" in target.caller_arn:
        resource = target.caller_arn  # these operations act on the caller when UserName is omitted
    return [Authorization(f"iam:{op}", resource or "*", context)]


def generic(call: AwsCall, target: Target) -> list[Authorization]:
    if call.operation is None:
        raise UnmappedCall(f"no {call.service_prefix} operation answers {call.method} {call.raw_path}")
    return [Authorization(f"{call.service_prefix}:{call.operation}", "*")]


SERVICES: dict[str, Callable[[AwsCall, Target], list[Authorization]]] = {
    "apigateway": apigateway,
    "cloudwatch": cloudwatch,
    "lambda": lambda_,
    "sns": sns,
    "sts": sts,
    "iam": iam,
}


def authorizations(call: AwsCall, target: Target) -> list[Authorization]:
    """Every (action, resource) the call needs; all of them must be allowed."""
    return SERVICES.get(call.service_prefix, generic)(call, target)
