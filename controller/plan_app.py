"""Wiring for a plan: each stack's config, clients and tagged events, its release id, and its record.

Everything a plan needs per stack is read here before anything changes: every controller_config (one
`terraform output -json` per directory), checked against the plan (region, the same API twice), then boto3
clients that share one session and the process's pacer (controller/aws/pacing.py), so the stacks of one
account and region share its rate quotas. controller/wave_runner.py runs the waves on these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from controller.app import App
from controller.aws import AwsClients, pacing
from controller.aws.stage import StageState
from controller.config import ControllerConfig, parse_config, read_outputs
from controller.errors import AwsError, ConfigError, UsageError
from controller.events import Events, Tagged
from controller.plan_events import PlannedStack
from controller.plan_file import Plan, StackRef
from controller.plan_record import PLAN_VARIABLE, PlanRecord, plan_id, release_id


@dataclass
class PlanStack:
    ref: StackRef
    wave: int
    app: App
    release: str = ""

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def cfg(self) -> ControllerConfig:
        return self.app.cfg

    def planned(self) -> PlannedStack:
        return PlannedStack(self.name, self.wave, self.cfg.region, self.cfg.api_id, self.release)

    def production(self) -> StageState:
        return self.app.stages.get(self.cfg.production_stage)

    def record(self, production: StageState | None = None) -> PlanRecord | None:
        return PlanRecord.read(production or self.production())

    def promoted_at(self) -> float | None:
        """When this release was promoted on this stack by a plan, if production still serves it."""
        production = self.production()
        record = PlanRecord.read(production)
        if record is not None and record.promoted_for(self.release, production, self.cfg.slot_variable):
            return record.at
        return None

    def write_record(self, record: PlanRecord) -> None:
        self.app.stages.set_variable(self.cfg.production_stage, PLAN_VARIABLE, record.encode())


def load_configs(plan: Plan, stdin: TextIO) -> list[tuple[StackRef, int, ControllerConfig]]:
    """Every stack's controller_config, or one error naming the stack; no AWS call."""
    texts: dict[tuple[str | None, str | None], tuple[str, str]] = {}
    loaded: list[tuple[StackRef, int, ControllerConfig]] = []
    seen: dict[tuple[str, str], str] = {}
    for wave, ref in plan.stacks:
        key = (ref.tf_dir, ref.outputs)
        if key not in texts:  # one `terraform output` per directory, however many regions it holds
            texts[key] = read_outputs(ref.tf_dir, ref.outputs, stdin)
        text, source = texts[key]
        try:
            cfg = parse_config(text, source, ref.region)
        except ConfigError as exc:
            raise ConfigError(f"plan stack {ref.name}: {exc}") from None
        api = (cfg.region, cfg.api_id)
        if api in seen:
            raise UsageError(
                f"plan stacks {seen[api]} and {ref.name} are the same API ({cfg.api_id} in {cfg.region}); "
                "list each stack once"
            )
        seen[api] = ref.name
        loaded.append((ref, wave.number, cfg))
    return loaded


def build_stacks(
    plan: Plan,
    events: Events,
    stdin: TextIO,
    session_factory: Callable[[], object] | None = None,
    pacer: pacing.Pacer = pacing.PACER,
) -> list[PlanStack]:
    """The plan's stacks with their clients (made here, in one thread: boto3 sessions are not thread-safe;
    the clients are)."""
    import boto3

    session = session_factory() if session_factory else boto3.Session()
    stacks = []
    for ref, wave, cfg in load_configs(plan, stdin):
        account = cfg.account_id or pacing.UNKNOWN_ACCOUNT
        clients = AwsClients(cfg.region, session, account, pacer)  # type: ignore[arg-type]
        stacks.append(PlanStack(ref, wave, App(cfg, clients, Tagged(events, ref.name, wave))))
    return stacks


def read_releases(stacks: list[PlanStack]) -> str:
    """Each stack's release id (two GetFunctionConfiguration calls), and the plan id of them all."""
    for stack in stacks:
        functions = stack.app.functions
        try:
            identities = [(s.name, functions.identity(s.function_name)) for s in stack.cfg.slots]
        except AwsError as exc:
            raise AwsError(f"plan stack {stack.name}: {exc}") from None
        stack.release = release_id(stack.cfg.region, stack.cfg.api_id, identities)
    return plan_id([(s.wave, s.name, s.release) for s in stacks])
