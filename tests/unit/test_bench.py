"""The judge benchmark: samplers, peers as documented, tuning, output schema, the `python -m bench` entry."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import bench.__main__ as bench_main
from bench import drift, fleet
from bench.family_streams import FAMILY_NOISE
from bench.judge_sim import HISTORY_S, Outcome, ScenarioWorld, run_benchmark, simulate, summarise, tune
from bench.ours import Ours
from bench.policies import (
    INF,
    Checks,
    CodeDeployCanary,
    CodeDeployLinear,
    Flagger,
    Kayenta,
    Recipe,
    binom_sf,
)
from bench.scenarios import (
    Scenario,
    all_scenarios,
    identical,
    regression,
    sprt_limit_failed,
    sprt_limit_requests,
)
from bench.streams import Streams, Version, binomial_inv, percentile_sample, poisson_inv


def _identical(rate: float = 0.005, rps: float = 50, runs: int = 400, seed: int = 1) -> Scenario:
    s = identical(rate, rps, seed)
    return Scenario(s.name, s.kind, s.requests_per_s, s.baseline, s.canary, seed, runs)


def _broken(canary_rate: float, rps: float = 50, runs: int = 200) -> Scenario:
    s = regression(0.005, canary_rate, rps, seed=2)
    return Scenario(s.name, s.kind, s.requests_per_s, s.baseline, s.canary, 2, runs)


def test_the_sprt_limits_are_the_issues_figures() -> None:
    assert sprt_limit_requests(0.005, 0.02) == pytest.approx(351, abs=1)
    assert sprt_limit_failed(0.005, 0.02) == pytest.approx(7.0, abs=0.05)
    assert sprt_limit_requests(0.001, 0.05) == pytest.approx(30, abs=1)
    assert sprt_limit_failed(0.001, 0.05) == pytest.approx(1.5, abs=0.05)
    assert sprt_limit_requests(0.01, 0.015) == pytest.approx(4114, abs=1)
    assert sprt_limit_failed(0.01, 0.015) == pytest.approx(61.7, abs=0.05)


@pytest.mark.parametrize("mean", [0.3, 4.0, 59.0, 250.0, 3000.0])
def test_poisson_counts_have_the_right_mean_and_variance(mean) -> None:
    u = np.random.default_rng(1).random(100_000)
    counts = poisson_inv(u, np.full(u.shape, mean))
    assert counts.mean() == pytest.approx(mean, rel=0.02, abs=0.01)
    assert counts.var() == pytest.approx(mean, rel=0.05, abs=0.01)


@pytest.mark.parametrize(("n", "p"), [(15, 0.05), (3000, 0.005), (30000, 0.005), (2000, 0.05)])
def test_binomial_counts_have_the_right_mean_and_variance(n, p) -> None:
    u = np.random.default_rng(2).random(100_000)
    counts = binomial_inv(u, np.full(u.shape, n), p)
    assert counts.mean() == pytest.approx(n * p, rel=0.02)
    assert counts.var() == pytest.approx(n * p * (1 - p), rel=0.05)


def test_counts_grow_with_the_share_on_the_same_random_numbers() -> None:
    streams = Streams(500, 1, seed=3)
    idx = np.arange(500)
    version = Version(0.01, 40, 0.39)
    small = streams.period(0, idx, np.full(500, 0.1), 50, version, version)
    large = streams.period(0, idx, np.full(500, 0.2), 50, version, version)
    assert (large.canary_requests >= small.canary_requests).all()
    assert (large.baseline_requests <= small.baseline_requests).all()


def test_a_percentile_of_many_requests_is_close_to_the_true_one() -> None:
    z = np.random.default_rng(4).standard_normal(20_000)
    p99 = percentile_sample(z, np.full(z.shape, 5000), 0.99, 40.0, math.log(2.5) / 2.3263)
    assert np.median(p99) == pytest.approx(100, rel=0.02)
    assert np.isnan(percentile_sample(z[:3], np.zeros(3), 0.99, 40.0, 0.4)).all()


def test_binomial_tail_matches_a_direct_sum() -> None:
    got = binom_sf(np.array([3]), np.array([10]), np.array([0.2]))[0]
    expected = sum(math.comb(10, k) * 0.2**k * 0.8 ** (10 - k) for k in range(3, 11))
    assert got == pytest.approx(expected, rel=1e-9)


def test_codedeploy_canary_holds_ten_percent_for_five_minutes_then_shifts_everything() -> None:
    out = simulate(CodeDeployCanary(Checks()), _identical(runs=50), Streams(50, 30, 5))
    assert out.promoted.all() and (out.decided_s == 300).all()
    # 10 % of 50 rps for 5 one-minute periods is ~1,500 canary requests before the shift.
    assert out.canary_requests.mean() == pytest.approx(1500, rel=0.05)


def test_codedeploy_linear_adds_ten_percent_a_minute_and_finishes_after_nine_minutes() -> None:
    out = simulate(CodeDeployLinear(Checks()), _identical(runs=50), Streams(50, 30, 5))
    assert (out.decided_s == 540).all()
    assert out.canary_requests.mean() == pytest.approx(3000 * sum(range(1, 10)) / 10, rel=0.05)


def test_a_breaching_alarm_rolls_codedeploy_back_after_one_period() -> None:
    out = simulate(CodeDeployCanary(Checks(error=0.0)), _broken(0.5), Streams(200, 30, 6))
    assert out.rolled_back.all() and (out.decided_s == 60).all()


def test_flagger_promotes_after_five_passing_checks_from_ten_to_fifty_percent() -> None:
    out = simulate(Flagger(Checks()), _identical(runs=50), Streams(50, 30, 5))
    assert out.promoted.all() and (out.decided_s == 300).all()


def test_flagger_holds_the_weight_on_a_failed_check_and_rolls_back_at_five() -> None:
    policy = Flagger(Checks(error=0.0))
    out = simulate(policy, _broken(0.5), Streams(200, 30, 6))
    assert out.rolled_back.all() and (out.decided_s == 300).all()
    # The weight never left 10 %: ~300 canary requests per period for 5 periods.
    assert out.canary_requests.mean() == pytest.approx(1500, rel=0.05)


def test_kayenta_rolls_back_on_the_first_failing_interval() -> None:
    out = simulate(Kayenta(Checks(error=2.0)), _broken(0.5), Streams(200, 30, 6))
    assert out.rolled_back.all() and (out.decided_s == 60).all()


def test_the_recipe_checks_every_two_minutes_and_its_literal_rule_rolls_back_good_releases() -> None:
    literal = simulate(Recipe(Checks(error=0.0)), _identical(runs=100), Streams(100, 30, 7))
    assert literal.rolled_back.mean() > 0.95 and set(literal.decided_s[literal.rolled_back]) <= {120.0}
    lenient = simulate(Recipe(Checks(error=INF)), _identical(runs=50), Streams(50, 30, 7))
    assert lenient.promoted.all() and (lenient.decided_s == 480).all()


def test_tuning_finds_the_most_sensitive_threshold_that_holds_one_percent() -> None:
    scenario = _identical(runs=400)
    streams = Streams(400, 30, scenario.seed)

    def make(threshold: float) -> CodeDeployLinear:
        return CodeDeployLinear(Checks(error=threshold))

    threshold, frr = tune(make, ScenarioWorld(scenario, streams))
    assert frr <= 0.01
    probe = make(INF)
    simulate(probe, scenario, streams, until_decided=True)
    lower = probe.stat[probe.stat < threshold].max()
    assert simulate(make(lower), scenario, streams, until_decided=True).rolled_back.mean() > 0.01


def test_the_benchmark_writes_every_field_of_the_schema() -> None:
    scenarios = [_broken(0.02, runs=40), _identical(runs=40, seed=201)]
    document = json.loads(json.dumps(run_benchmark(scenarios, log=lambda _: None)))
    keys = {
        "failed_requests_mean",
        "failed_requests_p95",
        "detection_rate",
        "false_rollback_rate",
        "time_to_rollback_s_mean",
        "time_to_promote_s_mean",
        "canary_requests_to_decision_mean",
        "threshold",
    }
    for scenario in document["scenarios"]:
        assert set(scenario["policies"]) == {
            "ours",
            "recipe",
            "codedeploy_canary",
            "codedeploy_linear",
            "flagger",
            "kayenta",
        }
        for policy in scenario["policies"].values():
            assert keys <= set(policy)
        # ours in its other configurations sits beside "policies", so the issue's schema holds as written
        for variant in ("ours_strict", "ours_without_history"):
            assert keys <= set(scenario[variant])
        if scenario["kind"] == "identical":
            assert all(p["detection_rate"] == 0 for p in scenario["policies"].values())
        else:
            assert all(p["false_rollback_rate"] is None for p in scenario["policies"].values())


def test_a_named_regression_takes_an_alarms_m_of_n_and_a_healthy_release_one_period() -> None:
    scenarios = [_broken(0.02, runs=200), _identical(runs=200, seed=201)]
    regression, identical = run_benchmark(scenarios, log=lambda _: None, variants={})["scenarios"]
    # on these runs CodeDeploy canary's 2 % regression fails the fewest requests alarming on 3 of 5
    assert regression["policies"]["codedeploy_canary"]["threshold"].endswith("in 3 of 5 periods")
    for peer in ("codedeploy_canary", "codedeploy_linear"):  # no regression to choose an M of N for
        assert identical["policies"][peer]["threshold"].endswith("in a period")


def test_the_judge_benchmark_writes_judge_json_with_goals(tmp_path) -> None:
    out = tmp_path / "judge.json"
    bench_main.judge_main(runs=20, out=out)
    document = json.loads(out.read_text())
    names = [s["name"] for s in document["scenarios"]]
    assert len(names) == 11 and sum(s["kind"] == "identical" for s in document["scenarios"]) == 5
    assert all({"goal", "value", "target", "met"} <= set(g) for g in document["goals"])
    assert set(document["goals_by_variant"]) == {"ours_strict", "ours_without_history"}
    assert all(len(g) == len(document["goals"]) for g in document["goals_by_variant"].values())


def test_the_simulator_gives_each_run_a_day_of_history_at_the_baseline_rate() -> None:
    streams = Streams(runs=400, periods=1, seed=5)
    requests, errors = streams.history(50, HISTORY_S, Version(0.01, 40.0, 0.394))
    assert requests.shape == errors.shape == (400, 1440)  # one point a minute
    totals, errors_total = requests.sum(axis=1), errors.sum(axis=1)
    assert totals.mean() == pytest.approx(50 * HISTORY_S, rel=0.001)
    assert (errors_total / totals).mean() == pytest.approx(0.01, rel=0.01)
    assert len(set(errors_total.tolist())) > 100  # each run its own draw
    assert (errors <= requests).all()
    # minutes of a Poisson stream at 3,000 requests a minute: mean and variance both ~3,000
    assert requests.mean() == pytest.approx(3000, rel=0.001)
    assert requests.var() == pytest.approx(3000, rel=0.05)


def test_a_days_history_keeps_its_totals_when_spread_over_minutes() -> None:
    streams = Streams(runs=50, periods=1, seed=6)
    idx = np.arange(50)
    totals = poisson_inv(streams.u_history[0, idx], np.full(50, 50 * HISTORY_S))
    requests, errors = streams.history(50, HISTORY_S, Version(0.01, 40.0, 0.394))
    assert (requests.sum(axis=1) == totals).all()
    assert (errors.sum(axis=1) == binomial_inv(streams.u_history[1, idx], totals, 0.01)).all()
    again = streams.history(50, HISTORY_S, Version(0.01, 40.0, 0.394))
    assert all((a == b).all() for a, b in zip(again, (requests, errors), strict=True))


def test_binomial_counts_take_one_rate_per_draw() -> None:
    u = np.random.default_rng(8).random(20_000)
    n = np.full(u.shape, 3000)
    assert (binomial_inv(u, n, np.full(u.shape, 0.005)) == binomial_inv(u, n, 0.005)).all()
    rates = np.where(np.arange(u.size) % 2 == 0, 0.001, 1.0)
    counts = binomial_inv(u, n, rates)
    assert (counts[1::2] == 3000).all() and counts[::2].mean() == pytest.approx(3, rel=0.05)


def test_ours_hands_each_run_its_history_only_when_asked() -> None:
    runs = 3
    requests, errors = np.full((runs, 1440), 3000), np.full((runs, 1440), 15)
    with_history, without = Ours(), Ours(use_history=False)
    for policy in (with_history, without):
        policy.start(runs, 3000)
        policy.see_history(requests, errors)
    assert all(j.history is not None for j in with_history.judges)
    for judge in with_history.judges:
        history = judge.history.history
        assert (history.requests, history.errors_5xx) == (4_320_000, 21_600)
        assert history.per_period == ((3000, 15),) * 1440  # the minutes, as the controller reads them
    assert all(j.history is None for j in without.judges)


def test_ours_starts_each_run_at_its_own_traffic() -> None:
    policy = Ours()
    policy.start(2, np.array([120.0, 30_000.0]))
    assert policy.share[0] > policy.share[1]  # the same first-period requests from less traffic


def test_tuning_a_fixed_schedule_from_one_run_matches_the_bisection() -> None:
    scenario = _identical(runs=400, seed=9)
    world = ScenarioWorld(scenario, Streams(400, 30, scenario.seed))

    class Bisected(CodeDeployCanary):
        threshold_changes_path = True

    exact = tune(lambda thr: CodeDeployCanary(Checks(error=thr)), world)
    bisected = tune(lambda thr: Bisected(Checks(error=thr)), world)
    assert exact == bisected and exact[1] <= 0.01


def test_python_m_bench_runs_the_data_plane_benchmark_when_it_exists(monkeypatch, tmp_path) -> None:
    calls = []

    def judge(runs, out, seed):
        calls.append(("judge", runs, seed))
        return {"goals": []}

    monkeypatch.setattr(bench_main, "judge_main", judge)
    monkeypatch.setattr(
        bench_main,
        "family_main",
        lambda runs, out, seed, split, cells, goals, jobs, ours_flags, lasts: calls.append(
            ("family", runs, jobs, lasts)
        ),
    )
    monkeypatch.setattr(
        bench_main, "tradeoff_main", lambda runs, out, seed, split, jobs: calls.append(("tradeoff", runs))
    )
    fake = types.ModuleType("bench.dataplane")
    fake.main = lambda: calls.append(("dataplane",)) or 0
    monkeypatch.setitem(sys.modules, "bench.dataplane", fake)
    monkeypatch.setattr(fleet, "main", lambda sizes: calls.append(("fleet", sizes)) or 0)
    argv = [
        "--runs",
        "7",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "j.json"),
        "--jobs",
        "2",
        "--tradeoff-runs",
        "5",
    ]
    assert bench_main.main(argv) == 0
    assert calls == [
        ("judge", 7, 3),
        ("family", 7, 2, FAMILY_NOISE),  # gamma noise drawn afresh every minute: the family's own
        ("tradeoff", 5),
        ("dataplane",),
        ("fleet", (1, 5, 20, 50)),
    ]


def test_the_fleet_benchmark_runs_alone_with_the_sizes_asked(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(fleet, "main", lambda sizes: calls.append(sizes) or 0)
    assert bench_main.main(["--only", "fleet", "--fleet-sizes", "1,3"]) == 0
    assert calls == [(1, 3)]
    with pytest.raises(SystemExit):
        bench_main.main(["--only", "fleet", "--fleet-sizes", "5,1"])


def test_the_fleet_table_shows_the_cost_per_stack_and_the_marginal_memory() -> None:
    def row(n: int, rss: float) -> dict:
        return dict(
            stacks=n,
            wall_s=30.0 + 6 * n,
            snapshots_spread_s=5.2 * (n - 1),
            calls_per_stack_minute=50.0,
            refused_by_local_cloud=0,
            retried_attempts=0,
            cpu_s_per_stack=0.5,
            peak_rss_mb=rss,
            rss_mb_per_stack=rss / n,
            promoted=n,
            requests_5xx=0,
            requests_unanswered=0,
            requests_answered=100 * n,
        )

    text = fleet.table([row(1, 80.0), row(5, 100.0)])
    assert "| 5 | 60 s | 21 s | 50.0 | 0 | 0 | 0.50 s | 100 MB | 20.0 MB (+5.0) | 5/5 | 0 of 500 |" in text


def test_the_fleet_reads_the_controllers_own_peak_memory_not_the_parents() -> None:
    # A parent holding 300 MB (as after the judge benchmarks) starts a small child: wait4 charges the child
    # the parent's memory, the /proc reading does not.
    ballast = bytearray(300 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page so it is resident
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "b = bytearray(60 * 2**20); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep(1)",
        ]
    )
    with fleet.PeakMemory(child.pid, every_s=0.05) as memory:
        _, _, usage = os.wait4(child.pid, 0)
    child.returncode = 0
    assert 60 * 1024 <= memory.kib < 200 * 1024
    assert usage.ru_maxrss >= 300 * 1024 > memory.kib  # what the fleet table used to show
    del ballast


def test_the_fleet_says_why_a_stack_did_not_promote() -> None:
    events = [
        {
            "event": "gate_failed",
            "stack": "fleet-07",
            "percent": 50.0,
            "gate": "latency",
            "reason": "p99 3.4x",
        },
        {"event": "stack_finished", "stack": "fleet-07", "outcome": "rolled_back", "reason": "gate latency"},
        {"event": "stack_finished", "stack": "fleet-01", "outcome": "promoted", "reason": ""},
        {"event": "stack_finished", "stack": "fleet-02", "outcome": "reverted", "reason": "fleet-07 failed"},
    ]
    assert fleet._failures(events) == [
        "fleet-07: gate_failed at 50.0 %: p99 3.4x",
        "fleet-07: rolled_back (gate latency)",
        "fleet-02: reverted (fleet-07 failed)",
    ]
    # an error event has a message and no percent
    error = {"event": "error", "stack": "fleet-03", "message": "TooManyRequests", "exit_code": 1}
    assert fleet._failures([error]) == ["fleet-03: error: TooManyRequests"]


def test_the_fleet_keeps_the_controllers_logs_of_a_failed_row_only(tmp_path) -> None:
    run_dir, out_dir = tmp_path / "run", tmp_path / "out"
    run_dir.mkdir()
    events, stderr = run_dir / "fleet-50.jsonl", run_dir / "fleet-50.stderr"
    events.write_text('{"event": "gate_failed"}\n')
    stderr.write_text("Traceback ...\n")
    promoted = {"exit_code": 0, "promoted": 5, "stacks": 5, "logs": [str(events), str(stderr)]}
    assert fleet.keep_logs(promoted, out_dir) == [] and promoted["logs"] == []
    assert not out_dir.exists()
    failed = {"exit_code": 3, "promoted": 9, "stacks": 50, "logs": [str(events), str(stderr)]}
    kept = fleet.keep_logs(failed, out_dir)
    assert [p.name for p in kept] == ["fleet-50.jsonl", "fleet-50.stderr"]
    assert (out_dir / "fleet-50.stderr").read_text() == "Traceback ...\n"
    assert failed["logs"] == [str(out_dir / "fleet-50.jsonl"), str(out_dir / "fleet-50.stderr")]


def test_a_second_seed_reruns_every_scenario_on_fresh_streams() -> None:
    first, second = all_scenarios(runs=10), all_scenarios(runs=10, seed=1000)
    assert [s.name for s in first] == [s.name for s in second]
    assert all(b.seed == a.seed + 1000 for a, b in zip(first, second, strict=True))
    assert len({s.seed for s in first} | {s.seed for s in second}) == 2 * len(first)


def test_the_drift_table_sets_ours_against_peers_tuned_at_the_historys_rate() -> None:
    rows = {r["case"]: r for r in drift.run(runs=200)}
    # The strict judge's fail test compares with today's baseline only: alpha holds whatever it does.
    assert all(r["strict"]["rolled_back"] <= 0.03 for r in rows.values())
    # Thresholds tuned at the usual rate fire on a doubled one; the default's drift watch does not.
    doubled = rows["0.5% doubles"]
    assert doubled["default"]["rolled_back"] <= 0.03 < doubled["codedeploy_canary"]["rolled_back"]
    assert doubled["flagger"]["rolled_back"] > 0.5 and doubled["recipe"]["rolled_back"] > 0.5
    # A 30 % rise at 1 % was the default's weak spot (2.4 % in the published table) until the fail test's
    # null followed today's estimate; the table must show it next to the peers.
    rise = rows["1% rises 30%"]
    assert rise["default"]["rolled_back"] <= 0.02 < rise["flagger"]["rolled_back"]
    text = drift.table(list(rows.values()))
    assert "ours, strict" in text and "CD canary" in text and "1% rises 30%" in text


def test_a_named_release_undone_by_the_guard_counts_as_rolled_back() -> None:
    nan = float("nan")
    outcome = Outcome(
        rolled_back=np.array([True, False, False, False]),
        promoted=np.array([False, True, True, True]),
        decided_s=np.array([120.0, 300.0, 300.0, 300.0]),
        failed=np.zeros(4),
        canary_requests=np.zeros(4),
        undone_s=np.array([nan, 480.0, nan, nan]),
    )
    regression = summarise(outcome, types.SimpleNamespace(kind="regression"), None)  # type: ignore[arg-type]
    assert regression["detection_rate"] == 0.5 and regression["undone_rate"] == 0.25
    identical = summarise(outcome, types.SimpleNamespace(kind="identical"), None)  # type: ignore[arg-type]
    assert identical["false_rollback_rate"] == 0.5


def test_the_drift_table_counts_a_good_release_the_guard_undid_as_rolled_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nan = float("nan")
    outcome = Outcome(
        rolled_back=np.array([True, False, False, False]),
        promoted=np.array([False, True, True, True]),
        decided_s=np.full(4, 300.0),
        failed=np.zeros(4),
        canary_requests=np.zeros(4),
        undone_s=np.array([nan, 600.0, nan, nan]),
    )
    monkeypatch.setattr(drift, "simulate", lambda policy, scenario, streams: outcome)
    shares = drift._shares(None, None, None)  # type: ignore[arg-type]
    assert shares == {"rolled_back": 0.5, "promoted": 0.75, "undone": 0.25}


def test_a_named_scenario_goes_on_past_its_horizon_only_when_asked_and_unchanged_before_it() -> None:
    scenario = _broken(0.02, runs=300)
    extended, plain = (
        ScenarioWorld(scenario, Streams(300, 30, 9)),
        ScenarioWorld(scenario, Streams(300, 30, 9)),
    )
    idx, everyone = np.arange(300), np.ones(300)
    with pytest.raises(IndexError):
        plain.period(30, idx, everyone)
    assert extended.beyond(10) == 10 and extended.beyond(20) == 10  # drawn once
    assert (
        extended.period(29, idx, everyone).canary_errors == plain.period(29, idx, everyone).canary_errors
    ).all()
    past = [extended.period(t, idx, everyone) for t in range(30, 40)]
    rate = sum(p.canary_errors.sum() for p in past) / sum(p.canary_requests.sum() for p in past)
    assert rate == pytest.approx(0.02, rel=0.1)  # the regression stays on
