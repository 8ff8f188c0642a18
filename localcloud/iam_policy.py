"""IAM policy evaluation (pure): policy documents in, an allow / implicit deny / explicit deny decision out.

Follows https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html for
requests within one account:
1. an explicit `Deny` in any applicable policy (identity-based, permissions boundary, session) wins;
2. otherwise an identity-based policy must `Allow` the action on the resource;
3. a permissions boundary, when the principal has one, must also allow it; so must the session policy, when
   the temporary credentials were issued with one;
4. anything not allowed is implicitly denied.
A statement applies when its Action (or NotAction) matches the action, its Resource (or NotResource) matches
the resource, and every condition holds
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html,
.../reference_policies_elements_notresource.html). Resource-based policies (a role's trust policy) also
match the Principal element; see `evaluate` with principal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .iam_conditions import Context, PolicyError, check_operator, condition_holds, wildcard_match

__all__ = [
    "Decision",
    "Outcome",
    "Policy",
    "PolicyError",
    "PolicyKind",
    "Principal",
    "Request",
    "Statement",
    "Verdict",
    "authorize",
    "evaluate",
]

VARIABLES_VERSION = "2012-10-17"  # policy variables only work in this version of the policy language


def _strings(value: Any, element: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise PolicyError(f"{element} must be a string or a list of strings")


@dataclass(frozen=True)
class Condition:
    operator: str
    key: str
    values: tuple[str, ...]


def _conditions(block: Any) -> tuple[Condition, ...]:
    if block is None:
        return ()
    if not isinstance(block, dict):
        raise PolicyError("Condition must be an object")
    out = []
    for operator, entries in block.items():
        check_operator(operator)
        if not isinstance(entries, dict):
            raise PolicyError(f"Condition {operator} must map condition keys to values")
        for key, values in entries.items():
            if isinstance(values, bool | int | float):
                values = str(values).lower() if isinstance(values, bool) else str(values)
            if isinstance(values, list):
                values = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
            out.append(Condition(operator, key, _strings(values, f"Condition {operator}.{key}")))
    return tuple(out)


@dataclass(frozen=True)
class Principal:
    """Who is asking: the ARNs a resource-based policy may name, and the account it may name instead."""

    arns: tuple[str, ...]
    account: str


class PrincipalMatch(Enum):
    NONE = "none"
    ACCOUNT = "account"  # the policy names the account: it delegates to the account's identity policies
    NAMED = "named"  # the policy names this principal (or "*")


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    principals: Mapping[str, tuple[str, ...]] | None = None  # resource-based policies only
    conditions: tuple[Condition, ...] = ()
    sid: str = ""

    @classmethod
    def parse(cls, raw: Any) -> Statement:
        if not isinstance(raw, dict):
            raise PolicyError("each Statement must be an object")
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"Effect must be Allow or Deny, got {effect!r}")
        if ("Action" in raw) == ("NotAction" in raw):
            raise PolicyError("a statement needs exactly one of Action and NotAction")
        if "Resource" in raw and "NotResource" in raw:
            raise PolicyError("a statement cannot have both Resource and NotResource")
        if "NotPrincipal" in raw:
            raise PolicyError("NotPrincipal is not supported by the local cloud")
        principals = None
        if "Principal" in raw:
            principal = raw["Principal"]
            if principal == "*":
                principals = {"AWS": ("*",)}
            elif isinstance(principal, dict):
                principals = {kind: _strings(v, f"Principal.{kind}") for kind, v in principal.items()}
            else:
                raise PolicyError('Principal must be "*" or an object')
        return cls(
            effect=effect,
            actions=_strings(raw["Action"], "Action") if "Action" in raw else (),
            not_actions=_strings(raw["NotAction"], "NotAction") if "NotAction" in raw else None,
            resources=_strings(raw["Resource"], "Resource") if "Resource" in raw else None,
            not_resources=_strings(raw["NotResource"], "NotResource") if "NotResource" in raw else None,
            principals=principals,
            conditions=_conditions(raw.get("Condition")),
            sid=str(raw.get("Sid", "")),
        )

    def matches_action(self, action: str) -> bool:
        if self.not_actions is not None:
            return not any(wildcard_match(p, action, ignore_case=True) for p in self.not_actions)
        return any(wildcard_match(p, action, ignore_case=True) for p in self.actions)

    def matches_resource(self, resource: str, context: Context | None) -> bool:
        if self.not_resources is not None:
            return not any(wildcard_match(p, resource, arn=True, context=context) for p in self.not_resources)
        if self.resources is None:  # trust policies name no resource: the role itself is implied
            return True
        return any(wildcard_match(p, resource, arn=True, context=context) for p in self.resources)

    def matches_principal(self, principal: Principal) -> PrincipalMatch:
        best = PrincipalMatch.NONE
        for value in (self.principals or {}).get("AWS", ()):
            if value == "*" or value in principal.arns:
                return PrincipalMatch.NAMED
            if value == principal.account or (
                value.startswith("arn:") and value.endswith(f":iam::{principal.account}:root")
            ):
                best = PrincipalMatch.ACCOUNT
        return best

    def conditions_hold(self, context: Context, variables: bool) -> bool:
        return all(condition_holds(c.operator, c.key, c.values, context, variables) for c in self.conditions)


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]
    name: str = ""  # for messages: a managed policy's ARN, or "inline policy NAME"
    arn: str | None = None  # managed policies only (AWS names them in explicit-deny messages)
    version: str = ""

    @classmethod
    def parse(cls, document: str | Mapping[str, Any], name: str = "", arn: str | None = None) -> Policy:
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except ValueError as exc:
                raise PolicyError(f"policy {name or ''} is not JSON: {exc}") from None
        if not isinstance(document, Mapping) or "Statement" not in document:
            raise PolicyError("a policy document is an object with a Statement")
        raw = document["Statement"]
        statements = raw if isinstance(raw, list) else [raw]
        return cls(
            statements=tuple(Statement.parse(s) for s in statements),
            name=name or arn or "",
            arn=arn,
            version=str(document.get("Version", "")),
        )


@dataclass(frozen=True)
class Request:
    """The request context: action, resource ARN and condition keys (keys are case-insensitive)."""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, action: str, resource: str, context: Mapping[str, Any] | None = None) -> Request:
        normalised: dict[str, tuple[str, ...]] = {}
        for key, value in (context or {}).items():
            if value is None:
                continue
            values = (value,) if isinstance(value, str) else tuple(str(v) for v in value)
            normalised[key.lower()] = values
        return cls(action, resource, normalised)


class Decision(Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    policy: Policy | None = None  # the policy holding the deciding statement (deny, or the first allow)
    principal_match: PrincipalMatch = PrincipalMatch.NAMED


def evaluate(policies: Iterable[Policy], request: Request, principal: Principal | None = None) -> Outcome:
    """Decide one request against one kind of policy.

    With principal (resource-based policies, e.g. a role's trust policy), a statement applies only when its
    Principal names the caller or the caller's account.
    """
    allowed: Outcome | None = None
    for policy in policies:
        variables = policy.version == VARIABLES_VERSION
        context = request.context if variables else None
        for statement in policy.statements:
            match = PrincipalMatch.NAMED
            if principal is not None:
                match = statement.matches_principal(principal)
                if match is PrincipalMatch.NONE:
                    continue
            if not (
                statement.matches_action(request.action)
                and statement.matches_resource(request.resource, context)
                and statement.conditions_hold(request.context, variables)
            ):
                continue
            if statement.effect == "Deny":
                return Outcome(Decision.EXPLICIT_DENY, policy)
            if allowed is None or match is PrincipalMatch.NAMED:
                allowed = Outcome(Decision.ALLOW, policy, match)
    return allowed or Outcome(Decision.IMPLICIT_DENY)


class PolicyKind(Enum):
    IDENTITY = "identity-based policy"
    BOUNDARY = "permissions boundary"
    SESSION = "session policy"
    RESOURCE = "resource-based policy"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    decision: Decision
    kind: PolicyKind | None = None  # the kind of policy that denied (None when allowed)
    policy_arn: str | None = None

    def reason(self, action: str) -> str:
        """The tail AWS adds to an AccessDenied message ("because no identity-based policy allows ...")."""
        if self.allowed or self.kind is None:
            return ""
        article = "an" if self.kind.value[0] in "aeiou" else "a"
        if self.decision is Decision.EXPLICIT_DENY:
            named = f": {self.policy_arn}" if self.policy_arn else ""
            return f" with an explicit deny in {article} {self.kind.value}{named}"
        return f" because no {self.kind.value} allows the {action} action"


def authorize(
    request: Request,
    identity: Iterable[Policy],
    boundary: Iterable[Policy] | None = None,
    session: Iterable[Policy] | None = None,
) -> Verdict:
    """The single-account evaluation of identity-based policies, a permissions boundary and a session policy.

    boundary/session None: the principal has none (nothing limits it); an empty list limits it to nothing.
    """
    layers = [(PolicyKind.IDENTITY, list(identity))]
    if boundary is not None:
        layers.append((PolicyKind.BOUNDARY, list(boundary)))
    if session is not None:
        layers.append((PolicyKind.SESSION, list(session)))
    outcomes = [(kind, evaluate(policies, request)) for kind, policies in layers]
    for kind, outcome in outcomes:
        if outcome.decision is Decision.EXPLICIT_DENY:
            arn = outcome.policy.arn if outcome.policy else None
            return Verdict(False, Decision.EXPLICIT_DENY, kind, arn)
    for kind, outcome in outcomes:
        if outcome.decision is not Decision.ALLOW:
            return Verdict(False, Decision.IMPLICIT_DENY, kind)
    return Verdict(True, Decision.ALLOW)
