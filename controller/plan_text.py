"""The dry run's plan, in words: what `shift` would do, with nothing changed."""

from __future__ import annotations

from controller.aws.stage import StageState
from controller.config import ControllerConfig
from controller.event_types import PlanShown
from controller.guard import P99_SLACK_MS
from controller.judge import JudgeConfig
from controller.shift_options import ShiftOptions
from controller.traffic import Slots


def plan_lines(
    cfg: ControllerConfig,
    options: ShiftOptions,
    slots: Slots,
    production: StageState,
    alarm_states: dict[str, str],
) -> list[str]:
    plan, t = options.policy.plan, options.policy.thresholds
    live_v = cfg.slot(slots.live).version_label
    cand_v = cfg.slot(slots.candidate).version_label
    canary = production.canary
    start = plan.first_step_at_or_above(canary.percent) if canary is not None else 0
    lines = [
        f"Plan (dry run, nothing changed) for {cfg.api_name} stage {cfg.production_stage}:",
        f"  live slot {slots.live} {live_v} (deployment {slots.live_deployment})",
        f"  candidate {slots.candidate} {cand_v} "
        + (
            f"(the canary's deployment {slots.candidate_deployment})"
            if canary is not None
            else f"(a new deployment: a snapshot of the API definition {cfg.staging_stage} serves, "
            f"deployment {slots.candidate_deployment} now)"
        ),
    ]
    if canary is not None:
        lines.append(f"  resume: canary already at {canary.percent:g}%, continuing from step {start + 1}")
    for index, step in enumerate(plan.steps[start:], start=start + 1):
        lines.append(f"  step {index}/{len(plan.steps)}: {step.percent:g}% for {step.bake_s:g}s")
    if plan.adaptive:
        lines.append(
            "  adaptive: the ramp sizes the share after each judged metric period; the judge's PASS "
            f"promotes, its FAIL rolls back; undecided after {plan.max_duration_s:g}s rolls back"
        )
    lines += [
        f"  then promote: production -> {slots.candidate}; staging -> {slots.live}",
        f"  ticks every {options.policy.interval_s:g}s; metric period {cfg.metrics.period_seconds}s",
        f"  built-in thresholds: canary 5xx <= {t.max_5xx_rate:.1%}"
        + ("" if plan.adaptive else f" and <= {t.max_5xx_ratio:g}x baseline")
        + (f"; p99 <= {t.max_p99_ms:g} ms" if t.max_p99_ms else "")
        + ("" if plan.adaptive else f"; p99 <= {t.max_p99_ratio:g}x baseline + {t.p99_slack_ms:g} ms")
        + ("" if plan.adaptive and not t.max_p99_ms else " (p90 in periods under 100 requests)")
        + ("" if plan.adaptive else f"; >= {t.min_requests} requests per step"),
        "  alarms: " + (", ".join(f"{n} ({s})" for n, s in alarm_states.items()) or "none configured"),
    ]
    for gate in options.user_gates:
        lines.append(f"  gate {gate.describe()}")
    if options.judge:
        lines.append("  statistical judge: on (a FAIL verdict rolls back)")
        if options.min_observation_s:
            periods = options.judge_config().min_periods
            lines.append(f"  minimum observation: {periods} metric periods before the judge may pass")
        margin = options.margin
        lines.append(
            f"  smallest regression: {margin.ratio:g}x the baseline's 5XX rate "
            f"or {margin.increase:.2%} above it"
        )
        judge_config = options.judge_config()
        severe = options.latency_severe_ratio
        at_once = (
            f", one above {severe:g}x rolls back at once (--latency-severe-ratio)"
            if severe is not None
            else " (--latency-severe-ratio off)"
        )
        lines.append(
            f"  latency: a period breaches where a canary percentile is above {options.latency_ratio:g}x the "
            f"baseline's + {judge_config.latency_tolerance_ms:g} ms; {judge_config.latency_breach_periods} "
            f"in a row roll back (--latency-ratio){at_once}"
        )
        lines.append(f"  slow requests: {_slow_source(options, judge_config)}")
        widest = judge_config.widest_regression_ratio
        if judge_config.horizon_periods is not None and widest > margin.ratio:
            lines.append(
                f"  time limit: {judge_config.horizon_periods} metric periods judged; where the traffic left "
                f"cannot resolve that regression in time, the judge widens it, at most to {widest:g}x; where "
                f"the {margin.increase:.2%} makes it wider than {widest:g}x, the judge holds the canary to "
                f"{widest:g}x where the traffic resolves that, else to the narrowest ratio between the two "
                f"that it resolves (--fixed-margin: neither)"
            )
        if options.baseline_history_s:
            lines.append(
                "  lasting noise: where the live version's history shows 5XX bursts lasting several periods, "
                "the judge carries them, and the time limit may widen the margin past 2x (--lasting-noise)"
                if judge_config.lasting_noise
                else "  lasting noise: ignored, periods taken as independent (--lasting-noise ignore)"
            )
            lines.append(
                "  outliers: where the live version's history shows 5XX spikes its noise cannot explain, the "
                "judge and the guard cap each period's evidence for their share (--outliers)"
                if judge_config.outlier_cap
                else "  outliers: ignored, every period's evidence counts whole (--outliers ignore)"
            )
        if judge_config.horizon_periods is not None:
            last_look = (
                f"  at the time limit: an undecided release is promoted if a fixed-sample test rejects a "
                f"regression at the margin at {judge_config.limit_beta:g}, else rolled back (--limit-test)"
                if judge_config.limit_beta is not None
                else "  at the time limit: an undecided release is rolled back (--limit-test off)"
            )
            lines.append(last_look)
        narrowest = judge_config.narrowest_regression_ratio
        if judge_config.horizon_periods is not None and narrowest is not None and options.baseline_history_s:
            lines.append(
                f"  narrower where the traffic allows: as narrow as {narrowest:g}x where the traffic left "
                f"resolves it (--narrowest-ratio off: never below the margin)"
            )
        window = options.baseline_history_s
        if window > 0:
            use = (
                "trusted by the fail test too, while today's baseline agrees with it"
                if options.trust_history
                else "for the pass test and the ramp only (--no-trust-baseline-history)"
            )
            lines.append(f"  baseline history: the live version's last {window / 3600:g} h, {use}")
        else:
            lines.append("  baseline history: none (--baseline-history 0)")
    if options.guard_s > 0:
        guard = options.guard_settings()
        slow = (
            ""
            if guard.slow_alpha is None
            else f", and slow requests (at most {1 + guard.slow_tolerance:g}x its share beside the canary)"
        )
        p99 = (
            ""
            if guard.p99_ratio is None
            else f" and p99 (at most {guard.p99_ratio:g}x + {P99_SLACK_MS:g} ms the higher of its day's and "
            "its p99 beside the canary)"
        )
        alone = "the promoted release alone" if not guard.keep_percent else "the promoted release"
        kept = (
            ""
            if not guard.keep_percent
            else f", and its slow requests against the former version's, kept on {guard.keep_percent:g}% of "
            f"production beside it (at most {1 + JudgeConfig.latency_slow_tolerance:g}x its share)"
        )
        lines.append(
            f"  then guard: {alone} for {options.guard_s:g}s against the former version's "
            f"5XX rate (at most {guard.ratio:g}x it){p99}{slow}{kept}; a regression undoes the promotion "
            "(--guard 0: off)"
        )
    for hook, command in options.hooks.items():
        lines.append(f"  {hook} hook: {command}")
    return lines


def _slow_source(options: ShiftOptions, judge_config: JudgeConfig) -> str:
    """Where the judge's slow-request threshold comes from (the history's p99 is read when the run starts)."""
    if not options.slow_test or judge_config.latency_slow_alpha is None:
        return "not tested (--slow-ms off): the latency check reads percentiles alone"
    share = (
        f"beyond {1 + judge_config.latency_slow_tolerance:g}x the live version's share fails, at a "
        f"false-rollback rate of {judge_config.latency_slow_alpha:g}"
    )
    if options.slow_threshold_ms is not None:
        return f"above {options.slow_threshold_ms:g} ms (--slow-ms); {share}"
    if options.baseline_history_s > 0:
        return (
            f"above the live version's p99 over its last {options.baseline_history_s / 3600:g} h, read when "
            f"the rollout starts (--slow-ms); {share}"
        )
    return "not tested: no --slow-ms and no baseline history to take the live version's p99 from"


def plan_event(
    cfg: ControllerConfig,
    options: ShiftOptions,
    slots: Slots,
    production: StageState,
    alarm_states: dict[str, str],
) -> PlanShown:
    """The dry run's one event: the plan in words and in numbers."""
    steps = options.policy.plan.steps
    return PlanShown(
        lines=tuple(plan_lines(cfg, options, slots, production, alarm_states)),
        live_slot=slots.live,
        candidate_slot=slots.candidate,
        steps=tuple(s.percent for s in steps),
        bakes_s=tuple(s.bake_s for s in steps),
        alarms=alarm_states,
    )
