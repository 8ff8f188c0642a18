"""The canary judge: continue, pass or fail, from what CloudWatch reports per metric period.

Pure and deterministic. The package: `config` (settings and priors), `core` (the Judge), `concurrent` (the
split and count tests against the concurrent baseline), `history` (tests against the baseline history),
`onset` (bets restarted in later periods), `horizon` and `margin` (the pass margin a time limit allows),
`limit_test` (the time limit's last look), `latency` and `slow` (the percentile check, the slow-request
test), `dispersion`, `noise` and `outliers` (the per-period noise, its persistence and its spikes, read off
the history), `emath` (shared arithmetic).

Feed it, once per metric period, the canary's and the baseline's `WindowStats` (request Count sum, 5XXError
sum, 4XXError sum, Latency p50/p90/p99 of that period, and optionally its slow requests):

    judge = Judge(JudgeConfig())          # one judge per rollout; it accumulates evidence
    judgement = judge.observe(canary, baseline)
    judgement.verdict                      # Verdict.CONTINUE | Verdict.PASS | Verdict.FAIL
    judgement.reason                       # one sentence for a human
    judgement.evidence                     # controller.domain.Evidence: the numbers behind it

Once a judgement is PASS or FAIL the judge keeps returning it.

Error rate (the part with a guarantee)
---------------------------------------
The baseline's error rate is not known in advance and drifts, so the judge never estimates it. It tests the
*split* of errors between the versions: within one period, given that an error happened, it came from the
canary with probability q = w*psi / (w*psi + 1 - w), where w is the canary's share of the period's requests
and psi = canary rate / baseline rate. The baseline rate cancels out, so the test holds whatever it is and
however it moves between periods (Lindon, Sanden, Shirikian, KDD 2022, test count processes this way).

* FAIL: a mixture of likelihood ratios over regressions psi_k > psi0 (psi0 = 1 + tolerance) against
  psi0. Under "canary no worse than tolerance" it is a nonnegative supermartingale with mean <= 1, so by
  Ville's inequality it ever reaches 1/alpha with probability <= alpha, however often it is looked at
  (anytime-valid; no peeking penalty). The mixture is the prior over regressions (`alternatives`,
  `weights`): weight near a regression is what makes it fail after few errors; the default spreads it
  evenly over ratios from 1.25x to 100x and the regression margin (`margin_weight`), favouring none
  (a prior peaked on the named scenarios' ratios did no better on the scenario family). Everything the
  mixture needs is known before the period it bets on (psi0 and the margin use only earlier baseline
  counts), which keeps the supermartingale property.
* NOISE: production error rates vary from minute to minute more than binomial sampling explains (bursts,
  retries, a noisy dependency). The judge estimates that extra variance, as a squared coefficient of
  variation c2 of each period's rate, from the live version's per-period history (`BaselineHistory.
  per_period`, the controller reads 24 h of one-minute points) at an upper confidence bound, never under
  `dispersion_floor` (controller/judge/dispersion.py). Every test then uses the overdispersed likelihood:
  beta-binomial for the split of a period's errors, negative binomial for one version's count
  (controller/judge/emath.py). Under such noise a binomial bet gains on average from noise alone; these
  stay supermartingales under the null with c2 noise. `overdispersion=False` restores the binomial ones.
* PASS: the likelihood ratio of "as good as the baseline" (psi = 1) against "a regression worth catching"
  (psi_pass = 1 + max(regression_relative, regression_absolute / baseline rate)) reaching 1/beta. A
  regression at or beyond that margin passes with probability <= beta. The absolute part keeps low-error
  APIs from needing hours of traffic to show that 0.1 % is not 0.15 %. It turns into a ratio through the
  baseline's rate as estimated from earlier periods (`margin_sds` above the estimate, default none), so
  for the absolute part beta holds up to that estimate's error, which shrinks as the baseline's errors
  accumulate; the relative part is exact.
* PASS on clean data: the split test learns nothing from a period in which neither version errs, so a
  clean service would never pass on it. A second pass test bets on the canary's own error count: a
  regression has canary rate >= q = b + max(b * regression_relative, regression_absolute) >= the absolute
  floor, whatever the baseline rate b is. With k errors in n canary requests, the likelihood ratio of a
  lower rate r*q against q, (r)^k ((1 - r*q) / (1 - q))^(n - k), is a nonnegative supermartingale for any
  canary rate >= q, and so is a mixture over r (`COUNT_RATIOS`: r = 0 passes a spotless canary fastest, in
  about ln(1/beta) / q requests, the others survive a few errors). q uses a low estimate of b (two
  standard deviations under the errors seen before the period), so the absolute floor is exact for any
  baseline and the baseline part holds up to that estimate's error, which is conservative by design.
* The two pass tests are combined as one e-process, (1 - COUNT_SHARE) * split + COUNT_SHARE * count,
  which PASSes at 1/beta: an average of supermartingales is one, so Ville's bound beta holds for the
  combination. It passes whenever the split test reaches 1/((1 - s) beta) or the count test 1/(s beta),
  i.e. it is never slower than the Bonferroni split of beta between "either test at its own boundary",
  and sooner when both hold some evidence. s = 0.2 keeps the split test (the one that works on erring
  services) within 0.22 nats of its old boundary; the count test pays ln 5 nats.

Baseline history (optional)
---------------------------
`Judge(config, history=BaselineHistory(requests, errors_5xx))` adds what the live version did before the
rollout (the controller reads the last 24 hours from CloudWatch). With at least `history_min_requests`
requests the baseline's rate is pinned between a lower and an upper confidence bound, each missing with
probability `history_bound_share` of beta or alpha, and one-sample tests bet on the canary's own counts
against those bounds: a canary that serves r times the baseline's rate is told apart after about
ln(1/alpha) / (r ln r - r + 1) of its errors, however small or large its share (the split test needs far
more at a large share, and cannot be fast at all when the baseline itself sees few errors).

* PASS: the history count test, H0 "canary rate >= q" with q = low + max(low * regression_relative,
  regression_absolute), bets mostly on the canary erring at the history's own rate. It joins the pass
  e-process with `history_weight` (the concurrent tests keep the rest), and beta is shared with the
  bound. If the baseline's rate has dropped since the history, the pass test is pinned to the history's
  lower bound: a canary that is better than the service's usual rate may pass although it is worse than
  today's baseline, so the pass evidence is divided by the drift watch's evidence of such a fall (below).
  The concurrent fail test still watches it.
* FAIL (`history_fail=True`, the default): the same prior over regressions, as multiples of the upper bound,
  bets on the canary's counts; the fail e-process becomes (1 - history_weight) * split + history_weight *
  history and alpha is shared with the bound. This trusts the baseline's rate to hold still: under a
  stationary baseline it is anytime-valid at alpha; if the rate rises during the rollout (an incident, a
  daily peak) the canary's own errors rise with it and can fail it. Three defences: the bound follows the
  concurrent baseline, never below the running estimate of today's rate (history pseudo-counts plus the
  baseline's counts) and up to its own lower bound once that is DRIFT_SDS above it; the history fail
  evidence is divided by the concurrent baseline's likelihood ratio for "above the bound", squared
  (DRIFT_FAIL_POWER) and scaled by the canary/baseline request ratio so a large canary share cannot outrun
  it; and the drift watch (mixture e-processes on the baseline's counts for a rise or a fall past the
  history's bounds, DRIFT_RISES / DRIFT_FALLS) keeps the ramp's share narrow while it sees a rise, so the
  baseline's evidence keeps pace with the canary's. Dividing an e-process by anything >= 1 keeps its
  guarantee; what the defences buy under drift is measured, not guaranteed: `bench/drift.py` rolls back
  0.3 % of good releases when the rate rises by 30 % mid-rollout, where CloudWatch alarms tuned to the usual
  rate roll back 4-7 % (docs/judge.md). `history_fail=False` (`--no-trust-baseline-history`) keeps the fail
  test on the concurrent split alone, whose alpha holds whatever the baseline does.

Counts are binomial, not Poisson; conditionally on the period's error total the canary's count is then
hypergeometric, which is less spread than the binomial the test assumes, so the fail test stays
conservative for identical versions (Hoeffding 1963, convex order).

Latency: the percentile check (controller/judge/latency.py) and, where the periods report each version's
requests slower than a threshold (`WindowStats.slow_requests`), the split test over those counts
(controller/judge/slow.py), anytime-valid at its own `latency_slow_alpha`.

A judge never passes without evidence: PASS also needs `min_periods` periods and `min_canary_requests`
canary requests.

Late onset: with `min_periods` above 2 (`shift --min-observation`), every fail bet is also restarted in
each period the judge must watch, so a release that turns bad after a healthy start is judged on the
periods since its change; a mixture over start periods fixed in advance keeps alpha (controller/judge/
onset.py). With the default two periods there are no restarts: the judge passes within minutes, and on the
scenario family restarts over a longer window cost regressions present from the start more than they
caught.

Time limit: with `horizon_periods` (`shift --strategy adaptive` sets it from its time limit, `--bake`,
30 minutes by default) a rollout still undecided at the limit is rolled back, so a margin the traffic
cannot resolve in time rolls back healthy releases. Before each period the judge plans the evidence its
pass test can hold at the limit from the traffic so far and the best use of the traffic left (each period's
mean and variance those of the test's own likelihood ratio, negative binomial under noise), and widens
the margin's relative part to the smallest ratio it can resolve with z = Phi^-1(1 - alpha) standard
deviations to spare, never beyond `widest_regression_ratio` (2x). The other way round, where the absolute
margin is wider than that (0.5 points of a 0.1 % service is 6x) and the traffic left resolves 2x, the
canary is held to 2x from the next period. With a history and `narrowest_regression_ratio` (`shift
--narrowest-ratio`, 1.3 by default) the margin also narrows below the configured one, where the traffic
left resolves that: a busy service's mild regressions are caught, its healthy releases take longer. The
plan reads the margin against today's baseline rate, one standard deviation above its estimate (a
history's test builds its margin on the history's rate, and the estimate lags a baseline that rose since),
aims past the drift watch's discount on the history's pass test, and reads only request counts and the
baseline, never the canary's errors, and is fixed before its period: the pass test keeps beta for every
canary at or beyond the widest margin used (controller/judge/horizon.py).

What it costs, measured by `python -m bench` (bench/judge_sim.py): how many failed requests a bad release
serves before FAIL, against Wald's limit for a test that knows both error rates, and against tuned
CodeDeploy, Flagger, Kayenta and the recipe on the same traffic.
"""

from controller.domain import BaselineHistory, Evidence, Judgement, Verdict, WindowStats
from controller.judge.config import JudgeConfig
from controller.judge.core import Judge

__all__ = ["BaselineHistory", "Evidence", "Judge", "JudgeConfig", "Judgement", "Verdict", "WindowStats"]
