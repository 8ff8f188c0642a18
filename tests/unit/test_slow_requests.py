"""Slow requests, from CloudWatch to the judge: the adapter's PR(:T) queries, the measurement's counts (stage
minus canary), the history's p99 as the default threshold, `--slow-ms`, and the runner wiring them up.

Pages followed:
STATS   https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html
APIGW   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber
from controller_fakes import config
from rollout_world import World, adaptive_run

from controller import cli
from controller.aws.clients import client_config
from controller.aws.metrics import FunctionPair, MetricsAdapter, MetricsRequest, fast_share_stat
from controller.domain import BaselineHistory, WindowStats
from controller.errors import AwsError, UsageError
from controller.event_types import BaselineHistoryRead
from controller.human_view import render
from controller.measurement import RawSeries, Series, apigateway_samples, lambda_samples, slow_count
from controller.observer import Observer
from controller.rollout_setup import slow_threshold
from controller.traffic import Slots

FUNCTIONS = FunctionPair(live="app-blue", candidate="app-green")
T = 60.0  # a period's start


def _adapter(client=None) -> MetricsAdapter:
    return MetricsAdapter(client, "AWS/ApiGateway", "api", "production", 60)


def _by_id(request: MetricsRequest) -> dict[str, dict]:
    queries, _ = _adapter().queries(request)
    return {q["Id"]: q for q in queries}


# -- the adapter -----------------------------------------------------------------------------------------


def test_without_a_threshold_no_percentile_rank_is_read() -> None:
    queries = _by_id(MetricsRequest(FUNCTIONS))
    assert len(queries) == 21
    assert not any(q["MetricStat"]["Stat"].startswith("PR(") for q in queries.values())


def test_a_threshold_reads_the_canarys_and_the_stages_latency_percentile_rank() -> None:
    queries = _by_id(MetricsRequest(FUNCTIONS, slow_threshold_ms=250.0))
    assert len(queries) == 23  # still one GetMetricData call
    stages = {}
    for key in (Series.CANARY_FAST_SHARE, Series.STAGE_FAST_SHARE):
        stat = queries[key]["MetricStat"]
        assert (stat["Metric"]["MetricName"], stat["Stat"], stat["Period"]) == ("Latency", "PR(:250)", 60)
        stages[key] = dict((d["Name"], d["Value"]) for d in stat["Metric"]["Dimensions"])["Stage"]
    # APIGW: the canary's metrics carry Stage = "{stage}/Canary"; the stage's include the canary's requests.
    assert stages == {Series.CANARY_FAST_SHARE: "production/Canary", Series.STAGE_FAST_SHARE: "production"}


@pytest.mark.parametrize(
    ("threshold", "stat"),
    [(250.0, "PR(:250)"), (0.5, "PR(:0.5)"), (251.25, "PR(:251.25)"), (1e6, "PR(:1000000)"), (7, "PR(:7)")],
)
def test_the_threshold_is_written_plainly_in_the_statistic(threshold: float, stat: str) -> None:
    # STATS: PR(:300) is the percentage of values at or below 300; no exponent where `:g` would write one.
    assert fast_share_stat(threshold) == stat


def test_one_fetch_gives_each_version_its_slow_requests() -> None:
    cw = boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=client_config(),
    )
    t = datetime(2025, 1, 1, 0, 1, tzinfo=UTC)
    answers = {
        "canary_count": 100.0,
        "stage_count": 1000.0,
        "canary_fast_share": 90.0,
        "stage_fast_share": 98.0,
    }
    results = [
        {"Id": k, "Timestamps": [t], "Values": [v], "StatusCode": "Complete"} for k, v in answers.items()
    ]
    with Stubber(cw) as stub:
        stub.add_response(
            "get_metric_data",
            {"MetricDataResults": results},
            {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": "TimestampAscending"},
        )
        raw = _adapter(cw).fetch(t.timestamp(), t.timestamp() + 60, MetricsRequest(FUNCTIONS, (), 250.0))
    (sample,) = apigateway_samples(raw, t.timestamp(), t.timestamp() + 60)
    # 10 % of the canary's 100 requests, and the stage's 20 (2 % of 1,000) less the canary's 10.
    assert (sample.canary.slow_requests, sample.baseline.slow_requests) == (10, 10)
    assert sample.baseline.requests == 900


# -- the measurement -------------------------------------------------------------------------------------


def _sample(**series: float):
    (sample,) = apigateway_samples(RawSeries({k: {T: v} for k, v in series.items()}), T, T + 60)
    return sample


def test_slow_requests_are_stage_minus_canary_like_the_counts() -> None:
    # API Gateway counts the canary's requests in the stage's metrics too, slow ones included.
    sample = _sample(canary_count=200, stage_count=1000, canary_fast_share=95.0, stage_fast_share=97.0)
    assert (sample.canary.slow_requests, sample.baseline.slow_requests) == (10, 20)


def test_slow_counts_are_rounded_to_whole_requests() -> None:
    sample = _sample(canary_count=3, stage_count=10, canary_fast_share=200 / 3, stage_fast_share=80.0)
    assert (sample.canary.slow_requests, sample.baseline.slow_requests) == (1, 1)


def test_slow_counts_stay_within_each_versions_requests() -> None:
    # Count and PR are aggregated separately, so they need not agree: a stage with fewer slow requests than
    # its canary leaves the baseline none, and a baseline never has more slow requests than requests.
    fewer = _sample(canary_count=100, stage_count=1000, canary_fast_share=50.0, stage_fast_share=99.0)
    assert (fewer.canary.slow_requests, fewer.baseline.slow_requests) == (50, 0)
    more = _sample(canary_count=10, stage_count=100, canary_fast_share=100.0, stage_fast_share=0.0)
    assert (more.canary.slow_requests, more.baseline.slow_requests) == (0, 90)
    assert slow_count(10, 100.5) == 0 and slow_count(10, -1.0) == 10


def test_a_canary_without_requests_has_no_slow_requests_and_no_datapoint_to_need() -> None:
    sample = _sample(canary_count=0, stage_count=500, stage_fast_share=99.0)
    assert (sample.canary.slow_requests, sample.baseline.slow_requests) == (0, 5)


@pytest.mark.parametrize(
    "series",
    [
        {"canary_count": 50, "stage_count": 500, "stage_fast_share": 99.0},  # the canary's PR is missing
        {"canary_count": 50, "stage_count": 500, "canary_fast_share": 99.0},  # the stage's
        {"canary_count": 50, "stage_count": 500},  # no threshold: neither is read
    ],
)
def test_requests_without_a_percentile_rank_are_not_measured_on_either_side(series: dict) -> None:
    sample = _sample(**series)
    assert (sample.canary.slow_requests, sample.baseline.slow_requests) == (None, None)
    assert sample.canary.requests == 50  # the rest of the period stands


def test_the_per_slot_lambda_source_counts_no_slow_requests() -> None:
    # Lambda's Duration leaves out API Gateway's overhead: a threshold on Latency does not apply to it.
    values = {
        "live_fn_invocations": {T: 100.0},
        "candidate_fn_invocations": {T: 10.0},
        "canary_fast_share": {T: 50.0},
        "stage_fast_share": {T: 50.0},
    }
    (sample,) = lambda_samples(RawSeries(values), T, T + 60)
    assert (sample.canary.slow_requests, sample.baseline.slow_requests) == (None, None)


# -- the threshold ---------------------------------------------------------------------------------------


def test_the_threshold_is_the_flag_else_the_historys_p99_rounded_up_else_none() -> None:
    history = BaselineHistory(1000, 5, latency_p99_ms=250.2)
    assert slow_threshold(400.0, history) == 400.0
    assert slow_threshold(None, history) == 251.0
    assert slow_threshold(None, BaselineHistory(1000, 5, latency_p99_ms=250.0)) == 250.0
    assert slow_threshold(None, BaselineHistory(1000, 5, latency_p99_ms=0.2)) == 1.0  # PR(:0) would be all
    assert slow_threshold(None, BaselineHistory(1000, 5)) is None
    assert slow_threshold(None, None) is None
    assert slow_threshold(30.5, None) == 30.5


def test_the_observer_asks_for_its_threshold() -> None:
    cfg = config()
    slots = Slots("blue", "green", "d1", "d2")
    plain = Observer(cfg, None, None, None, None, slots, 60.0)  # type: ignore[arg-type]
    slow = Observer(cfg, None, None, None, None, slots, 60.0, slow_threshold_ms=250.0)  # type: ignore[arg-type]
    assert plain.request.slow_threshold_ms is None
    assert slow.request.slow_threshold_ms == 250.0
    assert slow.request.functions == plain.request.functions


def _parse(argv: list[str]):
    return cli.shift_options(cli.build_parser().parse_args(argv))


def test_slow_ms_reaches_the_shift_options() -> None:
    assert _parse(["shift", "--slow-ms", "250"]).slow_threshold_ms == 250.0
    assert _parse(["shift", "--slow-ms", "0.5"]).slow_threshold_ms == 0.5
    assert _parse(["shift"]).slow_threshold_ms is None


def test_slow_ms_off_turns_the_test_off() -> None:
    off = _parse(["shift", "--slow-ms", "off"])
    assert (off.slow_test, off.slow_threshold_ms) == (False, None)
    assert off.judge_config().latency_slow_alpha is None
    on = _parse(["shift"])
    assert on.slow_test and on.judge_config().latency_slow_alpha is not None


@pytest.mark.parametrize("value", ["0", "-1", "inf", "soon"])
def test_slow_ms_must_be_a_positive_number(value: str) -> None:
    with pytest.raises(UsageError, match="--slow-ms"):
        _parse(["shift", "--slow-ms", value])


def test_slow_ms_is_the_judges_so_no_judge_refuses_it() -> None:
    with pytest.raises(UsageError, match="--slow-ms is the judge's"):
        _parse(["shift", "--slow-ms", "250", "--no-judge"])


# -- the runner ------------------------------------------------------------------------------------------


def _recording_judge(seen: list[tuple[WindowStats, WindowStats]]):
    from controller.judge import Judge, JudgeConfig

    class Recording(Judge):
        def observe(self, canary: WindowStats, baseline: WindowStats):
            seen.append((canary, baseline))
            return super().observe(canary, baseline)

    return lambda history: Recording(JudgeConfig(), history)


@pytest.fixture
def ranks(world: World, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every PR statistic the runner's GetMetricData calls asked for."""
    asked: list[str] = []
    original = world.traffic.get_metric_data

    def spy(**request):
        asked.extend(
            q["MetricStat"]["Stat"]
            for q in request["MetricDataQueries"]
            if q["MetricStat"]["Stat"].startswith("PR(")
        )
        return original(**request)

    monkeypatch.setattr(world.traffic, "get_metric_data", spy)
    return asked


def test_the_runner_takes_the_histories_p99_and_the_judge_sees_a_slow_canarys_slow_requests(
    world: World, ranks: list[str]
) -> None:
    world.traffic.candidate_p99_ms = 400
    seen: list[tuple[WindowStats, WindowStats]] = []
    adaptive_run(world, judge_factory=_recording_judge(seen))
    (event,) = world.of("baseline_history")
    # The live function's p99 plus API Gateway's 10 ms, per minute in this fake, rounded up.
    threshold = event["slow_threshold_ms"]
    assert threshold is not None and 60 <= threshold <= 62 and threshold == int(threshold)
    assert set(ranks) == {f"PR(:{threshold:g})"}
    measured = [(c, b) for c, b in seen if c.slow_requests is not None and c.requests]
    assert measured, "the judge saw no period with slow requests"
    canary_slow = sum(c.slow_requests for c, _ in measured) / sum(c.requests for c, _ in measured)
    baseline_slow = sum(b.slow_requests for _, b in measured) / sum(b.requests for _, b in measured)
    assert canary_slow > 0.5 and baseline_slow < 0.02


def test_slow_ms_overrides_the_historys_p99(world: World, ranks: list[str]) -> None:
    adaptive_run(world, slow_threshold_ms=500.0)
    assert world.of("baseline_history")[0]["slow_threshold_ms"] == 500.0
    assert set(ranks) == {"PR(:500)"}


def test_without_history_or_flag_there_is_no_slow_request_test(world: World, ranks: list[str]) -> None:
    seen: list[tuple[WindowStats, WindowStats]] = []
    adaptive_run(world, judge_factory=_recording_judge(seen), baseline_history_s=0)
    assert ranks == [] and seen
    assert all(c.slow_requests is None and b.slow_requests is None for c, b in seen if c.requests)


def test_slow_ms_off_reads_no_slow_requests(world: World, ranks: list[str]) -> None:
    seen: list[tuple[WindowStats, WindowStats]] = []
    adaptive_run(world, judge_factory=_recording_judge(seen), slow_test=False)
    assert ranks == [] and seen
    assert world.of("baseline_history")[0]["slow_threshold_ms"] is None


def test_slow_ms_applies_when_the_history_is_unreadable(world: World, ranks: list[str], monkeypatch) -> None:
    def throttled(start: float, end: float):
        raise AwsError("GetMetricData: Throttling: injected")

    monkeypatch.setattr(world.traffic, "history", throttled)
    adaptive_run(world, slow_threshold_ms=120.0)
    assert set(ranks) == {"PR(:120)"}


def test_without_the_judge_no_slow_requests_are_read(world: World, ranks: list[str]) -> None:
    world.run(slow_threshold_ms=250.0, guard_s=600.0)  # no judge; the guard still reads the history
    assert world.traffic.history_asked and ranks == []


# -- what people see -------------------------------------------------------------------------------------


def test_the_history_line_shows_the_threshold() -> None:
    read = BaselineHistoryRead(
        window_s=86400, requests=10_000, errors_5xx=5, error_rate=0.0005, used=True, trusted=True
    )
    assert "slow" not in (render(read) or "")
    line = render(replace(read, slow_threshold_ms=251.0)) or ""
    assert "slow requests: above 251 ms" in line


def test_the_dry_run_says_where_the_threshold_comes_from(world: World) -> None:
    world.run(dry_run=True)
    world.run(dry_run=True, slow_threshold_ms=250.0)
    world.run(dry_run=True, baseline_history_s=0)
    world.run(dry_run=True, slow_test=False)
    default, flag, none, off = (world.of("plan")[i]["lines"] for i in (0, 1, 2, 3))
    test = "beyond 1.5x the live version's share fails, at a false-rollback rate of 0.002"
    assert (
        "  slow requests: above the live version's p99 over its last 24 h, read when the rollout starts "
        f"(--slow-ms); {test}" in default
    )
    assert f"  slow requests: above 250 ms (--slow-ms); {test}" in flag
    assert (
        "  slow requests: not tested: no --slow-ms and no baseline history to take the live version's p99 "
        "from" in none
    )
    assert "  slow requests: not tested (--slow-ms off): the latency check reads percentiles alone" in off
