"""Rollout events: JSON lines for CI and `controller report`, or a human view drawn with rich.

Every event is `{"event": NAME, "at": <epoch s>, ...}` (docs/contracts.md). The names a rollout emits:
run_started, step_started, tick, gate_failed, rolled_back, promoted, error, plus hook, lock, interrupted,
warning, deployment (a snapshot created or deleted), plan (dry run), status and nothing_to_do.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape


class Events:
    """Base: stamps and forwards events; subclasses write them."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"event": event, "at": round(self._clock(), 3), **fields}
        self.write(record)
        return record

    def write(self, record: dict[str, Any]) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class Recorder(Events):
    """Keeps events in memory (tests, and the e2e measurements)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def names(self) -> list[str]:
        return [r["event"] for r in self.records]


class JsonLines(Events):
    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self._stream = stream or sys.stdout

    def write(self, record: dict[str, Any]) -> None:
        self._stream.write(json.dumps(record, separators=(", ", ": ")) + "\n")
        self._stream.flush()  # CI tails the log while the rollout runs


def _count(n: Any) -> str:
    if not isinstance(n, int | float):
        return "?"
    return f"{n / 1000:.1f}k" if n >= 10_000 else f"{int(n)}"


def _rate(side: dict[str, Any]) -> str:
    rate = side.get("error_rate")
    return "n/a" if rate is None else f"{rate:.1%}"


def _ms(value: Any) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _span(seconds: float) -> str:
    """A look-back window for people: 24h, 90m, 45s."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _side(name: str, side: dict[str, Any]) -> str:
    return f"{name} {_count(side.get('requests'))} req, 5xx {_rate(side)}, p99 {_ms(side.get('p99_ms'))}"


class HumanView(Events):
    """One line per event, readable in a terminal and in a CI log (no cursor tricks)."""

    def __init__(self, console: Console | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def write(self, record: dict[str, Any]) -> None:
        line = self.render(record)
        if line is None:
            return
        if record["event"] == "error":
            self.err.print(line)
        else:
            self.console.print(line)

    def render(self, r: dict[str, Any]) -> str | None:  # noqa: C901 - one branch per event, flat on purpose
        kind = r["event"]
        stamp = time.strftime("%H:%M:%S", time.localtime(r["at"]))
        prefix = f"[dim]{stamp}[/dim] "
        if kind == "run_started":
            plan = " → ".join(f"{p:g}% {_clock(b)}" for p, b in zip(r["steps"], r["bakes_s"], strict=False))
            resumed = (
                f" [yellow](resuming at {r['resumed_from']:g}%)[/yellow]" if r.get("resumed_from") else ""
            )
            return (
                f"{prefix}[bold]Rollout[/bold] of [bold]{escape(r['candidate_slot'])}[/bold] "
                f"{escape(r.get('candidate_version') or '')} on {escape(r['stage'])} "
                f"(live {escape(r['live_slot'])} {escape(r.get('live_version') or '')}); "
                f"{escape(r['strategy'])}: {plan}{resumed}"
            )
        if kind == "step_started" and r.get("bake_s") is None:
            share = f"{r['percent']:g}% of traffic on the candidate"
            return f"{prefix}[bold cyan]▶ ramp[/bold cyan]: {share} (judge-driven)"
        if kind == "step_started":
            return (
                f"{prefix}[bold cyan]▶ step {r['step']}/{r['steps']}[/bold cyan]: "
                f"{r['percent']:g}% of traffic "
                f"on the candidate, bake {_clock(r['bake_s'])}"
            )
        if kind == "tick":
            alarms = r.get("alarms") or {}
            firing = [name for name, state in alarms.items() if state == "ALARM"]
            alarm_text = f"[red]ALARM {', '.join(firing)}[/red]" if firing else f"alarms OK ({len(alarms)})"
            verdict = {"CONTINUE": "[dim]…[/dim]", "PASS": "[green]PASS[/green]", "FAIL": "[red]FAIL[/red]"}
            judge = r.get("judge")
            judge_text = f" | judge {judge['verdict']}" if judge else ""
            return (
                f"{prefix}  {r['percent']:g}% | bake {_clock(r.get('bake_left_s', 0))} left | "
                f"{_side('canary', r['canary'])} | {_side('baseline', r['baseline'])} | "
                f"{alarm_text}{judge_text} | "
                f"{verdict.get(r['verdict'], r['verdict'])} {escape(r.get('reason', ''))}"
            )
        if kind == "baseline_history":
            rate = r.get("error_rate")
            rate_text = "n/a" if rate is None else f"{rate:.2%}"
            if r.get("trusted"):
                use = "trusted by the fail test too"
            elif r.get("used", True):
                use = "for the pass test and the ramp"
            else:
                use = "too little to use: the judge runs on the concurrent baseline alone"
            return (
                f"{prefix}[dim]baseline history: {r['requests']:,} requests, 5xx {rate_text} over the last "
                f"{_span(r['window_s'])} ({use})[/dim]"
            )
        if kind == "gate_failed":
            return f"{prefix}[bold red]✗ gate {escape(r['gate'])} failed[/bold red]: {escape(r['reason'])}"
        if kind == "rolled_back":
            return (
                f"{prefix}[bold red]↩ rolled back[/bold red]: "
                f"production serves {escape(r['live_slot'])} 100% "
                f"({escape(r['reason'])})"
            )
        if kind == "promoted":
            return (
                f"{prefix}[bold green]✓ promoted[/bold green]: "
                f"production serves {escape(r['live_slot'])} 100%; "
                f"staging now serves {escape(r.get('staging_slot') or '')} ({escape(r['reason'])})"
            )
        if kind == "hook":
            status = (
                "[green]ok[/green]" if r.get("exit_code") == 0 else f"[red]exit {r.get('exit_code')}[/red]"
            )
            took = f"{r.get('seconds', 0):.1f}s"
            return f"{prefix}hook {escape(r['hook'])}: {escape(r['command'])} → {status} in {took}"
        if kind in ("warning", "interrupted", "nothing_to_do", "lock", "deployment"):
            style = "yellow" if kind in ("warning", "interrupted") else "dim"
            return f"{prefix}[{style}]{escape(r.get('message', kind))}[/{style}]"
        if kind == "error":
            return f"[bold red]error:[/bold red] {escape(r['message'])}"
        if kind == "plan":
            return "\n".join(escape(line) for line in r["lines"])
        if kind == "status":
            return "\n".join(escape(line) for line in r["lines"])
        rest = {k: v for k, v in r.items() if k not in ("event", "at")}
        return f"{prefix}{escape(kind)}: {escape(json.dumps(rest))}"
