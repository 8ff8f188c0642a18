"""What one `shift` was asked to do, validated by `cli` before any AWS call."""

from __future__ import annotations

from dataclasses import dataclass

from controller.hooks import DEFAULT_HOOK_TIMEOUT_S
from controller.strategies import Policy
from controller.user_gates import UserGate

# The judge's baseline history: a day covers the daily cycle of most services and is one cheap
# GetMetricData (4 series x 1,440 one-minute sums).
DEFAULT_BASELINE_HISTORY_S = 24 * 3600.0


@dataclass(frozen=True)
class ShiftOptions:
    policy: Policy
    pre_traffic: str | None = None
    post_step: str | None = None
    on_interrupt: str = "rollback"  # or "leave"
    dry_run: bool = False
    hook_timeout_s: float = DEFAULT_HOOK_TIMEOUT_S
    metrics_lag_s: float | None = None  # None: one metric period (CloudWatch publishes with a delay)
    baseline_history_s: float = DEFAULT_BASELINE_HISTORY_S  # 0: give the judge no history
    trust_history: bool = True  # the judge's fail test may use the history (JudgeConfig.history_fail)
    judge: bool = True  # the statistical judge is one of the gates
    user_gates: tuple[UserGate, ...] = ()  # a gates file's gates (placeholders not yet filled)
    gate_alarms: tuple[str, ...] = ()  # --gate-alarm: more alarms that roll back while in ALARM

    @property
    def hooks(self) -> dict[str, str]:
        """The configured hook points and their commands."""
        configured = {"pre-traffic": self.pre_traffic, "post-step": self.post_step}
        return {name: command for name, command in configured.items() if command}
