"""Statistics for closed-loop evaluations: confidence intervals and replay checks.

Every "±" this project prints is the half-width of a 95% t-interval of the mean unless the
label says "std". Closed-loop float returns depend on the processor (numpy's BLAS and torch
pick kernels per CPU, and MuJoCo rollouts are chaotic), so a return recorded on one machine is
compared with a replay on another only statistically, through `replay_agrees`
(docs/reproducibility.md).
"""
from __future__ import annotations

import dataclasses

import numpy as np

REPLAY_CONFIDENCE = 0.999
"""Confidence of the interval a replay's mean difference must contain: a chaotic replay on
another CPU is a fresh sample of the same return distribution, so a 95% interval would fail
one policy in twenty by chance; 99.9% still exposes any real change (a wrong weight, head or
env gives differences of many standard errors)."""


def mean_ci(x, confidence: float = 0.95) -> tuple[float, float]:
    """Mean of `x` (n,) and the half-width of its t-interval (nan for n < 2)."""
    from scipy import stats
    x = np.asarray(x, dtype=np.float64)
    if x.size < 2:
        return float(x.mean()), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return float(x.mean()), float(half)


def mean_ci95(x) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval of the mean."""
    return mean_ci(x, 0.95)


def success_ci95(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval (low, high) of a success rate of `successes` out of `n`:
    unlike mean +- t-interval it stays inside [0, 1] and is not empty at 0% or 100%."""
    z = 1.959963984540054
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def interquartile_mean(x) -> float:
    """Mean of the middle 50% of `x` (the IQM of RL evaluation practice, Agarwal et al.
    2021): the values between the 25th and 75th percentiles, the ends weighted fractionally
    when the count is not a multiple of 4."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = x.size
    # value k covers the quantile interval [k/n, (k+1)/n]; weight: its overlap with [1/4, 3/4]
    weights = np.clip(np.minimum(np.arange(1, n + 1) / n, 0.75)
                      - np.maximum(np.arange(n) / n, 0.25), 0, None)
    return float((weights * x).sum() / weights.sum())


def bootstrap_ci(x, statistic=np.mean, confidence: float = 0.95, resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float, float]:
    """(statistic of x, lower, upper): percentile bootstrap interval over the entries of x
    (e.g. one ratio per environment), with a fixed seed so the table is reproducible."""
    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    samples = x[rng.integers(0, x.size, (resamples, x.size))]
    values = np.array([statistic(s) for s in samples])
    tail = 50 * (1 - confidence)
    return float(statistic(x)), float(np.percentile(values, tail)), \
        float(np.percentile(values, 100 - tail))


def group_effect(groups) -> tuple[float, float]:
    """How much a factor (e.g. the calibration seed) moves the mean beyond episode noise:
    one-way random-effects ANOVA over `groups` (k sequences of per-episode values, k >= 2,
    each >= 2 long). Returns (std of the factor's effect on the mean, p-value of the F test
    that it is zero). The std of the k group means holds that effect plus each mean's own
    episode noise (within-group variance / n); the noise part is subtracted (0 when the
    means spread no more than noise explains)."""
    from scipy import stats
    groups = [np.asarray(g, dtype=np.float64).ravel() for g in groups]
    if len(groups) < 2 or min(g.size for g in groups) < 2:
        raise ValueError("group_effect needs at least 2 groups of at least 2 values")
    means = np.array([g.mean() for g in groups])
    noise = np.mean([g.var(ddof=1) / g.size for g in groups])   # variance of one group's mean
    effect = float(np.sqrt(max(means.var(ddof=1) - noise, 0.0)))
    p_value = float(stats.f_oneway(*groups).pvalue) if noise > 0 else \
        float(means.var(ddof=1) == 0)
    return effect, p_value


@dataclasses.dataclass(frozen=True)
class ReplayCheck:
    """Replayed vs recorded evaluation: the difference of means and its interval."""
    replayed_mean: float
    recorded_mean: float
    difference: float      # replayed - recorded
    half_width: float      # of the `confidence` interval of the difference
    confidence: float
    agrees: bool

    def summary(self) -> str:
        verdict = "agrees" if self.agrees else "DISAGREES"
        return (f"replay {verdict}: replayed mean {self.replayed_mean:.4g} vs recorded "
                f"{self.recorded_mean:.4g}, difference {self.difference:+.4g} "
                f"(±{self.half_width:.4g}, {100 * self.confidence:g}% CI must contain 0)")


def replay_agrees(replayed, recorded, confidence: float = REPLAY_CONFIDENCE,
                  rel_floor: float = 1e-6) -> ReplayCheck:
    """Does a replayed evaluation reproduce a recorded one, on any machine?

    replayed: (n,) per-episode values measured now. recorded: (m,) per-episode values recorded
    elsewhere (Welch's interval of the difference of means), or a scalar mean (the replayed
    sample's own interval). Agrees when the interval contains 0. `rel_floor` x |recorded mean|
    is the smallest half-width used, so that a zero-variance sample (every episode alike)
    still tolerates last-bit rounding.
    """
    from scipy import stats
    a = np.asarray(replayed, dtype=np.float64).ravel()
    b = np.asarray(recorded, dtype=np.float64).ravel()
    if a.size < 2:
        raise ValueError(f"a replay needs at least 2 episodes, got {a.size}")
    if b.size == 1:      # recorded mean only
        se2, dof = a.var(ddof=1) / a.size, a.size - 1
    else:
        va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        se2 = va + vb
        dof = se2 ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1)) if se2 > 0 else 1
    difference = float(a.mean() - b.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, dof) * np.sqrt(se2))
    half = max(half, rel_floor * abs(float(b.mean())), 1e-12)
    return ReplayCheck(float(a.mean()), float(b.mean()), difference, half, confidence,
                       bool(abs(difference) <= half))
