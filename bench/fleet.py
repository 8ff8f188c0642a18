"""Fleet benchmark: N stacks released in one wave (`shift --plan`) on the local cloud with AWS's control-plane
quotas enforced, each with light traffic. For N = 1, 5, 20, 50: wall time, control-plane calls per
stack-minute, 429s seen, the controller's CPU and memory per stack, and that none failed.

Stacks are built once with boto3 (bench/fleet_stacks.py), the way the root module builds them, and reused:
before each run every stack gets a new release in its idle slot, so each run is a real release. Durations:
a 5 s metric period (the local cloud scales CloudWatch's 60 s), `--steps 50,100 --bake 10s --interval 5s`,
2 requests/s on production and 1/s on staging per stack. The controller runs as its own process: its user +
system CPU from wait4(2), its peak RSS from /proc (`PeakMemory`). A row that did not promote every stack lists
why (`failures`) and keeps the controller's events and stderr beside the JSON. Writes bench/out/fleet.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fleet_stacks import FleetBuilder, FleetStack, FleetTraffic  # noqa: E402
from controller.event_types import ErrorEvent, GateFailed, RolledBack  # noqa: E402
from controller.plan_events import StackFinished  # noqa: E402
from localcloud.testing import LocalCloudProcess  # noqa: E402

SIZES = (1, 5, 20, 50)
METRIC_PERIOD_S = 5
RATE_PER_S = 2.0
FLAGS = ["--steps", "50,100", "--bake", "10s", "--interval", "5s", "--min-requests", "5"]
# Each canary period holds a handful of requests, so the latency gate reads their p50 (a p99 of so few is
# the slowest one: controller/stats.py `TailLatency`); on two shared cores running up to 100 functions a
# period's few answers can all be slow. The gate stays on, with the room this benchmark has always given it.
FLEET_FLAGS = ["--max-p99-ratio", "3"]
DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "fleet.json"


class PeakMemory:
    """The controller's own peak RSS, read from /proc/<pid>/status (VmHWM) while it runs.

    wait4(2)'s ru_maxrss cannot be used: Linux charges a child the address space its exec replaces, which
    after a vfork is the parent's, so after the judge benchmarks the parent's ~1 GB peak showed in every row.
    """

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        self._path = Path(f"/proc/{pid}/status")
        self._every_s = every_s
        self._stop = threading.Event()
        self.kib = 0
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _read(self) -> None:
        try:
            for line in self._path.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.kib = max(self.kib, int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            pass  # the process is gone (or going): the last reading stands

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._read()
            self._stop.wait(self._every_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


_FAILURE_KINDS = (GateFailed.kind, RolledBack.kind, ErrorEvent.kind)


def _failures(events: list[dict[str, Any]]) -> list[str]:
    """Why stacks did not promote: their gate failures, rollbacks and errors, then each one's outcome."""
    reasons = []
    for e in events:
        if e["event"] in _FAILURE_KINDS:
            at = f" at {e['percent']} %" if e.get("percent") is not None else ""
            reasons.append(f"{e.get('stack')}: {e['event']}{at}: {e.get('reason') or e.get('message', '')}")
    reasons += [
        f"{e.get('stack')}: {e['outcome']} ({e.get('reason', '')})"
        for e in events
        if e["event"] == StackFinished.kind and e.get("outcome") not in ("promoted", "nothing_to_do")
    ]
    return reasons


def _idle_slot(builder: FleetBuilder, stack: FleetStack) -> str:
    apigw = builder.client("apigateway", stack.region)
    return str(apigw.get_stage(restApiId=stack.api_id, stageName="staging")["variables"]["slot"])


def _plan(path: Path, stacks: list[FleetStack]) -> Path:
    lines = [f"  - {{name: {s.prefix}, outputs: {s.outputs.name}, region: {s.region}}}" for s in stacks]
    path.write_text(
        f"name: fleet{len(stacks)}\nconcurrency: {len(stacks)}\nwaves:\n- stacks:\n" + "\n".join(lines)
    )
    return path


def run_once(
    cloud: LocalCloudProcess, builder: FleetBuilder, stacks: list[FleetStack], run: int
) -> dict[str, Any]:
    """One plan over `stacks`, each with a new release; the controller measured as a process."""
    for stack in stacks:
        builder.release(stack, _idle_slot(builder, stack), f"v{run + 2}")
    plan = _plan(builder.out_dir / f"fleet-{len(stacks)}.yaml", stacks)
    log = builder.out_dir / f"fleet-{len(stacks)}.jsonl"
    stderr = log.with_suffix(".stderr")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(cloud.env(), PYTHONPATH=str(ROOT))
    command = [
        sys.executable,
        "-m",
        "controller",
        "shift",
        "--plan",
        str(plan),
        "--json",
        *FLAGS,
        *FLEET_FLAGS,
    ]
    with FleetTraffic(stacks, RATE_PER_S) as traffic:
        time.sleep(2 * METRIC_PERIOD_S)  # traffic before the rollout, and the quota buckets refilled
        traffic.mark()
        refused = int(cloud.admin("GET", "quotas")["refused"])
        started = time.monotonic()
        with log.open("w") as out, stderr.open("w") as err:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
            with PeakMemory(process.pid) as memory:
                _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        refused = int(cloud.admin("GET", "quotas")["refused"]) - refused
        answered, errors, unanswered = traffic.since_mark()
    events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    finished = next((e for e in events if e["event"] == "plan_finished"), {})
    calls = (finished.get("control_plane") or {}).get("calls", {})
    attempts = (finished.get("control_plane") or {}).get("attempts", {})
    snapshots = [e["at"] for e in events if e["event"] == "deployment" and e.get("action") == "created"]
    n = len(stacks)
    cpu = usage.ru_utime + usage.ru_stime
    rss_mb = memory.kib / 1024
    total_calls = sum(calls.values())
    return {
        "stacks": n,
        "exit_code": process.returncode,
        "promoted": len(finished.get("promoted", [])),
        "wall_s": round(wall, 1),
        "snapshots_spread_s": round(max(snapshots) - min(snapshots), 1) if snapshots else None,
        "control_plane_calls": total_calls,
        "calls_by_operation": calls,
        "retried_attempts": sum(attempts.values()) - total_calls,
        "calls_per_stack_minute": round(total_calls / (n * wall / 60), 1),
        "throttled_seen_by_controller": (finished.get("control_plane") or {}).get("throttled"),
        "refused_by_local_cloud": refused,
        "paced_wait_s": (finished.get("control_plane") or {}).get("paced_wait_s"),
        "cpu_s": round(cpu, 2),
        "cpu_s_per_stack": round(cpu / n, 3),
        "peak_rss_mb": round(rss_mb, 1),
        "rss_mb_per_stack": round(rss_mb / n, 2),
        "requests_answered": answered,
        "requests_5xx": errors,
        "requests_unanswered": unanswered,
        "failures": _failures(events),
        "logs": [str(log), str(stderr)],
    }


def _promoted_every_stack(row: dict[str, Any]) -> bool:
    return row["exit_code"] == 0 and row["promoted"] == row["stacks"]


def keep_logs(row: dict[str, Any], out_dir: Path) -> list[Path]:
    """Copy a failed row's controller logs (events, stderr) out of the run's temporary directory; a row that
    promoted every stack keeps none (its `logs` empty)."""
    if _promoted_every_stack(row):
        row["logs"] = []
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = [Path(shutil.copy(source, out_dir)) for source in row["logs"] if Path(source).exists()]
    row["logs"] = [str(path) for path in kept]
    return kept


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| N | wall | snapshots spread | calls/stack-min | 429s | retries | CPU/stack | peak RSS | RSS/stack "
        "| promoted | failed requests |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = rows[0]["peak_rss_mb"] if rows else 0.0
    for r in rows:
        extra = (r["peak_rss_mb"] - base) / (r["stacks"] - rows[0]["stacks"]) if r is not rows[0] else None
        marginal = f" (+{extra:.1f})" if extra is not None else ""
        lines.append(
            f"| {r['stacks']} | {r['wall_s']:.0f} s | {r['snapshots_spread_s'] or 0:.0f} s | "
            f"{r['calls_per_stack_minute']} | {r['refused_by_local_cloud']} | {r['retried_attempts']} | "
            f"{r['cpu_s_per_stack']:.2f} s | {r['peak_rss_mb']:.0f} MB | "
            f"{r['rss_mb_per_stack']:.1f} MB{marginal} | "
            f"{r['promoted']}/{r['stacks']} | {r['requests_5xx'] + r['requests_unanswered']} of "
            f"{r['requests_answered']} |"
        )
    return "\n".join(lines)


def main(sizes: tuple[int, ...] = SIZES, out: Path = DEFAULT_OUT) -> int:
    started = time.perf_counter()
    print(
        f"fleet benchmark: {', '.join(map(str, sizes))} stacks in one wave, local cloud with quotas "
        f"enforced, {METRIC_PERIOD_S} s metric period, {RATE_PER_S:g} requests/s per stack",
        flush=True,
    )
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="fleet-") as tmp,
        LocalCloudProcess(metric_period=METRIC_PERIOD_S, enforce_quotas=True, start_timeout=120) as cloud,
    ):
        builder = FleetBuilder(cloud.endpoint_url, Path(tmp), METRIC_PERIOD_S)
        stacks: list[FleetStack] = []
        for run, n in enumerate(sizes):
            built = time.perf_counter()
            while len(stacks) < n:
                stacks.append(builder.build(f"fleet-{len(stacks):02d}", "us-east-1"))
            print(f"  {n} stack(s) ready ({time.perf_counter() - built:.0f} s to build)", flush=True)
            row = run_once(cloud, builder, stacks[:n], run)
            rows.append(row)
            print(
                f"  N={n}: exit {row['exit_code']}, {row['promoted']} promoted in {row['wall_s']:.0f} s, "
                f"{row['refused_by_local_cloud']} refused",
                flush=True,
            )
            for reason in row["failures"][:5]:
                print(f"    {reason}", flush=True)
            for path in keep_logs(row, out.parent):
                print(f"    kept {path}", flush=True)
    document = {
        "metric_period_s": METRIC_PERIOD_S,
        "rate_per_s": RATE_PER_S,
        "flags": [*FLAGS, *FLEET_FLAGS],
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(table(rows))
    print(f"wrote {out} in {time.perf_counter() - started:.0f} s")
    return 0 if all(_promoted_every_stack(r) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
