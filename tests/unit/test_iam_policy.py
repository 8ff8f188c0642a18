"""The local cloud's IAM policy evaluation, pure: allow, implicit and explicit deny, wildcards, NotAction /
NotResource, conditions, policy variables, boundaries, session and trust policies."""

from __future__ import annotations

import pytest

from localcloud.iam_conditions import PolicyError, wildcard_match
from localcloud.iam_policy import (
    Decision,
    Policy,
    PolicyKind,
    Principal,
    PrincipalMatch,
    Request,
    authorize,
    evaluate,
)

API = "arn:aws:apigateway:us-east-1::/restapis/a1b2c3"
STAGE = f"{API}/stages/production"


def policy(*statements: dict, version: str = "2012-10-17", arn: str | None = None) -> Policy:
    return Policy.parse({"Version": version, "Statement": list(statements)}, arn=arn)


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(policies, action, resource, context=None):
    return authorize(Request.of(action, resource, context), policies)


# Evaluation logic: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html


def test_an_allow_statement_for_the_action_and_resource_allows_the_request():
    verdict = decide([policy(allow("apigateway:PATCH", STAGE))], "apigateway:PATCH", STAGE)
    assert verdict.allowed and verdict.decision is Decision.ALLOW


def test_a_request_no_statement_allows_is_implicitly_denied_by_identity_policies():
    verdict = decide([policy(allow("apigateway:GET", STAGE))], "apigateway:PATCH", STAGE)
    assert not verdict.allowed
    assert verdict.decision is Decision.IMPLICIT_DENY and verdict.kind is PolicyKind.IDENTITY
    # Wording of AWS's implicit-deny messages:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
    assert verdict.reason("apigateway:PATCH") == (
        " because no identity-based policy allows the apigateway:PATCH action"
    )


def test_no_policies_at_all_deny_everything():
    assert not decide([], "cloudwatch:GetMetricData", "*").allowed


def test_an_explicit_deny_wins_over_an_allow_in_another_policy():
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html
    managed = "arn:aws:iam::123456789012:policy/no-stage-deletes"
    policies = [
        policy(allow("apigateway:*", f"{API}/*")),
        policy(deny("apigateway:DELETE", STAGE), arn=managed),
    ]
    verdict = decide(policies, "apigateway:DELETE", STAGE)
    assert verdict.decision is Decision.EXPLICIT_DENY
    assert (
        verdict.reason("apigateway:DELETE")
        == f" with an explicit deny in an identity-based policy: {managed}"
    )
    assert decide(policies, "apigateway:DELETE", f"{API}/deployments/d1").allowed


def test_a_deny_that_does_not_match_the_resource_leaves_the_allow_standing():
    policies = [
        policy(allow("apigateway:PATCH", f"{API}/stages/*"), deny("apigateway:PATCH", f"{API}/stages/dev"))
    ]
    assert decide(policies, "apigateway:PATCH", STAGE).allowed
    assert not decide(policies, "apigateway:PATCH", f"{API}/stages/dev").allowed


# Action and Resource matching:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html (case-insensitive)
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html (wildcards per
# ARN segment; a trailing "*" in a segment may span colons; case-sensitive)


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("cloudwatch:Get*", "cloudwatch:GetMetricData", True),
        ("cloudwatch:get*", "cloudwatch:GetMetricData", True),
        ("CLOUDWATCH:DESCRIBEALARMS", "cloudwatch:DescribeAlarms", True),
        ("cloudwatch:?etMetricData", "cloudwatch:GetMetricData", True),
        ("cloudwatch:Describe*", "cloudwatch:DeleteAlarms", False),
        ("*", "lambda:InvokeFunction", True),
        ("apigateway:P*", "apigateway:PATCH", True),
        ("apigateway:P*", "apigateway:GET", False),
    ],
)
def test_actions_match_with_wildcards_and_ignore_case(pattern, action, matches):
    assert decide([policy(allow(pattern))], action, "*").allowed is matches


@pytest.mark.parametrize(
    ("pattern", "resource", "matches"),
    [
        (f"{API}/stages/*", STAGE, True),
        (f"{API}/stages/*", f"{API}/stages/production/canary", True),  # "*" spans "/"
        ("arn:aws:apigateway:*::/restapis/*/stages/production", STAGE, True),
        (f"{API}/stages/prod?ction", STAGE, True),
        (f"{API}/stages/Production", STAGE, False),  # case-sensitive
        (f"{API}/stages/production", f"{API}/stages/production/x", False),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            "arn:aws:lambda:us-east-1:123456789012:function:f:live",
            False,
        ),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:f:*",
            "arn:aws:lambda:us-east-1:123456789012:function:f:live",
            True,
        ),
        ("arn:aws:sns:*", "arn:aws:sns:us-east-1:123456789012:topic", True),  # a trailing "*" spans colons
        ("arn:aws:sns:us-?ast-1:*:topic", "arn:aws:sns:us-east-1:123456789012:topic", True),
        ("arn:aws:sns:us-east-1:1234*89012:topic", "arn:aws:sns:us-east-1:1234:56789012:topic", False),
    ],
)
def test_resources_match_with_wildcards_within_arn_segments(pattern, resource, matches):
    assert decide([policy(allow("sns:Publish", pattern))], "sns:Publish", resource).allowed is matches


def test_wildcard_helper_matches_plain_strings_too():
    assert wildcard_match("team-*", "team-blue")
    assert not wildcard_match("team-*", "Team-blue")
    assert wildcard_match("team-*", "Team-blue", ignore_case=True)


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html
def test_not_action_allows_everything_but_the_listed_actions():
    policies = [policy({"Effect": "Allow", "NotAction": ["apigateway:DELETE", "iam:*"], "Resource": "*"})]
    assert decide(policies, "apigateway:PATCH", STAGE).allowed
    assert not decide(policies, "apigateway:DELETE", STAGE).allowed
    assert not decide(policies, "iam:CreateUser", "*").allowed


def test_not_action_in_a_deny_denies_everything_but_the_listed_actions():
    policies = [policy(allow("*"), {"Effect": "Deny", "NotAction": "cloudwatch:Get*", "Resource": "*"})]
    assert decide(policies, "cloudwatch:GetMetricData", "*").allowed
    assert decide(policies, "cloudwatch:PutMetricData", "*").decision is Decision.EXPLICIT_DENY


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html
def test_not_resource_applies_to_every_resource_but_the_listed_ones():
    policies = [
        policy(
            allow("apigateway:PATCH", f"{API}/*"),
            {"Effect": "Deny", "Action": "apigateway:PATCH", "NotResource": [f"{API}/stages/*"]},
        )
    ]
    assert decide(policies, "apigateway:PATCH", STAGE).allowed
    integration = f"{API}/resources/r1/methods/GET/integration"
    assert decide(policies, "apigateway:PATCH", integration).decision is Decision.EXPLICIT_DENY


# Conditions: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, {"aws:RequestedRegion": "us-east-1"}, True),
        (
            {"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}},
            {"aws:requestedregion": "us-east-1"},
            True,
        ),
        ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, {"aws:RequestedRegion": "US-EAST-1"}, False),
        (
            {"StringEqualsIgnoreCase": {"aws:RequestedRegion": "us-east-1"}},
            {"aws:RequestedRegion": "US-EAST-1"},
            True,
        ),
        (
            {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}},
            {"aws:RequestedRegion": "eu-west-1"},
            True,
        ),
        ({"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}}, {}, True),  # absent key: negation holds
        ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, {}, False),  # absent key: no match
        ({"StringLike": {"cloudwatch:namespace": "App/*"}}, {"cloudwatch:namespace": "App/orders"}, True),
        ({"StringNotLike": {"cloudwatch:namespace": "AWS/*"}}, {"cloudwatch:namespace": "AWS/Lambda"}, False),
        (
            {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/ci-*"}},
            {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/ci-deploy"},
            True,
        ),
        (
            {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/ci"}},
            {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/other"},
            False,
        ),
        (
            {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/ci-*"}},
            {"aws:PrincipalArn": "arn:aws:iam::123456789012:user/bob"},
            True,
        ),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "false"}, False),
        ({"Bool": {"aws:SecureTransport": False}}, {"aws:SecureTransport": "false"}, True),
        ({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}, {}, True),
        ({"Null": {"aws:username": "true"}}, {}, True),
        ({"Null": {"aws:username": "false"}}, {}, False),
        ({"NumericLessThan": {"aws:EpochTime": "2000000000"}}, {"aws:EpochTime": "1700000000"}, True),
        ({"NumericGreaterThanEquals": {"aws:EpochTime": 1700000000}}, {"aws:EpochTime": "1600000000"}, False),
        (
            {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
            {"aws:CurrentTime": "2026-01-01T12:00:00Z"},
            True,
        ),
        (
            {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
            {"aws:CurrentTime": "2026-01-01T12:00:00Z"},
            False,
        ),
        ({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, {"aws:SourceIp": "127.0.0.1"}, True),
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "127.0.0.1"}, True),
        # Several keys under one operator and several operators: all must hold.
        (
            {"StringEquals": {"aws:RequestedRegion": "us-east-1", "aws:username": "ci"}},
            {"aws:RequestedRegion": "us-east-1", "aws:username": "dev"},
            False,
        ),
    ],
)
def test_condition_operators(condition, context, holds):
    policies = [policy(allow("cloudwatch:PutMetricData", Condition=condition))]
    assert decide(policies, "cloudwatch:PutMetricData", "*", context).allowed is holds


# Multivalued keys: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
@pytest.mark.parametrize(
    ("operator", "tag_keys", "holds"),
    [
        ("ForAllValues:StringEquals", ["team", "env"], True),
        ("ForAllValues:StringEquals", ["team", "owner"], False),
        ("ForAllValues:StringEquals", [], True),  # no values: vacuously true
        ("ForAnyValue:StringEquals", ["owner", "env"], True),
        ("ForAnyValue:StringEquals", ["owner"], False),
        ("ForAnyValue:StringEquals", [], False),
    ],
)
def test_set_operators_on_multivalued_keys(operator, tag_keys, holds):
    condition = {operator: {"aws:TagKeys": ["team", "env"]}}
    policies = [policy(allow("cloudwatch:TagResource", Condition=condition))]
    assert decide(policies, "cloudwatch:TagResource", "*", {"aws:TagKeys": tag_keys}).allowed is holds


def test_a_condition_can_turn_an_explicit_deny_on_and_off():
    policies = [
        policy(allow("*"), deny("*", Condition={"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}}))
    ]
    assert decide(policies, "sns:Publish", "*", {"aws:RequestedRegion": "us-east-1"}).allowed
    verdict = decide(policies, "sns:Publish", "*", {"aws:RequestedRegion": "eu-west-1"})
    assert verdict.decision is Decision.EXPLICIT_DENY


# Policy variables: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
def test_policy_variables_are_replaced_by_the_request_context():
    policies = [policy(allow("iam:CreateAccessKey", "arn:aws:iam::123456789012:user/${aws:username}"))]
    own = "arn:aws:iam::123456789012:user/ci"
    assert decide(policies, "iam:CreateAccessKey", own, {"aws:username": "ci"}).allowed
    assert not decide(policies, "iam:CreateAccessKey", own, {"aws:username": "dev"}).allowed
    assert not decide(policies, "iam:CreateAccessKey", own, {}).allowed  # no value: no match


def test_policy_variables_have_defaults_and_escapes_and_need_the_2012_version():
    with_default = [
        policy(allow("sns:Publish", "arn:aws:sns:us-east-1:123456789012:${aws:username, 'shared'}"))
    ]
    assert decide(with_default, "sns:Publish", "arn:aws:sns:us-east-1:123456789012:shared").allowed
    literal_star = [policy(allow("sns:Publish", "arn:aws:sns:us-east-1:123456789012:a${*}"))]
    assert decide(literal_star, "sns:Publish", "arn:aws:sns:us-east-1:123456789012:a*").allowed
    assert not decide(literal_star, "sns:Publish", "arn:aws:sns:us-east-1:123456789012:ab").allowed
    old = [
        policy(
            allow("sns:Publish", "arn:aws:sns:us-east-1:123456789012:${aws:username}"), version="2008-10-17"
        )
    ]
    context = {"aws:username": "ci"}
    assert not decide(old, "sns:Publish", "arn:aws:sns:us-east-1:123456789012:ci", context).allowed
    assert decide(old, "sns:Publish", "arn:aws:sns:us-east-1:123456789012:${aws:username}", context).allowed


def test_variables_work_in_condition_values():
    condition = {"StringEquals": {"sts:RoleSessionName": "${aws:username}"}}
    policies = [policy(allow("sts:AssumeRole", Condition=condition))]
    assert decide(
        policies, "sts:AssumeRole", "*", {"aws:username": "ci", "sts:RoleSessionName": "ci"}
    ).allowed
    assert not decide(
        policies, "sts:AssumeRole", "*", {"aws:username": "ci", "sts:RoleSessionName": "x"}
    ).allowed


# Permissions boundaries and session policies limit identity policies:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session
def test_a_permissions_boundary_limits_what_identity_policies_allow():
    identity = [policy(allow("apigateway:*", f"{API}/*"))]
    boundary = [policy(allow("apigateway:GET", "*"), allow("apigateway:PATCH", f"{API}/stages/*"))]
    request = Request.of("apigateway:PATCH", STAGE)
    assert authorize(request, identity, boundary=boundary).allowed
    verdict = authorize(Request.of("apigateway:DELETE", STAGE), identity, boundary=boundary)
    assert verdict.kind is PolicyKind.BOUNDARY and verdict.decision is Decision.IMPLICIT_DENY
    assert (
        verdict.reason("apigateway:DELETE")
        == " because no permissions boundary allows the apigateway:DELETE action"
    )


def test_a_boundary_alone_grants_nothing():
    assert not authorize(Request.of("sns:Publish", "*"), [], boundary=[policy(allow("*"))]).allowed


def test_a_session_policy_limits_the_role_and_its_deny_is_explicit():
    identity = [policy(allow("*"))]
    session = [policy(allow("cloudwatch:*"), deny("cloudwatch:DeleteAlarms"))]
    assert authorize(Request.of("cloudwatch:GetMetricData", "*"), identity, session=session).allowed
    outside = authorize(Request.of("sns:Publish", "*"), identity, session=session)
    assert outside.kind is PolicyKind.SESSION and outside.decision is Decision.IMPLICIT_DENY
    denied = authorize(Request.of("cloudwatch:DeleteAlarms", "*"), identity, session=session)
    assert denied.kind is PolicyKind.SESSION and denied.decision is Decision.EXPLICIT_DENY


# Trust policies name principals: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
CI = Principal(("arn:aws:iam::123456789012:user/ci",), "123456789012")


@pytest.mark.parametrize(
    ("principal", "match"),
    [
        ({"AWS": "arn:aws:iam::123456789012:user/ci"}, PrincipalMatch.NAMED),
        ({"AWS": ["arn:aws:iam::123456789012:root"]}, PrincipalMatch.ACCOUNT),
        ({"AWS": "123456789012"}, PrincipalMatch.ACCOUNT),
        ("*", PrincipalMatch.NAMED),
        ({"AWS": "arn:aws:iam::111122223333:root"}, None),
        ({"Service": "lambda.amazonaws.com"}, None),
    ],
)
def test_trust_policies_apply_only_to_the_principals_they_name(principal, match):
    trust = Policy.parse(
        {"Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]}
    )
    outcome = evaluate([trust], Request.of("sts:AssumeRole", "arn:aws:iam::123456789012:role/r"), CI)
    if match is None:
        assert outcome.decision is Decision.IMPLICIT_DENY
    else:
        assert outcome.decision is Decision.ALLOW and outcome.principal_match is match


@pytest.mark.parametrize(
    "document",
    [
        {"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]},
        {"Statement": [{"Effect": "Allow", "Resource": "*"}]},
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "x"}]},
        {
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringSortOf": {}}}
            ]
        },
        {"Statement": [{"Effect": "Allow", "Action": 3, "Resource": "*"}]},
        {"NoStatement": []},
        "{not json",
    ],
)
def test_documents_the_evaluator_cannot_read_are_rejected(document):
    with pytest.raises(PolicyError):
        Policy.parse(document)


def test_a_single_statement_object_is_accepted():
    single = Policy.parse(
        '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "sns:*", "Resource": "*"}}'
    )
    assert decide([single], "sns:Publish", "*").allowed
