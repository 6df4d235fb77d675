"""Kendall's tau with its uncertainty: how far one cheap estimate (a rung's accuracy, a
supernet's) ranks networks the way full training does, and how sure the count of pairs lets
anyone be. ``confirm``'s rung correlations and the one-shot search's verdict both read it.

Written here rather than taken from scipy alone: scipy gives tau and a p-value against no
correlation, not an interval around tau, and its bootstrap (``scipy.stats.bootstrap``) gives a
percentile interval that collapses to a point over a few pairs ranked alike."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

# Below this many pairs a percentile bootstrap of tau collapses: four subnets ranked in the same
# order resample to tau = 1 every time, an interval of [1, 1] that claims a certainty four
# points cannot give. Under it, a tau's interval is at least as wide as tau's own spread under
# no correlation (``null_spread``), and the verdict says the count is too small.
SMALL_N = 10
TAU_WARN = 0.3  # an interval's lower end under which a ranking is not to be stopped or chosen on


def null_spread(n: int) -> float:
    """Kendall's tau's standard deviation over ``n`` pairs under no correlation (the normal
    approximation, sqrt(2(2n+5) / 9n(n-1)): 0.49 at n=4, 0.16 at n=20)."""
    return math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)))


def small_n_interval(tau: float, n: int) -> tuple[float, float] | None:
    """A 95% interval on tau, tau +- 1.96 ``null_spread`` within [-1, 1], where ``n`` is under
    ``SMALL_N`` (None from ``SMALL_N`` pairs on, where the bootstrap is used alone)."""
    if n >= SMALL_N:
        return None
    half = 1.96 * null_spread(n)
    return max(-1.0, tau - half), min(1.0, tau + half)


# The bootstrap: resamples of the pairs, seeded, so a study reads the same interval every time.
RESAMPLES = 1000
BOOTSTRAP_SEED = 0


def kendall_interval(x: Sequence[float], y: Sequence[float], resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED,
                     level: float = 0.95) -> dict[str, Any]:
    """Kendall's tau-b between ``x`` and ``y`` and a percentile bootstrap interval over
    ``resamples`` resamples of the pairs (seeded): ``n``, ``tau``, ``low``, ``high`` (None where
    fewer than three pairs, or a side is constant). Under ``SMALL_N`` pairs the interval
    is widened to at least tau's spread under no correlation (``small_n_interval``)."""
    from scipy.stats import kendalltau

    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    out: dict[str, Any] = {"n": len(xs), "tau": None, "low": None, "high": None}
    if len(xs) < 3 or len(np.unique(xs)) < 2 or len(np.unique(ys)) < 2:
        return out
    out["tau"] = float(kendalltau(xs, ys).statistic)
    picks = np.random.default_rng(seed).integers(0, len(xs), size=(resamples, len(xs)))
    taus = np.array([kendalltau(xs[i], ys[i]).statistic for i in picks], dtype=float)
    taus = taus[np.isfinite(taus)]  # a resample of one repeated pair has no tau
    if len(taus):
        alpha = (1 - level) / 2
        out["low"], out["high"] = (float(v) for v in np.quantile(taus, [alpha, 1 - alpha]))
    spread = small_n_interval(out["tau"], len(xs))
    if spread is not None:
        low, high = spread
        out["low"] = low if out["low"] is None else min(out["low"], low)
        out["high"] = high if out["high"] is None else max(out["high"], high)
    return out


def tau_text(t: dict[str, Any], over: str) -> str:
    if t["tau"] is None:
        return f"too few {over} to measure ({t['n']})"
    spread = f" [{t['low']:+.2f}, {t['high']:+.2f}]" if t["low"] is not None else ""
    return f"tau {t['tau']:+.2f}{spread} over {t['n']} {over}"


def weak(t: dict[str, Any]) -> bool:
    """Whether an interval's lower end is below ``TAU_WARN``."""
    return t["tau"] is not None and t["low"] is not None and t["low"] < TAU_WARN
