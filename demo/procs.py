"""The processes the demo drives: the local cloud, Terraform and the controller, each as its CLI.

The demo calls the same commands a user would type (README), so it proves them; each one's output
goes to a log under out/demo/logs/ and a failure raises `DemoError` with the log's tail.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from controller.event_types import Event, EventFormatError, parse_event

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and where its log is."""


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


@dataclass(frozen=True)
class Env:
    """Where the demo's processes find the local cloud and the toolchain."""

    endpoint_url: str
    out_dir: Path
    region: str = "us-east-1"

    @property
    def logs(self) -> Path:
        return self.out_dir / "logs"

    def variables(self) -> dict[str, str]:
        cache = Path(os.environ.get("APIGW_CANARY_CACHE", Path.home() / ".cache" / "apigw-canary"))
        env = dict(os.environ)
        env.update(
            {
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "TF_CLI_CONFIG_FILE": _terraform_rc(cache, env.get("TF_CLI_CONFIG_FILE")),
                "TF_IN_AUTOMATION": "1",
                "TF_INPUT": "0",
                "CHECKPOINT_DISABLE": "1",
                # The demo's own Terraform working data, so it never touches a user's examples/basic state.
                "TF_DATA_DIR": str(self.out_dir / "terraform" / ".terraform"),
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "PYTHONUNBUFFERED": "1",
            }
        )
        # Nothing from the user's shell may send the demo's calls to a real account or another endpoint.
        for name in list(env):
            if name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE") or (
                name.startswith("AWS_ENDPOINT_URL_")
            ):
                env.pop(name)
        return env


def _terraform_rc(cache: Path, inherited: str | None) -> str:
    """`make setup`'s CLI config (providers from the local mirror) wins over a shell's own setting."""
    project = cache / "terraform.rc"
    if project.is_file():
        return str(project)
    if inherited and Path(inherited).is_file():
        return inherited
    raise DemoError(f"{project} is missing; run `make setup` first (`make demo` does it for you)")


def run_logged(
    name: str, cmd: list[str], env: Env, *, timeout_s: float, cwd: Path = REPO, capture: bool = False
) -> str:
    """Run `cmd` to completion with its output in logs/{name}.log.

    With `capture`, stdout is returned (and appended to the log after stderr); otherwise both streams go
    to the log in the order they were written, so a failure's tail shows the error itself.
    """
    env.logs.mkdir(parents=True, exist_ok=True)
    log = env.logs / f"{name}.log"
    with log.open("w", encoding="utf-8") as sink:
        sink.write(f"$ {' '.join(cmd)}\n")
        sink.flush()
        try:
            done = subprocess.run(
                cmd,
                cwd=cwd,
                env=env.variables(),
                stdout=subprocess.PIPE if capture else sink,
                stderr=sink if capture else subprocess.STDOUT,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise DemoError(
                f"{name} did not finish within {timeout_s:.0f} s; log: {log}\n{_tail(log)}"
            ) from exc
        if capture:
            sink.write(done.stdout)
    if done.returncode != 0:
        raise DemoError(f"{name} failed (exit {done.returncode}); log: {log}\n{_tail(log)}")
    return done.stdout if capture else ""


# -- local cloud -------------------------------------------------------------------------------------


def localcloud_up(env: Env, port: int, metric_period_s: int) -> None:
    state = env.out_dir / "localcloud"
    run_logged(
        "localcloud-up",
        [
            sys.executable,
            "-m",
            "localcloud",
            "up",
            "--port",
            str(port),
            "--state-dir",
            str(state),
            "--metric-period",
            str(metric_period_s),
        ],
        env,
        timeout_s=60,
    )


def localcloud_down(env: Env) -> None:
    run_logged(
        "localcloud-down",
        [sys.executable, "-m", "localcloud", "down", "--state-dir", str(env.out_dir / "localcloud")],
        env,
        timeout_s=30,
    )


# -- terraform ---------------------------------------------------------------------------------------


def _terraform() -> str:
    path = BIN / "terraform"
    if not path.exists():
        raise DemoError(f"{path} is missing; run `make setup` first (`make demo` does it for you)")
    return str(path)


_VARIABLE = re.compile(r'^\s*variable\s+"([^"]+)"', re.MULTILINE)


def declared_variables(tf_dir: Path) -> set[str]:
    """Input variables a root module declares (so the demo passes only what it accepts)."""
    names: set[str] = set()
    for path in sorted(Path(tf_dir).glob("*.tf")):
        names.update(_VARIABLE.findall(path.read_text(encoding="utf-8")))
    return names


def terraform_apply(env: Env, tf_dir: Path, variables: dict[str, str], log_name: str) -> dict[str, Any]:
    """init (once) + apply + output -json, with the state kept under out/demo/terraform."""
    state = env.out_dir / "terraform" / "terraform.tfstate"
    state.parent.mkdir(parents=True, exist_ok=True)
    tf = [_terraform(), f"-chdir={tf_dir}"]
    # The lock file lives in the example's directory, not under out/: re-init if either is gone.
    initialised = (env.out_dir / "terraform" / ".terraform").exists()
    if not initialised or not (Path(tf_dir) / ".terraform.lock.hcl").exists():
        run_logged("terraform-init", [*tf, "init", "-input=false", "-no-color"], env, timeout_s=300)
    var_args = [f"-var={key}={value}" for key, value in variables.items()]
    run_logged(
        log_name,
        [*tf, "apply", "-auto-approve", "-input=false", "-no-color", f"-state={state}", *var_args],
        env,
        timeout_s=600,
    )
    outputs = run_logged(
        f"{log_name}-output", [*tf, "output", "-json", f"-state={state}"], env, timeout_s=120, capture=True
    )
    return json.loads(outputs)


def terraform_destroy(env: Env, tf_dir: Path, variables: dict[str, str]) -> None:
    state = env.out_dir / "terraform" / "terraform.tfstate"
    var_args = [f"-var={key}={value}" for key, value in variables.items()]
    run_logged(
        "terraform-destroy",
        [
            _terraform(),
            f"-chdir={tf_dir}",
            "destroy",
            "-auto-approve",
            "-input=false",
            "-no-color",
            f"-state={state}",
            *var_args,
        ],
        env,
        timeout_s=300,
    )


# -- controller --------------------------------------------------------------------------------------


@dataclass
class Shift:
    """A running `python -m controller shift --json`; its events are read as they come."""

    process: subprocess.Popen[str]
    events: queue.Queue[Event | None]
    sink: TextIO
    reader: threading.Thread

    def next_event(self, timeout_s: float) -> Event | None:
        """The next event, or None if none came within `timeout_s` (or the process is done)."""
        try:
            return self.events.get(timeout=timeout_s)
        except queue.Empty:
            return None

    @property
    def finished(self) -> bool:
        return self.process.poll() is not None and self.events.empty() and not self.reader.is_alive()

    def stop(self, grace_s: float = 20.0) -> int:
        """Interrupt like Ctrl-C (the controller then undoes its canary), then insist."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        self.reader.join(5)
        self.sink.close()
        return self.process.returncode


def _parse_line(line: str) -> Event | None:
    """One of the controller's `--json` events, or None for anything else (the log keeps the line)."""
    try:
        record = json.loads(line)
        event = parse_event(record) if isinstance(record, dict) else None
    except (json.JSONDecodeError, EventFormatError):
        return None
    return None if event is None else dataclasses.replace(event, at=record.get("at"))


def _read_events(stdout: TextIO, sink: TextIO, events: queue.Queue[Event | None]) -> None:
    for line in stdout:
        sink.write(line)
        sink.flush()
        event = _parse_line(line)
        if event is not None:
            events.put(event)


@contextmanager
def controller_shift(
    env: Env, outputs: Path, events_path: Path, args: list[str], log_name: str
) -> Iterator[Shift]:
    env.logs.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "controller", "shift", "--outputs", str(outputs), "--json", *args]
    stderr = (env.logs / f"{log_name}.log").open("w", encoding="utf-8")
    stderr.write(f"$ {' '.join(cmd)}\n")
    stderr.flush()
    sink = events_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env.variables(),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        bufsize=1,
    )
    events: queue.Queue[Event | None] = queue.Queue()
    reader = threading.Thread(target=_read_events, args=(process.stdout, sink, events), daemon=True)
    reader.start()
    shift = Shift(process, events, sink, reader)
    try:
        yield shift
    finally:
        shift.stop()
        stderr.close()


def parse_events(lines: str) -> list[Event]:
    """The controller's `--json` events in `lines`, in order."""
    return [event for event in map(_parse_line, lines.splitlines()) if event is not None]


def controller_command(env: Env, command: str, outputs: Path, args: list[str], log_name: str) -> list[Event]:
    """A one-shot `python -m controller COMMAND --outputs FILE --json ARGS` (undo, status, ...): its
    events; a non-zero exit raises `DemoError` with the log's tail."""
    cmd = [sys.executable, "-m", "controller", command, "--outputs", str(outputs), "--json", *args]
    return parse_events(run_logged(log_name, cmd, env, timeout_s=120, capture=True))


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)
