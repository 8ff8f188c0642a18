"""`python -m demo`: the whole product on the local cloud, start to finish, in a few minutes.

1. start the local cloud (short metric period), 2. apply examples/basic, 3. send steady traffic to the
production URL, 4. shift to the healthy green release until promoted, 5. put a faulty release in the
now idle blue slot and apply, 6. shift again until the gates roll it back, 7. charts + summary.
Everything started here is stopped here, on success, failure and Ctrl-C alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape

from controller.event_types import Event
from controller.human_view import HumanView
from controller.report import render
from demo import procs
from demo.procs import REPO, DemoError, Env
from demo.summary import RunSummary, summarize, table
from demo.traffic import TrafficGenerator, TrafficSnapshot

T = TypeVar("T")

FAULTY_RELEASE = REPO / "demo" / "releases" / "faulty"
FAULTY_VERSION = "v3.0.0-faulty"  # what demo/releases/faulty/handler.py answers with
STAGES = 8  # numbered steps the demo shows: up, apply, traffic, run 1, apply, run 2, charts, down
INTRO = """\
What happens: a local cloud starts on 127.0.0.1 (no AWS account), Terraform applies examples/basic
(blue v1.0.0 live on production, green v2.0.0 on staging), steady traffic hits production, then
  run 1: `controller shift` moves production to green step by step and promotes it;
  run 2: a faulty build (30 % errors, +250 ms) goes to the now idle blue slot and `shift` rolls it back.
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


@dataclass
class Outcome:
    runs: list[RunSummary] = field(default_factory=list)
    phases: list[dict[str, Any]] = field(default_factory=list)  # {"step": title, "seconds": s}
    requests_served: int = 0
    charts: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        decisions = [run.decision for run in self.runs]
        return decisions == ["promoted", "rolled back"]


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _clock(seconds: float) -> str:
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
        variables, faulty_variables = self._variables(endpoint)
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

            self.traffic = TrafficGenerator(url, opts.rate, opts.workers)
            cleanup.callback(self._stop_traffic)
            self.step(
                f"Start traffic: {opts.rate:g} requests/s to {url}",
                lambda: self._start_traffic(),
            )

            first = self._shift("run 1: healthy green", "promoted", outputs_path, out / "run1-events.jsonl")
            self.outcome.runs.append(first)
            if first.decision != "promoted":
                self._charts(["run1"])
                raise DemoError(f"run 1 ended {first.decision!r}, expected a promotion; see {out / 'logs'}")

            outputs = self.step(
                f"Deploy the faulty release to the idle blue slot ({FAULTY_RELEASE.relative_to(REPO)})",
                lambda: procs.terraform_apply(
                    env,
                    opts.tf_dir,
                    faulty_variables,
                    "terraform-apply-2",
                ),
            )
            outputs_path = self._write_outputs(outputs)

            second = self._shift("run 2: faulty blue", "rolled back", outputs_path, out / "run2-events.jsonl")
            self.outcome.runs.append(second)
            self.step("Draw the rollout charts (controller report)", lambda: self._charts(["run1", "run2"]))
        return self.outcome

    def _variables(self, endpoint: str) -> tuple[dict[str, str], dict[str, str]]:
        """`-var`s for the first apply and for the faulty one; checked before anything starts."""
        opts = self.options
        declared = procs.declared_variables(opts.tf_dir)
        needed = {"name_prefix", "execute_api_endpoint", "metric_period_seconds", "blue_source_dir"}
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
        faulty = {**first, "blue_source_dir": str(FAULTY_RELEASE)}
        if "blue_version_label" in declared:
            faulty["blue_version_label"] = FAULTY_VERSION
        return first, faulty

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
                        f"{name} · {_clock(time.monotonic() - began)} · "
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

    def _stop_localcloud(self) -> None:
        assert self.env is not None
        try:
            self.step("Stop the local cloud", lambda: procs.localcloud_down(self.env))
        except DemoError as exc:
            self.console.print(f"[yellow]{exc}[/yellow]")


def _write_summary(outcome: Outcome, options: Options, wall_s: float, console: Console) -> Path:
    path = options.out_dir / "summary.json"
    faulty = [run for run in outcome.runs if run.expected == "rolled back"]
    payload = {
        "ok": outcome.ok,
        "wall_time_s": round(wall_s, 1),
        "requests_served": outcome.requests_served,
        "rate_per_s": options.rate,
        "metric_period_s": options.metric_period_s,
        "phases": outcome.phases,
        "runs": [
            {**asdict(run), "traffic": {v: asdict(s) for v, s in run.traffic.items()}} for run in outcome.runs
        ],
        "faulty_release_errors_before_rollback": sum(
            s.errors_5xx for run in faulty for v, s in run.traffic.items() if v.endswith(FAULTY_VERSION)
        ),
        "charts": [str(p) for p in outcome.charts],
    }
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="The whole product on the local cloud: promote a good release, roll back a bad one.",
    )
    parser.add_argument(
        "--rate", type=float, default=50.0, help="requests per second to production (default 50)"
    )
    parser.add_argument("--workers", type=int, default=8, help="traffic threads (default 8)")
    parser.add_argument("--port", type=int, default=None, help="local cloud port (default: a free one)")
    parser.add_argument(
        "--metric-period",
        type=int,
        default=10,
        dest="metric_period_s",
        help="local cloud metric period and alarm period in seconds: 10, 30 or a multiple of 60 "
        "(default 10; AWS's standard metrics use 60)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "out" / "demo",
        dest="out_dir",
        help="where events, charts, logs and the summary go (default out/demo)",
    )
    parser.add_argument(
        "--tf-dir",
        type=Path,
        default=REPO / "examples" / "basic",
        help="the Terraform root module to apply (default examples/basic)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=240.0,
        dest="shift_timeout_s",
        help="give up on a rollout after this many seconds (default 240)",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.workers < 1:
        parser.error("--rate and --workers must be positive")
    # CloudWatch alarms take 10, 30 or a multiple of 60 seconds as their period:
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    if not (
        args.metric_period_s in (10, 30) or (args.metric_period_s > 0 and args.metric_period_s % 60 == 0)
    ):
        parser.error("--metric-period must be 10, 30 or a multiple of 60 (CloudWatch alarm periods)")
    return Options(
        rate=args.rate,
        workers=args.workers,
        port=args.port,
        metric_period_s=args.metric_period_s,
        out_dir=args.out_dir.resolve(),
        tf_dir=args.tf_dir.resolve(),
        shift_timeout_s=args.shift_timeout_s,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    # CI logs are not terminals; rich would wrap them at 80 columns and crush the summary table.
    console = Console(record=True, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120)
    console.rule("[bold]apigw-canary demo[/bold]: progressive delivery on a local cloud")
    console.print(INTRO.format(out=options.out_dir), highlight=False)
    demo = Demo(options, console)
    code = 1
    try:
        demo.run()
        code = 0 if demo.outcome.ok else 1
    except DemoError as exc:
        console.print(f"[bold red]demo failed:[/bold red] {exc}")
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: everything the demo started has been stopped[/yellow]")
        code = 130
    wall = time.monotonic() - demo.started
    outcome = demo.outcome
    if outcome.runs:
        console.print(table(outcome.runs))
    summary = _write_summary(outcome, options, wall, console)
    console.print(f"requests served: {outcome.requests_served}; wall time {_clock(wall)}")
    for run in outcome.runs:
        if run.expected == "rolled back":
            bad = [stats for version, stats in run.traffic.items() if version.endswith(FAULTY_VERSION)]
            failed, served = sum(s.errors_5xx for s in bad), sum(s.requests for s in bad)
            console.print(
                f"faulty release: {failed} failed requests (of {served} it answered) before rollback"
            )
    for chart in outcome.charts:
        console.print(f"chart: {chart}")
    console.print(
        f"summary: {summary}; event logs: {options.out_dir}/run*-events.jsonl; logs: {options.out_dir}/logs/"
    )
    verdict = "[bold green]demo OK[/bold green]: the healthy release was promoted, the faulty one rolled back"
    console.print(verdict if code == 0 else f"[bold red]demo FAILED[/bold red] (exit {code})")
    console.save_text(str(options.out_dir / "demo.txt"))
    return code
