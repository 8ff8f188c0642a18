"""Rollout plans: named presets and `--steps/--bake` parsing. Pure; validated before any AWS call."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from controller.errors import UsageError

DEFAULT_STRATEGY = "canary10-5m"
DEFAULT_STEPS_BAKE_S = 120.0  # `--steps` without `--bake`: the recipe's two minutes
DEFAULT_ADAPTIVE_LIMIT_S = 1800.0  # `--strategy adaptive` without `--bake`: how long the judge may take


@dataclass(frozen=True)
class Step:
    percent: float  # share of production traffic on the candidate, (0, 100]
    bake_s: float  # how long the step is watched before it may pass; 0 = shift and move on


@dataclass(frozen=True)
class Plan:
    name: str
    steps: tuple[Step, ...]
    adaptive: bool = False  # the ramp (controller/ramp.py) picks the next percent instead of `steps`
    max_duration_s: float | None = None  # adaptive: roll back if the judge has not decided by then

    @property
    def percents(self) -> tuple[float, ...]:
        return tuple(s.percent for s in self.steps)

    def first_step_at_or_above(self, percent: float) -> int:
        """Index of the step a resumed rollout continues from: the first whose percent is >= `percent`."""
        for index, step in enumerate(self.steps):
            if step.percent >= percent:
                return index
        return max(0, len(self.steps) - 1)


def _preset_steps(name: str) -> tuple[Step, ...] | None:
    if name == "canary10-5m":  # like CodeDeploy's Canary10Percent5Minutes
        return (Step(10, 300), Step(100, 0))
    if name == "linear10-1m":  # like CodeDeploy's Linear10PercentEvery1Minute
        return tuple(Step(p, 60) for p in range(10, 100, 10)) + (Step(100, 0),)
    if name == "all-at-once":
        return (Step(100, 0),)
    if name == "recipe":  # the recipe's 10 -> 25 -> 50 -> 100, watching each step (100 included) for 2 min
        return tuple(Step(p, 120) for p in (10, 25, 50, 100))
    return None


PRESETS = ("canary10-5m", "linear10-1m", "all-at-once", "recipe", "adaptive")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smh])")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, what: str) -> float:
    """Seconds in `90s`, `2m`, `1h`, `1m30s`; a bare `0` is allowed. Raises UsageError otherwise."""
    raw = text.strip().lower()
    if raw == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    if pos != len(raw) or not raw:
        raise UsageError(f"{what} {text!r} is not a duration: use a number with s, m or h, like 90s, 2m, 1h")
    return total


def parse_steps(text: str) -> tuple[float, ...]:
    """`10,25,50,100` -> percents; increasing, within (0, 100], ending at 100."""
    percents: list[float] = []
    for part in text.split(","):
        item = part.strip().rstrip("%")
        try:
            value = float(item)
        except ValueError:
            raise UsageError(
                f"--steps {text!r}: {part.strip()!r} is not a number; write e.g. 10,25,50,100"
            ) from None
        if not math.isfinite(value) or value <= 0 or value > 100:
            raise UsageError(
                f"--steps {text!r}: {item} is outside (0, 100]; every step is a percent of traffic"
            )
        percents.append(value)
    for before, after in zip(percents, percents[1:], strict=False):
        if after <= before:
            raise UsageError(f"--steps {text!r}: steps must increase ({before:g} then {after:g})")
    if percents[-1] != 100:
        raise UsageError(f"--steps {text!r} must end at 100, or the candidate never takes all traffic")
    return tuple(percents)


def build_plan(strategy: str | None, steps: str | None, bake: str | None) -> Plan:
    """The plan for `shift`'s `--strategy` or `--steps/--bake` (default: DEFAULT_STRATEGY)."""
    if strategy is not None and steps is not None:
        raise UsageError("use either --strategy or --steps, not both")
    bake_s = parse_duration(bake, "--bake") if bake is not None else None
    if steps is not None:
        chosen_bake = DEFAULT_STEPS_BAKE_S if bake_s is None else bake_s
        return Plan("custom", tuple(Step(p, chosen_bake) for p in parse_steps(steps)))
    name = strategy or DEFAULT_STRATEGY
    if name == "adaptive":
        return _adaptive_plan(bake_s)
    preset = _preset_steps(name)
    if preset is None:
        known = ", ".join(PRESETS)
        raise UsageError(f"unknown --strategy {name!r}; choose one of {known}, or give --steps")
    if bake_s is not None:  # --bake re-times the watched steps of a preset, keeps its shape
        preset = tuple(Step(s.percent, bake_s if s.bake_s > 0 else 0.0) for s in preset)
    return Plan(name, preset)


def adaptive_available() -> bool:
    try:
        import controller.ramp  # noqa: F401
    except ImportError:
        return False
    return True


def _adaptive_plan(bake_s: float | None) -> Plan:
    if not adaptive_available():
        raise UsageError("--strategy adaptive needs controller/ramp.py, which this build does not have")
    limit = DEFAULT_ADAPTIVE_LIMIT_S if bake_s is None else bake_s
    if limit <= 0:
        raise UsageError("--bake with --strategy adaptive caps the time the judge may take; give over 0s")
    return Plan("adaptive", (), adaptive=True, max_duration_s=limit)
