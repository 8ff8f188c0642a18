"""`python -m bench --ours-flags`: ours in the family with a user's judge flags, read by the CLI's parser."""

from __future__ import annotations

import json

import pytest

import bench.__main__ as bench_main
from bench.ours import Ours
from bench.ours_flags import OursFlagsError, ours_from_flags
from controller.domain import BaselineHistory, WindowStats
from controller.guard import GuardTest
from controller.judge import JudgeConfig


def judge_config_from_flags(flags: str, period_s: int) -> JudgeConfig:
    return ours_from_flags(flags, period_s).judge_config


def test_the_judge_flags_give_the_configuration_shift_gives() -> None:
    assert judge_config_from_flags("--latency-ratio 1.15", 60).latency_tolerance_relative == pytest.approx(
        0.15
    )
    assert judge_config_from_flags("--narrowest-ratio=1.4", 60).narrowest_regression_ratio == 1.4
    assert judge_config_from_flags("", 60).narrowest_regression_ratio == 1.3  # the default
    assert judge_config_from_flags("--narrowest-ratio off", 60).narrowest_regression_ratio is None
    assert judge_config_from_flags("--min-observation 10m", 60).min_periods == 10
    assert judge_config_from_flags("--no-trust-baseline-history", 60).history_fail is False
    margin = judge_config_from_flags("--regression-ratio 2 --regression-increase 0.1%", 60)
    assert (margin.regression_relative, margin.regression_absolute) == (pytest.approx(1.0), 0.001)
    # The bench plans the margin for its own horizon, as it does for the defaults.
    assert judge_config_from_flags("--latency-ratio 1.15", 60).horizon_periods is None
    assert judge_config_from_flags("--latency-ratio 1.25", 60) == JudgeConfig(horizon_periods=None)
    # The one-period limit: its default, a user's, off, and off where --latency-ratio reaches the default.
    default_severe = JudgeConfig.latency_severe_relative
    assert default_severe is not None
    assert judge_config_from_flags("", 60).latency_severe_relative == default_severe
    assert judge_config_from_flags("--latency-severe-ratio 2", 60).latency_severe_relative == 1.0
    assert judge_config_from_flags("--latency-severe-ratio off", 60).latency_severe_relative is None
    assert (
        judge_config_from_flags(f"--latency-ratio {1 + default_severe}", 60).latency_severe_relative is None
    )
    assert judge_config_from_flags("", 60).limit_beta == JudgeConfig.limit_beta
    assert judge_config_from_flags("--limit-test 1%", 60).limit_beta == 0.01
    assert judge_config_from_flags("--limit-test off", 60).limit_beta is None
    assert judge_config_from_flags("", 60).lasting_noise is True
    assert judge_config_from_flags("--lasting-noise ignore", 60).lasting_noise is False
    assert judge_config_from_flags("", 60).outlier_cap is True
    assert judge_config_from_flags("--outliers ignore", 60).outlier_cap is False
    raised = judge_config_from_flags("--latency-ratio 1.6 --latency-severe-ratio 2.5", 60)
    assert (raised.latency_tolerance_relative, raised.latency_severe_relative) == (pytest.approx(0.6), 1.5)


def test_the_guard_flag_gives_the_guard_shift_runs_and_leaves_the_judge_alone() -> None:
    assert ours_from_flags("--guard 20m", 60).guard_s == 1200
    assert ours_from_flags("--guard", 60).guard_s == 600  # --guard alone: 10m, as in shift
    assert ours_from_flags("--guard 10m", 60).judge_config == JudgeConfig(horizon_periods=None)
    # Without the flag, the guard `shift --strategy adaptive` runs by default: ten periods.
    assert ours_from_flags("--latency-ratio 1.15", 60).guard_s == 600
    assert ours_from_flags("--guard 0", 60).guard_s == 0


def test_the_guard_slow_flag_gives_ours_the_guard_shift_builds_with_it() -> None:
    assert ours_from_flags("", 60).guard_slow is False
    options = ours_from_flags("--guard-slow", 60)
    assert options.guard_slow is True and options.judge_config == JudgeConfig(horizon_periods=None)
    beside = tuple(WindowStats(3000, 3, slow_requests=30) for _ in range(8))
    reference = WindowStats(1_000_000, 1000)

    def slow_test_of(guard_slow: bool):
        ours = Ours(judge_config=options.judge_config, guard_s=options.guard_s, guard_slow=guard_slow)
        return ours._engine(None).guard_factory(reference, None, beside).slow

    assert slow_test_of(True) is not None and slow_test_of(False) is None


def test_the_guard_keep_flag_gives_ours_the_share_and_the_split_shift_builds_with_it() -> None:
    assert ours_from_flags("", 60).guard_keep_percent == 0.0
    options = ours_from_flags("--guard-keep 10", 60)
    assert options.guard_keep_percent == 10.0

    def ours_with(keep: float) -> Ours:
        return Ours(judge_config=options.judge_config, guard_s=options.guard_s, guard_keep_percent=keep)

    kept, plain = ours_with(10.0), ours_with(0.0)
    assert kept.promoted_share == 0.9 and plain.promoted_share == 1.0
    reference = WindowStats(1_000_000, 1000)
    assert kept._engine(None).guard_factory(reference, None).split is not None
    assert plain._engine(None).guard_factory(reference, None).split is None
    assert kept._engine(None).settings.guard_keep_percent == 10.0


def test_the_outliers_flag_reaches_the_guard_as_it_does_in_shift() -> None:
    # A day of steady minutes with a few spikes: the guard censors them unless --outliers ignore.
    errors = [60] * 1440
    for minute in range(0, 1440, 150):
        errors[minute] = 480
    history = BaselineHistory(6000 * 1440, sum(errors), tuple((6000, k) for k in errors))
    reference = WindowStats(history.requests, history.errors_5xx)

    def guard_of(flags: str) -> GuardTest:
        options = ours_from_flags(flags, 60)
        ours = Ours(judge_config=options.judge_config, guard_s=options.guard_s)
        return ours._engine(history).guard_factory(reference, None)

    assert guard_of("").outlier_share > 0
    assert guard_of("--outliers ignore").outlier_share == 0


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        ("--steps 10,100", "not --steps"),
        ("--fixed-margin", "not --fixed-margin"),
        ("--latency-ratio lots", "not a number"),
        ("--latency-ratio 0.5", "at least 1"),
        ("--narrowest-ratio", "expected one argument"),
        ("--guard soon", "duration"),
        ("--slow-ms 120", "--slow-ms off only"),
    ],
)
def test_flags_that_are_not_the_judges_or_that_shift_refuses_are_one_line_errors(flags, says, capsys) -> None:
    with pytest.raises(OursFlagsError, match=says):
        judge_config_from_flags(flags, 60)
    with pytest.raises(SystemExit) as exit_:
        bench_main.main(["--only", "family", f"--ours-flags={flags}"])
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err.strip().splitlines()[-1]


def test_the_family_runs_ours_with_the_flags_and_records_them(tmp_path) -> None:
    pattern = r"^p99 x1.3-2 onset:0 \| 0.2-1% 50-150rps steady od:none drift:0"
    common = ["--only", "family", "--runs", "40", "--cells", pattern, "--split", "tuning"]

    def ours_in(*extra: str) -> tuple[str, dict]:
        out = tmp_path / f"{len(extra)}.json"
        assert bench_main.main([*common, "--out", str(out), *extra]) == 0
        family = json.loads(out.read_text())["family"]
        slower = next(c for c in family["cells"] if c["kind"] == "latency")
        return family["ours_flags"], slower["policies"]["ours"]

    default_flags, default = ours_in()
    loose_flags, percentiles_only = ours_in("--ours-flags=--slow-ms off")
    tight_flags, tight = ours_in("--ours-flags=--slow-ms off --latency-ratio 1.15")
    assert (default_flags, loose_flags, tight_flags) == (
        "",
        "--slow-ms off",
        "--slow-ms off --latency-ratio 1.15",
    )
    # The slow-request test rolls the slower canary back sooner than percentiles alone, and so does a
    # narrower latency limit: either way it serves fewer requests.
    assert default["canary_requests_to_decision_mean"] < percentiles_only["canary_requests_to_decision_mean"]
    assert tight["canary_requests_to_decision_mean"] < percentiles_only["canary_requests_to_decision_mean"]
