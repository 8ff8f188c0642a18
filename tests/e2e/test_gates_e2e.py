"""User gates end to end: the issue's checkout gate file, unchanged, against a release whose checkout failures
are published for its slot; a shadow gate; `gates validate` as a user runs it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from conftest import StackView
from e2e_controller_helpers import REPO, ControllerProcess, WatchedTraffic, run_controller

RATE_PER_S = 20.0
CHECKOUT = REPO / "examples" / "gates" / "checkout.yaml"


class CheckoutService(WatchedTraffic):
    """Production traffic, plus what a shop's checkout service does: for every checkout the candidate
    version answered, it publishes one failure in `Shop/CheckoutFailures` with the slot that served it
    (as an app would with PutMetricData); the live version's checkouts succeed."""

    def __init__(self, url: str, cloudwatch: Any, failing: str, slot: str) -> None:
        super().__init__(url, RATE_PER_S, workers=4)
        self.cloudwatch, self.failing, self.slot = cloudwatch, failing, slot
        self.published = 0
        self._publish_lock = threading.Lock()

    def _record(self, version: str, status: int, latency_ms: float) -> None:
        super()._record(version, status, latency_ms)
        if version == self.failing and status < 500:
            self.cloudwatch.put_metric_data(
                Namespace="Shop",
                MetricData=[
                    {
                        "MetricName": "CheckoutFailures",
                        "Dimensions": [{"Name": "Slot", "Value": self.slot}],
                        "Value": 1.0,
                        "Unit": "Count",
                    }
                ],
            )
            with self._publish_lock:
                self.published += 1


def shift(outputs: Path, gates: Path, env: dict[str, str]) -> ControllerProcess:
    args = ["shift", "--outputs", str(outputs), "--json", "--interval", "2s", "--min-requests", "10"]
    return ControllerProcess([*args, "--steps", "20,100", "--bake", "30s", "--gates", str(gates)], env)


def test_the_checkout_gate_rolls_back_a_release_whose_checkouts_fail_while_built_in_gates_pass(
    view: StackView, outputs_file: Path, env
) -> None:
    live, candidate = view.live(), view.candidate()
    with CheckoutService(view.url(), view.cw, view.version(candidate), candidate) as shop:
        run = shift(outputs_file, CHECKOUT, env)
        code = run.wait(timeout_s=180)
    assert code == 3, run.stderr
    assert shop.published > 0
    failed = [e for e in run.events if e["event"] == "gate_failed"]
    assert [f["gate"] for f in failed] == ["checkout-failures"]
    assert "checkout-failures" in run.event("rolled_back")["reason"] or "max 0" in failed[0]["reason"]
    # The built-in gates (HTTP 5xx, latency, alarms, the judge) had nothing against the release.
    failing_builtins = {
        g["gate"] for t in run.events if t["event"] == "tick" for g in t["gates"] if g["status"] == "FAIL"
    } - {"checkout-failures"}
    assert not failing_builtins
    production = view.stage("production")
    assert production["canarySettings"] is None and production["variables"]["slot"] == live


def test_a_shadow_gate_that_breaches_is_reported_and_the_release_is_promoted(
    view: StackView, outputs_file: Path, env, tmp_path: Path
) -> None:
    candidate = view.candidate()
    shadow = tmp_path / "shadow.yaml"
    shadow.write_text(CHECKOUT.read_text().rstrip() + "\n    shadow: true\n")
    with CheckoutService(view.url(), view.cw, view.version(candidate), candidate):
        run = shift(outputs_file, shadow, env)
        code = run.wait(timeout_s=180)
    assert code == 0, run.stderr
    reported = [
        g for t in run.events if t["event"] == "tick" for g in t["gates"] if g["gate"] == "checkout-failures"
    ]
    assert any(g["status"] == "FAIL" and g["shadow"] for g in reported)
    assert not [e for e in run.events if e["event"] == "gate_failed"]
    assert view.live() == candidate


def test_gates_validate_accepts_every_example_and_refuses_a_typo_with_one_line(env, tmp_path: Path) -> None:
    for example in sorted((REPO / "examples" / "gates").iterdir()):
        done = run_controller(["gates", "validate", str(example)], env)
        assert done.returncode == 0, done.stderr
    typo = tmp_path / "typo.yaml"
    typo.write_text(CHECKOUT.read_text().replace("stat: Sum", "stat: Total"))
    done = run_controller(["gates", "validate", str(typo)], env)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "is not a CloudWatch statistic" in done.stderr
