"""The scenario family run: peers tuned per cell on the tuning split, every policy scored on one split.

Each run lasts 30 one-minute periods (bench.judge_sim.play), and a guard watching a release promoted near
the end goes on past them for the rest of its periods. A rollout still undecided at 30 minutes counts
as rolled back, for every policy (the controller rolls it back when its bake time runs out): in an
identical cell it is a false rollback, in a regression cell a detection. Failed requests are the canary's
5XX responses until the rollback, or until minute 30 (after a promotion the canary serves everything).

Each peer is tuned per cell, on the tuning split of the cell's identical twin: its most sensitive threshold
with at most 1 % false rollbacks there (bench.judge_sim.tune), one for its 5XX check and one for its p99
check. A cell spans services whose usual error rates differ up to fivefold, and an operator sets an alarm
for their own service: the 5XX thresholds are therefore multiples of each run's usual figure (its rate over
the day before: CodeDeploy's alarms, Flagger's check; its usual 5-minute count: the recipe's sum), the
multiple tuned per cell. Kayenta's split test needs no unit; the p99 checks are absolute (every run's
baseline p99 is 100 ms). Error regressions are then judged with the tuned 5XX check alone, latency
regressions with the tuned p99 check alone (the recipe has none and keeps its 5XX check). An operator
also sets how a check turns into a rollback: how many of how many periods a CloudWatch alarm (CodeDeploy's
checks) must see breach, how many failed checks Flagger's analysis tolerates, how many intervals Kayenta's
analysis judges. Each check is tuned on the twin under every such setting (`Policy.variants`; in
bench.policies: every M of N within five periods, ALARM_DATAPOINTS; FLAGGER_FAILED_CHECKS;
KAYENTA_INTERVALS), and in each regression cell the peer takes the one that fails the fewest requests on
that cell's tuning split. A
peer whose setting rolls back more than 1 % of the twin's runs in the scored split is not eligible as the
cell's best peer; both rates are reported. (A setting tuned to exactly 1 % on one split exceeds 1 % on
another about half the time: `best_peer(eligible_only=False)` is the comparison without that filter.)

Ours runs one configuration everywhere (`Ours()` unless another factory is passed), tuned on nothing here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from bench.family import Cell
from bench.family_oracle import DETECT_STRONG, detection_ceiling, false_rollback_floor
from bench.family_streams import FAMILY_NOISE, FamilyWorld, NoiseShape
from bench.judge_sim import FRR_TARGET, Outcome, PeerSetting, choose_setting, play, tune_peers
from bench.ours import Ours
from bench.policies import PEERS, Checks, Policy, Variant
from bench.scenarios import sprt_limit_failed
from bench.streams import PERIOD_S


@dataclass
class PolicyResult:
    """One policy in one cell. Rates are shares of the cell's runs."""

    rollback_rate: float  # rolled back, or undecided at 30 minutes
    undecided_rate: float  # of which undecided
    promotion_rate: float  # promoted within 30 minutes (undone by a guard afterwards included)
    escaped_before_onset: float  # promoted before the regression switched on (regression cells; else 0)
    detection_before_promotion: float | None  # regression cells: rolled back among runs not escaped
    failed_requests_mean: float
    failed_requests_p95: float
    time_to_rollback_s_mean: float | None  # explicit rollbacks only
    time_to_promote_s_mean: float | None
    canary_requests_to_decision_mean: float
    # Regression cells: the detection goals' figure, the runs rolled back before promotion or undone by the
    # guard after the onset, among those not escaped (a release that turns bad in the last minutes before
    # its promotion is out of any canary judge's reach; the guard's watch after it is what catches it).
    detection: float | None = None
    # Regression cells: promoted less than one metric period after the onset and not undone, among the runs
    # not escaped (misses no per-period judge could have seen whole: the regression showed in at most a part
    # of the last period it judged).
    promoted_within_a_period_of_onset: float | None = None
    # Promoted, then undone by the guard (`shift --guard`; past minute 30 too, for a release promoted near
    # it); in a regression cell only once the regression had switched on (a late catch).
    undone_rate: float = 0.0
    # Regression cells: promoted, then undone before the regression switched on (a healthy release undone,
    # as false as one undone in an identical cell).
    undone_before_onset: float = 0.0
    mode: str | None = None  # peers: the check that judged the cell ("error" | "latency")
    threshold: str | None = None
    datapoints: list[int] | None = None  # CloudWatch alarms' peers: the alarm's M of N periods
    failed_checks: int | None = None  # Flagger: failed checks before a rollback
    intervals: int | None = None  # Kayenta: one-minute intervals judged before a promotion
    tuned_false_rollback_rate: float | None = None  # peers: on the tuning split of the identical twin
    twin_false_rollback_rate: float | None = None  # peers: the same setting on the scored split's twin
    false_rollback_rate_by_check: dict[str, float] | None = None  # peers in identical cells, per check

    @property
    def false_rollback_rate(self) -> float:
        """In an identical cell: rolled back, undecided at 30 minutes, or promoted and then undone by the
        guard (a healthy release put back is as false a rollback as one never promoted)."""
        return self.rollback_rate + self.undone_rate

    @property
    def eligible(self) -> bool:
        """A peer may be the best peer only where its tuning held 1 % on the scored split's twin."""
        return self.twin_false_rollback_rate is not None and self.twin_false_rollback_rate <= FRR_TARGET

    def to_json(self) -> dict:
        out = asdict(self)
        if self.mode is not None:
            out["eligible"] = self.eligible
        return out


@dataclass
class CellResult:
    cell: Cell
    split: str
    runs: int
    wald_failed_mean: float | None  # Wald's SPRT limit, per run (its own p0, p1), averaged: onset-0 errors
    policies: dict[str, PolicyResult] = field(default_factory=dict)
    seconds: float = 0.0
    detection_ceiling: float | None = None  # error regressions: an oracle's mean power (bench.family_oracle)
    false_rollback_floor: float | None = None  # identical cells: the oracle's fewest false rollbacks

    @property
    def ours(self) -> PolicyResult:
        return self.policies["ours"]

    def best_peer(self, eligible_only: bool = True) -> tuple[str, PolicyResult] | None:
        """The eligible peer with the fewest mean failed requests (`eligible_only=False`: any tuned peer,
        whatever its false rollbacks on this split's twin)."""
        peers = [(n, p) for n, p in self.policies.items() if n in PEERS and (p.eligible or not eligible_only)]
        return min(peers, key=lambda item: item[1].failed_requests_mean) if peers else None

    def to_json(self) -> dict:
        return {
            **self.cell.to_json(),
            "split": self.split,
            "runs": self.runs,
            "wald_failed_requests_mean": self.wald_failed_mean,
            "detection_ceiling": self.detection_ceiling,
            "false_rollback_floor": self.false_rollback_floor,
            "policies": {name: p.to_json() for name, p in self.policies.items()},
        }


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def summarise(outcome: Outcome, world: FamilyWorld) -> PolicyResult:
    rolled = outcome.rolled_back
    regression = world.cell.kind != "identical"
    escaped = outcome.promoted & (outcome.decided_s <= world.onset_s) if regression else np.zeros_like(rolled)
    before_promotion = (rolled | outcome.undecided)[~escaped]
    late_catch = _undone_after_onset(outcome, world) if regression else np.zeros_like(rolled)
    caught = (rolled | outcome.undecided | late_catch)[~escaped]
    soon = (
        outcome.promoted
        & ~late_catch
        & (outcome.decided_s > world.onset_s)
        & (outcome.decided_s < world.onset_s + PERIOD_S)
    )
    undone = _undone(outcome, world, regression)
    return PolicyResult(
        rollback_rate=float((~outcome.promoted).mean()),
        undecided_rate=float(outcome.undecided.mean()),
        promotion_rate=float(outcome.promoted.mean()),
        escaped_before_onset=float(escaped.mean()),
        detection_before_promotion=(
            (float(before_promotion.mean()) if before_promotion.size else None) if regression else None
        ),
        detection=(float(caught.mean()) if caught.size else None) if regression else None,
        failed_requests_mean=float(outcome.failed.mean()),
        failed_requests_p95=float(np.percentile(outcome.failed, 95)),
        time_to_rollback_s_mean=_mean_or_none(outcome.decided_s[rolled]),
        time_to_promote_s_mean=_mean_or_none(outcome.decided_s[outcome.promoted]),
        canary_requests_to_decision_mean=float(outcome.canary_requests.mean()),
        promoted_within_a_period_of_onset=(
            (float(soon[~escaped].mean()) if caught.size else None) if regression else None
        ),
        undone_rate=undone.after_onset,
        undone_before_onset=undone.before_onset,
    )


@dataclass(frozen=True)
class _Undone:
    after_onset: float = 0.0  # in an identical cell: every undo
    before_onset: float = 0.0


def _undone_after_onset(outcome: Outcome, world: FamilyWorld) -> np.ndarray:
    """Per run: promoted, then undone by the guard once the regression had switched on."""
    if outcome.undone_s is None:
        return np.zeros(outcome.promoted.shape, dtype=bool)
    return outcome.undone & (outcome.undone_s > world.onset_s)


def _undone(outcome: Outcome, world: FamilyWorld, regression: bool) -> _Undone:
    """The guard's undos, split at the onset in a regression cell: an undo whose last judged period ended
    by the onset judged only healthy minutes."""
    if outcome.undone_s is None:
        return _Undone()
    if not regression:
        return _Undone(float(outcome.undone.mean()))
    early = outcome.undone_s <= world.onset_s  # False where not undone (NaN)
    return _Undone(float((outcome.undone & ~early).mean()), float(early.mean()))


def wald_limit(cell: Cell, world: FamilyWorld) -> float | None:
    """Wald's lower bound on the canary's failed requests for an error regression from the first request:
    each run's own p0 (today's base rate) and p1 = p0 x ratio (at most 100 %), averaged over the runs."""
    if cell.kind != "errors" or cell.change.onset.high > 0:
        return None
    p0 = world.draws.base_rate
    p1 = np.minimum(p0 * world.draws.ratio, 1 - 1e-9)
    return float(np.mean([sprt_limit_failed(a, b) for a, b in zip(p0.tolist(), p1.tolist(), strict=True)]))


Tuned = dict[str, dict[str, PeerSetting]]


def peer_units(world: FamilyWorld) -> dict[str, np.ndarray]:
    """Per peer, the per-run unit of its 5XX threshold (peers not named: absolute)."""
    rate = world.usual_error_rate()
    count = rate * world.draws.requests_per_s * 5 * PERIOD_S
    return {"recipe": count, "codedeploy_canary": rate, "codedeploy_linear": rate, "flagger": rate}


def tune_cell(twin: Cell, runs: int, seed: int = 0, noise: NoiseShape = FAMILY_NOISE) -> Tuned:
    """Every peer's settings for `twin` (an identical cell), tuned on its tuning split (in the same world:
    with the noise shape the cells are scored with)."""
    world = FamilyWorld(twin, runs, "tuning", seed, noise)
    return tune_peers(world, literal_note=False, error_units=peer_units(world))


def _with_unit(checks: Checks, mode: str, unit: np.ndarray | None) -> Checks:
    """Tuned checks, with the 5XX threshold's unit taken from the world they now run in."""
    if mode == "error" and unit is not None:
        return replace(checks, error_unit=unit)
    return checks


def _twin_rates(
    peer: str,
    cls: type[Policy],
    settings: dict[str, PeerSetting],
    world: FamilyWorld,
    units: dict[str, np.ndarray],
    twin_frr: TwinRates,
) -> dict[str, float]:
    """Every setting of `peer` on an identical cell: records each one's false-rollback rate in `twin_frr`;
    returns the one-period settings' rates by check (what the cell's row reports)."""
    by_check = {}
    for mode, setting in settings.items():
        for candidate in (setting, *setting.alternatives):
            policy = cls(_with_unit(candidate.checks, mode, units.get(peer)))
            rate = float((~play(policy, world).promoted).mean())
            twin_frr[(peer, mode, candidate.checks.variant)] = rate
            if candidate is setting:
                by_check[mode] = rate
    return by_check


def _peer_mode(cell: Cell, settings: dict[str, PeerSetting]) -> str:
    return "latency" if cell.kind == "latency" and "latency" in settings else "error"


# A setting's false-rollback rate on the scored split's twin, by (peer, check, `Checks.variant`).
TwinRates = dict[tuple[str, str, Variant], float]


def run_cell(
    cell: Cell,
    split: str,
    runs: int,
    tuned: Tuned,
    twin_frr: TwinRates,
    seed: int = 0,
    ours: Callable[[], Policy] = Ours,
    noise: NoiseShape = FAMILY_NOISE,
) -> CellResult:
    """Ours and every tuned peer on `cell`'s runs in `split`. For an identical cell, `twin_frr` is filled
    with every peer setting's false-rollback rate; for a regression cell it is read (the twin ran first).

    In a regression cell, a peer with `alternatives` (a CloudWatch alarm's M of N periods, Flagger's
    failed-check threshold, Kayenta's intervals) takes the setting that fails the fewest requests on the
    cell's tuning split, as an operator who knew the regression would set it; the split scored is another
    draw unless it is the tuning split itself."""
    started = time.perf_counter()
    world = FamilyWorld(cell, runs, split, seed, noise)
    result = CellResult(cell, split, runs, wald_limit(cell, world))
    result.detection_ceiling = detection_ceiling(world, FRR_TARGET)
    result.false_rollback_floor = false_rollback_floor(world, 1 - DETECT_STRONG)
    result.policies["ours"] = summarise(play(ours(), world), world)
    units = peer_units(world)
    choosing: tuple[FamilyWorld, dict[str, np.ndarray]] | None = None  # the cell's tuning split, its units
    for peer, cls in PEERS.items():
        settings = tuned[peer]
        mode = _peer_mode(cell, settings)
        setting = settings[mode]
        if cell.kind != "identical" and setting.alternatives:
            if choosing is None:
                tuning = world if split == "tuning" else FamilyWorld(cell, runs, "tuning", seed, noise)
                choosing = tuning, peer_units(tuning)
            unit = choosing[1].get(peer)

            def make(checks: Checks, cls=cls, mode=mode, unit=unit) -> Policy:
                return cls(_with_unit(checks, mode, unit))

            setting = choose_setting(setting, make, choosing[0])
        row = summarise(play(cls(_with_unit(setting.checks, mode, units.get(peer))), world), world)
        row.mode, row.threshold = mode, setting.text
        datapoints, failed_checks, intervals = cls.varied()
        row.datapoints = list(setting.checks.datapoints) if datapoints else None
        row.failed_checks = setting.checks.failed_checks if failed_checks else None
        row.intervals = setting.checks.intervals if intervals else None
        row.tuned_false_rollback_rate = setting.frr
        if cell.kind == "identical":
            row.false_rollback_rate_by_check = _twin_rates(peer, cls, settings, world, units, twin_frr)
        row.twin_false_rollback_rate = twin_frr[(peer, mode, setting.checks.variant)]
        result.policies[peer] = row
    result.seconds = time.perf_counter() - started
    return result


def run_family(
    cells: list[Cell],
    split: str = "evaluation",
    runs: int = 2000,
    seed: int = 0,
    ours: Callable[[], Policy] = Ours,
    log: Callable[[str], None] = print,
    jobs: int = 1,
    noise: NoiseShape = FAMILY_NOISE,
) -> list[CellResult]:
    """Every cell of `cells` (which must hold each regression cell's identical twin), in family order.

    `jobs` > 1 runs that many twins' families at once in worker processes; every cell draws from its own
    seed, so the results are the same as with one job. `noise`: outside the family, how the per-minute noise
    factors are drawn (FamilyWorld)."""
    names = {c.name for c in cells}
    missing = sorted({c.twin.name for c in cells} - names)
    if missing:
        raise ValueError(f"the identical twin of a chosen cell is missing: {missing[0]}")
    families = [
        [twin, *(c for c in cells if c.kind != "identical" and c.twin.name == twin.name)]
        for twin in cells
        if twin.kind == "identical"
    ]
    results: dict[str, CellResult] = {}

    def record(done: list[CellResult], seconds: float) -> None:
        for result in done:
            results[result.cell.name] = result
            log(_progress(result))
        log(f"  ({len(done)} cells on this twin in {seconds:.1f} s)")

    if jobs <= 1:
        for members in families:
            record(*_run_twin_family(members, split, runs, seed, ours, noise))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_run_twin_family, m, split, runs, seed, ours, noise) for m in families]
            for future in as_completed(futures):
                record(*future.result())
    return [results[c.name] for c in cells]


def _run_twin_family(
    members: list[Cell], split: str, runs: int, seed: int, ours: Callable[[], Policy], noise: NoiseShape
) -> tuple[list[CellResult], float]:
    """An identical twin (first) and its regression cells, with the peers tuned on the twin."""
    started = time.perf_counter()
    tuned = tune_cell(members[0], runs, seed, noise)
    twin_frr: TwinRates = {}
    done = [run_cell(cell, split, runs, tuned, twin_frr, seed, ours, noise) for cell in members]
    return done, time.perf_counter() - started


def _progress(result: CellResult) -> str:
    ours = result.ours
    if result.cell.kind == "identical":
        what = f"false rollbacks {ours.false_rollback_rate:6.2%}"
    else:
        what = f"detected {ours.detection or 0:6.2%}"
    failed = ours.failed_requests_mean
    return f"  {result.cell.name:<76} ours {what}, failed {failed:8.1f}  {result.seconds:5.1f} s"
