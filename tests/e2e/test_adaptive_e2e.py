"""`--strategy adaptive` on the local cloud: the judge decides and the ramp sizes the share, under real
traffic; `--min-observation` holds the promotion until the canary has been watched that long, and a
release that turns bad after a healthy start is rolled back by the restarted bets. The same judge is a gate
of fixed steps too: there a slower release is rolled back by its latency check unless `--latency-ratio`
allows that much, and by its slow-request test (percentile ranks read from the local cloud) unless
`--slow-ms off`."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import METRIC_PERIOD_S, StackView, applied_root_module, saved_outputs
from e2e_controller_helpers import ControllerProcess, WatchedTraffic, wait_for

RATE_PER_S = 20.0
MIN_OBSERVATION_S = 120
LATE_OBSERVATION_S = 240
ADAPTIVE = ["--strategy", "adaptive", "--interval", "2s"]


def shift_args(outputs: Path, min_observation_s: int = MIN_OBSERVATION_S) -> list[str]:
    observe = ["--min-observation", f"{min_observation_s}s"]
    return ["shift", "--outputs", str(outputs), "--json", *ADAPTIVE, *observe]


def judged(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "tick" and e.get("judge")]


def test_a_healthy_release_is_promoted_only_after_the_minimum_observation(
    view: StackView, outputs_file: Path, env
) -> None:
    candidate = view.candidate()
    periods = math.ceil(MIN_OBSERVATION_S / METRIC_PERIOD_S)
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4) as traffic:
        shift = ControllerProcess(shift_args(outputs_file), env)
        code = shift.wait(timeout_s=600)
        seen = traffic.snapshot()
    assert code == 0, shift.describe()
    ticks = judged(shift.events)
    # The judge said what it was waiting for, in metric periods of the module's 10 s.
    assert any(f"/{periods} periods" in t["judge"]["reason"] for t in ticks), [t["judge"] for t in ticks]
    first_canary = next(t["at"] for t in ticks if t["canary"]["requests"])
    promoted = shift.event("promoted")
    assert promoted is not None and promoted["at"] - first_canary >= MIN_OBSERVATION_S - METRIC_PERIOD_S
    assert view.stage("production")["variables"]["slot"] == candidate
    assert sum(v.errors_5xx for v in seen.by_version.values()) == 0
    # By default an adaptive shift guards its promotion for ten metric periods, and a healthy release stays.
    started, ended = shift.event("guard_started"), shift.event("guard_ended")
    assert started is not None and started["duration_s"] == 10 * METRIC_PERIOD_S, started
    assert ended is not None and ended["verdict"] == "PASS", ended


@pytest.fixture(scope="module")
def judge_only(
    aws_env: dict[str, str],
    clients: dict[str, Any],
    localcloud: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[StackView, Path, dict[str, Any]]]:
    """A stack of its own with the module's error alarms out of reach: a 3 % fault on a canary of some 30
    requests a period trips the 5 % canary alarm by chance (two errors make 7 %), which then races the judge;
    this file is about the judge."""
    with applied_root_module(
        aws_env,
        "e2e-late",
        tmp_path_factory,
        error_5xx_rate_threshold_percent=100,
        lambda_errors_threshold=1_000_000,
    ) as stack:
        outputs = saved_outputs(stack, tmp_path_factory, "e2e-late-outputs")
        cfg = json.loads(outputs.read_text())["controller_config"]["value"]
        view = StackView(cfg, clients, localcloud)
        view.wait_idle()
        yield view, outputs, cfg
        view.clear_faults()


def test_a_release_that_turns_bad_during_the_observation_is_rolled_back(
    judge_only: tuple[StackView, Path, dict[str, Any]], env
) -> None:
    view, outputs_file, cfg = judge_only
    live, candidate = view.live(), view.candidate()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4) as traffic:
        # A longer observation than the healthy test's: the healthy stretch below must end well before any
        # promotion could, even on a CI machine slow to serve metrics after the whole suite.
        shift = ControllerProcess(shift_args(outputs_file, LATE_OBSERVATION_S), env)

        def canary_served() -> bool | None:
            return sum(t["canary"]["requests"] for t in judged(shift.events)) >= 100 or None

        # Healthy for its first periods, then the candidate fails 3 % of its requests: under the built-in
        # 5 % threshold, so the judge is the gate that must see it. The controller's start (reading a day
        # of history from a local cloud that has served the whole suite) is waited for on its own: the
        # minimum observation runs from the canary's first requests, not from the process's start.
        wait_for(lambda: any(t["canary"]["requests"] for t in judged(shift.events)), 180, "a judged canary")
        try:
            wait_for(canary_served, LATE_OBSERVATION_S - 60, "100 canary requests judged")
        except AssertionError as exc:
            ticks = [(round(t["at"]), t["percent"], t["canary"]["requests"]) for t in judged(shift.events)]
            raise AssertionError(
                f"{exc}; judged ticks (at, percent, canary requests): {ticks}; {shift.describe()}; "
                f"the local cloud's log ends:\n{view.log_tail()}"
            ) from None
        assert shift.event("promoted") is None
        view.fault(cfg["slots"][candidate]["function_name"], 0.03)
        code = shift.wait(timeout_s=300)
        seen = traffic.snapshot()
    assert code == 3, shift.stderr
    assert sum(v.errors_5xx for v in seen.by_version.values()) > 0  # the fault was real
    assert shift.event("promoted") is None
    failed = shift.event("gate_failed")
    last = [(t["at"], t["canary"], t["judge"]["reason"]) for t in judged(shift.events)[-3:]]
    assert failed is not None and failed["gate"] == "judge", (failed, last)
    production = view.stage("production")
    assert production["canarySettings"] is None and production["variables"]["slot"] == live


# The local handlers answer in about a millisecond (the baseline's percentiles are their Lambda Duration plus
# the gateway's overhead): 20 ms more is far past 1.25x + 5 ms, and well inside 100x + 5 ms.
SLOWER_MS = 20.0
# Half the traffic for a minute (the check compares the versions within a period, so the baseline must serve
# too): six 10 s periods, time to judge it more than once. The fixed-step p99 gate is widened out of the way
# (a few cold starts make a local p99), so the judge's latency check decides.
HALF_THEN_ALL = ["--steps", "50,100", "--bake", "60s", "--interval", "2s", "--max-p99-ratio", "100"]


def test_a_slower_release_is_rolled_back_by_the_latency_check_unless_the_latency_ratio_allows_it(
    judge_only: tuple[StackView, Path, dict[str, Any]], env
) -> None:
    view, outputs_file, cfg = judge_only
    view.clear_faults()  # the late-onset test's 3 % fault: this one is about latency alone
    view.wait_idle()
    live, candidate = view.live(), view.candidate()
    view.slow(cfg["slots"][candidate]["function_name"], SLOWER_MS)
    args = ["shift", "--outputs", str(outputs_file), "--json", *HALF_THEN_ALL]
    # The percentile check alone first (the slow-request test, next, would fail it as well).
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        shift = ControllerProcess([*args, "--slow-ms", "off"], env)
        code = shift.wait(timeout_s=300)
    assert code == 3, shift.stderr
    failed = shift.event("gate_failed")
    last = [(t["at"], t["canary"], t["judge"]["reason"]) for t in judged(shift.events)[-3:]]
    assert failed is not None and failed["gate"] == "judge", (failed, last)
    # 20 ms more than a baseline of a few ms is past the one-period limit (1.55x + 5 ms): the first
    # judged period rolls it back.
    assert "one-period limit" in failed["reason"], failed
    assert view.stage("production")["variables"]["slot"] == live

    # A latency ratio that allows 100x the baseline leaves the percentiles out of it; the slow-request test,
    # counting requests over 15 ms from the local cloud's percentile ranks (PR(:15)), still fails it: every
    # canary request is over, few of the baseline's are.
    view.wait_idle()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        counted = ControllerProcess([*args, "--latency-ratio", "100", "--slow-ms", "15"], env)
        code = counted.wait(timeout_s=300)
    assert code == 3, counted.stderr
    failed = counted.event("gate_failed")
    last = [(t["at"], t["canary"], t["baseline"], t["judge"]["reason"]) for t in judged(counted.events)[-3:]]
    assert failed is not None and failed["gate"] == "judge" and "slow requests" in failed["reason"], (
        failed,
        last,
    )
    history = counted.event("baseline_history")
    assert history is None or history["slow_threshold_ms"] == 15.0, history
    ticks = [t for t in judged(counted.events) if t["canary"]["requests"]]
    assert sum(t["canary"]["slow_requests"] or 0 for t in ticks) > 0, last
    assert view.stage("production")["variables"]["slot"] == live

    # The same release, step and traffic, with both allowing it: promoted.
    view.wait_idle()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        allowed = ControllerProcess([*args, "--latency-ratio", "100", "--slow-ms", "off"], env)
        code = allowed.wait(timeout_s=300)
    assert code == 0, (allowed.stderr, [t["judge"]["reason"] for t in judged(allowed.events)[-3:]])
    assert allowed.event("promoted") is not None and allowed.event("gate_failed") is None
    assert view.stage("production")["variables"]["slot"] == candidate
