"""Fronts and hypervolume against brute force on random point sets, ties and duplicates included."""

import itertools

import numpy as np
import pandas as pd
import pytest

from sksearch.objectives import GOALS
from sksearch.study.pareto import (
    baseline_verdicts,
    front,
    hypervolume,
    hypervolume_trace,
    nondominated_ranks,
    normalise,
    reference_point,
)


def dominates(a, b, goals):
    better_or_equal = all((x >= y) if g == "max" else (x <= y) for x, y, g in zip(a, b, goals))
    strictly = any((x > y) if g == "max" else (x < y) for x, y, g in zip(a, b, goals))
    return better_or_equal and strictly


def brute_ranks(points, goals):
    ranks = np.full(len(points), -1)
    remaining = set(range(len(points)))
    level = 0
    while remaining:
        layer = {i for i in remaining if not any(dominates(points[j], points[i], goals) for j in remaining if j != i)}
        for i in layer:
            ranks[i] = level
        remaining -= layer
        level += 1
    return ranks


def brute_hypervolume(points):
    """Exact volume of the union of boxes [p, 1] (minimisation, reference all ones) on the
    grid of distinct coordinates."""
    points = [p for p in points if all(x < 1 for x in p)]
    if not points:
        return 0.0
    k = len(points[0])
    axes = [sorted({p[d] for p in points} | {1.0}) for d in range(k)]
    total = 0.0
    for cell in itertools.product(*[range(len(a) - 1) for a in axes]):
        lo = [axes[d][cell[d]] for d in range(k)]
        if any(all(p[d] <= lo[d] for d in range(k)) for p in points):
            total += np.prod([axes[d][cell[d] + 1] - axes[d][cell[d]] for d in range(k)])
    return total


GOAL_SETS = [["max", "min"], ["min", "min"], ["max", "min", "min"], ["max", "max", "min", "min"], ["max"]]


@pytest.mark.parametrize("goals", GOAL_SETS)
@pytest.mark.parametrize("seed", range(6))
def test_ranks_match_brute_force_with_ties_and_duplicates(goals, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    points = rng.integers(0, 5, (n, len(goals))).astype(float)  # few levels: many ties
    points = np.concatenate([points, points[: n // 4]])          # exact duplicates
    assert nondominated_ranks(points, goals).tolist() == brute_ranks(points.tolist(), goals).tolist()


def test_duplicates_share_a_front():
    pts = np.array([[0.9, 10], [0.9, 10], [0.8, 5], [0.7, 20]])
    assert nondominated_ranks(pts, ["max", "min"]).tolist() == [0, 0, 0, 1]


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("seed", range(5))
def test_hypervolume_matches_brute_force(k, seed):
    rng = np.random.default_rng(seed)
    objectives = ["accuracy", "params", "macs"][:k]
    raw = np.column_stack([rng.random(12)] + [rng.integers(1, 100, 12) for _ in range(k - 1)]).astype(float)
    raw[3] = raw[4]  # a duplicate
    ref = {"accuracy": 0.0, "params": 110.0, "macs": 110.0}
    expected = brute_hypervolume(normalise(raw, objectives, ref).tolist())
    assert hypervolume(raw, objectives, ref) == pytest.approx(expected, rel=1e-9)


def test_hypervolume_of_simple_fronts():
    ref = {"accuracy": 0.0, "params": 100.0}
    assert hypervolume(np.array([[1.0, 0.0]]), ["accuracy", "params"], ref) == pytest.approx(1.0)
    assert hypervolume(np.array([[0.5, 50.0]]), ["accuracy", "params"], ref) == pytest.approx(0.25)
    # Two points: 0.5*0.5 + 0.8*0.2 - overlap 0.5*0.2 = 0.31
    assert hypervolume(np.array([[0.5, 50.0], [0.8, 80.0]]), ["accuracy", "params"], ref) == pytest.approx(0.31)
    assert hypervolume(np.array([[0.5, 150.0]]), ["accuracy", "params"], ref) == 0.0  # beyond the reference


def table(rows):
    df = pd.DataFrame(rows, columns=["trial_id", "status", "epochs", "accuracy", "params", "finished"])
    df["finished"] = pd.to_datetime(df["finished"])
    return df


def test_fronts_use_completed_trials_only():
    df = table([
        (0, "completed", 4, 0.80, 100, "2026-01-01 00:00:01"),
        (1, "stopped_early", 1, 0.95, 10, "2026-01-01 00:00:02"),  # would dominate all: excluded
        (2, "completed", 4, 0.90, 300, "2026-01-01 00:00:03"),
        (3, "completed", 4, 0.70, 200, "2026-01-01 00:00:04"),     # dominated by 0
        (4, "failed", 2, None, 50, "2026-01-01 00:00:05"),
        (5, "rejected", 0, None, 9000, None),
    ])
    f = front(df, ["accuracy", "params"])
    assert f.trial_id.tolist() == [0, 2] and (f.front == 0).all()
    assert front(df, ["accuracy", "params"], rank=1).trial_id.tolist() == [3]
    ranks = {t: r for r in range(3) for t in front(df, ["accuracy", "params"], rank=r).trial_id}
    assert [ranks.get(t, -1) for t in df.trial_id] == [0, -1, 0, 1, -1, -1]
    ref = reference_point(df, ["accuracy", "params"])
    assert ref == {"accuracy": 0.0, "params": pytest.approx(330.0)}  # rejected samples are not trained


def test_a_baseline_is_judged_against_the_front_it_is_asked_about():
    """No searched trial completed: nothing dominates the baseline; with imported trials let on
    the front, the imported one that beats it does."""
    df = pd.DataFrame({"trial_id": [-1, 0, 1], "status": ["completed", "running", "completed"],
                       "accuracy": [0.5, None, 0.6], "params": [100, None, 50], "macs": [1000, None, 500],
                       "baseline": ["b", None, None], "imported": [None, None, "earlier"]})
    alone, = baseline_verdicts(df, ["accuracy", "params"])
    assert (alone["baseline"], alone["dominated_by"]) == ("b", []) and "best" not in alone
    beaten, = baseline_verdicts(df, ["accuracy", "params"], include_imported=True)
    assert beaten["dominated_by"] == [1]
    assert beaten["best"] == {"trial_id": 1, "accuracy_points": 10.0, "params_fewer": 0.5, "macs_fewer": 0.5}


def test_hypervolume_trace_grows_in_the_order_trials_ended():
    df = table([
        (0, "completed", 4, 0.80, 100, "2026-01-01 00:00:03"),
        (1, "stopped_early", 1, 0.95, 10, "2026-01-01 00:00:01"),
        (2, "completed", 4, 0.90, 300, "2026-01-01 00:00:05"),
    ])
    trace = hypervolume_trace(df, ["accuracy", "params"])
    assert trace.trial_id.tolist() == [1, 0, 2] and trace.epochs_spent.tolist() == [1, 5, 9]
    hv = trace.hypervolume.tolist()
    assert hv[0] == 0.0 and 0 < hv[1] < hv[2]
    ref = {"accuracy": 0.0, "params": 330.0}
    assert hv[2] == pytest.approx(hypervolume(np.array([[0.8, 100], [0.9, 300]]), ["accuracy", "params"], ref))
    assert set(GOALS) >= {"accuracy", "params", "macs", "latency", "loss"}


@pytest.mark.parametrize("seed", range(4))
def test_the_incremental_trace_equals_recomputing_after_every_trial(seed):
    """Ties, duplicates, dominated points, stopped and failed trials, 2 and 3 objectives."""
    rng = np.random.default_rng(seed)
    n = 80
    objectives = ["accuracy", "params", "macs"][: 2 + seed % 2]
    df = pd.DataFrame({
        "trial_id": np.arange(n), "status": rng.choice(["completed", "stopped_early", "failed"], n, p=[.4, .5, .1]),
        "epochs": rng.integers(1, 5, n), "accuracy": rng.integers(0, 6, n) / 5,
        "params": rng.integers(1, 6, n) * 10.0, "macs": rng.integers(1, 6, n) * 100.0,
        "finished": pd.to_datetime("2026-01-01") + pd.to_timedelta(rng.permutation(n), unit="s")})
    df.loc[3, "accuracy"] = np.nan  # a completed trial missing an objective does not count
    trace = hypervolume_trace(df, objectives)
    ref = reference_point(df, objectives)
    ended = df.sort_values(["finished", "trial_id"])
    expected = []
    for i in range(1, len(ended) + 1):
        done = ended.iloc[:i]
        done = done[(done.status == "completed")].dropna(subset=objectives)
        expected.append(hypervolume(done[objectives].to_numpy(dtype=float), objectives, ref) if len(done) else 0.0)
    assert trace.trial_id.tolist() == ended.trial_id.tolist()
    assert trace.hypervolume.to_numpy() == pytest.approx(np.array(expected), abs=1e-12)
    assert trace.epochs_spent.tolist() == ended.epochs.cumsum().tolist()


def test_printed_fronts_keep_whole_parameters_whole(capsys):
    """A parameter only some trials sample (sk.reduction with M=1) is a float column with gaps;
    the front still shows r=8 and G=4, and lr as drawn."""
    from sksearch.study.pareto import front_rows, front_table, print_front

    df = table([(0, "completed", 4, 0.80, 100, "2026-01-01 00:00:01"),
                (1, "completed", 4, 0.90, 300, "2026-01-01 00:00:02")])
    df["groups"], df["sk.reduction"], df["lr"] = [4.0, 8.0], [np.nan, 8.0], [0.1, 2.0]
    rows = front_rows(front_table(df, ["accuracy", "params"]))
    assert [r["config"] for r in rows] == [{"groups": 4, "lr": 0.1}, {"groups": 8, "sk.reduction": 8, "lr": 2.0}]
    assert all(type(v) is int for r in rows for k, v in r["config"].items() if k != "lr")
    print_front(rows)
    assert "8.0000" not in capsys.readouterr().out  # groups and sk.reduction of trial 1


def test_printed_fronts_show_accuracy_as_every_other_line_does(capsys):
    """The front's table says 90.00%, as the baseline verdicts and status do, not 0.9000."""
    from sksearch.study.pareto import front_rows, front_table, print_front

    df = table([(0, "completed", 4, 0.80, 100, "2026-01-01 00:00:01"), (1, "completed", 4, 0.9, 30_000,
                                                                          "2026-01-01 00:00:02")])
    print_front(front_rows(front_table(df, ["accuracy", "params"])))
    out = capsys.readouterr().out
    assert "90.00%" in out and "80.00%" in out and "0.9000" not in out and "30,000" in out


def test_the_front_table_keeps_whole_parameters_integer_with_gaps_missing():
    """``study.front()`` showed groups 4.0 and sk.M 1.0: whole-number parameters are integers
    (Int64, so a parameter a trial did not sample is missing, not NaN), lr stays a float."""
    from sksearch.study.pareto import front_table
    from sksearch.study.report import front_html

    df = table([(0, "completed", 4, 0.80, 100, "2026-01-01 00:00:01"),
                (1, "completed", 4, 0.90, 300, "2026-01-01 00:00:02")])
    df["groups"], df["sk.M"], df["sk.reduction"], df["lr"] = [4.0, 8.0], [1.0, 2.0], [np.nan, 8.0], [0.1, 0.25]
    front = front_table(df, ["accuracy", "params"])
    assert str(front["groups"].dtype) == "Int64" and front["groups"].tolist() == [4, 8]
    assert str(front["sk.M"].dtype) == "Int64" and str(front["sk.reduction"].dtype) == "Int64"
    assert front["sk.reduction"].isna().tolist() == [True, False] and front["sk.reduction"].iloc[1] == 8
    assert front["lr"].dtype == np.float64
    shown = front.to_string()
    assert "4.0" not in shown and "8.0" not in shown and "<NA>" in shown
    page = front_html(df, ["accuracy", "params"])  # the report's table leaves the gap blank
    assert "<NA>" not in page and "nan" not in page and "<td>8</td>" in page
