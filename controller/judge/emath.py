"""The arithmetic the judge's tests share: likelihood ratios, rate bounds, mixtures of e-values."""

from __future__ import annotations

import math


def log_ratio_factor(x: int, e: int, w: float, psi: float, psi_ref: float) -> float:
    """log of P(x of e errors on the canary | psi) / P(same | psi_ref) for canary request share w."""
    return x * (math.log(psi) - math.log(psi_ref)) - e * (
        math.log(w * psi + 1 - w) - math.log(w * psi_ref + 1 - w)
    )


def rate_bound(errors: int, requests: int, sds: float) -> float:
    """A rough upper (sds > 0) or lower (sds < 0) bound on a rate; only sizes margins, never the guarantee."""
    if requests <= 0:
        return math.nan
    return max(0.0, errors + 1 + sds * math.sqrt(errors + 1)) / requests


def poisson_bound(errors: int, requests: int, z: float) -> float:
    """Upper (z > 0) or lower (z < 0) confidence bound on a rate from a count (Wilson-Hilferty)."""
    if requests <= 0:
        return math.nan
    k = errors + 1 if z > 0 else errors
    if k <= 0:
        return 0.0
    return max(0.0, k * (1 - 1 / (9 * k) + z / (3 * math.sqrt(k))) ** 3) / requests


def log_mix(weights: tuple[float, ...] | list[float], logs: list[float]) -> float:
    """log of sum(w * exp(l)), stable, for weights > 0 (an empty or all -inf mixture is -inf)."""
    live = [(w, lg) for w, lg in zip(weights, logs, strict=True) if w > 0 and lg > -math.inf]
    if not live:
        return -math.inf
    top = max(lg for _, lg in live)
    return top + math.log(sum(w * math.exp(lg - top) for w, lg in live))
