"""A wave plan (`shift --plan FILE`): stacks in ordered waves, a bake between waves, a policy for a failure.

    name: checkout
    policy: revert          # hold (default): earlier waves stay promoted; revert: undo them
    bake: 10m               # watch each promoted wave this long before the next starts (default 0)
    concurrency: 10         # stacks of a wave rolling at once (default 10)
    waves:
      - name: first
        stacks:
          - {name: use1, tf_dir: stacks/us-east-1, region: us-east-1}
      - stacks:
          - {tf_dir: examples/multi-region, region: eu-west-1}   # one region of controller_configs
          - {outputs: saved/ap-southeast-2.json, region: ap-southeast-2}

The file is checked against `controller.plan_schema.SCHEMA`, then for what a schema cannot say (names used
twice, the same stack twice, durations, paths that do not exist), one line per mistake, all at once, before
any AWS call. Relative paths are relative to the plan file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.errors import UsageError
from controller.plan_schema import SCHEMA
from controller.strategy import parse_duration
from controller.user_files import FileProblems, plain_problem, read_document, schema_errors

DEFAULT_CONCURRENCY = 10
HOLD, REVERT = "hold", "revert"


@dataclass(frozen=True)
class StackRef:
    name: str
    region: str
    tf_dir: str | None = None  # resolved against the plan file's directory
    outputs: str | None = None

    @property
    def source(self) -> str:
        flag, path = ("--tf-dir", self.tf_dir) if self.tf_dir else ("--outputs", self.outputs or "")
        return f"{flag} {os.path.relpath(path)}"


@dataclass(frozen=True)
class Wave:
    number: int  # 1-based
    name: str
    stacks: tuple[StackRef, ...]


@dataclass(frozen=True)
class Plan:
    path: str
    name: str
    policy: str  # hold | revert
    bake_s: float
    concurrency: int
    waves: tuple[Wave, ...]

    @property
    def stacks(self) -> tuple[tuple[Wave, StackRef], ...]:
        return tuple((wave, stack) for wave in self.waves for stack in wave.stacks)

    def describe(self) -> list[str]:
        lines = [
            f"plan {self.name}: {len(self.waves)} wave(s), {len(self.stacks)} stack(s), "
            f"policy {self.policy}, bake {self.bake_s:g}s between waves, "
            f"up to {self.concurrency} stack(s) at once"
        ]
        for wave in self.waves:
            lines.append(f"  wave {wave.number} ({wave.name}):")
            lines += [f"    {s.name} ({s.region}): {s.source}" for s in wave.stacks]
        return lines


class PlanFileError(FileProblems):
    """A plan that cannot be used; `problems` holds one line per mistake."""

    validate = "plan validate"


def schema_problems(document: Any) -> list[str]:
    problems = []
    for where, error in schema_errors(SCHEMA, document):
        if error.validator == "oneOf":
            problems.append(f"{where}: give exactly one of tf_dir or outputs")
        elif error.validator == "pattern" and where.endswith(".region"):
            problems.append(f"{where}: {error.instance!r} is not an AWS region name like us-east-1")
        else:
            problems.append(plain_problem(where, error, "plan.schema.json"))
    return problems


def _stack_name(raw: Mapping[str, Any]) -> str:
    return str(raw.get("name") or raw["region"])


def semantic_problems(document: Mapping[str, Any], base: Path) -> list[str]:
    problems: list[str] = []
    bake = document.get("bake")
    if isinstance(bake, str):
        try:
            parse_duration(bake, "bake")
        except UsageError as exc:
            problems.append(f"bake: {exc}")
    names: dict[str, str] = {}
    sources: dict[tuple[str, str], str] = {}
    waves = document.get("waves")
    for w, wave in enumerate(waves if isinstance(waves, list) else []):
        stacks = wave.get("stacks") if isinstance(wave, Mapping) else None
        for s, raw in enumerate(stacks if isinstance(stacks, list) else []):
            if not isinstance(raw, Mapping) or not isinstance(raw.get("region"), str):
                continue  # the schema check reports it
            where = f"waves[{w}].stacks[{s}]"
            name = _stack_name(raw)
            if name in names:
                hint = "" if raw.get("name") else " (a stack is named after its region unless it has a name)"
                problems.append(f"{where}: stack name {name!r} is also {names[name]}{hint}")
            names.setdefault(name, where)
            key = "tf_dir" if "tf_dir" in raw else "outputs"
            path = raw.get(key)
            if not isinstance(path, str):
                continue
            resolved = base / path
            if key == "tf_dir" and not resolved.is_dir():
                problems.append(f"{where}.tf_dir: {path} is not a directory (relative to the plan file)")
            elif key == "outputs" and not resolved.is_file():
                problems.append(f"{where}.outputs: {path} is not a file (relative to the plan file)")
            source = (str(resolved.resolve()), raw["region"])
            if source in sources:
                problems.append(f"{where}: the same stack as {sources[source]} ({path}, {raw['region']})")
            sources.setdefault(source, where)
    return problems


def load_plan(path: str) -> Plan:
    """The plan at `path`, or PlanFileError listing every mistake (exit code 2)."""
    document = read_document(path, PlanFileError, "the plan")
    problems = schema_problems(document)
    base = Path(path).resolve().parent
    if isinstance(document, Mapping):
        problems += [p for p in semantic_problems(document, base) if p not in problems]
    if problems:
        raise PlanFileError(path, problems)
    waves = []
    for number, raw_wave in enumerate(document["waves"], start=1):
        stacks = tuple(
            StackRef(
                name=_stack_name(raw),
                region=raw["region"],
                tf_dir=str(base / raw["tf_dir"]) if "tf_dir" in raw else None,
                outputs=str(base / raw["outputs"]) if "outputs" in raw else None,
            )
            for raw in raw_wave["stacks"]
        )
        waves.append(Wave(number, str(raw_wave.get("name") or f"wave-{number}"), stacks))
    return Plan(
        path=path,
        name=str(document.get("name") or Path(path).stem),
        policy=document.get("policy", HOLD),
        bake_s=parse_duration(str(document.get("bake", "0")), "bake"),
        concurrency=int(document.get("concurrency", DEFAULT_CONCURRENCY)),
        waves=tuple(waves),
    )
