"""`python -m demo`: the whole product on the local cloud, start to finish, in a few minutes.

1. start the local cloud (short metric period), 2. apply examples/basic, 3. send steady traffic to the
production URL and start a webhook receiver for the notifications, 4. shift to the healthy green release
until promoted, 5. undo the promotion under traffic, 6. put a faulty release in the slot undo left idle
(green) and apply, 7. shift again until the gates roll it back, 8. charts + summary.
Everything started here is stopped here, on success, failure and Ctrl-C alike.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape

from controller.event_types import Event
from controller.human_view import HumanView
from controller.report import render
from demo import procs
from demo.procs import REPO, DemoError, Env
from demo.receiver import Receiver, start_receiver
from demo.summary import Notification, Outcome, RunSummary, summarize
from demo.traffic import TrafficGenerator, TrafficSnapshot
from demo.undo import UndoSummary, undo_under_traffic

T = TypeVar("T")

FAULTY_RELEASE = REPO / "demo" / "releases" / "faulty"
FAULTY_VERSION = "v3.0.0-faulty"  # what demo/releases/faulty/handler.py answers with
SLOTS = ("blue", "green")
# Numbered steps the demo shows: up, apply, traffic, run 1, undo, apply, run 2, charts, down.
STAGES = 9
NOTIFY_PATH = "/notify"
INTRO = """\
What happens: a local cloud starts on 127.0.0.1 (no AWS account), Terraform applies examples/basic
(blue v1.0.0 live on production, green v2.0.0 on staging), steady traffic hits production, then
  run 1: `controller shift` moves production to green step by step and promotes it;
  undo:  `controller undo` puts blue v1.0.0 back in one stage update, timed under the same traffic;
  run 2: a faulty build (30 % errors, +250 ms) goes to the slot undo left idle (green) and `shift`
         rolls it back.
Every decision is also sent as a notification to a webhook receiver the demo runs on 127.0.0.1.
Charts, event logs and a summary land in {out}."""


@dataclass(frozen=True)
class Options:
    rate: float = 50.0
    workers: int = 8
    port: int | None = None
    metric_period_s: int = 10  # the shortest CloudWatch alarm period the module accepts (AWS uses 60)
    bake_periods: int = 2
    out_dir: Path = REPO / "out" / "demo"
    tf_dir: Path = REPO / "examples" / "basic"
    name_prefix: str = "apigw-canary-demo"
    shift_timeout_s: float = 240.0
    steps: str = "10,50,100"
    # Extra arguments for `controller shift` (after the demo's own --interval/--bake).
    shift_args: tuple[str, ...] = ()


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def clock_text(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _pct(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:.1%}"


def _ms(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:.0f} ms"


def _traffic_line(snapshot: TrafficSnapshot) -> str:
    parts = [
        f"{version} {stats.requests}"
        + (f" ({stats.errors_5xx} 5xx)" if stats.errors_5xx else "")
        + (f" ({stats.errors_4xx} 4xx)" if stats.errors_4xx else "")
        for version, stats in sorted(snapshot.by_version.items())
    ]
    if snapshot.failed:
        parts.append(f"no answer {snapshot.failed}")
    return "traffic: " + (", ".join(parts) or "starting")


class Demo:
    def __init__(self, options: Options, console: Console) -> None:
        self.options = options
        self.console = console
        self.outcome = Outcome()
        self.traffic: TrafficGenerator | None = None
        self.receiver: Receiver | None = None
        self.env: Env | None = None
        self.started = time.monotonic()
        self._done = 0
        self._view = HumanView(console=console)

    # -- narration ---------------------------------------------------------------------------------

    def _numbered(self, title: str) -> str:
        self._done += 1
        return f"[{self._done}/{STAGES}] {title}"

    @contextmanager
    def phase(self, title: str) -> Iterator[None]:
        title = self._numbered(title)
        began = time.monotonic()
        try:
            with self.console.status(f"{escape(title)} ..."):
                yield
        except BaseException:
            self.console.print(f"[red]✘[/red] {escape(title)} [dim]({time.monotonic() - began:.1f} s)[/dim]")
            raise
        took = time.monotonic() - began
        self.outcome.phases.append({"step": title, "seconds": round(took, 1)})
        self.console.print(f"[green]✔[/green] {escape(title)} [dim]({took:.1f} s)[/dim]")

    def _narrate(self, event: Event) -> str:
        """The controller's own human view of the event, so the demo reads like a real rollout."""
        return self._view.line(event) or f"[dim]{escape(event.kind)}[/dim]"

    def step(self, title: str, action: Callable[[], T]) -> T:
        with self.phase(title):
            return action()

    # -- the run -----------------------------------------------------------------------------------

    def run(self) -> Outcome:
        opts = self.options
        out = opts.out_dir
        out.mkdir(parents=True, exist_ok=True)
        # Every demo starts a fresh local cloud, so state from an earlier run describes nothing real.
        shutil.rmtree(out / "terraform" / "terraform.tfstate", ignore_errors=True)
        (out / "terraform" / "terraform.tfstate").unlink(missing_ok=True)
        port = opts.port or procs.free_loopback_port()
        endpoint = f"http://127.0.0.1:{port}"
        self.env = env = Env(endpoint_url=endpoint, out_dir=out)
        variables = self._variables(endpoint)
        with ExitStack() as cleanup:
            self.step(
                f"Start the local cloud on {endpoint} (metric period {opts.metric_period_s} s)",
                lambda: procs.localcloud_up(env, port, opts.metric_period_s),
            )
            cleanup.callback(self._stop_localcloud)

            outputs = self.step(
                f"terraform apply {_shown(opts.tf_dir)} (blue v1 live, green v2 staged)",
                lambda: procs.terraform_apply(env, opts.tf_dir, variables, "terraform-apply-1"),
            )
            outputs_path = self._write_outputs(outputs)
            url = self._production_url(outputs)

            self.receiver = start_receiver()
            cleanup.callback(self._stop_receiver)
            self.outcome.receiver_url = self.receiver.url + NOTIFY_PATH
            self.traffic = TrafficGenerator(url, opts.rate, opts.workers)
            cleanup.callback(self._stop_traffic)
            self.step(
                f"Start traffic: {opts.rate:g} requests/s to {url}; "
                f"notifications to {self.outcome.receiver_url}",
                lambda: self._start_traffic(),
            )

            first = self._shift("run 1: healthy green", "promoted", outputs_path, out / "run1-events.jsonl")
            self.outcome.rows.append(first)
            if first.decision != "promoted":
                self._charts(["run1"])
                raise DemoError(f"run 1 ended {first.decision!r}, expected a promotion; see {out / 'logs'}")

            undo = self.step(
                f"controller undo under traffic: {first.live} back in place of {first.candidate}",
                lambda: self._undo(first, outputs_path),
            )
            self.outcome.rows.append(undo)
            self.console.print(
                ("[green]✔[/green] " if undo.as_expected else "[red]✘[/red] ") + escape(undo.line())
            )

            faulty = FAULTY_RELEASE.relative_to(REPO)
            outputs = self.step(
                f"Deploy the faulty release to the idle {undo.idle_slot} slot ({faulty})",
                lambda: procs.terraform_apply(
                    env, opts.tf_dir, self._faulty(variables, undo.idle_slot), "terraform-apply-2"
                ),
            )
            outputs_path = self._write_outputs(outputs)

            second = self._shift(
                f"run 2: faulty {undo.idle_slot}", "rolled back", outputs_path, out / "run2-events.jsonl"
            )
            self.outcome.rows.append(second)
            self.step("Draw the rollout charts (controller report)", lambda: self._charts(["run1", "run2"]))
        return self.outcome

    def _variables(self, endpoint: str) -> dict[str, str]:
        """`-var`s for the first apply; the module is checked to take the faulty release's ones before
        anything starts (which slot gets it is known once undo has run: the one it left idle)."""
        opts = self.options
        declared = procs.declared_variables(opts.tf_dir)
        needed = {"name_prefix", "execute_api_endpoint", "metric_period_seconds"}
        needed |= {f"{slot}_source_dir" for slot in SLOTS}
        missing = sorted(needed - declared)
        if missing:
            raise DemoError(
                f"{opts.tf_dir} does not declare the variable(s) {', '.join(missing)} the demo sets; "
                "they must pass through to the module (see examples/basic/variables.tf)"
            )
        first = {
            "name_prefix": opts.name_prefix,
            "execute_api_endpoint": endpoint,
            "metric_period_seconds": str(opts.metric_period_s),
        }
        if "canary_percent" in declared:
            first["canary_percent"] = "0"  # the controller, not the first apply, opens the canary
        return first

    def _faulty(self, variables: dict[str, str], slot: str) -> dict[str, str]:
        faulty = {**variables, f"{slot}_source_dir": str(FAULTY_RELEASE)}
        if f"{slot}_version_label" in procs.declared_variables(self.options.tf_dir):
            faulty[f"{slot}_version_label"] = FAULTY_VERSION
        return faulty

    def _notify_args(self) -> list[str]:
        return ["--notify", f"webhook:{self.outcome.receiver_url}"] if self.outcome.receiver_url else []

    def _undo(self, promoted: RunSummary, outputs: Path) -> UndoSummary:
        """`controller undo` while the traffic runs: the run's former release must answer again."""
        assert self.env is not None and self.traffic is not None
        env = self.env

        def run_undo() -> list[Event]:
            return procs.controller_command(env, "undo", outputs, self._notify_args(), "undo")

        return undo_under_traffic(self.traffic, run_undo, promoted.live, promoted.candidate)

    def _write_outputs(self, outputs: dict[str, Any]) -> Path:
        path = self.options.out_dir / "outputs.json"
        path.write_text(json.dumps(outputs, indent=2), encoding="utf-8")
        return path

    @staticmethod
    def _production_url(outputs: dict[str, Any]) -> str:
        try:
            config = outputs["controller_config"]["value"]
            base = config["invoke_urls"]["production"].rstrip("/")
            path = config["routes"][0]["path"]
        except (KeyError, IndexError, TypeError) as exc:
            raise DemoError(f"terraform outputs lack controller_config.invoke_urls/routes ({exc!r})") from exc
        return f"{base}/{path.lstrip('/')}"

    def _start_traffic(self) -> None:
        assert self.traffic is not None
        self.traffic.start()
        # The API answers only once the stage and its Lambda integration are live.
        try:
            procs.wait_until(
                lambda: any(
                    s.requests - s.errors_5xx - s.errors_4xx >= 10
                    for s in self.traffic.snapshot().by_version.values()
                ),
                timeout_s=30,
                what="the production stage to answer traffic",
            )
        except DemoError as exc:
            raise DemoError(
                f"{exc}; {_traffic_line(self.traffic.snapshot())} (4xx/5xx count as no answer)"
            ) from None

    def _shift(self, name: str, expected: str, outputs: Path, events_path: Path) -> RunSummary:
        assert self.env is not None and self.traffic is not None
        opts = self.options
        period = opts.metric_period_s
        # Two metric periods per step: at 10 % of the default rate that is enough canary requests for
        # the error-rate gate's minimum sample, and the whole demo stays within minutes.
        args = [
            "--steps",
            opts.steps,
            "--bake",
            f"{opts.bake_periods * period}s",
            "--interval",
            f"{period}s",
            *self._notify_args(),
            *opts.shift_args,
        ]
        self.console.rule(f"[bold]{escape(self._numbered(name))}[/bold]")
        self.console.print(
            f"[dim]$ python -m controller shift --outputs {outputs} --json {' '.join(args)}[/dim]"
        )
        before = self.traffic.snapshot()
        events: list[Event] = []
        began = time.monotonic()
        with procs.controller_shift(self.env, outputs, events_path, args, events_path.stem) as shift:
            with self.console.status(_traffic_line(before)) as status:
                while not shift.finished:
                    event = shift.next_event(0.5)
                    if event is not None:
                        events.append(event)
                        self.console.print(self._narrate(event))
                    status.update(
                        f"{name} · {clock_text(time.monotonic() - began)} · "
                        + _traffic_line(self.traffic.snapshot().since(before))
                    )
                    if time.monotonic() - began > opts.shift_timeout_s:
                        raise DemoError(
                            f"{name} did not decide within {opts.shift_timeout_s:.0f} s; "
                            f"log: {self.env.logs / (events_path.stem + '.log')}"
                        )
            code = shift.stop()
        self.outcome.phases.append({"step": name, "seconds": round(time.monotonic() - began, 1)})
        summary = summarize(name, expected, events, code, self.traffic.snapshot().since(before))
        colour = "green" if summary.as_expected else "red"
        self.console.print(
            f"[{colour}]{'✔' if summary.as_expected else '✘'}[/{colour}] {name}: {summary.decision} "
            f"[dim](exit {code}, {summary.duration_s:.0f} s, events: {events_path})[/dim]"
        )
        return summary

    def _charts(self, runs: list[str]) -> None:
        for run in runs:
            events_path = self.options.out_dir / f"{run}-events.jsonl"
            if not events_path.exists() or not events_path.read_text().strip():
                self.console.print(f"[yellow]no events in {events_path}; no chart[/yellow]")
                continue
            for suffix in (".png", ".html"):
                chart = self.options.out_dir / f"{run}{suffix}"
                # The same code as `python -m controller report EVENTS.jsonl -o FILE`.
                render(events_path, chart)
                self.outcome.charts.append(chart)

    # -- teardown ----------------------------------------------------------------------------------

    def _stop_traffic(self) -> None:
        if self.traffic is None:
            return
        clean = self.traffic.stop()
        self.outcome.requests_served = self.traffic.snapshot().requests
        if not clean:
            self.console.print(
                "[yellow]traffic workers did not stop in time (they are daemon threads)[/yellow]"
            )

    def _stop_receiver(self) -> None:
        if self.receiver is None:
            return
        self.outcome.notifications = [
            Notification(str(r.body["event"].get("event", "?")), str(r.body.get("title", "")), r.at)
            for r in self.receiver.on(NOTIFY_PATH)
            if isinstance(r.body, dict) and isinstance(r.body.get("event"), dict)
        ]
        self.receiver.stop()

    def _stop_localcloud(self) -> None:
        assert self.env is not None
        try:
            self.step("Stop the local cloud", lambda: procs.localcloud_down(self.env))
        except DemoError as exc:
            self.console.print(f"[yellow]{exc}[/yellow]")
