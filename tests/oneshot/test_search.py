"""The subnet search evaluates each network once: a repeat draw (the same values, or values
that build the same network, such as two r that give one fuse width) is answered from the
first evaluation, across a resume too, and every count, front and choice counts it once."""

from __future__ import annotations

from dataclasses import replace

import pytest
from safetensors.torch import save_file

from sksearch.data.load import load_data
from sksearch.model.spec import ArchSpec
from sksearch.oneshot import search
from sksearch.oneshot.shareable import supernet_layout
from sksearch.oneshot.strategy import choose
from sksearch.oneshot.supernet import Supernet
from sksearch.space import load_space
from sksearch.study.store import one_shot_study
from sksearch.study.subnets import one_shot_info
from sksearch.study.table import records_from_study, subnet_table
from tests.conftest import TINY_SPACE, write_space

# r is 2 or 4 and L is 4: with widths 4 and 8 both give the fuse width 4, so the r draws build
# the same networks. Six networks in all: M=1 at two widths, M=2 at two widths and two dilations.
ONE_SHOT = ("strategy: {name: one_shot, supernet_epochs: 1, subnets: 30, confirm: 2, spread: 2, "
            "calibration_batches: 1}\n")


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("subnet_search")
    text = TINY_SPACE.replace("    reduction: 2\n", "    reduction: {choice: [2, 4]}\n") + ONE_SHOT
    space = load_space(str(write_space(tmp, text)))
    data = load_data(space.data, test=False)
    supernet = Supernet(supernet_layout(space.model, space.data.shape(data.num_classes)))
    weights = str(tmp / "supernet.safetensors")
    save_file({k: v.contiguous() for k, v in supernet.net.state_dict().items()}, weights)
    return space, data, weights, tmp


def _evaluations(monkeypatch):
    """The networks the search evaluates, in order."""
    seen = []
    evaluate = search.evaluate_subnet

    def counted(supernet, spec, *args, **kwargs):
        seen.append(search.network_key(spec))
        return evaluate(supernet, spec, *args, **kwargs)

    monkeypatch.setattr(search, "evaluate_subnet", counted)
    return seen


def test_network_key_is_the_built_network():
    def spec(r, width, min_dim=4, m=2):
        return ArchSpec.from_dict({
            "block": "sk", "stem": "cifar", "stem_width": 4, "groups": 2, "num_classes": 10, "in_channels": 1,
            "input_size": 12, "sk": {"branches": [[3, 1], [3, 2]][:m], "reduction": r, "min_dim": min_dim},
            "stages": [{"depth": 1, "width": width, "out_channels": 8, "stride": 2}]})

    assert search.network_key(spec(2, 8)) == search.network_key(spec(4, 8))        # d = 4 either way
    assert search.network_key(spec(2, 16)) != search.network_key(spec(4, 16))      # d = 8 against 4
    assert search.network_key(spec(2, 8, 4, 1)) == search.network_key(spec(4, 8, 16, 1))  # one branch: no fuse
    assert search.network_key(spec(2, 8)) != search.network_key(spec(2, 16))


def test_each_network_is_evaluated_once_and_a_repeat_answered_from_the_first(setting, monkeypatch, tmp_path):
    space, data, weights, _ = setting
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    evaluated = _evaluations(monkeypatch)
    half = replace(space, strategy=replace(space.strategy, subnets=12))
    search.search_subnets(half, data, weights, url, run_id="a")
    study = search.search_subnets(space, data, weights, url, run_id="b")  # a resume to 30 draws

    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 30 and all(t.state.name == "COMPLETE" for t in trials)
    assert len(evaluated) == len(set(evaluated)) <= 6  # no network twice, across the resume too
    firsts = {t.user_attrs["arch"]: t for t in trials if "repeat_of" not in t.user_attrs}
    assert sorted(firsts) == sorted(evaluated)
    repeats = [t for t in trials if "repeat_of" in t.user_attrs]
    assert len(repeats) == 30 - len(firsts)
    for t in repeats:
        first = firsts[t.user_attrs["arch"]]
        assert t.user_attrs["repeat_of"] == first.number < t.number and t.user_attrs["status"] == "repeat"
        assert t.values == first.values
        # No copy of the first's measurements is written with it ...
        assert "params" not in t.user_attrs and "epochs" not in t.user_attrs and "reason" not in t.user_attrs
    # ... the table reads them from the first evaluation.
    rows = subnet_table(records_from_study(study), space.metric_names).set_index("trial_id")
    for t in repeats:
        for col in ("params", "macs", "accuracy", "loss", "epochs"):
            assert rows.loc[t.number, col] == rows.loc[t.user_attrs["repeat_of"], col]
        assert rows.loc[t.number, "reason"] == f"the network of subnet {t.user_attrs['repeat_of']}, evaluated there"
    # Two r that build one network were drawn, and evaluated once.
    by_key = {}
    for t in trials:
        if t.params.get("sk.M") == 2:
            by_key.setdefault(t.user_attrs["arch"], set()).add(t.params["sk.reduction"])
    assert any(len(rs) == 2 for rs in by_key.values())

    # Read back: each network once in every count and on the front.
    table = subnet_table(records_from_study(study), space.metric_names)
    info = one_shot_info(table.iloc[:0][["trial_id", "status", "accuracy", "baseline", "imported"]], table,
                         space.metric_names, space.name)
    assert info["study"] == one_shot_study("tiny")
    assert (info["draws"], info["distinct"], info["evaluated"], info["repeats"]) == (30, len(firsts), len(firsts),
                                                                                     30 - len(firsts))
    front_archs = [table.set_index("trial_id").loc[r["trial_id"], "arch"] for r in info["front"]]
    assert len(front_archs) == len(set(front_archs)) and set(r["trial_id"] for r in info["front"]) <= {
        t.number for t in firsts.values()}

    # The chosen subnets are distinct networks, as many as the strategy asks where there are.
    chosen = choose(space, study)
    keys = [t.user_attrs["arch"] for t in chosen]
    on_front = len(info["front"])
    assert len(keys) == len(set(keys)) == min(2, on_front) + min(2, len(firsts) - on_front)
    assert all("repeat_of" not in t.user_attrs for t in chosen)
