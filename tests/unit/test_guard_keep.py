"""`shift --guard-keep`: the former version kept on a share of production beside the promoted release while
the guard watches it, the split test that reads the two, and every way the share goes again."""

from __future__ import annotations

import numpy as np
import pytest
from controller_fakes import FakeClock, FakeStages, TrafficModel
from rollout_world import CFG, World
from test_engine import POLICY, T0, kinds
from test_engine_lifecycle import events_of, to_last_step
from test_runner_lifecycle import FakeFunctions, _options

from controller import lifecycle_events as lev
from controller.aws.lock import StageLock
from controller.commands import promote, rollback, status
from controller.domain import Outcome, PeriodSample, WindowStats
from controller.engine import Engine, EngineSettings, Interrupt, Promote, Tick, Undo, Wait
from controller.errors import StateConflict
from controller.events import Recorder
from controller.gates import builtin_gates
from controller.guard import GuardSettings, guard_factory
from controller.guard_split import GuardSplitTest
from controller.judge import JudgeConfig
from controller.observer import Observer
from controller.preflight import resolve_slots
from controller.rollout_actions import check_stage
from controller.strategies import FixedSteps
from controller.traffic import KEPT_VARIABLE, Slots, keep_former
from controller.undo import undo

SLOTS = Slots("blue", "green", "dep-live", "dep-new")


def _split_fails(release_share: float, former_share: float, runs: int, shared_shock: bool = False) -> float:
    """The share of `runs` ten-period guards at 9,000 / 1,000 requests a period whose split test fails."""
    rng = np.random.default_rng(7)
    failed = 0
    for _ in range(runs):
        test = GuardSplitTest(JudgeConfig(), periods=10)
        for _ in range(10):
            shock = rng.gamma(1.0, 3.0) if shared_shock else 1.0  # a slow dependency, both versions alike
            release = WindowStats(9000, 0, slow_requests=int(rng.poisson(9000 * release_share * shock)))
            former = WindowStats(1000, 0, slow_requests=int(rng.poisson(1000 * former_share * shock)))
            if test.observe(release, former):
                failed += 1
                break
    return failed / runs


def test_the_split_test_cancels_a_slowdown_both_versions_share() -> None:
    assert _split_fails(0.01, 0.01, runs=300, shared_shock=True) <= 0.01


def test_the_split_test_undoes_a_release_whose_tail_slows_after_the_promotion() -> None:
    # A tail 1.3x slower serves about 3.5x the requests beyond the former version's p99 (judge/slow.py).
    assert _split_fails(0.035, 0.01, runs=100) >= 0.95


def test_the_split_test_says_nothing_without_slow_request_counts() -> None:
    test = GuardSplitTest(JudgeConfig(), periods=10)
    assert test.observe(WindowStats(9000, 0), WindowStats(1000, 0, slow_requests=5)) == ""
    assert GuardSplitTest.of(JudgeConfig(latency_slow_alpha=None), 10) is None


def _engine(keep: float, hooks=()) -> Engine:
    gates = builtin_gates(POLICY.thresholds, judge=False, adaptive=False)
    settings = EngineSettings(
        60, 0.0, frozenset(hooks), prepare=True, tick_s=30, guard_s=600, guard_keep_percent=keep
    )
    guard = guard_factory(GuardSettings(periods=10, keep_percent=keep), None, JudgeConfig())
    return Engine(settings, FixedSteps(POLICY), gates, None, guard)


def _beside(start: float, release_slow: int, former_slow: int = 10) -> PeriodSample:
    release = WindowStats(9000, 0, p99_ms=40, slow_requests=release_slow)
    return PeriodSample(start, release, WindowStats(1000, 0, p99_ms=40, slow_requests=former_slow))


def test_the_engine_promotes_with_the_share_kept_and_guards_the_release_against_it() -> None:
    e = _engine(10.0, {"post-promotion"})
    to_last_step(e)
    actions = e.step(Tick(T0 + 150, ()))
    assert kinds(actions) == ["TickEvent", "Promote", "GuardStarted", "Wait"]
    assert actions[1] == Promote(actions[1].reason, keep_percent=10.0)
    (started,) = events_of(actions, lev.GuardStarted)
    assert started.kept_percent == 10.0 and "former version kept on 10% of production" in started.message
    wait = actions[-1]
    assert isinstance(wait, Wait) and wait.promoted and wait.percent == 10.0
    at = T0 + 180
    for _ in range(10):  # as slow as the former version beside it, for the whole guard
        actions = e.step(Tick(at + 60, (_beside(at, release_slow=90),)))
        at += 60
    assert kinds(actions)[-3:] == ["GuardEnded", "ReleaseFormer", "RunHook"]  # then post-promotion
    assert events_of(actions, lev.GuardEnded)[0].verdict == "PASS"


def test_the_engine_undoes_a_release_slower_than_the_former_version_beside_it() -> None:
    e = _engine(10.0)
    to_last_step(e)
    e.step(Tick(T0 + 150, ()))
    at, actions = T0 + 180, []
    for _ in range(10):
        actions = e.step(Tick(at + 60, (_beside(at, release_slow=400),)))  # 4.4 % against 1 %
        at += 60
        if e.done:
            break
    assert e.outcome is Outcome.UNDONE
    assert isinstance(actions[-1], Undo) and actions[-1].kept
    assert "against the former version's" in actions[-1].reason


def test_without_a_share_kept_nothing_changes_for_the_stage() -> None:
    e = _engine(0.0)
    to_last_step(e)
    actions = e.step(Tick(T0 + 150, ()))
    assert actions[1] == Promote(actions[1].reason, keep_percent=0.0)
    assert actions[-1].percent == 0.0 and events_of(actions, lev.GuardStarted)[0].kept_percent == 0.0


def test_an_interrupt_while_guarding_gives_the_release_all_of_production() -> None:
    e = _engine(10.0, {"post-promotion"})
    to_last_step(e)
    e.step(Tick(T0 + 150, ()))
    actions = e.step(Interrupt(T0 + 200))
    # The release stays promoted, takes all of production, and the post-promotion hook does not run.
    assert kinds(actions) == ["GuardEnded", "ReleaseFormer"] and e.outcome is Outcome.INTERRUPTED
    assert e.done


def test_shift_keeps_the_former_version_beside_the_release_then_gives_it_all(world: World) -> None:
    outcome = world.shift(_options(world, guard_s=180, guard_keep_percent=10.0), functions=FakeFunctions())
    assert outcome is Outcome.PROMOTED
    log = world.stages.log
    promoted = [i for i, entry in enumerate(log) if entry[0] == "promote_canary"]
    after = log[promoted[0] :]
    kept = [entry for entry in after if entry[0] == "create_canary"]
    assert kept == [("create_canary", "production", "dep-live", "blue", "10.0")]
    assert after.index(kept[0]) < after.index(("remove_canary", "production"))
    assert world.of("guard_started")[0]["kept_percent"] == 10.0
    assert world.of("guard_ended")[0]["verdict"] == "PASS"
    prod = world.production()
    assert prod.canary is None and prod.variables["slot"] == "green"


def test_an_undo_while_the_former_version_is_kept_takes_its_share_back_in_one_update(world: World) -> None:
    def turn_bad(now: float) -> None:
        if world.of("promoted"):
            world.traffic.live_error_rate = 0.2  # the stage's own requests: the promoted release now

    world.clock.on_sleep = turn_bad
    options = _options(world, guard_s=600, guard_keep_percent=10.0)
    assert world.shift(options, functions=FakeFunctions()) is Outcome.UNDONE
    log = world.stages.log
    switched = log.index(("switch", "production", "dep-live", "blue"))
    assert ("remove_canary", "production") not in log[switched - 1 :]  # the kept share went in the switch
    prod = world.production()
    assert prod.canary is None and prod.variables["slot"] == "blue" and prod.deployment_id == "dep-live"


def _kept_stage() -> tuple[FakeStages, FakeClock]:
    """Production just after a promotion of green, with blue kept on 10 % beside it (a run that stopped)."""
    clock = FakeClock()
    stages = FakeStages(clock)
    stages.promote_canary("production", "dep-new", "green", {"controller_promoted": _record()})
    stages.set_slot("staging", "blue")
    keep_former(CFG, stages, "blue", "dep-live", 10.0)
    return stages, clock


def _record() -> str:
    return "from=blue,to=green,deployment=dep-live,sha=blue-sha,rev=blue-rev-1,at=1"


def test_promote_refuses_the_former_version_kept_beside_a_promotion() -> None:
    stages, clock = _kept_stage()
    before = stages.get("production")
    lock = StageLock(stages, "production", ttl_s=120, holder="me:1", clock=clock)
    with pytest.raises(StateConflict, match="former version kept beside a guarded promotion"):
        promote(CFG, stages, None, lock, Recorder())  # type: ignore[arg-type]
    assert stages.get("production") == before


def test_rollback_removes_the_kept_share_and_keeps_the_deployment_undo_needs() -> None:
    stages, _ = _kept_stage()
    deployments = _Deployments()
    assert rollback(CFG, stages, deployments, Recorder()) is Outcome.ROLLED_BACK
    assert stages.get("production").canary is None and deployments.deleted == []


def test_undo_takes_the_kept_share_back_but_refuses_any_other_canary() -> None:
    stages, clock = _kept_stage()
    undo(CFG, stages, _Deployments(), FakeFunctions(), Recorder(), "manual undo", clock)
    prod = stages.get("production")
    assert prod.canary is None and prod.variables["slot"] == "blue"
    stages, clock = _kept_stage()
    stages.remove_canary("production")
    stages.create_canary("production", "dep-live", "blue", 10.0)  # a canary, not the kept former version
    with pytest.raises(StateConflict, match="finish it with promote or rollback"):
        undo(CFG, stages, _Deployments(), FakeFunctions(), Recorder(), "manual undo", clock)


def test_the_guard_stops_when_the_kept_share_changed_under_it() -> None:
    stages, _ = _kept_stage()
    wait = Wait(0.0, 0.0, 10.0, promoted=True)
    check_stage(CFG, stages.get("production"), SLOTS, wait)  # as the runner left it
    stages.set_canary_percent("production", 50.0)
    with pytest.raises(StateConflict, match="expected green live and 10% on blue beside it"):
        check_stage(CFG, stages.get("production"), SLOTS, wait)
    stages.remove_canary("production")
    with pytest.raises(StateConflict, match="production changed under the guard"):
        check_stage(CFG, stages.get("production"), SLOTS, wait)


def test_the_observer_reads_the_release_as_the_canary_while_the_former_version_is_kept() -> None:
    stages, clock = _kept_stage()
    traffic = TrafficModel(stages, requests_per_period=1000, candidate_error_rate=0.0, live_error_rate=0.1)
    observer = Observer(CFG, traffic, _NoAlarms(), stages, Recorder(), SLOTS, 60.0, former_beside=True)
    assert observer.request.functions.candidate == CFG.slot("blue").function_name  # behind the canary
    tick = observer.observe(clock() + 600, clock())
    sample = tick.samples[-1]
    # The stage's own requests (90 %, erring 10 %) are the promoted release's; its canary's, the former's.
    assert sample.canary.requests > 8 * sample.baseline.requests
    assert sample.canary.errors_5xx > 0 and sample.baseline.errors_5xx == 0
    assert KEPT_VARIABLE in stages.get("production").canary.overrides


class _NoAlarms:
    names: tuple[str, ...] = ()

    def states(self) -> dict[str, str]:
        return {}


class _Deployments:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def list(self):
        return []

    def in_use(self) -> set[str]:
        return set()

    def delete(self, deployment_id: str) -> None:
        self.deleted.append(deployment_id)


def test_status_says_the_canary_is_the_former_version_kept_beside_a_promotion() -> None:
    stages, clock = _kept_stage()
    events = Recorder()
    status(CFG, stages, _NoAlarms(), events, clock)
    (record,) = events.records
    assert record["phase"] == "guarding a promotion (the former version kept beside it)"
    assert record["production"]["canary"]["slot"] == "blue"


def test_shift_refuses_to_resume_the_former_version_kept_beside_a_stopped_guard() -> None:
    stages, _ = _kept_stage()
    production, staging = stages.get("production"), stages.get("staging")
    with pytest.raises(StateConflict, match="not a release to resume: run `python -m controller rollback`"):
        resolve_slots(CFG, production, staging, Recorder())


class _RecordingWorld:
    """A bench world that notes the canary share each period was drawn at."""

    def __init__(self, world) -> None:
        self.world = world
        self.shares: list[np.ndarray] = []

    def __getattr__(self, name: str):
        return getattr(self.world, name)

    def period(self, t, idx, share, latency=True):
        self.shares.append(np.array(share, dtype=float))
        return self.world.period(t, idx, share, latency)


@pytest.mark.parametrize(("keep", "share"), [(25.0, 0.75), (0.0, 1.0)])
def test_the_bench_serves_a_guarded_release_the_share_shift_leaves_it(keep: float, share: float) -> None:
    from bench.judge_sim import ScenarioWorld, play
    from bench.ours import Ours
    from bench.scenarios import identical
    from bench.streams import Streams

    ours = Ours(guard_keep_percent=keep)
    world = _RecordingWorld(ScenarioWorld(identical(0.005, 50, 1), Streams(6, 30, 3)))
    outcome = play(ours, world)
    assert outcome.promoted.all()
    # The ramp's shares stay under 100 %; the guard's draws are the promoted release's share, all alike.
    drawn = np.concatenate(world.shares)
    assert np.isclose(drawn, share).sum() >= 6 * 10  # ten guard periods of each of the six runs, at least
    assert not (keep and np.isclose(drawn, 1.0).any())


def test_shift_warns_when_the_guard_keep_split_has_no_slow_requests_to_read(world: World) -> None:
    # Fixed steps without the judge read no slow-request threshold (no --slow-ms, no history used).
    world.shift(_options(world, guard_s=120, guard_keep_percent=10.0, judge=False), functions=FakeFunctions())
    assert any("--guard-keep: no slow-request threshold" in w["message"] for w in world.of("warning"))


def test_with_per_slot_lambda_metrics_the_former_function_also_serves_staging() -> None:
    from controller.measurement import LAMBDA_PER_SLOT, SourceCheck

    stages, clock = _kept_stage()
    # After the promotion green is live and blue, the former version, serves the kept share and staging;
    # no canary dimension, so the per-slot functions decide.
    traffic = TrafficModel(
        stages,
        requests_per_period=1000,
        live_error_rate=0.1,
        staging_requests_per_period=200,
        live_function=CFG.slot("green").function_name,
        candidate_function=CFG.slot("blue").function_name,
        canary_dimension=False,
    )
    source = SourceCheck(source=LAMBDA_PER_SLOT, decided=True)
    observer = Observer(
        CFG, traffic, _NoAlarms(), stages, Recorder(), SLOTS, 60.0, source=source, former_beside=True
    )
    sample = observer.observe(clock() + 600, clock()).samples[-1]
    # The release: green's every invocation; the former version: blue's, less staging's 200.
    assert 850 < sample.canary.requests < 1000 and sample.canary.errors_5xx > 0
    assert 80 < sample.baseline.requests < 120 and sample.baseline.errors_5xx == 0
