"""Judgements for tests that need a verdict but not a real judge."""

from __future__ import annotations

from controller.domain import Evidence, Judgement, Verdict


def evidence(**fields: object) -> Evidence:
    base: dict[str, object] = {
        "periods": 1,
        "canary_requests": 0,
        "canary_errors_5xx": 0,
        "canary_errors_4xx": 0,
        "baseline_requests": 0,
        "baseline_errors_5xx": 0,
        "baseline_errors_4xx": 0,
        "fail_e_value": 1.0,
        "fail_threshold": 100.0,
        "pass_e_value": 1.0,
        "pass_threshold": 100.0,
        "pass_margin_ratio": 1.5,
        "null_ratio": 1.0,
        "baseline_rate_estimate": 0.005,
    }
    base.update(fields)
    return Evidence(**base)  # type: ignore[arg-type]


def judgement(verdict: Verdict, reason: str = "judge says so", **fields: object) -> Judgement:
    return Judgement(verdict, reason, evidence(**fields))
