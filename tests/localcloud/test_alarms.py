"""Alarm evaluation: decision rules (pure, fast) and the scheduled evaluator over HTTP.

Pages followed:
ALARMS  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
        (evaluating an alarm; M out of N; how alarms treat missing data)
MATHAL  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create-alarm-on-metric-math-expression.html
COMPOS  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutCompositeAlarm.html
PUTMA   https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
"""

from __future__ import annotations

import uuid

import pytest

from localcloud.alarms import RuleError, decide_metric_alarm, evaluate_rule


def pts(*values):
    return [(i * 60, v) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("values", "m", "treat", "expected"),
    [
        ((5, 5, 5), 3, "missing", "ALARM"),
        ((5, 0, 5), 3, "missing", "OK"),
        ((5, 0, 5), 2, "missing", "ALARM"),  # 2 out of 3 breaching with DatapointsToAlarm=2
        ((None, None, None), 3, "missing", "INSUFFICIENT_DATA"),
        ((None, None, None), 3, "notBreaching", "OK"),
        ((None, None, None), 3, "breaching", "ALARM"),
        ((None, None, None), 3, "ignore", "KEEP"),
        ((None, 5, None), 1, "missing", "ALARM"),
        ((None, 0, 0), 3, "missing", "OK"),
        ((None, 5, 5), 2, "notBreaching", "ALARM"),
    ],
)
def test_m_out_of_n_and_missing_data_rules(values, m, treat, expected):
    # ALARMS: ALARM when at least DatapointsToAlarm of the EvaluationPeriods points breach; TreatMissingData
    # decides whether missing points count as breaching, not breaching, are skipped, or keep the state.
    decision = decide_metric_alarm(pts(*values), "GreaterThanThreshold", 1.0, m, treat)
    assert decision.state == expected


@pytest.mark.parametrize(
    ("op", "value", "firing"),
    [
        ("GreaterThanThreshold", 1.0, False),
        ("GreaterThanOrEqualToThreshold", 1.0, True),
        ("LessThanThreshold", 0.5, True),
        ("LessThanOrEqualToThreshold", 1.0, True),
        ("LessThanThreshold", 1.0, False),
    ],
)
def test_comparison_operators(op, value, firing):
    decision = decide_metric_alarm(pts(value), op, 1.0, 1, "missing")
    assert (decision.state == "ALARM") is firing


def test_state_reason_names_the_datapoints_and_threshold():
    decision = decide_metric_alarm(pts(7.0), "GreaterThanThreshold", 5.0, 1, "missing")
    assert decision.reason.startswith("Threshold Crossed: 1 out of the last 1 datapoints [7")
    assert "greater than the threshold (5)" in decision.reason


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ('ALARM("a")', True),
        ("ALARM(b)", False),
        ('ALARM("a") AND ALARM("b")', False),
        ('ALARM("a") OR ALARM("b")', True),
        ('NOT ALARM("b")', True),
        ('(ALARM("a") OR ALARM("b")) AND NOT OK("c")', False),
        ('OK("c") AND TRUE', True),
        ('ALARM("arn:aws:cloudwatch:us-east-1:123456789012:alarm:a")', True),
    ],
)
def test_composite_rules(rule, expected):
    # COMPOS: AlarmRule functions ALARM/OK/INSUFFICIENT_DATA with AND, OR, NOT and parentheses; names or ARNs.
    assert evaluate_rule(rule, {"a": "ALARM", "b": "OK", "c": "OK"}) is expected


def test_malformed_rule_is_reported():
    with pytest.raises(RuleError):
        evaluate_rule('ALARM("a") AND', {"a": "ALARM"})


def _put_alarm(backend, name, threshold):
    return backend.put_metric_alarm(
        name=name,
        namespace="Test",
        metric_name="Errors",
        comparison_operator="GreaterThanThreshold",
        evaluation_periods=1,
        period=60,
        threshold=threshold,
        statistic="Sum",
        description="",
        dimensions=[],
        alarm_actions=[],
        treat_missing_data="notBreaching",
    )


def test_new_alarm_starts_unchecked_and_an_update_keeps_its_state():
    from moto.cloudwatch.models import CloudWatchBackend

    from localcloud import cloudwatch

    cloudwatch.install()
    backend = CloudWatchBackend("us-east-1", "123456789012")
    # PUTMA/ALARMS: a new alarm starts in INSUFFICIENT_DATA until it is first evaluated.
    alarm = _put_alarm(backend, "errors", threshold=5)
    assert alarm.state_value == "INSUFFICIENT_DATA"
    assert alarm.state_reason == "Unchecked: Initial alarm creation"
    alarm.update_state("Threshold Crossed", "{}", "ALARM")
    # PUTMA: "When this operation updates an existing alarm, its state is left unchanged".
    updated = _put_alarm(backend, "errors", threshold=9)
    assert (updated.state_value, updated.state_reason, updated.threshold) == ("ALARM", "Threshold Crossed", 9)


# -- over HTTP, with the evaluator running every 2 s
# --------------------------------------------------------------
@pytest.fixture
def cw(aws_client):
    return aws_client("cloudwatch")


def _state(cw, name):
    alarms = cw.describe_alarms(AlarmNames=[name])
    found = alarms["MetricAlarms"] + alarms["CompositeAlarms"]
    return found[0] if found else None


def test_alarm_over_threshold_goes_to_alarm_and_composite_follows(cw, wait_until):
    namespace, name = f"Test-{uuid.uuid4().hex[:8]}", f"errors-{uuid.uuid4().hex[:8]}"
    dims = [{"Name": "Fn", "Value": "x"}]
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName="Errors",
        Dimensions=dims,
        Statistic="Sum",
        Period=2,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    cw.put_composite_alarm(AlarmName=f"{name}-rollback", AlarmRule=f'ALARM("{name}") OR ALARM("absent")')
    # The evaluator may already have run (test_new_alarm_starts_unchecked pins the state before it does).
    assert _state(cw, name)["StateValue"] in ("INSUFFICIENT_DATA", "OK")
    wait_until(lambda: _state(cw, name)["StateValue"] == "OK", timeout=15, message="OK with no data")
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[{"MetricName": "Errors", "Dimensions": dims, "Values": [1.0], "Counts": [50.0]}],
    )
    alarm = wait_until(
        lambda: (a := _state(cw, name)) and a["StateValue"] == "ALARM" and a,
        timeout=15,
        message="metric alarm in ALARM",
    )
    assert alarm["StateReason"].startswith("Threshold Crossed")
    assert alarm["StateUpdatedTimestamp"] >= alarm["AlarmConfigurationUpdatedTimestamp"]
    composite = wait_until(
        lambda: (a := _state(cw, f"{name}-rollback")) and a["StateValue"] == "ALARM" and a,
        timeout=15,
        message="composite in ALARM",
    )
    assert composite["AlarmRule"] == f'ALARM("{name}") OR ALARM("absent")'
    # The 2 s period with the data ends, the next periods have no data (notBreaching): back to OK.
    wait_until(lambda: _state(cw, name)["StateValue"] == "OK", timeout=15, message="back to OK")


def test_metric_math_alarm_on_error_rate(cw, wait_until):
    namespace, name = f"Test-{uuid.uuid4().hex[:8]}", f"rate-{uuid.uuid4().hex[:8]}"

    def stat(qid, metric):
        return {
            "Id": qid,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": metric},
                "Period": 2,
                "Stat": "Sum",
            },
        }

    # MATHAL: exactly one query returns data; the alarm compares its value with the threshold.
    cw.put_metric_alarm(
        AlarmName=name,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="missing",
        Metrics=[
            stat("errors", "Errors"),
            stat("requests", "Requests"),
            {"Id": "rate", "Expression": "100 * errors / requests", "ReturnData": True},
        ],
    )
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "Requests", "Values": [1.0], "Counts": [100.0]},
            {"MetricName": "Errors", "Values": [1.0], "Counts": [20.0]},
        ],
    )
    alarm = wait_until(
        lambda: (a := _state(cw, name)) and a["StateValue"] == "ALARM" and a,
        timeout=15,
        message="metric math alarm in ALARM",
    )
    assert "[20 " in alarm["StateReason"]


def test_updating_an_alarm_keeps_its_state(cw, localcloud):
    name = f"keep-{uuid.uuid4().hex[:8]}"
    args = dict(
        AlarmName=name,
        Namespace="Nothing",
        MetricName="M",
        Statistic="Sum",
        Period=2,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="breaching",
    )
    cw.put_metric_alarm(**args)
    localcloud.admin("POST", "alarms/evaluate")
    assert _state(cw, name)["StateValue"] == "ALARM"
    # PUTMA: "When this operation updates an existing alarm, its state is left unchanged".
    cw.put_metric_alarm(**dict(args, Threshold=2))
    assert _state(cw, name)["StateValue"] == "ALARM"
    assert _state(cw, name)["Threshold"] == 2.0
