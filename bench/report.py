"""The judge benchmark's table and goal check, from the `bench/out/judge.json` document."""

from __future__ import annotations

import math

PEER_NAMES = ("recipe", "codedeploy_canary", "codedeploy_linear", "flagger", "kayenta")
FRR_LIMIT = 0.01
DETECTION_TARGET = 0.99
LIMIT_FACTOR = 2.0
PROMOTE_TARGET_S = 480.0


def best_peer(scenario: dict) -> tuple[str, float] | None:
    """The peer with the fewest failed requests among those holding <= 1 % false rollbacks where tuned."""
    held = [
        (name, p["failed_requests_mean"])
        for name, p in scenario["policies"].items()
        if name in PEER_NAMES and p.get("tuned_false_rollback_rate", 1.0) <= FRR_LIMIT
    ]
    return min(held, key=lambda item: item[1]) if held else None


VARIANT_LABELS = {
    "ours_strict": ("ours, strict", "fail test on the concurrent split alone"),
    "ours_without_history": ("ours, no history", "concurrent tests only: no baseline history"),
}


def _policy(scenario: dict, variant: str) -> dict:
    return scenario["policies"]["ours"] if variant == "ours" else scenario[variant]


def goals(document: dict, variant: str = "ours") -> list[dict]:
    """Every goal of the issue, measured for `variant` (ours, or a key of VARIANT_LABELS)."""
    out = []
    for s in document["scenarios"]:
        if variant != "ours" and variant not in s:
            return []
        ours = _policy(s, variant)
        if s["kind"] == "identical":
            out.append(
                _goal(f"{s['name']}: false rollbacks", ours["false_rollback_rate"], FRR_LIMIT, "<=", "share")
            )
            if s["requests_per_s"] >= 50:
                out.append(
                    _goal(
                        f"{s['name']}: mean time to promote (s)",
                        ours["time_to_promote_s_mean"],
                        PROMOTE_TARGET_S,
                        "<=",
                    )
                )
            continue
        limit = s.get("sprt_limit_failed_requests")
        if limit is not None:
            out.append(
                _goal(
                    f"{s['name']}: failed requests vs 2x SPRT limit",
                    ours["failed_requests_mean"],
                    LIMIT_FACTOR * limit,
                    "<=",
                )
            )
            out.append(
                _goal(f"{s['name']}: detection", ours["detection_rate"], DETECTION_TARGET, ">=", "share")
            )
        peer = best_peer(s)
        if peer is not None:
            out.append(
                _goal(
                    f"{s['name']}: failed requests vs best peer ({peer[0]})",
                    ours["failed_requests_mean"],
                    peer[1],
                    "<=",
                )
            )
    return out


def _goal(name: str, value: float | None, target: float, op: str, unit: str = "count") -> dict:
    met = value is not None and (value <= target if op == "<=" else value >= target)
    return {"goal": name, "value": value, "target": target, "op": op, "unit": unit, "met": bool(met)}


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if unit == "share" else f"{value:.1f}"


def _num(value: float | None, fmt: str) -> str:
    width = int(fmt.split(".")[0])
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-".rjust(width)
    return format(value, fmt)


def _row(label: str, p: dict, kind: str) -> str:
    cells = [
        f"{label:<18}",
        _num(p["failed_requests_mean"], "8.1f"),
        _num(p["failed_requests_p95"], "7.1f"),
        _num(p["detection_rate"] if kind == "regression" else None, "7.1%"),
        _num(p["false_rollback_rate"], "8.2%"),
        _num(p["time_to_rollback_s_mean"], "10.0f"),
        _num(p["time_to_promote_s_mean"], "9.0f"),
        _num(p["canary_requests_to_decision_mean"], "10.0f"),
    ]
    return " ".join(cells)


def table(document: dict) -> str:
    lines = []
    header = (
        f"{'policy':<18} {'failed':>8} {'p95':>7} {'detect':>7} {'false rb':>8} {'t rollback':>10} "
        f"{'t promote':>9} {'canary req':>10}  threshold"
    )
    for s in document["scenarios"]:
        limit = s.get("sprt_limit_failed_requests")
        extra = f"  (SPRT limit {limit:.1f} failed, 2x = {2 * limit:.1f})" if limit else ""
        lines += ["", f"{s['name']} [{s['kind']}, {s['runs']} runs]{extra}", header]
        for name, p in s["policies"].items():
            lines.append(_row(name, p, s["kind"]) + f"  {p['threshold'] or ''}")
        for key, (label, note) in VARIANT_LABELS.items():
            if key in s:
                lines.append(_row(label, s[key], s["kind"]) + f"  ({note})")
    lines += ["", "Regressions: ours against the SPRT limit and the best peer at <= 1 % false rollbacks"]
    lines.append(f"{'scenario':<42} {'ours':>7} {'limit':>7} {'ratio':>6} {'best peer':>26} {'detect':>7}")
    for s in document["scenarios"]:
        if s["kind"] != "regression":
            continue
        ours = s["policies"]["ours"]
        limit = s.get("sprt_limit_failed_requests")
        peer = best_peer(s)
        ratio = ours["failed_requests_mean"] / limit if limit else None
        peer_text = f"{peer[0]} {peer[1]:.1f}" if peer else "-"
        lines.append(
            f"{s['name']:<42} {ours['failed_requests_mean']:7.1f} {_num(limit, '7.1f')} "
            f"{_num(ratio, '6.2f')} {peer_text:>26} {ours['detection_rate']:7.1%}"
        )
    for variant in ("ours", *VARIANT_LABELS):
        measured = goals(document, variant)
        if not measured:
            continue
        met = sum(g["met"] for g in measured)
        title = "ours (default)" if variant == "ours" else VARIANT_LABELS[variant][0]
        lines += ["", f"Goals, {title}: {met} of {len(measured)} met"]
        for g in measured:
            shown, target = _show(g["value"], g["unit"]), _show(g["target"], g["unit"])
            lines.append(f"  [{'met' if g['met'] else 'MISS'}] {g['goal']}: {shown} ({g['op']} {target})")
    return "\n".join(lines)
