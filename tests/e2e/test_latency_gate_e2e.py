"""The fixed-step p99 gate (`--max-p99-ratio`, default 1.5x the baseline's + 25 ms) on the local cloud, at a
traffic where a 10 s metric period holds about 50 canary requests: there CloudWatch's p99 is a period's
slowest request, so the gate judges the p90 (controller/stats.py `TailLatency`).

One slow first request (a cold start, on cue: the local cloud's fault for the next N invocations) no longer
rolls a healthy release back; a release slower on every request still is. The judge is left out (`--no-judge`)
so that the gate alone decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import METRIC_PERIOD_S, StackView
from e2e_controller_helpers import ControllerProcess, WatchedTraffic

RATE_PER_S = 10.0  # 5 canary requests a second at 50 %: ~50 in a 10 s period, far under the 100 a p99 needs
# Either is far past the limit: the local handlers answer in a few ms, so 1.5x + 25 ms is some 30 ms.
COLD_START_MS = 400.0
SLOWER_MS = 80.0
# The slow request comes up to 11 s into the step; its period is read one period after it ends (the metrics
# lag), so a 40 s bake leaves it ten seconds to be judged before the step may pass.
FIXED = ["--steps", "50,100", "--bake", "40s", "--interval", "2s", "--min-requests", "10", "--no-judge"]


def shift(
    outputs_file: Path, env: dict[str, str], view: StackView, at_half: Callable[[], None] = lambda: None
) -> tuple[int, ControllerProcess]:
    """A fixed-step rollout under traffic; `at_half` runs once the 50 % step's first whole metric period
    has begun (the gates read whole periods of the step: an earlier request would not be judged)."""
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = ControllerProcess(["shift", "--outputs", str(outputs_file), "--json", *FIXED], env)
        run.wait_event("step_started", timeout_s=60, percent=50)
        time.sleep(METRIC_PERIOD_S - time.time() % METRIC_PERIOD_S + 1)
        at_half()
        return run.wait(timeout_s=240), run


def canary_ticks(run: ControllerProcess) -> list[dict[str, Any]]:
    return [e for e in run.events if e["event"] == "tick" and e["canary"]["requests"]]


def test_one_slow_first_request_does_not_roll_a_healthy_release_back(
    view: StackView, outputs_file: Path, cfg: dict[str, Any], env: dict[str, str]
) -> None:
    view.clear_faults()
    candidate = view.candidate()
    function = cfg["slots"][candidate]["function_name"]
    one_slow = {"target": "lambda", "function": function, "latency_ms": COLD_START_MS, "invocations": 1}
    try:
        code, run = shift(outputs_file, env, view, lambda: view.localcloud.admin("POST", "faults", one_slow))
    finally:
        view.clear_faults()
    assert code == 0, (run.stderr, [e for e in run.events if e["event"] == "gate_failed"])
    # The slow request was in the data the gate read: the 50 % step's p99 (its slowest request, weighted over
    # the step's periods) was past the limit the gate holds its tail to.
    half = [t for t in canary_ticks(run) if t["percent"] == 50]
    assert max(t["canary"]["p99_ms"] or 0 for t in half) > COLD_START_MS / 4, [t["canary"] for t in half]
    gate = [g for t in half for g in t["gates"] if g["gate"] == "p99_vs_baseline" and g["status"] == "PASS"]
    assert gate and "p90" in gate[-1]["reason"], gate
    assert view.stage("production")["variables"]["slot"] == candidate


def test_a_release_slower_on_every_request_is_rolled_back_by_the_p99_gate(
    view: StackView, outputs_file: Path, cfg: dict[str, Any], env: dict[str, str]
) -> None:
    view.clear_faults()
    live, candidate = view.live(), view.candidate()
    view.slow(cfg["slots"][candidate]["function_name"], SLOWER_MS)
    try:
        code, run = shift(outputs_file, env, view)
    finally:
        view.clear_faults()
    assert code == 3, run.stderr
    failed = run.event("gate_failed")
    assert failed is not None and failed["gate"] == "p99_vs_baseline", failed
    assert "p90" in failed["reason"] and failed["percent"] == 50, failed
    production = view.stage("production")
    assert production["canarySettings"] is None and production["variables"]["slot"] == live
