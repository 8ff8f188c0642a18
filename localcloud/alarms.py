"""Evaluate CloudWatch alarms on a schedule so DescribeAlarms tells the truth.

Follows "Using Amazon CloudWatch alarms" (Evaluating an alarm; Configuring how alarms treat missing data):
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
- The alarm looks at the last EvaluationPeriods complete periods; it goes to ALARM when at least
  DatapointsToAlarm (default EvaluationPeriods) of them breach the threshold.
- TreatMissingData: missing (default) and ignore skip missing points (all missing: INSUFFICIENT_DATA, or the
  state is kept for ignore); notBreaching counts them as good; breaching counts them as bad.
- Metric-math alarms (Metrics=[...]) alarm on the query with ReturnData=true.
- Composite alarms: AlarmRule over ALARM(x), OK(x), INSUFFICIENT_DATA(x), AND, OR, NOT, TRUE, FALSE.
Pure decision functions are separate from the thread that applies them to moto's alarms.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .cloudwatch import all_backends, evaluate_queries, metric_stat_series, store_of
from .metrics import SETTINGS, effective_period

log = logging.getLogger("localcloud.alarms")

COMPARATORS = {
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}


@dataclass(frozen=True)
class Decision:
    state: str  # OK | ALARM | INSUFFICIENT_DATA | KEEP
    reason: str
    reason_data: dict[str, Any]


def decide_metric_alarm(
    points: list[tuple[int, float | None]],
    comparison: str,
    threshold: float,
    datapoints_to_alarm: int,
    treat_missing: str,
) -> Decision:
    """State for one metric alarm from its newest-last evaluation window [(period start, value or None)]."""
    if comparison not in COMPARATORS:
        return Decision(
            "INSUFFICIENT_DATA", f"Comparison operator {comparison} is not evaluated locally.", {}
        )
    compare, words = COMPARATORS[comparison]
    present = [(t, v) for t, v in points if v is not None]
    n_missing = len(points) - len(present)
    breaching = sum(1 for _, v in present if compare(v, threshold))
    if treat_missing == "breaching":
        breaching += n_missing
    considered = len(points) if treat_missing in ("breaching", "notBreaching") else len(present)
    if considered == 0:
        if treat_missing == "ignore":
            return Decision("KEEP", "", {})
        return Decision(
            "INSUFFICIENT_DATA",
            f"Insufficient Data: no datapoints were received for the last {len(points)} period(s).",
            {},
        )
    recent = [v for _, v in present]
    shown = ", ".join(f"{v:g} ({_fmt(t)})" for t, v in present[::-1][:10])
    if breaching >= datapoints_to_alarm:
        reason = (
            f"Threshold Crossed: {breaching} out of the last {len(points)} datapoints [{shown}] was {words} "
            f"the threshold ({threshold:g}) (minimum {datapoints_to_alarm} datapoint(s) for OK -> ALARM "
            "transition)."
        )
        return Decision("ALARM", reason, {"recentDatapoints": recent[::-1], "threshold": threshold})
    if treat_missing in ("missing", "ignore") and considered < datapoints_to_alarm and breaching > 0:
        # Not enough points yet to decide either way.
        return Decision("KEEP", "", {})
    reason = (
        f"Threshold Crossed: {len(points) - breaching} out of the last {len(points)} datapoints [{shown}] "
        f"was not {words} the threshold ({threshold:g}) (minimum 1 datapoint for ALARM -> OK transition)."
    )
    return Decision("OK", reason, {"recentDatapoints": recent[::-1], "threshold": threshold})


def _fmt(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%d/%m/%y %H:%M:%S")


_RULE_TOKEN = re.compile(
    r'\s*(?:(?P<fn>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?:"(?P<q>[^"]+)"|(?P<n>[^()"\s]+))\s*\)'
    r"|(?P<kw>AND|OR|NOT|TRUE|FALSE)\b|(?P<p>[()]))"
)


class RuleError(ValueError):
    pass


def evaluate_rule(rule: str, states: dict[str, str]) -> bool:
    """True when a composite AlarmRule holds for the given alarm states."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = rule.strip()
    while pos < len(text):
        m = _RULE_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise RuleError(f"Cannot parse AlarmRule at position {pos}: {text[pos : pos + 20]!r}")
        if m.group("fn"):
            name = m.group("q") or m.group("n")
            tokens.append(("state", f"{m.group('fn')}\0{name}"))
        elif m.group("kw"):
            tokens.append(("kw", m.group("kw")))
        else:
            tokens.append(("p", m.group("p")))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    i = 0

    def expr() -> bool:
        nonlocal i
        value = term()
        while i < len(tokens) and tokens[i] == ("kw", "OR"):
            i += 1
            rhs = term()
            value = value or rhs
        return value

    def term() -> bool:
        nonlocal i
        value = factor()
        while i < len(tokens) and tokens[i] == ("kw", "AND"):
            i += 1
            rhs = factor()
            value = value and rhs
        return value

    def factor() -> bool:
        nonlocal i
        if i >= len(tokens):
            raise RuleError("AlarmRule ends unexpectedly")
        kind, val = tokens[i]
        i += 1
        if kind == "kw" and val == "NOT":
            return not factor()
        if kind == "kw" and val in ("TRUE", "FALSE"):
            return val == "TRUE"
        if kind == "p" and val == "(":
            inner = expr()
            if i >= len(tokens) or tokens[i] != ("p", ")"):
                raise RuleError("AlarmRule has an unclosed parenthesis")
            i += 1
            return inner
        if kind == "state":
            wanted, name = val.split("\0")
            return states.get(name.split(":alarm:")[-1]) == wanted
        raise RuleError(f"Unexpected {val!r} in AlarmRule")

    result = expr()
    if i != len(tokens):
        raise RuleError(f"Unexpected {tokens[i][1]!r} in AlarmRule")
    return result


class AlarmEvaluator:
    """Background thread: every metric period, evaluate every alarm of every CloudWatch backend."""

    def __init__(self, clock: Any = time.time):
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="alarm-evaluator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            period = SETTINGS.period
            # Evaluate just after each period boundary, when the period that just ended is complete.
            wait = period - (self._clock() % period) + min(0.2, period / 10)
            if self._stop.wait(wait):
                return
            try:
                self.evaluate_all()
            except Exception:  # never let one bad alarm stop evaluation for the others
                log.exception("alarm evaluation failed")

    def evaluate_all(self) -> int:
        with self._lock:
            count = 0
            for backend in all_backends():
                count += self._evaluate_backend(backend)
            return count

    def _evaluate_backend(self, backend: Any) -> int:
        now = self._clock()
        alarms = list(backend.alarms.values())
        for alarm in alarms:
            if alarm.rule is None:
                self._apply(alarm, self._metric_decision(backend, alarm, now))
        states = {a.name: a.state_value for a in list(backend.alarms.values())}
        for alarm in alarms:
            if alarm.rule is not None:
                try:
                    firing = evaluate_rule(alarm.rule, states)
                except RuleError as exc:
                    self._apply(alarm, Decision("INSUFFICIENT_DATA", f"Invalid AlarmRule: {exc}", {}))
                    continue
                reason = (
                    "Composite alarm rule evaluated to TRUE"
                    if firing
                    else "Composite alarm rule evaluated to FALSE"
                )
                self._apply(alarm, Decision("ALARM" if firing else "OK", reason, {"alarmRule": alarm.rule}))
                states[alarm.name] = alarm.state_value
        return len(alarms)

    def _metric_decision(self, backend: Any, alarm: Any, now: float) -> Decision:
        n = int(alarm.evaluation_periods or 1)
        m = int(alarm.datapoints_to_alarm or n)
        store = store_of(backend)
        if alarm.metric_data_queries:
            queries = [_query_dict(q) for q in alarm.metric_data_queries]
            returned = [q for q in queries if q.get("ReturnData", True) is not False]
            if len(returned) != 1:
                return Decision(
                    "INSUFFICIENT_DATA",
                    "Exactly one query of a metric-math alarm must have ReturnData=true.",
                    {},
                )
            target = returned[0]
            period = effective_period(_query_period(target, queries))
            end = int(now // period) * period
            start = end - n * period
            try:
                evaluated = evaluate_queries(store, queries, start, end)
            except Exception as exc:
                return Decision("INSUFFICIENT_DATA", f"Metric math could not be evaluated: {exc}", {})
            series = evaluated[target["Id"]][1]
        else:
            period = effective_period(int(alarm.period or 60))
            end = int(now // period) * period
            start = end - n * period
            stat = alarm.extended_statistic or alarm.statistic or "Average"
            metric_stat = {
                "Metric": {
                    "Namespace": alarm.namespace,
                    "MetricName": alarm.metric_name,
                    "Dimensions": [{"Name": d.name, "Value": d.value} for d in alarm.dimensions],
                },
                "Stat": stat,
                "Unit": alarm.unit,
            }
            series = metric_stat_series(store, metric_stat, start, end, period)
        points = [(t, series.get(t)) for t in range(start, end, period)]
        decision = decide_metric_alarm(
            points,
            alarm.comparison_operator,
            float(alarm.threshold or 0.0),
            m,
            alarm.treat_missing_data or "missing",
        )
        data = dict(decision.reason_data)
        data.update({"version": "1.0", "queryDate": _iso(now), "startDate": _iso(start), "period": period})
        if not alarm.metric_data_queries:
            data["statistic"] = alarm.extended_statistic or alarm.statistic
        return Decision(decision.state, decision.reason, data)

    @staticmethod
    def _apply(alarm: Any, decision: Decision) -> None:
        if decision.state == "KEEP" or decision.state == alarm.state_value:
            return
        alarm.update_state(decision.reason, json.dumps(decision.reason_data), decision.state)
        alarm.state_transitioned_timestamp = alarm.state_updated_timestamp


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _query_dict(q: Any) -> dict[str, Any]:
    """moto's MetricDataQuery objects back into the GetMetricData query shape."""
    out: dict[str, Any] = {"Id": q.id, "ReturnData": q.return_data is not False and q.return_data != "false"}
    if q.expression:
        out["Expression"] = q.expression
        if q.period:
            out["Period"] = int(q.period)
    if q.metric_stat is not None:
        ms = q.metric_stat
        out["MetricStat"] = {
            "Metric": {
                "Namespace": ms.metric.namespace,
                "MetricName": ms.metric.metric_name,
                "Dimensions": [{"Name": d.name, "Value": d.value} for d in ms.metric.dimensions],
            },
            "Period": int(ms.period or 60),
            "Stat": ms.stat,
        }
        if ms.unit:
            out["MetricStat"]["Unit"] = ms.unit
    return out


def _query_period(target: dict[str, Any], queries: list[dict[str, Any]]) -> int:
    if "MetricStat" in target:
        return int(target["MetricStat"]["Period"])
    if target.get("Period"):
        return int(target["Period"])
    return max((int(q["MetricStat"]["Period"]) for q in queries if "MetricStat" in q), default=60)
