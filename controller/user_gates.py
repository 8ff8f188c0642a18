"""User gates from a file (`shift --gates FILE`): parsing, validation, placeholders, and judging.

A gate is one of
- `metric`: one CloudWatch metric with a statistic, read per metric period;
- `expression` + `metrics`: CloudWatch metric math over named metrics (ids as in GetMetricData);
- `alarm`: an existing CloudWatch alarm, failing while it is in ALARM;
with, for the first two, exactly one bound: `max`, `min`, or `max_ratio_to_baseline` (the same metric read
with the live slot's placeholders is the baseline). `shadow: true` evaluates and reports, never rolls back.
`no_data: fail` fails a period with canary traffic but no datapoint (default `ignore`: a metric an app
publishes only when something goes wrong has no datapoint while all is well).

Placeholders in any string: ${candidate_slot} ${live_slot} ${candidate_function} ${live_function}
${api_name} ${stage} ${region}. The file is checked against `controller.gates_schema.SCHEMA` and then for
what a schema cannot say (one line per mistake, all of them at once), before any AWS call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from controller.domain import GateResult, GateStatus
from controller.gates import GateInput, GateValue
from controller.gates_schema import SCHEMA
from controller.user_files import FileProblems, plain_problem, read_document, schema_errors

PLACEHOLDERS = (
    "candidate_slot",
    "live_slot",
    "candidate_function",
    "live_function",
    "api_name",
    "stage",
    "region",
)
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_SWAP = {
    "candidate_slot": "live_slot",
    "live_slot": "candidate_slot",
    "candidate_function": "live_function",
    "live_function": "candidate_function",
}


@dataclass(frozen=True)
class MetricRef:
    namespace: str
    name: str
    stat: str
    dimensions: tuple[tuple[str, str], ...] = ()

    def substitute(self, values: Mapping[str, str]) -> MetricRef:
        return MetricRef(
            fill(self.namespace, values),
            fill(self.name, values),
            self.stat,
            tuple((fill(k, values), fill(v, values)) for k, v in self.dimensions),
        )

    def describe(self) -> str:
        dims = ",".join(f"{k}={v}" for k, v in self.dimensions)
        return f"{self.namespace}/{self.name} {self.stat}" + (f" [{dims}]" if dims else "")


@dataclass(frozen=True)
class MetricQuery:
    """What to read for one side (candidate or baseline) of a metric gate: one metric, or an expression
    over named metrics."""

    metric: MetricRef | None = None
    expression: str | None = None
    metrics: tuple[tuple[str, MetricRef], ...] = ()

    def substitute(self, values: Mapping[str, str]) -> MetricQuery:
        return MetricQuery(
            None if self.metric is None else self.metric.substitute(values),
            None if self.expression is None else fill(self.expression, values),
            tuple((qid, m.substitute(values)) for qid, m in self.metrics),
        )


@dataclass(frozen=True)
class UserGate:
    """One gate of a gates file. `candidate`/`baseline` are bound (placeholders filled) by `bind`."""

    name: str
    query: MetricQuery | None = None
    alarm: str | None = None
    max: float | None = None
    min: float | None = None
    max_ratio_to_baseline: float | None = None
    shadow: bool = False
    no_data: str = "ignore"
    candidate: MetricQuery | None = None
    baseline: MetricQuery | None = None

    @property
    def kind(self) -> str:
        if self.alarm is not None:
            return "alarm"
        return "expression" if self.query is not None and self.query.expression else "metric"

    @property
    def needs_baseline(self) -> bool:
        return self.max_ratio_to_baseline is not None

    def bind(self, values: Mapping[str, str]) -> UserGate:
        """Fill the placeholders for this rollout; the baseline side swaps candidate and live."""
        if self.query is None:
            return replace(self, alarm=None if self.alarm is None else fill(self.alarm, values))
        swapped = {key: values[_SWAP.get(key, key)] for key in values}
        return replace(
            self,
            candidate=self.query.substitute(values),
            baseline=self.query.substitute(swapped) if self.needs_baseline else None,
        )

    def describe(self) -> str:
        if self.alarm is not None:
            what = f"alarm {self.alarm} not in ALARM"
        else:
            assert self.query is not None
            what = (
                f"expression {self.query.expression}"
                if self.query.expression
                else self.query.metric.describe()  # type: ignore[union-attr]
            )
            if self.max is not None:
                what += f" <= {self.max:g}"
            elif self.min is not None:
                what += f" >= {self.min:g}"
            else:
                what += f" <= {self.max_ratio_to_baseline:g}x the live slot's"
            what += " every period" + (", no data fails" if self.no_data == "fail" else "")
        return f"{self.name}: {what}" + (" (shadow: reported, never rolls back)" if self.shadow else "")

    # -- judging -----------------------------------------------------------------------------------------

    def evaluate(self, data: GateInput) -> list[GateResult]:
        if self.alarm is not None:
            return [self._alarm_result(data)]
        values = list(data.user_metrics.get(self.name, ()))
        breaches = [v for v in values if self._breached(v)]
        if breaches:
            worst = breaches[-1]
            return [self._result(GateStatus.FAIL, self._breach_reason(worst, len(breaches)))]
        seen = {v.start for v in values if v.candidate is not None}
        missing = sorted(data.canary_periods - seen)
        if self.no_data == "fail" and missing:
            return [
                self._result(GateStatus.FAIL, f"no datapoint in {len(missing)} period(s) with canary traffic")
            ]
        judged = [v for v in values if v.candidate is not None and not self._baseline_missing(v)]
        if not judged:
            return [self._result(GateStatus.NO_DATA, "no datapoint yet")]
        latest = judged[-1]
        return [
            self._result(
                GateStatus.PASS, f"{len(judged)} period(s) within bounds, latest {self._show(latest)}"
            )
        ]

    def _result(self, status: GateStatus, reason: str) -> GateResult:
        return GateResult(self.name, status, reason, shadow=self.shadow)

    def _alarm_result(self, data: GateInput) -> GateResult:
        if not data.alarms.known:
            return self._result(GateStatus.NO_DATA, "alarm states unknown (DescribeAlarms failed)")
        state = data.alarms.as_dict().get(self.alarm or "")
        if state == "ALARM":
            return self._result(GateStatus.FAIL, f"alarm {self.alarm} is in ALARM")
        if state is None:
            return self._result(GateStatus.NO_DATA, f"alarm {self.alarm} not found")
        return self._result(GateStatus.PASS, f"alarm {self.alarm} is {state}")

    def _baseline_missing(self, value: GateValue) -> bool:
        return self.needs_baseline and value.baseline is None

    def _breached(self, value: GateValue) -> bool:
        x = value.candidate
        if x is None or math.isnan(x):
            return False
        if self.max is not None:
            return x > self.max
        if self.min is not None:
            return x < self.min
        if value.baseline is None or math.isnan(value.baseline):
            return False
        assert self.max_ratio_to_baseline is not None
        return x > self.max_ratio_to_baseline * value.baseline

    def _show(self, value: GateValue) -> str:
        text = f"{value.candidate:g}"
        if self.needs_baseline and value.baseline is not None:
            text += f" vs live {value.baseline:g}"
        return text

    def _breach_reason(self, value: GateValue, count: int) -> str:
        if self.max is not None:
            bound = f"> max {self.max:g}"
        elif self.min is not None:
            bound = f"< min {self.min:g}"
        else:
            bound = f"> {self.max_ratio_to_baseline:g}x the live slot's"
        return f"{self._show(value)} {bound} ({count} period(s) breached)"


def fill(text: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


# -- reading and validating -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GatesFile:
    path: str
    gates: tuple[UserGate, ...]


class GatesFileError(FileProblems):
    """A gates file that cannot be used."""


def schema_problems(document: Any) -> list[str]:
    problems = []
    for where, error in schema_errors(SCHEMA, document):
        if error.validator == "oneOf":
            problems.append(f"{where}: give exactly one of metric, expression (with metrics) or alarm")
        elif error.validator == "pattern" and where.endswith(".stat"):
            problems.append(
                f"{where}: {error.instance!r} is not a CloudWatch statistic (Sum, Average, Minimum, "
                "Maximum, SampleCount, p99, tm90, IQM)"
            )
        else:
            problems.append(plain_problem(where, error, "gates.schema.json"))
    return problems


def semantic_problems(document: Mapping[str, Any]) -> list[str]:
    problems = []
    names: set[str] = set()
    gates = document.get("gates") if isinstance(document, Mapping) else None
    for index, raw in enumerate(gates if isinstance(gates, list) else []):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
            continue  # the schema check reports it
        where = f"gates[{index}]"
        name = raw["name"]
        if name in names:
            problems.append(f"{where}.name: {name!r} is used twice; gate names must be unique")
        names.add(name)
        bounds = [key for key in ("max", "min", "max_ratio_to_baseline") if key in raw]
        if "alarm" in raw and bounds:
            problems.append(
                f"{where}: an alarm gate fails while the alarm is in ALARM; drop {', '.join(bounds)}"
            )
        elif "alarm" not in raw and len(bounds) != 1:
            problems.append(f"{where}: give exactly one of max, min or max_ratio_to_baseline")
        alarm = raw.get("alarm")
        slot_bound = (
            {m for m in _PLACEHOLDER.findall(alarm) if m in _SWAP} if isinstance(alarm, str) else set()
        )
        if slot_bound:
            problems.append(
                f"{where}.alarm: an alarm is read before the rollout knows its slots; use ${{api_name}}, "
                "${stage} or ${region} in alarm names, not "
                + ", ".join(f"${{{m}}}" for m in sorted(slot_bound))
            )
        if "alarm" in raw and "no_data" in raw:
            problems.append(f"{where}.no_data: only metric and expression gates read datapoints")
        for key, text in _strings(raw, where):
            for unknown in sorted({m for m in _PLACEHOLDER.findall(text) if m not in PLACEHOLDERS}):
                problems.append(
                    f"{key}: unknown placeholder ${{{unknown}}}; use one of "
                    + ", ".join(f"${{{p}}}" for p in PLACEHOLDERS)
                )
        if isinstance(raw.get("expression"), str) and isinstance(raw.get("metrics"), Mapping):
            ids = set(raw["metrics"])
            used = set(re.findall(r"\b([a-z][A-Za-z0-9_]*)\b", _PLACEHOLDER.sub("", raw["expression"])))
            if not ids & used:
                problems.append(
                    f"{where}.expression: uses none of its metrics ({', '.join(sorted(ids))}); "
                    "refer to them by id"
                )
    return problems


def _strings(value: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, Mapping):
        return [pair for key, item in value.items() for pair in _strings(item, f"{where}.{key}")]
    return []


def _metric(raw: Mapping[str, Any]) -> MetricRef:
    return MetricRef(
        raw["namespace"], raw["name"], raw["stat"], tuple(sorted((raw.get("dimensions") or {}).items()))
    )


def _gate(raw: Mapping[str, Any]) -> UserGate:
    query = None
    if "metric" in raw:
        query = MetricQuery(metric=_metric(raw["metric"]))
    elif "expression" in raw:
        query = MetricQuery(
            expression=raw["expression"],
            metrics=tuple((qid, _metric(m)) for qid, m in sorted(raw["metrics"].items())),
        )
    return UserGate(
        name=raw["name"],
        query=query,
        alarm=raw.get("alarm"),
        max=_number(raw.get("max")),
        min=_number(raw.get("min")),
        max_ratio_to_baseline=_number(raw.get("max_ratio_to_baseline")),
        shadow=bool(raw.get("shadow", False)),
        no_data=raw.get("no_data", "ignore"),
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def load_gates(path: str) -> GatesFile:
    """The gates of `path`, or GatesFileError listing every mistake (exit code 2)."""
    document = read_document(path, GatesFileError, "the gates")
    problems = schema_problems(document)
    problems += [p for p in semantic_problems(document) if p not in problems]
    if problems:
        raise GatesFileError(path, problems)
    return GatesFile(path, tuple(_gate(raw) for raw in document["gates"]))
