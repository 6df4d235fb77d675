"""Kendall's tau with its interval (``sksearch/study/rank.py``): seeded, widened over a few
pairs, None where there is nothing to rank."""

import numpy as np
import pytest

from sksearch.study.rank import kendall_interval, tau_text, weak


def test_perfect_ranking_gives_an_interval_near_one():
    x = np.arange(30, dtype=float)
    t = kendall_interval(x, 2 * x + 1)
    assert t["tau"] == pytest.approx(1.0)
    assert t["low"] >= 0.99 and t["high"] == pytest.approx(1.0)


def test_independent_rankings_give_an_interval_holding_zero():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=60), rng.normal(size=60)
    t = kendall_interval(x, y)
    assert t["low"] < 0 < t["high"]
    assert t["high"] - t["low"] > 0.2  # 60 pairs cannot pin tau down to a point
    assert kendall_interval(x, y) == t  # seeded: the same interval every time


def test_too_few_or_constant_pairs_have_no_tau():
    assert kendall_interval([1, 2], [1, 2])["tau"] is None
    assert kendall_interval([1, 2, 3], [5, 5, 5])["tau"] is None


def test_a_few_pairs_in_the_same_order_give_a_wide_interval():
    """A percentile bootstrap of four concordant pairs resamples to tau = 1 every time; the
    interval is widened to tau's spread under no correlation (0.49 at n=4), from 10 pairs on the
    bootstrap stands alone."""
    t = kendall_interval([1, 2, 3, 4], [10, 20, 30, 40])
    assert t["tau"] == pytest.approx(1.0) and t["high"] == pytest.approx(1.0)
    assert t["low"] == pytest.approx(1 - 1.96 * 0.4907, abs=1e-3)  # about +0.04, below TAU_WARN
    x = np.arange(12, dtype=float)
    assert kendall_interval(x, x)["low"] == pytest.approx(1.0)  # 12 pairs: the bootstrap's own


def test_tau_text_and_the_warning_read_the_interval():
    t = kendall_interval([1, 2, 3, 4], [10, 20, 30, 40])
    assert tau_text(t, "confirmed subnets") == "tau +1.00 [+0.04, +1.00] over 4 confirmed subnets"
    assert weak(t)  # +0.04 is below 0.3
    assert not weak(kendall_interval(np.arange(30.0), np.arange(30.0)))
    assert tau_text(kendall_interval([1, 2], [1, 2]), "audited trials") == "too few audited trials to measure (2)"
