"""The guard's split test (`shift --guard-keep`): the promoted release against the former version, kept on a
small share of production beside it while the guard watches.

After a plain promotion no version serves beside the new release, so the guard can hold it only to fixed
references (controller/guard.py): the former version's day and what it served beside the canary. A shared
dependency that slows for a few minutes then looks like a regression of the release, which is why the
guard's p99 check allows 1.5x + 25 ms and its slow-request test (`--guard-slow`) is an option. Kept beside
the release, the former version is a concurrent baseline again, and the judge's split test on slow
requests (controller/judge/slow.py) reads the release's share of them against the former version's in the
same periods: a slow spell that hits both cancels, and a tail that slows 1.3x after the promotion shows.

The test is the judge's, fresh at the promotion, at the judge's slow-request false-rollback rate and
tolerance, with the weights (`weights` of JudgeConfig) unchanged and the restarts spread evenly over the
guard's periods, as the guard's own tests spread theirs (controller/judge/onset.py): a release that slows
in the guard's sixth minute does not first win back what the five healthy ones cost every bet.

The split needs requests on both sides: at 10 % kept, the former version's tail is read from a tenth of the
traffic, so the test sees a late slowdown of a busy service, and at a few requests a second it sees little;
the guard's fixed-reference checks run as before either way.
"""

from __future__ import annotations

from dataclasses import replace

from controller.domain import WindowStats
from controller.judge.config import JudgeConfig
from controller.judge.slow import SlowRequestTest


class GuardSplitTest:
    """Fed once per guard period with the release's and the former version's periods."""

    def __init__(self, config: JudgeConfig, periods: int) -> None:
        """`config`: the judge's (its slow-request test's level and tolerance); `periods`: the guard's length
        in metric periods, over which the restarts are spread."""
        periods = max(1, periods)
        late = 1 - 1 / periods
        self.config = replace(config, late_onset_share=late, late_onset_periods=periods - 1)
        assert self.config.latency_slow_alpha is not None, "the split test is the slow-request test"
        self.slow = SlowRequestTest(self.config)

    @classmethod
    def of(cls, config: JudgeConfig | None, periods: int) -> GuardSplitTest | None:
        """The test, or None where the judge runs no slow-request test (`--slow-ms off`, `--no-judge`)."""
        if config is None or config.latency_slow_alpha is None:
            return None
        return cls(config, periods)

    def observe(self, release: WindowStats, former: WindowStats) -> str:
        """One period; the reason the release fails ("" while it does not)."""
        if release.slow_requests is None or former.slow_requests is None:
            return ""  # not measured (no slow-request threshold): the period says nothing
        self.slow.observe((release.requests, release.slow_requests), (former.requests, former.slow_requests))
        return self.reason() if self.slow.failed else ""

    @property
    def e_value(self) -> float:
        return self.slow.e_value

    def reason(self) -> str:
        release, former = self.slow.shares()
        return (
            f"slow requests {_pct(release)} of {self.slow.canary_requests} against the former version's "
            f"{_pct(former)} of {self.slow.baseline_requests} beside it: evidence {self.e_value:.0f} against "
            f"'at most {self.slow.null_ratio:g}x its share' reached {self.slow.threshold:.0f}"
        )


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.2%}"
