"""IAM enforcement for the local cloud's control plane (on with `--enforce-iam` or `LOCALCLOUD_IAM=enforce`).

For each signed AWS API call: find the caller (iam_identity), the actions and resources the call needs
(iam_actions), and decide each with AWS's evaluation logic (iam_policy). Keys the local IAM did not issue
(`test`/`test`) are all-powerful, like an account administrator; unsigned requests pass too. A denied call
never reaches moto, so it changes nothing, and it is answered as AWS answers: HTTP 403 with the protocol's
error shape and a message naming the caller, the action, the resource and the reason
(https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).
Denials are logged at INFO; with LOCALCLOUD_IAM_TRACE=1 each allowed (action, resource) is logged at DEBUG
too, with the caller and the `app/ID` an SDK puts in its User-Agent (AWS_SDK_UA_APP_ID), so a test can tell
which command made which call.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

import botocore.session
from werkzeug.wrappers import Response

from .iam_actions import ALWAYS_ALLOWED, Authorization, Target, UnmappedCall, authorizations
from .iam_identity import Caller, CredentialError, find_caller, find_role, trust_policy
from .iam_policy import (
    Decision,
    PolicyError,
    PolicyKind,
    PrincipalMatch,
    Request,
    Verdict,
    authorize,
    evaluate,
)
from .iam_requests import AwsCall, parse_call, parse_credentials
from .rpcv2_cbor import error_body

log = logging.getLogger("localcloud.iam")

ENV = "LOCALCLOUD_IAM"
TRACE_ENV = "LOCALCLOUD_IAM_TRACE"
_REQUEST_ID = "00000000-0000-0000-0000-000000000000"
# Query-protocol error codes and their names in the JSON / REST protocols.
_JSON_CODES = {
    "AccessDenied": "AccessDeniedException",
    "InvalidClientTokenId": "UnrecognizedClientException",
    "ExpiredToken": "ExpiredTokenException",
}


def enforce_from_env(default: bool = False) -> bool:
    """LOCALCLOUD_IAM=enforce turns enforcement on, off (or unset) leaves it off; other values are errors."""
    raw = os.environ.get(ENV, "").strip().lower()
    if not raw:
        return default
    if raw in ("enforce", "off"):
        return raw == "enforce"
    raise SystemExit(f"{ENV} must be 'enforce' or 'off', got {os.environ[ENV]!r}")


def trace_from_env() -> bool:
    """LOCALCLOUD_IAM_TRACE=1 logs every allowed (action, resource); unset or 0 logs only denials."""
    raw = os.environ.get(TRACE_ENV, "").strip()
    if raw in ("", "0"):
        return False
    if raw == "1":
        return True
    raise SystemExit(f"{TRACE_ENV} must be '1' or '0', got {raw!r}")


def _app_id(environ: dict[str, Any]) -> str:
    """The `app/ID` token of the User-Agent (botocore sends AWS_SDK_UA_APP_ID there), or '-'."""
    for token in (environ.get("HTTP_USER_AGENT") or "").split():
        if token.startswith("app/"):
            return token[len("app/") :]
    return "-"


@functools.lru_cache(maxsize=64)
def _query_compatible(signing_name: str) -> bool:
    """awsQueryCompatible services (CloudWatch) also send the query-protocol code in x-amzn-query-error."""
    name = {"monitoring": "cloudwatch"}.get(signing_name, signing_name)
    try:
        model = botocore.session.get_session().get_service_model(name)
    except Exception:  # noqa: BLE001 - unknown service: plain JSON errors
        return False
    return "awsQueryCompatible" in model.metadata


def _protocol(environ: dict[str, Any]) -> str:
    if (environ.get("HTTP_SMITHY_PROTOCOL") or "").lower() == "rpc-v2-cbor":
        return "cbor"
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    content_type = (environ.get("CONTENT_TYPE") or "").lower()
    if "x-www-form-urlencoded" in content_type or "Action=" in (environ.get("QUERY_STRING") or ""):
        return "query"
    return "rest"


def error_response(environ: dict[str, Any], signing_name: str, code: str, message: str) -> Response:
    """A 403 in the caller's wire protocol; `code` is the query-protocol code (AccessDenied, ...)."""
    protocol = _protocol(environ)
    json_code = _JSON_CODES.get(code, code)
    headers = {"x-amzn-RequestId": _REQUEST_ID}
    if protocol in ("json", "cbor") and _query_compatible(signing_name):
        headers["x-amzn-query-error"] = f"{code};Sender"
    if protocol == "cbor":
        headers["smithy-protocol"] = "rpc-v2-cbor"
        body = error_body({"__type": json_code, "message": message})
        return Response(body, status=403, headers=headers, content_type="application/cbor")
    if protocol == "json":
        body = json.dumps({"__type": json_code, "message": message})
        return Response(body, status=403, headers=headers, content_type="application/x-amz-json-1.1")
    if protocol == "query":
        escaped = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escaped}</Message>"
            f"</Error><RequestId>{_REQUEST_ID}</RequestId></ErrorResponse>"
        )
        return Response(body, status=403, headers=headers, content_type="text/xml")
    headers["x-amzn-ErrorType"] = json_code
    return Response(
        json.dumps({"Message": message}), status=403, headers=headers, content_type="application/json"
    )


def denial_message(caller_arn: str, auth: Authorization, verdict: Verdict) -> str:
    on = f" on resource: {auth.resource}" if auth.resource != "*" else ""
    return f"User: {caller_arn} is not authorized to perform: {auth.action}{on}{verdict.reason(auth.action)}"


def _iam_arn(account: str, kind: str, name: str) -> str | None:
    """The ARN (with its path) of an existing user, role or group of the caller's account."""
    from moto.iam.models import iam_backends

    for backend in list(iam_backends[account].values()) if account in iam_backends else ():
        entities = {"user": backend.users, "role": backend.roles, "group": backend.groups}[kind]
        for entity in list(entities.values()):
            if entity.name == name:
                return str(entity.arn)
    return None


class IamEnforcer:
    """`enforcer(environ)` -> None to let the call through, or the AWS-shaped denial to send instead."""

    def __init__(self, trace: bool | None = None) -> None:
        self.trace = trace_from_env() if trace is None else trace
        if self.trace:
            log.setLevel(logging.DEBUG)

    def __call__(self, environ: dict[str, Any]) -> Response | None:
        credentials = parse_credentials(environ)
        if credentials is None:
            return None
        try:
            caller = find_caller(credentials.access_key_id, credentials.session_token)
        except CredentialError as exc:
            return error_response(environ, credentials.signing_name, exc.code, exc.message)
        if caller is None:
            return None  # bootstrap credentials: all-powerful
        call = parse_call(environ, credentials)
        target = Target(
            account=caller.account, caller_arn=caller.arn, iam_arn=functools.partial(_iam_arn, caller.account)
        )
        try:
            needed = authorizations(call, target)
            for auth in needed:
                if auth.action in ALWAYS_ALLOWED:
                    continue
                verdict = self.decide(caller, call, auth)
                if not verdict.allowed:
                    message = denial_message(caller.arn, auth, verdict)
                    log.info("iam: denied %s %s: %s", call.method, call.raw_path, message)
                    return error_response(environ, call.signing_name, "AccessDenied", message)
                if self.trace:
                    log.debug(
                        "iam: allowed %s %s caller=%s app=%s",
                        auth.action,
                        auth.resource,
                        caller.arn,
                        _app_id(environ),
                    )
        except (UnmappedCall, PolicyError) as exc:
            message = (
                f"User: {caller.arn} is not authorized: the local cloud cannot authorise this call ({exc})"
            )
            log.warning("iam: %s", message)
            return error_response(environ, call.signing_name, "AccessDenied", message)
        return None

    @staticmethod
    def _context(caller: Caller, call: AwsCall, auth: Authorization) -> dict[str, Any]:
        now = time.time()
        return {
            "aws:CurrentTime": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:EpochTime": str(int(now)),
            "aws:RequestedRegion": call.region,
            "aws:SecureTransport": "false",  # the local cloud speaks plain HTTP on loopback
            "aws:SourceIp": call.source_ip or None,
            **caller.context,
            **auth.context,
        }

    def decide(self, caller: Caller, call: AwsCall, auth: Authorization) -> Verdict:
        request = Request.of(auth.action, auth.resource, self._context(caller, call, auth))
        verdict = authorize(request, caller.identity, caller.boundary, caller.session)
        if auth.action != "sts:AssumeRole" or verdict.decision is Decision.EXPLICIT_DENY:
            return verdict
        # Role trust policies are resource-based policies that must also allow the caller: naming the caller
        # grants by itself, naming the account delegates to the caller's identity policies
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html,
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_manage-assume.html).
        role = find_role(auth.resource)
        if role is None:
            return Verdict(False, Decision.IMPLICIT_DENY, PolicyKind.RESOURCE)
        trust = evaluate([trust_policy(role)], request, caller.principal)
        if trust.decision is Decision.EXPLICIT_DENY:
            return Verdict(False, Decision.EXPLICIT_DENY, PolicyKind.RESOURCE)
        if trust.decision is Decision.IMPLICIT_DENY:
            return Verdict(False, Decision.IMPLICIT_DENY, PolicyKind.RESOURCE)
        if trust.principal_match is PrincipalMatch.NAMED:
            return Verdict(True, Decision.ALLOW)
        return verdict
