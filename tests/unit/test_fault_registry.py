"""The local cloud's Lambda faults limited to the next N invocations (a cold start on cue)."""

from __future__ import annotations

import pytest

from localcloud.faults import FaultError, FaultRegistry


def test_a_fault_for_the_next_invocations_applies_to_that_many_then_is_gone() -> None:
    faults = FaultRegistry(clock=lambda: 100.0)
    faults.add({"target": "lambda", "function": "green", "latency_ms": 300, "invocations": 2})
    faults.add({"target": "lambda", "function": "green", "latency_ms": 5})  # every invocation
    seen = [faults.lambda_injection("green").get("latency_ms") for _ in range(4)]
    assert seen == [305, 305, 5, 5]
    assert faults.lambda_injection("blue") == {}
    assert [f.latency_ms for f in faults.list()] == [5]


@pytest.mark.parametrize("invocations", [0, -1, 1.5, True, "2"])
def test_invocations_must_be_a_positive_whole_number(invocations: object) -> None:
    with pytest.raises(FaultError, match="invocations must be a whole number"):
        FaultRegistry().add({"target": "lambda", "function": "green", "invocations": invocations})
