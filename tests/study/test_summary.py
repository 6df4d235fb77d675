"""``status`` of a one-shot study, phase by phase, on a study folder written without a search:
the supernet's epochs, the subnet search's draws, and the planned trials, which are the chosen
subnets (what ``resume`` counts), so that ``finished`` agrees with it."""

from __future__ import annotations

import json
import os

import optuna
from optuna.trial import TrialState, create_trial

import sksearch
from sksearch.model.spec import ArchSpec
from sksearch.oneshot.sandwich import arch_space
from sksearch.oneshot.search import network_key
from sksearch.space import load_space
from sksearch.space.sample import sample
from sksearch.study.folder import RunInfo
from sksearch.study.layout import Layout, supernet_dir
from sksearch.study.store import one_shot_study, open_for_search
from tests.conftest import TINY_SPACE, write_space

ONE_SHOT = ("strategy: {name: one_shot, supernet_epochs: 3, subnets: 8, confirm: 2, spread: 3, "
            "calibration_batches: 1}\n")


def _folder(tmp_path):
    space = load_space(str(write_space(tmp_path, TINY_SPACE + ONE_SHOT)))
    root = tmp_path / "study"
    layout = Layout(str(root))
    os.makedirs(root)
    with open(layout.space_yaml, "w") as fh:
        fh.write(space.to_yaml())
    with open(layout.run_json, "w") as fh:
        json.dump(RunInfo(study_name=space.name, run_id="r1").to_dict(), fh)
    return space, root, layout.default_storage()


def _supernet_epochs(root, epochs):
    trial = os.path.join(supernet_dir(str(root)), "supernet")
    os.makedirs(trial, exist_ok=True)
    with open(os.path.join(trial, "result.json"), "w") as fh:
        fh.writelines(json.dumps({"epoch": e, "accuracy": 0.5}) + "\n" for e in range(1, epochs + 1))
        fh.write('{"epoch": 9')  # a line a kill cut short


def _draw_subnets(space, url, n, start):
    space_a = arch_space(space)
    study = open_for_search(url, one_shot_study(space.name), space_a, optuna.samplers.RandomSampler(seed=start))
    for i in range(n):
        trial = study.ask()
        s = sample(space_a, trial, space.data.shape())
        params = 100 + 10 * len(s.params)
        trial.set_user_attr("arch", network_key(ArchSpec.from_dict(s.arch)))
        trial.set_user_attr("params", params)
        trial.set_user_attr("macs", params * 10)
        study.tell(trial, [0.5 + 0.01 * (start + i), params])
    return study


def test_status_follows_a_one_shot_study_through_its_phases_and_agrees_with_resume(tmp_path, capsys):
    from sksearch.cli import main as cli

    space, root, url = _folder(tmp_path)
    open_for_search(url, space.name, space)

    _supernet_epochs(root, 1)  # killed during the supernet's training
    info = sksearch.open(str(root)).status()
    assert info["one_shot"]["supernet"] == {"epochs": 1, "planned": 3, "state": "interrupted"}
    assert info["one_shot"]["search"] == "not started" and info["one_shot"]["draws"] == 0
    assert (info["planned"], info["finished"]) == (5, False)  # confirm + spread, until the search ends

    _supernet_epochs(root, 3)
    _draw_subnets(space, url, 5, 0)  # killed during the subnet search
    info = sksearch.open(str(root)).status()
    assert info["one_shot"]["supernet"]["state"] == "trained"
    assert (info["one_shot"]["search"], info["one_shot"]["draws"], info["one_shot"]["planned_draws"]) == \
        ("interrupted", 5, 8)
    assert info["one_shot"]["chosen"] is None and not info["finished"]
    assert cli(["status", str(root)]) == 0
    text = capsys.readouterr().out
    assert "supernet  3 of 3 epochs trained\n" in text
    assert f"one-shot  5 of 8 draws, interrupted (`sksearch resume {root}` continues it)" in text

    study = _draw_subnets(space, url, 3, 5)
    info = sksearch.open(str(root)).status()
    chosen = info["one_shot"]["chosen"]
    assert info["one_shot"]["search"] == "finished" and len(chosen) == info["planned"]
    networks = {t.number: t.user_attrs["arch"] for t in study.trials}
    assert len({networks[n] for n in chosen}) == len(chosen)
    assert not info["finished"] and info["done"] == 0

    # The confirmations: one trial of this run per chosen subnet, and the study is finished.
    main = optuna.load_study(study_name=space.name, storage=url)
    by_number = {t.number: t for t in study.trials}
    for n in chosen:
        t = by_number[n]
        main.add_trial(create_trial(state=TrialState.COMPLETE, params=t.params, distributions=t.distributions,
                                    values=[0.7, t.values[1]],
                                    user_attrs={"run_id": "r1", "epochs": 2,
                                                **{k: t.user_attrs[k] for k in ("params", "macs")}}))
    info = sksearch.open(str(root)).status()
    assert (info["planned"], info["done"], info["finished"]) == (len(chosen), len(chosen), True)
    assert info["planned"] != space.trials  # the space's 6 trials are not a one-shot study's plan
    assert cli(["status", str(root)]) == 0
    text = capsys.readouterr().out
    assert f"trials    {len(chosen)} of {len(chosen)} done by this folder's run" in text
    assert f"{len(chosen)} chosen, {len(chosen)} confirmed stand-alone" in text
