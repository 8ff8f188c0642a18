"""A user's gates file: what it accepts, what it refuses (one line per mistake), and how a gate judges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller import cli
from controller.domain import AlarmReading, GateStatus, WindowStats
from controller.errors import EXIT_OK, EXIT_USAGE
from controller.events import Recorder
from controller.gates import GateInput, GateValue
from controller.user_gates import GatesFileError, load_gates

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "gates"
CHECKOUT = """
gates:
  - name: checkout-failures
    metric: {namespace: Shop, name: CheckoutFailures, stat: Sum, dimensions: {Slot: "${candidate_slot}"}}
    max: 0
"""
VALUES = {
    "candidate_slot": "green",
    "live_slot": "blue",
    "candidate_function": "app-green",
    "live_function": "app-blue",
    "api_name": "app",
    "stage": "production",
    "region": "us-east-1",
}
QUIET = WindowStats(0, 0)


def write(tmp_path: Path, text: str, name: str = "gates.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def data(values: list[GateValue], name: str = "checkout-failures", canary_periods=()) -> GateInput:
    return GateInput(QUIET, QUIET, AlarmReading(), None, {name: values}, frozenset(canary_periods))


def test_the_issues_checkout_gate_reads_the_candidate_slots_metric(tmp_path: Path) -> None:
    (gate,) = load_gates(write(tmp_path, CHECKOUT)).gates
    bound = gate.bind(VALUES)
    assert bound.candidate is not None and bound.candidate.metric is not None
    assert bound.candidate.metric.dimensions == (("Slot", "green"),)
    assert bound.baseline is None  # a threshold gate reads only the candidate


def test_a_period_with_a_checkout_failure_fails_the_gate_and_none_passes_it(tmp_path: Path) -> None:
    (gate,) = load_gates(write(tmp_path, CHECKOUT)).gates
    (failed,) = gate.evaluate(data([GateValue(0.0, 0.0), GateValue(60.0, 3.0)]))
    assert failed.status is GateStatus.FAIL and failed.blocks
    assert "3 > max 0" in failed.reason
    (fine,) = gate.evaluate(data([GateValue(0.0, 0.0), GateValue(60.0, 0.0)]))
    assert fine.status is GateStatus.PASS


def test_no_datapoint_is_no_evidence_unless_the_gate_says_it_must_fail(tmp_path: Path) -> None:
    (lenient,) = load_gates(write(tmp_path, CHECKOUT)).gates
    (result,) = lenient.evaluate(data([], canary_periods=[0.0]))
    assert result.status is GateStatus.NO_DATA and not result.blocks
    strict_text = CHECKOUT + "    no_data: fail\n"
    (strict,) = load_gates(write(tmp_path, strict_text)).gates
    (result,) = strict.evaluate(data([], canary_periods=[0.0]))
    assert result.status is GateStatus.FAIL
    # ... but only for periods in which the canary served requests
    (result,) = strict.evaluate(data([]))
    assert result.status is GateStatus.NO_DATA


def test_a_shadow_gate_reports_its_breach_without_blocking(tmp_path: Path) -> None:
    (gate,) = load_gates(write(tmp_path, CHECKOUT + "    shadow: true\n")).gates
    (result,) = gate.evaluate(data([GateValue(0.0, 5.0)]))
    assert result.status is GateStatus.FAIL and result.shadow and not result.blocks


def test_a_ratio_gate_reads_the_live_slot_through_the_swapped_placeholders(tmp_path: Path) -> None:
    text = """
gates:
  - name: latency-vs-live
    metric:
      {namespace: AWS/Lambda, name: Duration, stat: p90, dimensions: {FunctionName: "${candidate_function}"}}
    max_ratio_to_baseline: 1.5
"""
    (gate,) = load_gates(write(tmp_path, text)).gates
    bound = gate.bind(VALUES)
    assert bound.candidate.metric.dimensions == (("FunctionName", "app-green"),)  # type: ignore[union-attr]
    assert bound.baseline.metric.dimensions == (("FunctionName", "app-blue"),)  # type: ignore[union-attr]
    (ok,) = bound.evaluate(data([GateValue(0.0, 140.0, 100.0)], "latency-vs-live"))
    (bad,) = bound.evaluate(data([GateValue(0.0, 160.0, 100.0)], "latency-vs-live"))
    assert (ok.status, bad.status) == (GateStatus.PASS, GateStatus.FAIL)


def test_an_alarm_gate_fails_while_its_alarm_is_in_alarm(tmp_path: Path) -> None:
    (gate,) = load_gates(write(tmp_path, "gates:\n  - name: payments\n    alarm: payments-errors\n")).gates
    firing = GateInput(QUIET, QUIET, AlarmReading((("payments-errors", "ALARM"),)))
    quiet = GateInput(QUIET, QUIET, AlarmReading((("payments-errors", "OK"),)))
    assert gate.evaluate(firing)[0].status is GateStatus.FAIL
    assert gate.evaluate(quiet)[0].status is GateStatus.PASS


def test_every_example_gates_file_is_valid() -> None:
    files = sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("*.json"))
    assert len(files) >= 5  # one per gate kind, and the issue's checkout gate
    for path in files:
        assert load_gates(str(path)).gates


X = "gates:\n  - name: x\n"
METRIC = X + "    metric: {namespace: A, name: B, stat: Sum}\n"
MALFORMED = {
    "not-yaml": "gates: [\n",
    "not-a-mapping": "- just a list\n",
    "no-gates": "checks: []\n",
    "empty-gates": "gates: []\n",
    "no-name": "gates:\n  - metric: {namespace: A, name: B, stat: Sum}\n    max: 1\n",
    "bad-name": METRIC.replace("name: x", "name: 'has spaces'") + "    max: 1\n",
    "no-kind": X + "    max: 1\n",
    "two-kinds": METRIC + "    alarm: y\n    max: 1\n",
    "bad-stat": METRIC.replace("Sum", "Summ") + "    max: 1\n",
    "no-bound": METRIC,
    "two-bounds": METRIC + "    max: 1\n    min: 0\n",
    "bound-not-number": METRIC + "    max: lots\n",
    "negative-ratio": METRIC + "    max_ratio_to_baseline: -1\n",
    "unknown-key": METRIC + "    max: 1\n    maximum: 2\n",
    "unknown-placeholder": METRIC.replace("Sum}", "Sum, dimensions: {S: '${slot}'}}") + "    max: 1\n",
    "duplicate-names": "gates:\n  - {name: x, alarm: a}\n  - {name: x, alarm: b}\n",
    "alarm-with-bound": "gates:\n  - {name: x, alarm: a, max: 1}\n",
    "slot-in-alarm-name": "gates:\n  - {name: x, alarm: 'errors-${candidate_slot}'}\n",
    "expression-without-metrics": X + "    expression: m1 / m2\n    max: 1\n",
    "expression-ignores-its-metrics": X
    + "    expression: '100'\n    metrics: {m1: {namespace: A, name: B, stat: Sum}}\n    max: 1\n",
    "bad-shadow": "gates:\n  - {name: x, alarm: a, shadow: maybe}\n",
    "bad-no-data": METRIC + "    max: 1\n    no_data: pass\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_gates_validate_refuses_a_malformed_file_with_one_line_per_mistake_and_exit_2(
    name: str, tmp_path: Path, capsys
) -> None:
    path = write(tmp_path, MALFORMED[name])
    assert cli.main(["gates", "validate", path]) == EXIT_USAGE
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    with pytest.raises(GatesFileError) as refused:
        load_gates(path)
    # One line per mistake, each naming the file and where in it.
    assert err == [f"error: {path}: {problem}" for problem in refused.value.problems]


def test_gates_validate_prints_each_gate_of_a_good_file(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, CHECKOUT)
    assert cli.main(["gates", "validate", path]) == EXIT_OK
    out = capsys.readouterr().out
    assert "checkout-failures: Shop/CheckoutFailures Sum [Slot=${candidate_slot}] <= 0 every period" in out


def test_gates_validate_json_output_is_one_event(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, json.dumps({"gates": [{"name": "a", "alarm": "b"}]}), "gates.json")
    assert cli.main(["gates", "validate", path, "--json"], make_events=lambda _: Recorder()) == EXIT_OK


def test_shift_with_a_malformed_gates_file_fails_before_any_aws_call(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, MALFORMED["bad-stat"])
    assert cli.main(["shift", "--outputs", str(tmp_path / "missing.json"), "--gates", path]) == EXIT_USAGE
    assert "is not a CloudWatch statistic" in capsys.readouterr().err
