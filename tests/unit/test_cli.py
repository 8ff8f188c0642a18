"""Command line validation and exit codes: user errors are one line and an exit code, before any AWS call."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from controller import cli
from controller.domain import Outcome, Verdict, WindowStats
from controller.errors import EXIT_ERROR, EXIT_OK, EXIT_ROLLED_BACK, EXIT_USAGE
from controller.events import Recorder
from controller.judge import Judge, JudgeConfig


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("AWS must not be reached for a usage error")

    monkeypatch.setattr("controller.app.App.from_args", refuse)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv, stdin=io.StringIO(""), make_events=lambda as_json: Recorder())
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv",
    [
        ["shift", "--steps", "10,5,100"],
        ["shift", "--steps", "10,150"],
        ["shift", "--steps", "0,100"],
        ["shift", "--steps", "10,50"],
        ["shift", "--steps", "ten,100"],
        ["shift", "--strategy", "yolo"],
        ["shift", "--strategy", "recipe", "--steps", "10,100"],
        ["shift", "--bake", "2 minutes"],
        ["shift", "--interval", "0s"],
        ["shift", "--interval", "60"],
        ["shift", "--max-5xx-rate", "2"],
        ["shift", "--max-5xx-rate", "lots"],
        ["shift", "--max-p99-ms", "-5"],
        ["shift", "--min-requests", "-1"],
        ["shift", "--min-requests", "0"],
        ["shift", "--on-interrupt", "panic"],
        ["shift", "--hook-timeout", "0s"],
        ["shift", "--tf-dir", ".", "--outputs", "x.json"],
        ["shift", "--strategy", "adaptive", "--no-judge"],
        ["shift", "--strategy", "adaptive", "--bake", "0s"],
        ["shift", "--baseline-history", "-1h"],
        ["shift", "--baseline-history", "15d"],
        ["shift", "--baseline-history", "400h"],
        ["shift", "--baseline-history", "30s"],
        ["shift", "--baseline-history", "0", "--trust-baseline-history"],
        ["shift", "--no-judge", "--trust-baseline-history"],
        ["shift", "--min-observation", "ten minutes"],
        ["shift", "--min-observation", "10m", "--no-judge"],
        ["shift", "--regression-ratio", "1"],
        ["shift", "--regression-ratio", "0.5"],
        ["shift", "--regression-ratio", "lots"],
        ["shift", "--regression-increase", "0"],
        ["shift", "--regression-increase", "150%"],
        ["shift", "--regression-increase", "0.1%", "--no-judge"],
        ["shift", "--fixed-margin"],  # the default strategy's fixed steps have no time limit
        ["shift", "--strategy", "adaptive", "--fixed-margin", "--no-judge"],
        ["shift", "--narrowest-ratio", "1"],
        ["shift", "--narrowest-ratio", "0"],
        ["shift", "--narrowest-ratio", "none"],
        ["shift", "--strategy", "adaptive", "--narrowest-ratio", "1.2", "--fixed-margin"],
        ["shift", "--narrowest-ratio", "1.2", "--no-judge"],
        ["shift", "--latency-ratio", "0.9"],
        ["shift", "--latency-ratio", "slow"],
        ["shift", "--latency-ratio", "1.15", "--no-judge"],
        ["shift", "--latency-severe-ratio", "1.2"],  # at or under --latency-ratio (1.25)
        ["shift", "--latency-ratio", "1.5", "--latency-severe-ratio", "1.5"],
        ["shift", "--latency-severe-ratio", "1"],
        ["shift", "--latency-severe-ratio", "never"],
        ["shift", "--latency-severe-ratio", "2", "--no-judge"],
        ["shift", "--limit-test", "0.005"],  # the default strategy's fixed steps have no time limit
        ["shift", "--strategy", "adaptive", "--limit-test", "0.5%", "--fixed-margin"],
        ["shift", "--strategy", "adaptive", "--limit-test", "0.005", "--no-judge"],
        ["shift", "--strategy", "adaptive", "--limit-test", "0"],
        ["shift", "--strategy", "adaptive", "--limit-test", "1"],
        ["shift", "--strategy", "adaptive", "--limit-test", "never"],
        ["shift", "--lasting-noise", "sometimes"],
        ["shift", "--lasting-noise", "ignore", "--no-judge"],
        ["shift", "--lasting-noise", "carry", "--baseline-history", "0"],
        ["shift", "--outliers", "sometimes"],
        ["shift", "--outliers", "ignore", "--no-judge"],
        ["shift", "--outliers", "cap", "--baseline-history", "0"],
        ["shift", "--slow-ms", "0"],
        ["shift", "--slow-ms", "-250"],
        ["shift", "--slow-ms", "fast"],
        ["shift", "--slow-ms", "nan"],
        ["shift", "--slow-ms", "250", "--no-judge"],
        ["shift", "--strategy", "adaptive", "--guard-slow", "--guard", "0"],
        ["shift", "--strategy", "adaptive", "--guard-slow", "--slow-ms", "off"],
        ["shift", "--guard-slow", "--guard", "--no-judge"],
        ["shift", "--guard-slow"],  # fixed steps guard nothing by default
        ["shift", "--strategy", "adaptive", "--guard-keep", "60"],
        ["shift", "--strategy", "adaptive", "--guard-keep", "0.01"],
        ["shift", "--strategy", "adaptive", "--guard-keep", "ten"],
        ["shift", "--strategy", "adaptive", "--guard-keep", "nan"],
        ["shift", "--strategy", "adaptive", "--guard-keep", "10", "--guard", "0"],
        ["shift", "--strategy", "adaptive", "--guard-keep", "10", "--slow-ms", "off"],
        ["shift", "--guard-keep", "10", "--guard", "--no-judge"],
        ["shift", "--guard-keep", "10"],  # fixed steps guard nothing by default
        ["shift", "--no-such-flag"],
        ["deploy"],
        [],
        ["status", "extra"],
    ],
)
def test_usage_errors_exit_2_with_one_line_before_any_aws_call(argv: list[str], capsys) -> None:
    code, out, err = run(argv, capsys)
    assert code == EXIT_USAGE
    assert err.startswith("error: ") and err.count("\n") == 1
    assert out == ""


def test_rates_accept_fractions_and_percents() -> None:
    args = cli.build_parser().parse_args(["shift", "--max-5xx-rate", "2.5%"])
    assert args.max_5xx_rate == 0.025


def test_shift_options_carry_the_thresholds_and_the_metric_period() -> None:
    args = cli.build_parser().parse_args(
        [
            "shift",
            "--steps",
            "20,100",
            "--bake",
            "30s",
            "--interval",
            "5s",
            "--max-p99-ms",
            "300",
            "--min-requests",
            "7",
        ]
    )
    options = cli.shift_options(args, period_s=2)
    assert options.policy.plan.percents == (20, 100)
    assert options.policy.interval_s == 5
    assert options.policy.period_s == 2
    assert options.policy.thresholds.max_p99_ms == 300
    assert options.policy.thresholds.min_requests == 7


def test_the_judge_reads_and_trusts_a_day_of_history_unless_told_otherwise() -> None:
    parse = cli.build_parser().parse_args
    default = cli.shift_options(parse(["shift"]))
    assert (default.baseline_history_s, default.trust_history) == (86400, True)
    trusting = cli.shift_options(parse(["shift", "--baseline-history", "6h", "--trust-baseline-history"]))
    assert (trusting.baseline_history_s, trusting.trust_history) == (21600, True)
    strict = cli.shift_options(parse(["shift", "--no-trust-baseline-history"]))
    assert (strict.baseline_history_s, strict.trust_history) == (86400, False)
    none = cli.shift_options(parse(["shift", "--baseline-history", "0"]))
    assert (none.baseline_history_s, none.trust_history) == (0, False)
    assert cli.shift_options(parse(["shift", "--no-judge"])).trust_history is False


def test_min_observation_holds_the_judge_for_whole_metric_periods() -> None:
    parse = cli.build_parser().parse_args
    assert cli.shift_options(parse(["shift"])).judge_config().min_periods == 2
    assert cli.shift_options(parse(["shift", "--min-observation", "10m"])).judge_config().min_periods == 10
    # 90 s of one-minute periods is two periods; of 20-second ones, five (rounded up).
    assert cli.shift_options(parse(["shift", "--min-observation", "90s"])).judge_config().min_periods == 2
    held = cli.shift_options(parse(["shift", "--min-observation", "90s"]), period_s=20).judge_config()
    assert held.min_periods == 5
    strict = cli.shift_options(parse(["shift", "--no-trust-baseline-history", "--min-observation", "5m"]))
    assert (strict.judge_config().history_fail, strict.judge_config().min_periods) == (False, 5)


def test_an_adaptive_shift_guards_its_promotion_for_ten_periods_unless_told_otherwise() -> None:
    parse = cli.build_parser().parse_args
    adaptive = ["shift", "--strategy", "adaptive"]
    assert cli.shift_options(parse(adaptive)).guard_s == 600  # ten one-minute periods
    assert cli.shift_options(parse(adaptive), period_s=10).guard_s == 100  # ten of the module's 10 s
    assert cli.shift_options(parse([*adaptive, "--guard", "0"])).guard_s == 0
    assert cli.shift_options(parse([*adaptive, "--guard", "20m"])).guard_s == 1200
    assert cli.shift_options(parse(["shift"])).guard_s == 0  # fixed steps: their last bake is the watch
    assert cli.shift_options(parse(["shift", "--guard"])).guard_s == 600


def test_guard_slow_gives_the_guard_the_judges_slow_request_level_and_tolerance() -> None:
    parse = cli.build_parser().parse_args
    adaptive = ["shift", "--strategy", "adaptive"]
    assert cli.shift_options(parse(adaptive)).guard_settings().slow_alpha is None
    slow = cli.shift_options(parse([*adaptive, "--guard-slow"])).guard_settings()
    assert (slow.slow_alpha, slow.slow_tolerance) == (JudgeConfig.latency_slow_alpha, 0.5)
    assert cli.shift_options(parse(["shift", "--guard", "--guard-slow"])).guard_settings().slow_alpha == 0.002


def test_guard_keep_gives_the_guard_and_the_engine_the_former_versions_share() -> None:
    parse = cli.build_parser().parse_args
    adaptive = ["shift", "--strategy", "adaptive"]
    assert cli.shift_options(parse(adaptive)).guard_settings().keep_percent == 0.0
    kept = cli.shift_options(parse([*adaptive, "--guard-keep", "10%"]))
    assert kept.guard_keep_percent == 10.0 and kept.guard_settings().keep_percent == 10.0


def test_the_regression_margin_reaches_the_judge() -> None:
    parse = cli.build_parser().parse_args
    default = cli.shift_options(parse(["shift"])).judge_config()
    assert (default.regression_relative, default.regression_absolute) == (0.5, 0.005)
    fine = cli.shift_options(parse(["shift", "--regression-increase", "0.1%", "--regression-ratio", "1.3"]))
    config = fine.judge_config()
    assert config.regression_relative == pytest.approx(0.3) and config.regression_absolute == 0.001


def test_the_narrowest_ratio_reaches_the_judge_unless_it_is_no_narrower_than_the_margin_or_off() -> None:
    parse = cli.build_parser().parse_args

    def narrowest(*flags: str) -> float | None:
        return (
            cli.shift_options(parse(["shift", "--strategy", "adaptive", *flags]))
            .judge_config()
            .narrowest_regression_ratio
        )

    assert narrowest() == 1.3  # the default, with the default margin
    assert narrowest("--narrowest-ratio", "off") is None  # never narrower than the margin
    assert narrowest("--narrowest-ratio", "OFF", "--fixed-margin") is None
    assert narrowest("--regression-ratio", "2") is None  # a margin the user chose is the narrowest
    assert narrowest("--regression-increase", "0.1%") is None
    assert narrowest("--narrowest-ratio", "1.3", "--regression-ratio", "2") == 1.3  # unless asked to narrow
    assert narrowest("--narrowest-ratio", "1.2") == 1.2
    assert narrowest("--narrowest-ratio", "1.5") is None  # the margin's own ratio: never narrower
    assert narrowest("--narrowest-ratio", "1.2", "--regression-ratio", "1.1") is None
    assert narrowest("--narrowest-ratio", "2.5", "--regression-ratio", "3") is None  # past the widest (2x)


def test_the_latency_ratio_decides_which_slower_canary_the_judge_fails() -> None:
    parse = cli.build_parser().parse_args
    default = cli.shift_options(parse(["shift"])).judge_config()
    tight = cli.shift_options(parse(["shift", "--latency-ratio", "1.15"])).judge_config()
    assert default.latency_tolerance_relative == pytest.approx(0.25)
    assert tight.latency_tolerance_relative == pytest.approx(0.15)
    # a canary whose p99 is 1.22x the baseline's: inside 1.25x + 5 ms, outside 1.15x + 5 ms
    canary, baseline = WindowStats(5000, 5, 0, 40, 70, 122), WindowStats(20000, 20, 0, 40, 66, 100)
    verdicts = {}
    for name, config in (("default", default), ("tight", tight)):
        judge = Judge(config)
        verdicts[name] = [judge.observe(canary, baseline).verdict for _ in range(2)]
    assert Verdict.FAIL not in verdicts["default"]
    assert verdicts["tight"] == [Verdict.CONTINUE, Verdict.FAIL]


def test_the_latency_severe_ratio_decides_which_slower_canary_fails_in_one_period() -> None:
    parse = cli.build_parser().parse_args
    default = cli.shift_options(parse(["shift"])).judge_config()
    wide = cli.shift_options(parse(["shift", "--latency-severe-ratio", "3"])).judge_config()
    off = cli.shift_options(parse(["shift", "--latency-severe-ratio", "off"])).judge_config()
    raised = cli.shift_options(parse(["shift", "--latency-ratio", "2"])).judge_config()
    assert (wide.latency_severe_relative, off.latency_severe_relative) == (2.0, None)
    assert raised.latency_severe_relative is None  # the default one-period limit is under --latency-ratio 2
    # a canary whose p99 is 2.5x the baseline's: over the default one-period limit, under 3x + 5 ms
    canary, baseline = WindowStats(5000, 5, 0, 40, 70, 250), WindowStats(20000, 20, 0, 40, 66, 100)
    first = {
        name: Judge(config).observe(canary, baseline).verdict
        for name, config in (("default", default), ("wide", wide), ("off", off))
    }
    assert first == {"default": Verdict.FAIL, "wide": Verdict.CONTINUE, "off": Verdict.CONTINUE}


def test_the_limit_test_flag_sets_the_judges_last_look_at_its_time_limit() -> None:
    parse = cli.build_parser().parse_args
    adaptive = ["shift", "--strategy", "adaptive"]
    default = cli.shift_options(parse(adaptive)).judge_config()
    wider = cli.shift_options(parse([*adaptive, "--limit-test", "1%"])).judge_config()
    off = cli.shift_options(parse([*adaptive, "--limit-test", "off"])).judge_config()
    assert (default.limit_beta, wider.limit_beta, off.limit_beta) == (JudgeConfig.limit_beta, 0.01, None)
    # Off is accepted wherever there is nothing to turn off; the judge then has no time limit to look at.
    steps = cli.shift_options(parse(["shift", "--limit-test", "off"])).judge_config()
    assert steps.horizon_periods is None and steps.limit_beta is None
    # The same undecided release, one period short of the pass test at its limit: promoted, or left.
    periods = [(100, 1, 4900, 49), (100, 1, 4900, 49), (1000, 10, 4000, 40), (1000, 10, 4000, 40)]
    outcome = {}
    for name, config in (("default", default), ("off", off)):
        judge = Judge(replace(config, horizon_periods=4))
        outcome[name] = [
            judge.observe(WindowStats(n, k, 0, 30, 60, 90), WindowStats(m, j, 0, 30, 60, 90)).verdict
            for n, k, m, j in periods
        ][-1]
    assert outcome == {"default": Verdict.PASS, "off": Verdict.CONTINUE}


def test_the_help_states_the_one_period_limits_default() -> None:
    from controller.shift_options import DEFAULT_LATENCY_SEVERE_RATIO

    shift_help = " ".join(
        cli.build_parser()._subparsers._group_actions[0].choices["shift"].format_help().split()
    )
    assert f"(default {DEFAULT_LATENCY_SEVERE_RATIO:g}, chosen on the benchmark's tuning split" in shift_help


def test_a_fixed_margin_turns_off_the_judges_plan_for_the_time_limit() -> None:
    parse = cli.build_parser().parse_args
    planned = cli.shift_options(parse(["shift", "--strategy", "adaptive"])).judge_config()
    fixed = cli.shift_options(parse(["shift", "--strategy", "adaptive", "--fixed-margin"])).judge_config()
    # 30 minutes less the metrics lag and the first period's wait for a boundary: 28 periods judged
    assert (planned.horizon_periods, fixed.horizon_periods) == (28, None)


def test_a_missing_outputs_file_is_exit_1_with_one_line(capsys, monkeypatch) -> None:
    monkeypatch.undo()  # config is read before AWS: let App.from_args run
    code, _, err = run(["status", "--outputs", "/nonexistent.json"], capsys)
    assert code == EXIT_ERROR
    assert err.count("\n") == 1 and "cannot read --outputs" in err


def test_json_mode_reports_errors_as_an_error_event(capsys) -> None:
    recorder = Recorder()
    code = cli.main(
        ["shift", "--steps", "5,1", "--json"], stdin=io.StringIO(""), make_events=lambda _: recorder
    )
    assert code == EXIT_USAGE
    assert recorder.records[-1]["event"] == "error"
    assert recorder.records[-1]["exit_code"] == EXIT_USAGE
    json.dumps(recorder.records)  # every event is JSON-serialisable


@pytest.mark.parametrize(
    ("command", "outcome", "code"),
    [
        ("shift", Outcome.PROMOTED, EXIT_OK),
        ("shift", Outcome.NOTHING_TO_DO, EXIT_OK),
        ("shift", Outcome.DRY_RUN, EXIT_OK),
        ("shift", Outcome.ROLLED_BACK, EXIT_ROLLED_BACK),
        ("shift", Outcome.INTERRUPTED, EXIT_ERROR),
        ("rollback", Outcome.ROLLED_BACK, EXIT_OK),
        ("promote", Outcome.PROMOTED, EXIT_OK),
    ],
)
def test_exit_codes_follow_the_contract(command: str, outcome: Outcome, code: int) -> None:
    assert cli.exit_code(command, outcome) == code


def test_help_exits_zero(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["shift", "--help"])
    assert info.value.code == 0
    assert "--on-interrupt" in capsys.readouterr().out


def test_the_baseline_history_reads_as_one_line_for_people() -> None:
    from controller.event_types import BaselineHistoryRead
    from controller.human_view import render

    line = render(
        BaselineHistoryRead(
            at=0,
            window_s=86400,
            requests=4_320_000,
            errors_5xx=21_600,
            error_rate=0.005,
            used=True,
            trusted=False,
        )
    )
    assert "4,320,000 requests, 5xx 0.50% over the last 24h (for the pass test and the ramp)" in line
