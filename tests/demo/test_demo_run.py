"""The demo's orchestration at small scale: local cloud, Terraform and the controller replaced by fakes,
real traffic to a loopback server, real charts and summary from recorded event logs."""

from __future__ import annotations

import json
import queue
from contextlib import contextmanager
from pathlib import Path

import pytest

from controller import event_types as ev
from controller.report_data import load_events
from demo import procs
from demo import run as demo_run
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
        "canary_percent",
    )
    (stack / "variables.tf").write_text("".join(f'variable "{name}" {{}}\n' for name in names))
    return stack


@pytest.fixture
def demo_main(stack_dir, tmp_path):
    def main(*argv: str) -> int:
        return demo_run.main(["--tf-dir", str(stack_dir), "--out", str(tmp_path / "out"), *argv])

    return main


@pytest.fixture
def fakes(monkeypatch, hello_server):
    calls: list[str] = []
    runs = iter([("promoted.jsonl", 0), ("rolled_back.jsonl", 3)])

    def apply(env, tf_dir, variables, log_name):
        assert variables["canary_percent"] == "0"  # the controller opens the canary, not the apply
        calls.append(f"apply {variables.get('blue_source_dir', '-')}")
        config = {
            "invoke_urls": {"production": f"{hello_server}/restapis/x/production/_user_request_"},
            "routes": [{"path": "/hello", "method": "GET"}],
        }
        return {"controller_config": {"value": config}}

    @contextmanager
    def shift(env, outputs, events_path, args, log_name):
        name, code = next(runs)
        calls.append(f"shift {' '.join(args)}")
        lines = (FIXTURES / name).read_text()
        events_path.write_text(lines)
        yield FakeShift(load_events(FIXTURES / name), code)

    monkeypatch.setattr(procs, "localcloud_up", lambda env, port, period: calls.append(f"up {period}"))
    monkeypatch.setattr(procs, "localcloud_down", lambda env: calls.append("down"))
    monkeypatch.setattr(procs, "terraform_apply", apply)
    monkeypatch.setattr(procs, "controller_shift", shift)
    return calls


def test_the_demo_promotes_then_rolls_back_and_leaves_charts_and_a_summary(fakes, demo_main, tmp_path):
    code = demo_main("--rate", "40", "--metric-period", "30")
    tmp_path = tmp_path / "out"
    assert code == 0
    assert fakes[0] == "up 30"
    assert fakes[-1] == "down"
    assert fakes[2] == "shift --steps 10,50,100 --bake 60s --interval 30s"
    assert fakes[3] == f"apply {demo_run.FAULTY_RELEASE}"  # the faulty release goes to the idle blue slot
    for name in ("run1.png", "run1.html", "run2.png", "run2.html", "run1-events.jsonl", "demo.txt"):
        assert (tmp_path / name).stat().st_size > 0, name
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ok"] is True
    assert [run["decision"] for run in summary["runs"]] == ["promoted", "rolled back"]
    assert summary["requests_served"] >= 10  # the warm-up waits for ten good answers


def test_the_demo_fails_when_the_healthy_release_is_not_promoted(fakes, monkeypatch, demo_main):
    @contextmanager
    def rolled_back_first(env, outputs, events_path, args, log_name):
        lines = (FIXTURES / "rolled_back.jsonl").read_text()
        events_path.write_text(lines)
        yield FakeShift(load_events(FIXTURES / "rolled_back.jsonl"), 3)

    monkeypatch.setattr(procs, "controller_shift", rolled_back_first)
    assert demo_main() == 1
    assert fakes[-1] == "down"
    assert not any(call.startswith(f"apply {demo_run.FAULTY_RELEASE}") for call in fakes)


def test_ctrl_c_stops_the_local_cloud_it_started(fakes, monkeypatch, demo_main):
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(procs, "terraform_apply", interrupted)
    assert demo_main() == 130
    assert fakes == ["up 10", "down"]


def test_a_failed_step_stops_traffic_and_the_local_cloud(fakes, monkeypatch, demo_main):
    started: list[demo_run.TrafficGenerator] = []
    original_start = demo_run.TrafficGenerator.start

    def start(self):
        started.append(self)
        return original_start(self)

    def broken_shift(*args: object):
        raise procs.DemoError("controller shift failed (exit 1); log: somewhere")

    monkeypatch.setattr(demo_run.TrafficGenerator, "start", start)
    monkeypatch.setattr(procs, "controller_shift", broken_shift)
    assert demo_main() == 1
    assert fakes[-1] == "down"
    assert started and not started[0].running


@pytest.mark.parametrize(
    "argv", [["--rate", "0"], ["--workers", "0"], ["--metric-period", "0"], ["--metric-period", "5"]]
)
def test_nonsense_options_are_refused_before_anything_starts(argv, fakes, demo_main):
    with pytest.raises(SystemExit) as exit_info:
        demo_main(*argv)
    assert exit_info.value.code == 2
    assert fakes == []


def test_a_root_module_that_cannot_take_the_faulty_release_is_refused_before_anything_starts(
    fakes, stack_dir, demo_main
):
    (stack_dir / "variables.tf").write_text('variable "name_prefix" {}\n')
    assert demo_main() == 1
    assert fakes == []


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
