"""The demo's orchestration at small scale: local cloud, Terraform and the controller replaced by fakes,
real traffic to a loopback server, real charts and summary from recorded event logs."""

from __future__ import annotations

import json
import queue
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller import event_types as ev
from controller import lifecycle_events as lev
from controller.notify import Notifier, NotifyTarget
from controller.report_data import load_events
from demo import cli as demo_cli
from demo import procs, undo
from demo import run as demo_run
from demo.receiver import Receiver, start_receiver
from demo.summary import summarize
from demo.traffic import TrafficSnapshot, VersionStats

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"


class FakeShift:
    """Replays a recorded event log like a finished `controller shift --json` process."""

    def __init__(self, events: list[ev.Event], exit_code: int) -> None:
        self.events: queue.Queue[ev.Event] = queue.Queue()
        for event in events:
            self.events.put(event)
        self.exit_code = exit_code

    def next_event(self, timeout_s: float) -> ev.Event | None:
        try:
            return self.events.get_nowait()
        except queue.Empty:
            return None

    @property
    def finished(self) -> bool:
        return self.events.empty()

    def stop(self, grace_s: float = 0) -> int:
        return self.exit_code


@pytest.fixture
def stack_dir(tmp_path) -> Path:
    """A root module that declares what the demo passes (only the declarations are read)."""
    stack = tmp_path / "stack"
    stack.mkdir()
    names = (
        "name_prefix",
        "execute_api_endpoint",
        "metric_period_seconds",
        "blue_source_dir",
        "green_source_dir",
        "green_version_label",
        "canary_percent",
    )
    (stack / "variables.tf").write_text("".join(f'variable "{name}" {{}}\n' for name in names))
    return stack


@pytest.fixture
def demo_main(stack_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(undo, "SETTLE_S", 0.5)

    def main(*argv: str) -> int:
        return demo_cli.main(["--tf-dir", str(stack_dir), "--out", str(tmp_path / "out"), *argv])

    return main


def notify(args: list[str], events: list[ev.Event]) -> None:
    """What the controller does with `--notify`: the real notifier, to the targets the demo passed."""
    targets = tuple(NotifyTarget.parse(args[i + 1]) for i, arg in enumerate(args) if arg == "--notify")
    notifier = Notifier(targets, "apigw-canary-demo")
    for event in events:
        notifier.write(event)


@dataclass
class Fakes:
    """The local cloud, Terraform and the controller replaced; what each was asked, in order."""

    calls: list[str]
    production: Any  # tests/demo/conftest.py's Production: what the stand-in stage answers
    notify: bool = True  # whether the fake controller sends its notifications


@pytest.fixture
def fakes(monkeypatch, production) -> Fakes:
    state = Fakes([], production)
    runs = iter([("promoted.jsonl", 0, "green v2.0.0"), ("rolled_back.jsonl", 3, None)])

    def apply(env, tf_dir, variables, log_name):
        assert variables["canary_percent"] == "0"  # the controller opens the canary, not the apply
        state.calls.append(
            f"apply {variables.get('green_source_dir', '-')} {variables.get('green_version_label', '-')}"
        )
        config = {
            "invoke_urls": {"production": f"{production.url}/restapis/x/production/_user_request_"},
            "routes": [{"path": "/hello", "method": "GET"}],
        }
        return {"controller_config": {"value": config}}

    @contextmanager
    def shift(env, outputs, events_path, args, log_name):
        name, code, serves = next(runs)
        state.calls.append(f"shift {' '.join(args)}")
        events_path.write_text((FIXTURES / name).read_text())
        events = load_events(FIXTURES / name)
        if state.notify:
            notify(args, events)
        if serves:
            production.serve(serves)  # the promotion
        yield FakeShift(events, code)

    def command(env, name, outputs, args, log_name):
        state.calls.append(f"{name} {' '.join(args)}")
        production.serve("blue v1.0.0")  # one stage update
        events = [ev_undone()]
        if state.notify:
            notify(args, events)
        return events

    monkeypatch.setattr(procs, "localcloud_up", lambda env, port, period: state.calls.append(f"up {period}"))
    monkeypatch.setattr(procs, "localcloud_down", lambda env: state.calls.append("down"))
    monkeypatch.setattr(procs, "terraform_apply", apply)
    monkeypatch.setattr(procs, "controller_shift", shift)
    monkeypatch.setattr(procs, "controller_command", command)
    return state


def ev_undone() -> lev.Undone:
    return lev.Undone(
        at=1.0, live_slot="blue", undone_slot="green", deployment_id="d1", reason="undo by ci:1", seconds=0.04
    )


def test_the_demo_promotes_undoes_then_rolls_back_and_leaves_charts_and_a_summary(fakes, demo_main, tmp_path):
    code = demo_main("--rate", "40", "--metric-period", "30")
    out = tmp_path / "out"
    assert code == 0, (out / "demo.txt").read_text()
    calls = fakes.calls
    assert calls[0] == "up 30"
    assert calls[-1] == "down"
    assert calls[2].startswith(
        "shift --steps 10,50,100 --bake 60s --interval 30s --notify webhook:http://127.0.0.1:"
    )
    assert calls[3].startswith("undo --notify webhook:http://127.0.0.1:")
    # The faulty release goes to the slot undo left idle: green.
    assert calls[4] == f"apply {demo_run.FAULTY_RELEASE} {demo_run.FAULTY_VERSION}"
    for name in ("run1.png", "run1.html", "run2.png", "run2.html", "run1-events.jsonl", "demo.txt"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is True
    assert [run["decision"] for run in summary["runs"]] == ["promoted", "rolled back"]
    assert summary["requests_served"] >= 10  # the warm-up waits for ten good answers
    assert summary["undo"]["answered_s"] < 5 and summary["undo"]["failed_requests"] == 0
    assert [n["event"] for n in summary["notifications"]["received"]] == ["promoted", "undone", "rolled_back"]
    text = (out / "demo.txt").read_text()
    assert "undo: blue v1.0.0 answered" in text and "0 failed of" in text
    assert "notifications: 3 arrived at the webhook receiver" in text
    assert "run 2: faulty green" in text


def test_the_demo_fails_when_the_notifications_do_not_arrive(fakes, demo_main, tmp_path):
    fakes.notify = False
    assert demo_main() == 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["notifications"]["received"] == [] and summary["ok"] is False
    assert "missing: promoted, undone, rolled_back" in (tmp_path / "out" / "demo.txt").read_text()


def test_the_demo_fails_when_requests_fail_while_undo_switches(fakes, monkeypatch, demo_main, tmp_path):
    def failing_undo(env, name, outputs, args, log_name):
        fakes.production.serve("blue v1.0.0", status=502)  # the former release answers, but badly
        notify(args, [ev_undone()])
        return [ev_undone()]

    monkeypatch.setattr(procs, "controller_command", failing_undo)
    assert demo_main() == 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["undo"]["failed_requests"] > 0 and summary["undo"]["as_expected"] is False


def test_a_refused_undo_stops_the_demo_and_everything_it_started(fakes, monkeypatch, demo_main):
    def refused(env, name, outputs, args, log_name):
        raise procs.DemoError("undo failed (exit 1); log: somewhere")

    monkeypatch.setattr(procs, "controller_command", refused)
    assert demo_main() == 1
    assert fakes.calls[-1] == "down"
    assert not any(call.startswith(f"apply {demo_run.FAULTY_RELEASE}") for call in fakes.calls)


def test_the_demo_fails_when_the_healthy_release_is_not_promoted(fakes, monkeypatch, demo_main):
    @contextmanager
    def rolled_back_first(env, outputs, events_path, args, log_name):
        lines = (FIXTURES / "rolled_back.jsonl").read_text()
        events_path.write_text(lines)
        yield FakeShift(load_events(FIXTURES / "rolled_back.jsonl"), 3)

    monkeypatch.setattr(procs, "controller_shift", rolled_back_first)
    assert demo_main() == 1
    assert fakes.calls[-1] == "down"
    assert not any(call.startswith(f"apply {demo_run.FAULTY_RELEASE}") for call in fakes.calls)


def test_ctrl_c_stops_the_local_cloud_it_started(fakes, monkeypatch, demo_main):
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(procs, "terraform_apply", interrupted)
    assert demo_main() == 130
    assert fakes.calls == ["up 10", "down"]


def test_a_failed_step_stops_traffic_the_receiver_and_the_local_cloud(fakes, monkeypatch, demo_main):
    started: list[demo_run.TrafficGenerator] = []
    receivers: list[Receiver] = []
    original_start = demo_run.TrafficGenerator.start

    def start(self):
        started.append(self)
        return original_start(self)

    def receiver():
        receivers.append(start_receiver())
        return receivers[-1]

    def broken_shift(*args: object):
        raise procs.DemoError("controller shift failed (exit 1); log: somewhere")

    monkeypatch.setattr(demo_run.TrafficGenerator, "start", start)
    monkeypatch.setattr(demo_run, "start_receiver", receiver)
    monkeypatch.setattr(procs, "controller_shift", broken_shift)
    assert demo_main() == 1
    assert fakes.calls[-1] == "down"
    assert started and not started[0].running
    with pytest.raises(OSError):  # the receiver's port is closed
        socket.create_connection(receivers[0].server.server_address[:2], timeout=1).close()


@pytest.mark.parametrize(
    "argv", [["--rate", "0"], ["--workers", "0"], ["--metric-period", "0"], ["--metric-period", "5"]]
)
def test_nonsense_options_are_refused_before_anything_starts(argv, fakes, demo_main):
    with pytest.raises(SystemExit) as exit_info:
        demo_main(*argv)
    assert exit_info.value.code == 2
    assert fakes.calls == []


def test_a_root_module_that_cannot_take_the_faulty_release_is_refused_before_anything_starts(
    fakes, stack_dir, demo_main
):
    (stack_dir / "variables.tf").write_text('variable "name_prefix" {}\n')
    assert demo_main() == 1
    assert fakes.calls == []


def test_the_summary_charges_errors_to_the_faulty_release_and_reads_the_decision_from_the_log():
    events = load_events(FIXTURES / "rolled_back.jsonl")
    traffic = TrafficSnapshot(
        at=0,
        by_version={
            "green v2.0.0": VersionStats(requests=500),
            "blue v3.0.0-faulty": VersionStats(requests=26, errors_5xx=7),
        },
        failed=0,
        missed=0,
    )
    run = summarize("run 2", "rolled back", events, 3, traffic)
    assert (run.decision, run.steps, run.max_percent) == ("rolled back", 1, 10.0)
    assert run.as_expected
    assert "5xx rate" in run.reason
    assert run.duration_s == pytest.approx(11.0, abs=0.1)


def test_a_run_without_a_decision_event_takes_its_decision_from_the_exit_code():
    started = ev.RunStarted(
        at=1.0, api_name="a", stage="production", strategy="recipe", live_slot="blue", candidate_slot="green"
    )
    events = [started, ev.ErrorEvent(at=2.0, message="lock held", exit_code=1)]
    run = summarize("run 1", "promoted", events, 1, TrafficSnapshot(0, {}, 0, 0))
    assert (run.decision, run.reason, run.as_expected) == ("error", "lock held", False)


@pytest.mark.parametrize(
    ("data_dir", "lock_file", "inits"),
    [(False, False, True), (True, False, True), (True, True, False)],
    ids=["fresh", "lock-file-removed", "initialised"],
)
def test_terraform_is_initialised_unless_both_its_data_and_lock_file_are_there(
    monkeypatch, tmp_path: Path, data_dir: bool, lock_file: bool, inits: bool
) -> None:
    # The lock file sits in the example's directory (tests that init there may remove it again), the
    # data under out/: applying with only the data left fails with "Inconsistent dependency lock file".
    example, out = tmp_path / "example", tmp_path / "out"
    example.mkdir()
    if data_dir:
        (out / "terraform" / ".terraform").mkdir(parents=True)
    if lock_file:
        (example / ".terraform.lock.hcl").write_text("")
    calls: list[str] = []

    def logged(name: str, cmd: list[str], env, *, timeout_s: float, capture: bool = False, **_) -> str:
        calls.append(name)
        return "{}"

    monkeypatch.setattr(procs, "run_logged", logged)
    procs.terraform_apply(procs.Env("http://127.0.0.1:1", out), example, {}, "terraform-apply-1")
    assert calls == (["terraform-init"] if inits else []) + ["terraform-apply-1", "terraform-apply-1-output"]
