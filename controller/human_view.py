"""The human view of rollout events: one line per event, readable in a terminal and in a CI log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape

from controller import event_types as ev
from controller import plan_events as pev
from controller.events import Events


def _count(n: int | float | None) -> str:
    if not isinstance(n, int | float):
        return "?"
    return f"{n / 1000:.1f}k" if n >= 10_000 else f"{int(n)}"


def _rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def span(seconds: float) -> str:
    """A look-back window for people: 24h, 90m, 45s."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def clock(seconds: float | None) -> str:
    seconds = max(0, int(round(seconds or 0)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _side(name: str, side: ev.Window) -> str:
    return f"{name} {_count(side.requests)} req, 5xx {_rate(side.error_rate)}, p99 {_ms(side.p99_ms)}"


_VERDICT = {"CONTINUE": "[dim]…[/dim]", "PASS": "[green]PASS[/green]", "FAIL": "[red]FAIL[/red]"}


def _tick(e: ev.TickEvent) -> str:
    firing = [name for name, state in e.alarms.items() if state == "ALARM"]
    alarm_text = f"[red]ALARM {', '.join(firing)}[/red]" if firing else f"alarms OK ({len(e.alarms)})"
    judge_text = f" | judge {e.judge.verdict}" if e.judge else ""
    shadow = [g for g in e.gates if g.shadow and g.status == "FAIL"]
    shadow_text = f" | [yellow]shadow {', '.join(g.gate for g in shadow)} FAIL[/yellow]" if shadow else ""
    return (
        f"  {e.percent:g}% | bake {clock(e.bake_left_s)} left | "
        f"{_side('canary', e.canary)} | {_side('baseline', e.baseline)} | "
        f"{alarm_text}{judge_text}{shadow_text} | {_VERDICT.get(e.verdict, e.verdict)} {escape(e.reason)}"
    )


def _history(e: ev.BaselineHistoryRead) -> str:
    if e.trusted:
        use = "trusted by the fail test too"
    elif e.used:
        use = "for the pass test and the ramp"
    else:
        use = "too little to use: the judge runs on the concurrent baseline alone"
    rate = "n/a" if e.error_rate is None else f"{e.error_rate:.2%}"
    noise = ""
    if e.noise_cv is not None:
        noise = f", noise CV {e.noise_cv:.2f} a period"
        if e.noise_lasts_periods > 1:
            noise += f", lasting over {e.noise_lasts_periods}-period stretches"
            noise += " (carried by the judge)" if e.noise_carried else " (ignored by the judge)"
        if e.outlier_periods:
            noise += f", {e.outlier_periods} outlying periods"
            noise += " (capped by the judge)" if e.outliers_capped else " (ignored by the judge)"
    slow = "" if e.slow_threshold_ms is None else f"; slow requests: above {e.slow_threshold_ms:g} ms"
    return (
        f"[dim]baseline history: {e.requests:,} requests, 5xx {rate} over the last "
        f"{span(e.window_s)}{noise} ({use}){slow}[/dim]"
    )


def render(event: ev.Event) -> str | None:  # noqa: C901 - one branch per event kind, flat on purpose
    """The line for one event (rich markup), without the timestamp; None to show nothing."""
    match event:
        case ev.RunStarted():
            plan = " → ".join(f"{p:g}% {clock(b)}" for p, b in zip(event.steps, event.bakes_s, strict=False))
            plan = plan or "adaptive"
            resumed = f" [yellow](resuming at {event.resumed_from:g}%)[/yellow]" if event.resumed_from else ""
            return (
                f"[bold]Rollout[/bold] of [bold]{escape(event.candidate_slot)}[/bold] "
                f"{escape(event.candidate_version)} on {escape(event.stage)} "
                f"(live {escape(event.live_slot)} {escape(event.live_version)}); "
                f"{escape(event.strategy)}: {plan}{resumed}"
            )
        case ev.StepStarted(bake_s=None):
            share = f"{event.percent:g}% of traffic on the candidate"
            return f"[bold cyan]▶ ramp[/bold cyan]: {share} (judge-driven)"
        case ev.StepStarted():
            return (
                f"[bold cyan]▶ step {event.step}/{event.steps}[/bold cyan]: {event.percent:g}% of traffic "
                f"on the candidate, bake {clock(event.bake_s)}"
            )
        case ev.TickEvent():
            return _tick(event)
        case ev.BaselineHistoryRead():
            return _history(event)
        case ev.MetricsSourceChosen():
            return f"[yellow]metrics source: {escape(event.source)} ({escape(event.reason)})[/yellow]"
        case ev.GateFailed():
            return f"[bold red]✗ gate {escape(event.gate)} failed[/bold red]: {escape(event.reason)}"
        case ev.RolledBack():
            return (
                f"[bold red]↩ rolled back[/bold red]: production serves {escape(event.live_slot or '?')} "
                f"100% ({escape(event.reason)})"
            )
        case ev.Promoted():
            return (
                f"[bold green]✓ promoted[/bold green]: production serves {escape(event.live_slot)} 100%; "
                f"staging now serves {escape(event.staging_slot)} ({escape(event.reason)})"
            )
        case ev.HookRan():
            status = "[green]ok[/green]" if event.exit_code == 0 else f"[red]exit {event.exit_code}[/red]"
            return f"hook {escape(event.hook)}: {escape(event.command)} → {status} in {event.seconds:.1f}s"
        case ev.WarningEvent() | ev.Interrupted():
            return f"[yellow]{escape(event.message)}[/yellow]"
        case ev.NothingToDo() | ev.LockEvent() | ev.DeploymentChanged():
            return f"[dim]{escape(event.message)}[/dim]"
        case ev.ErrorEvent():
            return f"[bold red]error:[/bold red] {escape(event.message)}"
        case ev.PlanShown() | ev.StatusShown():
            return "\n".join(escape(line) for line in event.lines)
        case ev.GatesChecked():
            return "\n".join(
                [*(escape(g) for g in event.gates), *(f"error: {escape(p)}" for p in event.problems)]
            )
        case pev.PlanChecked():
            return "\n".join(
                [*(escape(line) for line in event.lines), *(f"error: {escape(p)}" for p in event.problems)]
            )
        case pev.PlanStatusShown():
            return "\n".join(escape(line) for line in event.lines)
        case _ if isinstance(event, PLAN_LINES):
            return _plan_line(event)
    body = {k: v for k, v in event.to_dict().items() if k not in ("event", "at", "schema_version")}
    return f"{escape(event.kind)}: {escape(json.dumps(body))}"


PLAN_LINES = (
    pev.PlanStarted,
    pev.WaveStarted,
    pev.StackSkipped,
    pev.StackFinished,
    pev.WaveFinished,
    pev.BakeStarted,
    pev.BakeEnded,
    pev.PlanReverting,
    pev.PlanFinished,
)
_PLAN_STYLE = {"promoted": "green", "passed": "green", "nothing_to_do": "green", "skipped": "dim"}


def _plan_line(event: ev.Event) -> str:
    outcome = str(getattr(event, "outcome", ""))
    style = _PLAN_STYLE.get(outcome, "red" if outcome else "bold")
    text = escape(event.text)
    if isinstance(event, pev.StackFinished):
        text = f"{escape(outcome.replace('_', ' '))} in {event.seconds:.0f}s: {text}"
    elif isinstance(event, pev.PlanFinished):
        use = event.control_plane
        calls = f"; {sum(use.calls.values())} AWS calls, {use.throttled} throttled" if use else ""
        text = f"plan {escape(outcome.replace('_', ' '))} in {event.seconds:.0f}s: {text}{calls}"
    return f"[{style}]{text}[/{style}]"


class HumanView(Events):
    """Writes `render`'s line with a timestamp (and the stack of a plan's event); errors go to stderr."""

    _UNSTAMPED = (
        ev.PlanShown,
        ev.StatusShown,
        ev.ErrorEvent,
        ev.GatesChecked,
        pev.PlanChecked,
        pev.PlanStatusShown,
    )

    def __init__(self, console: Console | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def line(self, event: ev.Event) -> str | None:
        text = render(event)
        if text is None or isinstance(event, self._UNSTAMPED):
            return text
        stamp = time.strftime("%H:%M:%S", time.localtime(event.at or 0))
        where = f"[cyan]{escape(event.stack)}[/cyan] " if event.stack else ""
        return f"[dim]{stamp}[/dim] {where}{text}"

    def write(self, event: ev.Event) -> None:
        text = self.line(event)
        if text is None:
            return
        failed = isinstance(event, ev.ErrorEvent) or (
            isinstance(event, ev.GatesChecked | pev.PlanChecked) and bool(event.problems)
        )
        (self.err if failed else self.console).print(text)
