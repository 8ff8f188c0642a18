"""`controller_config` (the Terraform module's output) -> a validated, frozen `ControllerConfig`.

Outputs are read with `terraform output -json`, run as a subprocess: that JSON is Terraform's documented
machine-readable interface and stays stable across releases. (python-terraform, named in the design card, has
had no release since 0.10.1 in 2019; against Terraform 1.15 its `output()` returns every output, but
`output(name)` raises `KeyError: 'value'`: `terraform output -json NAME` prints the bare value, and it looks
for a `{"value": ...}` wrapper.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from controller.errors import ConfigError

SCHEMA_VERSION = 1
OUTPUT_NAME = "controller_config"
REGIONAL_OUTPUT_NAME = "controller_configs"  # one controller_config per region (examples/multi-region)
TERRAFORM_TIMEOUT_S = 120

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$")


@dataclass(frozen=True)
class SlotInfo:
    name: str
    function_name: str
    function_arn: str
    version_label: str


@dataclass(frozen=True)
class Route:
    path: str
    method: str


@dataclass(frozen=True)
class MetricsSettings:
    namespace: str
    api_name: str
    period_seconds: int


@dataclass(frozen=True)
class ControllerConfig:
    schema_version: int
    region: str
    api_id: str
    api_name: str
    production_stage: str
    staging_stage: str
    production_url: str
    staging_url: str
    routes: tuple[Route, ...]
    slot_variable: str
    slots: tuple[SlotInfo, SlotInfo]
    alarm_names: tuple[str, ...]
    rollback_alarm_name: str | None
    metrics: MetricsSettings
    # The module's canary_stage_variable_overrides: every canary the controller creates carries them (the
    # slot variable's override wins).
    canary_overrides: Mapping[str, str] = field(default_factory=dict)

    @property
    def watched_alarms(self) -> tuple[str, ...]:
        """Every alarm the gates watch: the configured names and the rollback alarm, once each."""
        names = list(self.alarm_names)
        if self.rollback_alarm_name and self.rollback_alarm_name not in names:
            names.append(self.rollback_alarm_name)
        return tuple(names)

    @property
    def slot_names(self) -> tuple[str, str]:
        return (self.slots[0].name, self.slots[1].name)

    def slot(self, name: str) -> SlotInfo:
        for info in self.slots:
            if info.name == name:
                return info
        raise ConfigError(f"slot {name!r} is not in controller_config.slots ({', '.join(self.slot_names)})")

    @property
    def account_id(self) -> str | None:
        """The stack's account, read from its functions' ARNs (arn:aws:lambda:region:account:...)."""
        for info in self.slots:
            parts = info.function_arn.split(":")
            if len(parts) > 5 and parts[4].isdigit():
                return parts[4]
        return None

    def other_slot(self, name: str) -> str:
        first, second = self.slot_names
        return second if name == first else first


# -- reading ------------------------------------------------------------------------------------------


def find_terraform() -> str:
    """`$TERRAFORM`, else `terraform` on PATH, else the one `make setup` puts in this venv."""
    explicit = os.environ.get("TERRAFORM")
    if explicit:
        return explicit
    on_path = shutil.which("terraform")
    if on_path:
        return on_path
    venv = Path(sys.prefix) / "bin" / "terraform"
    if venv.is_file() and os.access(venv, os.X_OK):
        return str(venv)
    raise ConfigError(
        "terraform not found: put it on PATH or set $TERRAFORM, or pass a saved copy with "
        "--outputs FILE (terraform output -json > FILE)"
    )


def terraform_outputs(tf_dir: str) -> str:
    """The text of `terraform output -json` in `tf_dir`."""
    if not Path(tf_dir).is_dir():
        raise ConfigError(f"--tf-dir {tf_dir}: no such directory")
    command = [find_terraform(), f"-chdir={tf_dir}", "output", "-json", "-no-color"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TERRAFORM_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"terraform output in {tf_dir} took over {TERRAFORM_TIMEOUT_S}s; is the state locked?"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip() and line.strip() != "╷"]
        detail = next(
            (line.lstrip("│ ").strip() for line in lines if "Error" in line), lines[-1] if lines else ""
        )
        raise ConfigError(f"terraform output in {tf_dir} failed (exit {done.returncode}): {detail}")
    return done.stdout


def read_outputs(tf_dir: str | None, outputs: str | None, stdin: TextIO) -> tuple[str, str]:
    """(text, where it came from) for one of `--outputs FILE`, `--outputs -` or `--tf-dir DIR`."""
    if outputs == "-":
        return stdin.read(), "stdin"
    if outputs is not None:
        try:
            return Path(outputs).read_text(encoding="utf-8"), outputs
        except OSError as exc:
            raise ConfigError(f"cannot read --outputs {outputs}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(
                f"--outputs {outputs} is not text; save it with terraform output -json"
            ) from None
    directory = tf_dir or "."
    return terraform_outputs(directory), f"terraform outputs in {directory}"


def load_config(
    tf_dir: str | None, outputs: str | None, stdin: TextIO, region: str | None = None
) -> ControllerConfig:
    text, source = read_outputs(tf_dir, outputs, stdin)
    return parse_config(text, source, region)


# -- parsing ------------------------------------------------------------------------------------------


def parse_config(text: str, source: str, region: str | None = None) -> ControllerConfig:
    """Accepts the whole `terraform output -json` document or the bare controller_config object; with
    `region`, also a `controller_configs` output (one per region, as examples/multi-region has), and the
    config read must be that region's."""
    if not text.strip():
        raise ConfigError(f"{source} is empty; expected the JSON of terraform output -json")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{source} is not JSON ({exc.msg} at line {exc.lineno}); use terraform output -json"
        ) from None
    if not isinstance(document, dict):
        raise ConfigError(f"{source} is not a JSON object; expected terraform output -json")
    if OUTPUT_NAME in document:
        wrapper = document[OUTPUT_NAME]
        value = wrapper.get("value") if isinstance(wrapper, dict) and "value" in wrapper else wrapper
    elif REGIONAL_OUTPUT_NAME in document:
        value = _regional(document[REGIONAL_OUTPUT_NAME], source, region)
    elif "schema_version" in document or "api_id" in document:
        value = document
    else:
        found = ", ".join(sorted(document)) or "none"
        raise ConfigError(
            f"{source} has no {OUTPUT_NAME} output (outputs: {found}); run terraform apply with the module, "
            "or pass the module's outputs"
        )
    config = _validate(value, source)
    if region is not None and config.region != region:
        raise ConfigError(
            f"{source}: {OUTPUT_NAME}.region is {config.region}, not {region} as the plan says; "
            "point the stack at that region's outputs"
        )
    return config


def _regional(wrapper: Any, source: str, region: str | None) -> Any:
    by_region = wrapper.get("value") if isinstance(wrapper, dict) and "value" in wrapper else wrapper
    if not isinstance(by_region, dict) or not by_region:
        raise ConfigError(
            f"{source}: {REGIONAL_OUTPUT_NAME} must be an object of region -> controller_config"
        )
    if region is None and len(by_region) == 1:
        return next(iter(by_region.values()))
    if region is None or region not in by_region:
        choice = ", ".join(sorted(by_region))
        asked = "name a region" if region is None else f"has no region {region}"
        raise ConfigError(
            f"{source}: {REGIONAL_OUTPUT_NAME} holds {choice}: {asked} (a plan's stack `region`, or save one "
            f"region's entry with terraform output -json {REGIONAL_OUTPUT_NAME} | jq '.[\"REGION\"]')"
        )
    return by_region[region]


class _Reader:
    """Typed access to the config object with messages that name the exact key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {OUTPUT_NAME}.{path} {problem}")

    def obj(self, parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = parent.get(key)
        if not isinstance(value, dict):
            raise self.fail(path, "is missing" if value is None else "must be an object")
        return value

    def text(
        self, parent: Mapping[str, Any], key: str, path: str, pattern: re.Pattern[str] | None = None
    ) -> str:
        value = parent.get(key)
        if value is None:
            raise self.fail(path, "is missing")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, "must be a non-empty string")
        if pattern is not None and not pattern.match(value):
            raise self.fail(path, f"has an invalid value {value!r}")
        return value

    def url(self, parent: Mapping[str, Any], keys: tuple[str, ...], path: str) -> str:
        for key in keys:
            if key in parent:
                value = self.text(parent, key, f"{path}.{key}")
                if not value.startswith(("http://", "https://")):
                    raise self.fail(f"{path}.{key}", f"must be an http(s) URL, got {value!r}")
                return value.rstrip("/")
        raise self.fail(f"{path}.{keys[0]}", "is missing")


def _validate(value: Any, source: str) -> ControllerConfig:
    r = _Reader(source)
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {OUTPUT_NAME} must be an object, got {type(value).__name__}")
    version = value.get("schema_version")
    if version != SCHEMA_VERSION:
        raise r.fail(
            "schema_version",
            f"is {version!r}; this controller reads schema_version {SCHEMA_VERSION} (upgrade the controller "
            "or the module so they match)",
        )
    production = r.text(value, "production_stage", "production_stage", _NAME)
    staging = r.text(value, "staging_stage", "staging_stage", _NAME)
    if production == staging:
        raise r.fail("staging_stage", f"must differ from production_stage ({production!r})")
    urls = r.obj(value, "invoke_urls", "invoke_urls")
    slots_obj = r.obj(value, "slots", "slots")
    if len(slots_obj) != 2:
        raise r.fail("slots", f"must name exactly two slots (blue and green), got {sorted(slots_obj)}")
    slots: list[SlotInfo] = []
    for name in slots_obj:
        slot = r.obj(slots_obj, name, f"slots.{name}")
        slots.append(
            SlotInfo(
                name=name,
                function_name=r.text(slot, "function_name", f"slots.{name}.function_name"),
                function_arn=r.text(slot, "function_arn", f"slots.{name}.function_arn"),
                version_label=str(slot.get("version_label") or ""),
            )
        )
    alarms = value.get("alarm_names")
    if alarms is None:
        raise r.fail("alarm_names", "is missing; the module lists the alarms the rollout must watch")
    if not isinstance(alarms, list) or not all(isinstance(a, str) and a.strip() for a in alarms):
        raise r.fail("alarm_names", "must be a list of alarm names")
    rollback_alarm = value.get("rollback_alarm_name")
    if rollback_alarm is not None and (not isinstance(rollback_alarm, str) or not rollback_alarm.strip()):
        raise r.fail("rollback_alarm_name", "must be an alarm name or null")
    metrics = r.obj(value, "metrics", "metrics")
    period = metrics.get("period_seconds")
    if (
        isinstance(period, bool)
        or not isinstance(period, int | float)
        or period <= 0
        or period != int(period)
    ):
        raise r.fail("metrics.period_seconds", f"must be a positive whole number of seconds, got {period!r}")
    routes_raw = value.get("routes", [])
    if not isinstance(routes_raw, list):
        raise r.fail("routes", "must be a list of {path, method}")
    routes = []
    for index, route in enumerate(routes_raw):
        if not isinstance(route, dict):
            raise r.fail(f"routes[{index}]", "must be an object with path and method")
        routes.append(
            Route(
                r.text(route, "path", f"routes[{index}].path"),
                r.text(route, "method", f"routes[{index}].method"),
            )
        )
    api_name = r.text(value, "api_name", "api_name")
    overrides = value.get("canary_stage_variable_overrides") or {}
    if not isinstance(overrides, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in overrides.items()
    ):
        raise r.fail(
            "canary_stage_variable_overrides", "must be an object of stage variable names to strings"
        )
    return ControllerConfig(
        schema_version=SCHEMA_VERSION,
        region=r.text(value, "region", "region", _REGION),
        api_id=r.text(value, "api_id", "api_id", re.compile(r"^[A-Za-z0-9]+$")),
        api_name=api_name,
        production_stage=production,
        staging_stage=staging,
        production_url=r.url(urls, ("production", production), "invoke_urls"),
        staging_url=r.url(urls, ("staging", staging), "invoke_urls"),
        routes=tuple(routes),
        slot_variable=r.text(value, "slot_variable", "slot_variable", re.compile(r"^[A-Za-z0-9_]+$")),
        slots=(slots[0], slots[1]),
        alarm_names=tuple(alarms),
        rollback_alarm_name=rollback_alarm,
        metrics=MetricsSettings(
            namespace=r.text(metrics, "namespace", "metrics.namespace"),
            api_name=str(metrics.get("api_name") or api_name),
            period_seconds=int(period),
        ),
        canary_overrides=dict(overrides),
    )
