"""Screening in the subnet search (``strategy.screen_images``): a network scored in full gets
exactly the score it gets without screening, a network is left at its screening score only when
one scored in full beats it by the margin at costs no worse, and the front holds only networks
scored in full."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from safetensors.torch import save_file

from sksearch.data.load import load_data, make_batches
from sksearch.model.spec import ArchSpec
from sksearch.oneshot import search
from sksearch.oneshot.bn import calibration_batches
from sksearch.oneshot.sandwich import arch_space, evaluate_subnet, recipe
from sksearch.oneshot.screen import FirstImages, margin, within_reach
from sksearch.oneshot.shareable import supernet_layout
from sksearch.oneshot.supernet import Supernet
from sksearch.space import load_space
from sksearch.space.sample import draw_fixed
from tests.conftest import TINY_SPACE, write_space

ONE_SHOT = ("strategy: {name: one_shot, supernet_epochs: 1, subnets: 12, confirm: 2, spread: 2, "
            "calibration_batches: 4, screen_images: 48}\n")


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("screen")
    space = load_space(str(write_space(tmp, TINY_SPACE + ONE_SHOT)))
    data = load_data(space.data, test=False)
    torch.manual_seed(0)
    supernet = Supernet(supernet_layout(space.model, space.data.shape(data.num_classes)))
    weights = str(tmp / "supernet.safetensors")
    save_file({k: v.contiguous() for k, v in supernet.net.state_dict().items()}, weights)
    return space, data, weights


def test_margin_and_reach():
    assert margin(0.9, 400) == pytest.approx(3 * (0.09 / 400) ** 0.5 + 0.01)
    assert margin(1.0, 100) == pytest.approx(3 * (0.01 / 100) ** 0.5 + 0.01)  # floored variance
    full = [([100.0], 0.9)]
    assert not within_reach([100.0], 0.5, 400, full, [True])       # beaten by far at the same cost
    assert within_reach([99.0], 0.5, 400, full, [True])            # cheaper: could be on the front
    assert within_reach([100.0], 0.9 - margin(0.85, 400), 400, full, [True])  # inside the margin
    assert not within_reach([120.0], 0.8, 400, full, [True])       # 0.9 > 0.8 + 0.064
    assert within_reach([120.0], 0.8, 400, full, [False])          # a cost to maximise: 100 is worse
    assert within_reach([100.0], 0.1, 400, [], [True])             # nothing scored in full yet


def test_first_images_stops_at_n(setting):
    space, data, _ = setting
    batches = make_batches(data, "cpu", 16)
    got = torch.cat([y for _x, y in FirstImages(batches, 37).val()])
    assert torch.equal(got, torch.cat([y for _x, y in batches.val()])[:37])


def _slow_scores(space, data, weights, study):
    """Each evaluated network's score without screening, by its first trial's number."""
    space_a = arch_space(space)
    train = recipe(space_a, space.strategy.supernet_epochs)
    batches = make_batches(data, "cpu", train.batch_size, seed=train.seed, channels_last=train.uses_channels_last,
                           workers=0)
    calibration = calibration_batches(batches, space.strategy.calibration_batches)
    supernet = search.load_supernet(space, space.data.shape(data.num_classes), weights)
    out = {}
    for t in study.get_trials(deepcopy=False):
        if "repeat_of" in t.user_attrs or t.state.name != "COMPLETE":
            continue
        s, _ = draw_fixed(space_a, t.params, "test", fill=True)
        out[t.number] = evaluate_subnet(supernet, ArchSpec.from_dict(s.arch), calibration, batches,
                                        torch.device("cpu"), train)
    return out


def test_networks_scored_in_full_get_exactly_the_unscreened_score(setting, tmp_path):
    space, data, weights = setting
    study = search.search_subnets(space, data, weights, f"sqlite:///{tmp_path / 'optuna.db'}")
    slow = _slow_scores(space, data, weights, study)
    full = [t for t in study.get_trials(deepcopy=False) if t.number in slow and "screened_on" not in t.user_attrs]
    assert full  # the first network has nothing to be beaten by
    for t in full:
        assert t.user_attrs["accuracy"] == slow[t.number][0]
        assert t.user_attrs["loss"] == pytest.approx(slow[t.number][1], rel=1e-6)
    # Without screening (screen_images 0, or as many as val holds) every network is scored in full.
    for n in (0, 200):
        plain = replace(space, strategy=replace(space.strategy, screen_images=n))
        other = search.search_subnets(plain, data, weights, f"sqlite:///{tmp_path / f'plain{n}.db'}")
        assert not any("screened_on" in t.user_attrs for t in other.get_trials(deepcopy=False))
        for number, (accuracy, _loss) in _slow_scores(space, data, weights, other).items():
            assert other.trials[number].values[0] == accuracy


def test_a_network_beaten_by_the_margin_keeps_its_screening_score(setting, tmp_path, monkeypatch):
    """Scores made up so that the first network evaluated beats every later one by far: each later
    one with costs no lower is left at its screening score, the rest are scored in full, and the
    front holds only networks scored in full."""
    space, data, weights = setting
    calls = []

    def made_up(supernet, spec, calibration, batches, device, train):
        screening = isinstance(batches, FirstImages)
        calls.append((search.network_key(spec), screening, len(calibration)))
        first = calls[0][0] == search.network_key(spec)
        return (0.9 if first else 0.3), 1.0

    monkeypatch.setattr(search, "evaluate_subnet", made_up)
    study = search.search_subnets(space, data, weights, f"sqlite:///{tmp_path / 'optuna.db'}")
    trials = [t for t in study.get_trials(deepcopy=False) if "repeat_of" not in t.user_attrs
              and t.state.name == "COMPLETE"]
    first = trials[0]
    assert "screened_on" not in first.user_attrs and first.values[0] == 0.9
    assert all(n == 1 for _key, screening, n in calls if screening)   # a quarter of 4 batches
    assert all(n == 4 for _key, screening, n in calls if not screening)
    screened = [t for t in trials if "screened_on" in t.user_attrs]
    assert screened, "the made-up scores leave some network at its screening score"
    for t in trials[1:]:
        cheaper = t.user_attrs["params"] < first.user_attrs["params"]
        assert ("screened_on" in t.user_attrs) == (not cheaper), t.number
        if not cheaper:
            assert t.user_attrs["screened_on"] == 48 and t.values[0] == 0.3
    assert all("screened_on" not in t.user_attrs for t in study.best_trials)
