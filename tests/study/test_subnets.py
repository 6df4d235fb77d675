"""The one-shot study read beside the main one: confirmations matched on architecture values,
Kendall's tau and Spearman's rho over the completed ones, and what they tell the user."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from sksearch.study.subnets import (
    chosen_subnets,
    confirmation,
    one_shot_info,
    one_shot_interval,
    rank_agreement,
    trust_sentence,
)


def _subnets(rows):
    return pd.DataFrame([{"trial_id": i, "status": s, "accuracy": a, "params": 100 + 10 * i, "macs": 1000 + i,
                          "baseline": None, "imported": None, "sk.M": m, "stages.0.depth": d,
                          "reason": None}
                         for i, (s, a, m, d) in enumerate(rows)])


def _main(rows):
    return pd.DataFrame([{"trial_id": i, "status": s, "accuracy": a, "params": 0, "macs": 0, "baseline": b,
                          "imported": None, "sk.M": m, "stages.0.depth": d, "lr": 0.05}
                         for i, (s, a, m, d, b) in enumerate(rows)])


SUBNETS = _subnets([("completed", 0.50, 1, 1), ("completed", 0.60, 2, 1), ("completed", 0.70, 1, 2),
                    ("completed", 0.80, 2, 2), ("rejected", None, 3, 3)])


def test_confirmations_are_the_main_trials_that_trained_an_evaluated_subnet():
    main = _main([("completed", 0.90, 2, 2, None), ("completed", 0.85, 1, 2, None),
                  ("stopped_early", 0.70, 2, 1, None), ("completed", 0.95, 3, 3, None),  # 3,3 was rejected
                  ("completed", 0.99, 2, 2, "reference")])                              # a baseline is no sample
    got = confirmation(main, SUBNETS)
    assert got.trial_id.tolist() == [0, 1, 2]  # by supernet accuracy, best first
    assert got.subnet_id.tolist() == [3, 2, 1]
    assert got.supernet_accuracy.tolist() == [0.80, 0.70, 0.60]
    assert got.accuracy.tolist() == [0.90, 0.85, 0.70]
    assert got.params.tolist() == [130, 120, 110]


def test_tau_over_completed_confirmations_only():
    main = _main([("completed", 0.90, 2, 2, None), ("completed", 0.80, 1, 2, None),
                  ("completed", 0.85, 2, 1, None), ("completed", 0.70, 1, 1, None),
                  ])
    agreement = rank_agreement(confirmation(main, SUBNETS))
    # supernet order 3 > 2 > 1 > 0, stand-alone 0.90 > 0.80 < 0.85 > 0.70: one swap in six pairs
    assert agreement["kendall_tau"] == pytest.approx(kendalltau([0.8, 0.7, 0.6, 0.5], [0.9, 0.8, 0.85, 0.7])[0],
                                                     abs=1e-4)
    assert agreement["kendall_tau"] == pytest.approx(4 / 6, abs=1e-4)
    assert agreement["spearman_rho"] == pytest.approx(0.8)
    assert agreement["completed"] == 4 and "ranks subnets well" in trust_sentence(agreement)
    stopped = main.assign(status=["completed", "completed", "stopped_early", "stopped_early"])
    few = rank_agreement(confirmation(stopped, SUBNETS))
    assert few["confirmed"] == 4 and few["completed"] == 2 and few["kendall_tau"] is None
    assert "too few" in trust_sentence(few)


@pytest.mark.parametrize("tau,words", [(0.61, "ranks subnets well"), (0.4, "loosely"), (0.1, "not to be trusted")])
def test_the_sentence_follows_tau(tau, words):
    assert words in trust_sentence({"kendall_tau": tau, "completed": 8})


def test_one_shot_info_is_none_without_a_one_shot_study_and_complete_with_one():
    main = _main([("completed", 0.90, 2, 2, None)])
    assert one_shot_info(main, None, ["accuracy", "params"], "s") is None
    info = one_shot_info(main, SUBNETS, ["accuracy", "params"], "s")
    assert info["study"] == "s:one_shot" and info["evaluated"] == 4 and info["rejected"] == 1
    # accuracy rises with params here: every evaluated subnet is on the front
    assert [r["trial_id"] for r in info["front"]] == [0, 1, 2, 3]
    assert info["confirmations"] == [{"trial_id": 0, "subnet_id": 3, "status": "completed", "supernet_accuracy": 0.8,
                                  "accuracy": 0.9, "params": 130, "macs": 1003}]


def test_a_parameter_some_subnets_do_not_sample_still_matches():
    # sk.M=1 subnets sample no second branch: the column holds NaN there and floats elsewhere
    subnets = SUBNETS.assign(**{"sk.branches.1.dilation": [None, 2, None, 3, None]})
    subnets["sk.branches.1.dilation"] = subnets["sk.branches.1.dilation"].astype(float)
    main = _main([("completed", 0.90, 2, 2, None), ("completed", 0.85, 1, 2, None)])
    main["sk.branches.1.dilation"] = pd.Series([3, None], dtype=object)
    got = confirmation(main, subnets)
    assert got.trial_id.tolist() == [0, 1] and got.subnet_id.tolist() == [3, 2]


def test_a_parameter_no_confirmed_trial_sampled_is_no_column_of_the_main_table():
    # some subnets have a third branch; no confirmed trial does, so the main table lacks the column
    subnets = SUBNETS.assign(**{"sk.branches.2.kernel": [None, None, None, None, 5.0]})
    main = _main([("completed", 0.90, 2, 2, None), ("completed", 0.85, 1, 2, None)])
    got = confirmation(main, subnets)
    assert got.trial_id.tolist() == [0, 1] and got.subnet_id.tolist() == [3, 2]


def test_a_network_drawn_again_counts_once_on_the_front_and_in_the_counts():
    # Subnets 4 and 5 draw subnet 3's network again (a repeat); a study from before the repeats
    # were marked holds them as completed trials with the same values: both count once.
    repeated = _subnets([("completed", 0.50, 1, 1), ("completed", 0.60, 2, 1), ("completed", 0.70, 1, 2),
                         ("completed", 0.80, 2, 2), ("completed", 0.80, 2, 2), ("completed", 0.80, 2, 2)])
    repeated["params"] = [100, 110, 120, 130, 130, 130]
    old = one_shot_info(_main([]), repeated, ["accuracy", "params"], "s")
    assert [r["trial_id"] for r in old["front"]] == [0, 1, 2, 3]
    assert (old["draws"], old["distinct"], old["evaluated"]) == (6, 4, 4)
    marked = repeated.assign(status=["completed"] * 4 + ["repeat"] * 2, arch=["a", "b", "c", "d", "d", "d"],
                             repeat_of=[None, None, None, None, 3, 3])
    new = one_shot_info(_main([]), marked, ["accuracy", "params"], "s")
    assert [r["trial_id"] for r in new["front"]] == [0, 1, 2, 3]
    assert (new["draws"], new["distinct"], new["evaluated"], new["repeats"]) == (6, 4, 4, 2)
    # A repeat with other values that build the same network (another r) is the same network.
    other_r = marked.assign(**{"stages.0.depth": [1, 1, 2, 2, 2, 3]})
    assert one_shot_info(_main([]), other_r, ["accuracy", "params"], "s")["distinct"] == 4
    assert chosen_subnets(other_r, ["accuracy", "params"], 4, 3) == [3, 2, 1, 0]  # no network twice


def test_each_network_is_chosen_once_and_confirmed_once():
    subnets = _subnets([("completed", 0.50, 1, 1), ("completed", 0.60, 2, 1), ("completed", 0.70, 1, 2),
                        ("completed", 0.80, 2, 2), ("completed", 0.80, 2, 2), ("completed", 0.75, 3, 3)])
    subnets["params"] = [100, 110, 120, 130, 130, 140]
    chosen = chosen_subnets(subnets, ["accuracy", "params"], 3, 2)
    assert chosen == [3, 1, 0, 5]  # spread along the front (3, 2, 1, 0), then the rest: 4 is 3 again
    # Trial 4 retrained subnet 3's network (it drew it again): tau counts the network once, by
    # its completed trial.
    main = _main([("stopped_early", 0.60, 2, 2, None), ("completed", 0.70, 1, 1, None),
                  ("completed", 0.90, 3, 3, None), ("completed", 0.80, 2, 1, None),
                  ("completed", 0.85, 2, 2, None)])
    got = confirmation(main, subnets)
    assert got.subnet_id.tolist() == [3, 5, 1, 0] and got.trial_id.tolist() == [4, 2, 3, 1]
    assert sorted(got.subnet_id) == sorted(chosen)  # every chosen subnet is a confirmation, under its own id
    agreement = rank_agreement(got)
    assert agreement["confirmed"] == 4 and agreement["completed"] == 4
    assert agreement["kendall_tau"] == pytest.approx(kendalltau([0.8, 0.75, 0.6, 0.5], [0.85, 0.9, 0.8, 0.7])[0],
                                                     abs=1e-4)


def test_a_few_subnets_ranked_alike_are_too_few_to_trust():
    """Four subnets in the same order (tau +1.00, as a quickstart one-shot run gave) are too few to
    call the supernet's ranking good: the sentence says so; twenty agreeing closely are not."""
    few = trust_sentence({"kendall_tau": 1.0, "completed": 4})
    assert "too few to tell" in few and "reaches down to +0.04" in few and "its front can guide" not in few
    many = trust_sentence({"kendall_tau": 0.9, "completed": 20})
    assert many.endswith("the supernet ranks subnets well: its front can guide the choice")
    assert "not to be trusted" in trust_sentence({"kendall_tau": 0.1, "completed": 4})


def test_the_verdict_carries_the_bootstrap_interval_once():
    """status printed the one-shot tau twice (the verdict, then a line with the interval); the
    verdict now holds both, and an interval reaching below 0.3 over many subnets still warns."""
    rng = np.random.default_rng(1)
    supernet = rng.uniform(size=12)
    confirmed = pd.DataFrame({"status": ["completed"] * 12 + ["failed"], "supernet_accuracy": [*supernet, 0.99],
                              "accuracy": [*(supernet + rng.normal(scale=0.5, size=12)), None]})
    t = one_shot_interval(confirmed)
    assert t["n"] == 12 and t["low"] < t["tau"] < t["high"]
    agreement = rank_agreement(confirmed)
    said = trust_sentence(agreement, t)
    assert said.startswith(f"Kendall's tau {t['tau']:+.2f} [{t['low']:+.2f}, {t['high']:+.2f}] over 12 confirmed "
                           f"subnets (95% interval): ")
    assert said.count("tau") == 1
    loose = trust_sentence({"kendall_tau": 0.5, "completed": 12}, {"n": 12, "tau": 0.5, "low": 0.1, "high": 0.8})
    assert "reaches down to +0.10, below 0.3" in loose and "too few" not in loose and "confirm more" in loose
    sure = trust_sentence({"kendall_tau": 0.8, "completed": 50}, {"n": 50, "tau": 0.8, "low": 0.7, "high": 0.9})
    assert sure.endswith("[+0.70, +0.90] over 50 confirmed subnets (95% interval): the supernet ranks subnets well: "
                         "its front can guide the choice")

