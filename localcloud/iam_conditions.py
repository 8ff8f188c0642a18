"""IAM policy patterns, policy variables and condition operators (pure; used by `iam_policy`).

Pages followed:
- wildcards: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
  ("*" and "?" within the colon-separated segments of an ARN; a "*" that ends a segment may span colons;
  case-sensitive) and .../reference_policies_elements_action.html (case-insensitive actions);
- variables: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
  (`${aws:username}`, `${key, 'default'}`, `${*}`, `${?}`, `${$}`; only in policies with Version 2012-10-17;
  a variable whose key is absent makes the element not match);
- operators: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  and .../reference_policies_condition-single-vs-multi-valued-context-keys.html (ForAllValues / ForAnyValue).
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

Context = Mapping[str, tuple[str, ...]]  # lower-case condition key -> its values (empty tuple: absent)

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


class PolicyError(ValueError):
    """A policy document this evaluator cannot read (AWS would have rejected it when it was stored)."""


def _segments(pattern: str, context: Context | None) -> list[tuple[bool, str]] | None:
    """Split a pattern into (is_literal, text) pieces, with policy variables resolved as literal text.

    None when a variable has no value in the request and no default (the element then does not match).
    """
    pieces: list[tuple[bool, str]] = []
    position = 0
    for match in _VARIABLE.finditer(pattern) if context is not None else ():
        pieces.append((False, pattern[position : match.start()]))
        body = match.group(1).strip()
        if body in _ESCAPES:
            pieces.append((True, _ESCAPES[body]))
        else:
            key, _, default = body.partition(",")
            values = context.get(key.strip().lower(), ())  # type: ignore[union-attr]
            if len(values) == 1:
                pieces.append((True, values[0]))
            elif default.strip().startswith("'") and default.strip().endswith("'"):
                pieces.append((True, default.strip()[1:-1]))
            else:
                return None
        position = match.end()
    pieces.append((False, pattern[position:]))
    return pieces


@functools.lru_cache(maxsize=4096)
def _compile(pieces: tuple[tuple[bool, str], ...], arn: bool, ignore_case: bool) -> re.Pattern[str]:
    out: list[str] = []
    for literal, text in pieces:
        if literal:
            out.append(re.escape(text))
            continue
        for index, char in enumerate(text):
            if char == "*":
                ends_segment = index + 1 == len(text) or text[index + 1] == ":"
                out.append(".*" if not arn or ends_segment else "[^:]*")
            elif char == "?":
                out.append("[^:]" if arn else ".")
            else:
                out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(
    pattern: str, value: str, *, arn: bool = False, ignore_case: bool = False, context: Context | None = None
) -> bool:
    """Does value match pattern ("*" any run, "?" one character)? arn=True: wildcards stay in ARN segments.

    context (the request's condition keys) turns on policy variables; None leaves `${...}` literal.
    """
    pieces = _segments(pattern, context)
    if pieces is None:
        return False
    return _compile(tuple(pieces), arn, ignore_case).fullmatch(value) is not None


def resolve_variables(value: str, context: Context | None) -> str | None:
    """A condition value with its policy variables replaced; None if one of them has no value."""
    pieces = _segments(value, context)
    if pieces is None:
        return None
    return "".join(text for _, text in pieces)


# --- operators -------------------------------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> float | None:
    number = _number(text)
    if number is not None:
        return number
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _compare(
    parse: Callable[[str], float | None], test: Callable[[float, float], bool]
) -> Callable[[str, str], bool]:
    def match(request: str, policy: str) -> bool:
        left, right = parse(request), parse(policy)
        return left is not None and right is not None and test(left, right)

    return match


def _ip(request: str, policy: str) -> bool:
    try:
        return ipaddress.ip_address(request) in ipaddress.ip_network(policy, strict=False)
    except ValueError:
        return False


def _binary(request: str, policy: str) -> bool:
    try:
        return base64.b64decode(request) == base64.b64decode(policy)
    except ValueError:
        return False


# base operator -> (match one request value against one policy value, negated)
OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda r, p: r == p, False),
    "StringNotEquals": (lambda r, p: r == p, True),
    "StringEqualsIgnoreCase": (lambda r, p: r.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda r, p: r.lower() == p.lower(), True),
    "NumericEquals": (_compare(_number, lambda a, b: a == b), False),
    "NumericNotEquals": (_compare(_number, lambda a, b: a == b), True),
    "NumericLessThan": (_compare(_number, lambda a, b: a < b), False),
    "NumericLessThanEquals": (_compare(_number, lambda a, b: a <= b), False),
    "NumericGreaterThan": (_compare(_number, lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_compare(_number, lambda a, b: a >= b), False),
    "DateEquals": (_compare(_date, lambda a, b: a == b), False),
    "DateNotEquals": (_compare(_date, lambda a, b: a == b), True),
    "DateLessThan": (_compare(_date, lambda a, b: a < b), False),
    "DateLessThanEquals": (_compare(_date, lambda a, b: a <= b), False),
    "DateGreaterThan": (_compare(_date, lambda a, b: a > b), False),
    "DateGreaterThanEquals": (_compare(_date, lambda a, b: a >= b), False),
    "Bool": (lambda r, p: r.lower() == p.lower(), False),
    "BinaryEquals": (_binary, False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
}
# Operators whose policy values are patterns: base operator -> (ARN segment rules, negated). ArnEquals and
# ArnLike behave the same: both match each ARN segment with wildcards.
PATTERN_OPERATORS: dict[str, tuple[bool, bool]] = {
    "StringLike": (False, False),
    "StringNotLike": (False, True),
    "ArnEquals": (True, False),
    "ArnLike": (True, False),
    "ArnNotEquals": (True, True),
    "ArnNotLike": (True, True),
}


def check_operator(operator: str) -> None:
    """Raise PolicyError for an operator name AWS does not define (or this evaluator does not know)."""
    _split(operator)


def _split(operator: str) -> tuple[str | None, str, bool]:
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise PolicyError(f"unknown condition set operator {qualifier!r} in {operator!r}")
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    if base != "Null" and base not in OPERATORS and base not in PATTERN_OPERATORS:
        raise PolicyError(f"unsupported condition operator {operator!r}")
    return qualifier or None, base, if_exists


def condition_holds(
    operator: str, key: str, policy_values: tuple[str, ...], context: Context, variables: bool = True
) -> bool:
    """One `"Operator": {"key": [values]}` entry of a Condition block against the request's context.

    variables=False (policies without Version 2012-10-17) reads `${...}` in policy values literally.
    """
    qualifier, base, if_exists = _split(operator)
    request_values = context.get(key.lower(), ())
    if base == "Null":
        absent = len(request_values) == 0
        return any((value.lower() == "true") == absent for value in policy_values)
    variable_context = context if variables else None
    if base in PATTERN_OPERATORS:
        arn, negated = PATTERN_OPERATORS[base]

        def hit(request_value: str) -> bool:
            return any(
                wildcard_match(p, request_value, arn=arn, context=variable_context) for p in policy_values
            )

    else:
        match, negated = OPERATORS[base]
        resolved = [resolve_variables(p, variable_context) for p in policy_values]

        def hit(request_value: str) -> bool:
            return any(match(request_value, p) for p in resolved if p is not None)

    if not request_values:
        if if_exists or qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return negated  # a negated operator is true when the key is absent

    def one(request_value: str) -> bool:
        return not hit(request_value) if negated else hit(request_value)

    if qualifier == "ForAllValues" or (negated and qualifier is None):
        return all(one(value) for value in request_values)
    return any(one(value) for value in request_values)
