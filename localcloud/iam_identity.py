"""Who is calling: an access key id -> the IAM user or assumed-role session it belongs to, with its policies.

The local IAM state is moto's (`moto.iam` users, groups, roles, managed policies; `moto.sts` sessions). Keys
it did not issue (the bootstrap `test`/`test` keys, anything else) are not identities here: `find_caller`
returns None and the caller is treated like an account administrator.

Policies collected, as AWS applies them
(https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_identity-vs-resource.html):
- IAM user: its inline policies, its attached managed policies, and the inline and attached policies of every
  group it belongs to;
- assumed-role session: the role's inline and attached policies, the role's permissions boundary, and the
  session policy passed to AssumeRole (`Policy`), which limit it.
"""

from __future__ import annotations

import functools
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .iam_policy import Policy, Principal


class CredentialError(Exception):
    """Temporary credentials used without their session token, or expired; answered as AWS does."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Caller:
    arn: str  # as AWS names the caller in AccessDenied messages
    account: str
    principal: Principal  # the ARNs a trust policy may name for this caller
    identity: tuple[Policy, ...]
    boundary: tuple[Policy, ...] | None = None
    session: tuple[Policy, ...] | None = None
    context: dict[str, str] = field(default_factory=dict)  # global condition keys about the principal


def _document(raw: Any) -> str:
    text = raw if isinstance(raw, str) else str(raw)
    return urllib.parse.unquote(text) if text.lstrip().startswith("%7B") else text


@functools.lru_cache(maxsize=1024)
def _parse(document: str, name: str = "", arn: str | None = None) -> Policy:
    """Policies are immutable once parsed, so each document is read once (AWS managed ones are large)."""
    return Policy.parse(_document(document), name=name, arn=arn)


def _managed(policy: Any) -> Policy:
    default = next((v for v in policy.versions if v.is_default), policy.versions[0])
    return _parse(str(default.document), arn=policy.arn)


def _inline(name: str, document: Any, owner: str) -> Policy:
    return _parse(str(document), name=f"inline policy {name} of {owner}")


def _backends(module: str) -> list[Any]:
    """Every loaded moto backend of a service (all accounts, all partitions / regions)."""
    if module == "iam":
        from moto.iam.models import iam_backends as backends
    else:
        from moto.sts.models import sts_backends as backends
    found = []
    for per_account in list(backends.values()):
        found.extend(list(per_account.values()))
    return found


def _user_caller(backend: Any, user: Any) -> Caller:
    policies = [_inline(name, doc, user.arn) for name, doc in list(user.policies.items())]
    policies += [_managed(p) for p in list(user.managed_policies.values())]
    for group in backend.get_groups_for_user(user.name):
        policies += [_inline(name, doc, group.arn) for name, doc in list(group.policies.items())]
        policies += [_managed(p) for p in list(group.managed_policies.values())]
    return Caller(
        arn=user.arn,
        account=backend.account_id,
        principal=Principal((user.arn,), backend.account_id),
        identity=tuple(policies),
        context={
            "aws:username": user.name,
            "aws:userid": user.id,
            "aws:PrincipalArn": user.arn,
            "aws:PrincipalAccount": backend.account_id,
            "aws:PrincipalType": "User",
        },
    )


def find_role(role_arn: str) -> Any | None:
    """moto's Role for an ARN, in whichever account holds it (None if there is no such role)."""
    for backend in _backends("iam"):
        for role in list(backend.roles.values()):
            if role.arn == role_arn:
                return role
    return None


def trust_policy(role: Any) -> Policy:
    return _parse(str(role.assume_role_policy_document), name=f"trust policy of {role.arn}")


def _session_caller(session: Any, token: str | None) -> Caller:
    if token != session.session_token:
        raise CredentialError(
            "InvalidClientTokenId", "The security token included in the request is invalid."
        )
    expiration = session.expiration
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    if expiration <= datetime.now(UTC):
        raise CredentialError("ExpiredToken", "The security token included in the request is expired")
    role = find_role(session.role_arn)
    identity: list[Policy] = []
    boundary = None
    account = session.account_id
    if role is not None:
        identity += [_inline(name, doc, role.arn) for name, doc in list(role.policies.items())]
        identity += [_managed(p) for p in list(role.managed_policies.values())]
        if role.permissions_boundary_arn:
            boundary = tuple(
                _managed(backend.managed_policies[role.permissions_boundary_arn])
                for backend in _backends("iam")
                if role.permissions_boundary_arn in backend.managed_policies
            )
    session_policies = (_parse(str(session.policy), name="session policy"),) if session.policy else None
    role_id = role.id if role is not None else ""
    return Caller(
        arn=session.arn,
        account=account,
        principal=Principal((session.arn, session.role_arn), account),
        identity=tuple(identity),
        boundary=boundary,
        session=session_policies,
        context={
            "aws:userid": f"{role_id}:{session.session_name}",
            "aws:PrincipalArn": session.role_arn,
            "aws:PrincipalAccount": account,
            "aws:PrincipalType": "AssumedRole",
            "sts:RoleSessionName": session.session_name,
        },
    )


def find_caller(access_key_id: str, session_token: str | None) -> Caller | None:
    """The IAM user or role session that owns the key, or None for keys the local IAM did not issue.

    Raises CredentialError for a session key without its token (or expired) and for an inactive user key.
    """
    for backend in _backends("sts"):
        for session in list(backend.assumed_roles):
            if session.access_key_id == access_key_id:
                return _session_caller(session, session_token)
    for backend in _backends("iam"):
        for user in list(backend.users.values()):
            for key in list(user.access_keys):
                if key.access_key_id != access_key_id:
                    continue
                if key.status != "Active" or session_token:
                    raise CredentialError(
                        "InvalidClientTokenId", "The security token included in the request is invalid."
                    )
                return _user_caller(backend, user)
    return None
