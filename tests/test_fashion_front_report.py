"""benchmarks/fashion_front.py's answer to "does SK pay?": the M=2 net against its M=1 twin,
paired seed by seed, whichever of the two is the winner."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from fashion_front import sk_paired  # noqa: E402


def recs(*accuracies, seeds=None):
    return [{"seed": s, "test": {"accuracy": a}} for s, a in zip(seeds or range(len(accuracies)), accuracies)]


def test_the_difference_is_m2_less_m1_whichever_is_the_winner():
    m1, m2 = recs(0.9278, 0.9285, 0.9245), recs(0.9283, 0.9273, 0.9270)
    as_winner_m1 = sk_paired(m1, m2, winner_m=1)
    as_winner_m2 = sk_paired(m2, m1, winner_m=2)
    assert as_winner_m1["diffs"] == pytest.approx([0.0005, -0.0012, 0.0025])
    assert as_winner_m2["diffs"] == pytest.approx(as_winner_m1["diffs"])
    assert as_winner_m1["mean"] == pytest.approx(0.0006)
    assert as_winner_m1["m2_ahead"] == 2 and as_winner_m1["verdict"] == "within noise"


def test_a_steady_gain_on_every_seed_is_beyond_noise_and_only_shared_seeds_are_paired():
    winner = recs(0.9448, 0.9448, 0.9428)                 # M=2, seeds 0 1 2
    twin = recs(0.9401, 0.9395, seeds=[0, 1])             # M=1, seed 2 still training
    answer = sk_paired(winner, twin, winner_m=2)
    assert answer["seeds"] == [0, 1] and answer["diffs"] == pytest.approx([0.0047, 0.0053])
    assert answer["se"] == pytest.approx(0.0003) and answer["verdict"] == "M=2 ahead, beyond noise"
    behind = sk_paired(recs(0.930, 0.931, 0.929), recs(0.935, 0.937, 0.935), winner_m=2)
    assert behind["verdict"] == "M=1 ahead, beyond noise" and behind["m2_ahead"] == 0


def test_one_seed_gives_no_verdict_and_no_shared_seed_gives_no_answer():
    assert sk_paired(recs(0.93), recs(0.92), winner_m=1)["verdict"] == "one seed: no verdict"
    assert sk_paired(recs(0.93), recs(0.92, seeds=[5]), winner_m=1) is None
    assert sk_paired(recs(0.93), [], winner_m=1) is None


def test_the_shipped_readme_states_the_paired_answer_under_the_twins_table():
    from fashion_front import shipped_section

    def rec(seed, accuracy, params):
        return {"seed": seed, "params": params, "test": {"accuracy": accuracy}, "train_wall_s": 60.0,
                "load_after": [2.0, 2.1, 2.2]}

    trial = {"trial_id": 9, "mean": 0.9058, "runs": 3, "M": 1}
    winner = [rec(0, 0.9278, 58_706), rec(1, 0.9285, 58_706)]
    text = shipped_section(trial, 0, winner, [rec(0, 0.9283, 55_794), rec(1, 0.9273, 55_794)])
    assert "| 0 | 55,794 | 92.83% |" in text
    assert "seed by seed (seeds 0, 1): +0.05, -0.12 points, mean -0.03 +- 0.09 (standard error): within noise." in text
    assert "seed by seed" not in shipped_section(trial, 0, winner, [])
