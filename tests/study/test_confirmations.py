"""The confirmations' arithmetic on synthetic tables: the near-front choice, the audit's draw
and findings, means, standard errors and noise."""

import numpy as np
import pandas as pd
import pytest

from sksearch.study.confirmations import (
    AUDIT,
    REPEAT,
    audit_draw,
    audit_findings,
    mean_se,
    near_front,
    noise_groups,
    rung_agreement,
    rung_lines,
    runs_table,
    trial_stats,
    with_stats,
)
from sksearch.study.table import TrialRecord


def _table() -> pd.DataFrame:
    # trial 0 and 1 on the front (accuracy, params); 2 dominated by 1; 3 dominated by 2; 4, 5 stopped.
    return pd.DataFrame({
        "trial_id": [0, 1, 2, 3, 4, 5, -1],
        "status": ["completed", "completed", "completed", "completed", "stopped_early", "stopped_early", "completed"],
        "accuracy": [0.90, 0.80, 0.75, 0.70, 0.60, 0.50, 0.78],
        "params": [1000, 100, 200, 300, 150, 50, 500],
        "epochs": [4, 4, 4, 4, 1, 1, 4],
        "baseline": [None, None, None, None, None, None, "resnet"],
        "imported": [None] * 7})


def test_near_front_is_the_front_then_the_next_ranks():
    df = _table()
    assert sorted(near_front(df, ["accuracy", "params"], None)) == [0, 1]
    assert near_front(df, ["accuracy", "params"], 3) == [0, 1, 2]
    assert near_front(df, ["accuracy", "params"], 1) == [0, 1]  # the whole front always


def test_audit_draw_is_seeded_and_extends():
    df = _table()
    one, two = audit_draw(df, 1), audit_draw(df, 2)
    assert two[:1] == one and sorted(two) == [4, 5]


def _runs(rows):
    return runs_table([TrialRecord(i, state, None, {}, attrs) for i, (state, attrs) in enumerate(rows)])


def test_mean_and_standard_error_over_all_runs():
    df = _table()
    runs = _runs([("COMPLETE", {"trial_id": 0, "seed": 1, "kind": REPEAT, "accuracy": 0.80}),
                  ("COMPLETE", {"trial_id": 0, "seed": 2, "kind": REPEAT, "accuracy": 0.85}),
                  ("RUNNING", {"trial_id": 1, "seed": 1, "kind": REPEAT})])
    stats = trial_stats(df, runs)
    assert stats["trial_id"].tolist() == [0]
    assert stats["runs"].tolist() == [3]
    mean, se = mean_se([0.90, 0.80, 0.85])
    assert stats["accuracy_mean"].iloc[0] == pytest.approx(0.85) == pytest.approx(mean)
    assert stats["accuracy_se"].iloc[0] == pytest.approx(np.std([0.9, 0.8, 0.85], ddof=1) / np.sqrt(3)) == se
    table = with_stats(df[df["trial_id"].isin([0, 1])].drop(columns=["imported", "baseline"]), stats)
    assert table.columns.tolist()[:7] == ["trial_id", "accuracy", "params", "epochs", "runs", "accuracy_mean",
                                          "accuracy_se"]


def test_noise_groups_overlap_of_two_standard_errors():
    points = [{"name": "a", "mean": 0.80, "se": 0.01}, {"name": "b", "mean": 0.83, "se": 0.01},
              {"name": "c", "mean": 0.90, "se": 0.005}, {"name": "baseline r", "mean": 0.905, "se": None}]
    found = {p["name"]: p["within_noise_of"] for p in noise_groups(points)}
    assert found == {"a": ["b"], "b": ["a"], "c": ["baseline r"], "baseline r": ["c"]}


def test_audit_findings_say_who_would_have_joined_and_by_how_much():
    df = _table()
    runs = _runs([("COMPLETE", {"trial_id": 4, "seed": 0, "kind": AUDIT, "accuracy": 0.85}),
                  ("COMPLETE", {"trial_id": 5, "seed": 0, "kind": AUDIT, "accuracy": 0.55})])
    found = audit_findings(df, runs, ["accuracy", "params"])
    by_id = {f["trial_id"]: f for f in found["trials"]}
    assert found["audited"] == 2 and found["joined"] == 2  # trial 5: the cheapest of all, nothing as cheap
    assert by_id[4]["joins"] and by_id[4]["gap"] == pytest.approx(0.05)  # beats trial 1 (100 params, 0.80)
    assert by_id[5]["gap"] is None and by_id[4]["stopped_at"] == 1


def test_rung_agreement_over_completed_and_audited_trials():
    df = _table()
    curves = pd.DataFrame({"trial_id": [0, 1, 2, 3], "epoch": [1] * 4, "accuracy": [0.5, 0.4, 0.3, 0.2]})
    runs = _runs([("COMPLETE", {"trial_id": t, "seed": 0, "kind": AUDIT, "accuracy": acc,
                                "curve": [{"epoch": 1, "accuracy": early}]})
                  for t, acc, early in ((4, 0.6, 0.3), (5, 0.7, 0.2), (3, 0.8, 0.1))])
    found = rung_agreement(df, curves, runs, [1, 4], 4)
    assert [a["rung"] for a in found] == [1]  # the full budget is no estimate of itself
    assert found[0]["completed"]["tau"] == pytest.approx(1.0) and found[0]["completed"]["n"] == 4
    assert found[0]["audited"]["tau"] == pytest.approx(-1.0)
    lines = rung_lines(found)
    assert "rung at epoch 1: tau +1.00" in lines[0] and "warning" in lines[1] and "grace period" in lines[1]
