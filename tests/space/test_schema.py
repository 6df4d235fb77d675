import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sksearch.cli import main
from sksearch.errors import UserError
from sksearch.space import load_space, parse
from sksearch.space.distributions import SpaceError
from sksearch.space.overrides import prepare_space
from tests.conftest import TINY_SPACE, write_space


def test_tiny_space_parses_and_round_trips(tmp_path):
    space = load_space(str(write_space(tmp_path)))
    assert space.name == "tiny" and space.trials == 6 and space.metric_names == ["accuracy", "params"]
    assert space.directions == ["maximize", "minimize"]
    assert space.scheduler.rungs() == [1]
    again = parse(yaml.safe_load(space.to_yaml()), "again")
    assert again.to_dict() == space.to_dict()


@pytest.mark.parametrize("objectives,scheduler", [(["accuracy", "params"], "mo_asha"), (["accuracy"], "asha"),
                                                  (["accuracy", "macs", "latency"], "mo_asha")])
def test_the_default_scheduler_is_mo_asha_for_several_objectives(tmp_path, objectives, scheduler):
    raw = yaml.safe_load(TINY_SPACE)
    raw["objectives"] = objectives
    raw["scheduler"] = {"max_epochs": 4}
    space = parse(raw, "x.yaml")
    assert space.scheduler.name == scheduler and space.scheduler.max_epochs == 4
    assert parse(raw | {"scheduler": {"name": "asha"}}, "x.yaml").scheduler.name == "asha"  # an explicit name wins
    del raw["scheduler"]
    assert parse(raw, "x.yaml").scheduler.name == scheduler
    # The resolved name is written into the study's space.yaml, so a resume runs the same scheduler.
    assert yaml.safe_load(space.to_yaml())["scheduler"]["name"] == scheduler


def test_the_trials_default_is_one_value():
    """A space file without ``trials``, a ``SearchSpace`` built without it and the generated
    reference all take ``parsed.DEFAULT_TRIALS``: one place to change it."""
    from sksearch.docs_reference import schema_keys
    from sksearch.space.parsed import DEFAULT_TRIALS, SearchSpace

    raw = yaml.safe_load(TINY_SPACE)
    del raw["trials"]
    space = parse(raw, "no_trials.yaml")
    assert space.trials == DEFAULT_TRIALS
    assert SearchSpace(name="t", source="t", data=space.data, model=space.model, train={},
                       objectives=space.objectives).trials == DEFAULT_TRIALS
    assert {k.path: k.default for k in schema_keys()}["trials"] == str(DEFAULT_TRIALS)


SHIPPED = sorted(p.stem for p in Path("search_spaces").glob("*.yaml"))


def test_every_paper_question_has_a_space():
    assert {"quickstart", "cifar10_sknet29", "cifar100_sknet29", "imagenet_sknet50", "imagenet_shufflenet_sk",
            "ablation_kernels", "ablation_branch", "ablation_kernels_cpu", "ablation_branch_cpu",
            "shufflenet_sk_cpu"} <= set(SHIPPED)


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_spaces_are_valid(path):
    space = prepare_space(f"search_spaces/{path}.yaml")  # parsed, feasible, seed configs drawable
    assert space.name == path and "accuracy" in space.metric_names


def mutate(text: str, dotted: str, value) -> str:
    raw = yaml.safe_load(text)
    node = raw
    *parents, last = dotted.split(".")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is KeyError:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return yaml.safe_dump(raw)


CASES = [
    ("colour", "red", "colour: unknown key; allowed: name, description, data"),
    ("model.block", "dense", "model.block: must be one of resnext, se, sk"),
    ("model.family", "mobilenet", "model.family: must be one of resnext, shufflenetv2"),
    ("model.family", "shufflenetv2",
     "model.groups: the shufflenetv2 family's 3x3 convs are depthwise: leave groups out"),
    ("model.width_multiplier", 0.5, "model.width_multiplier: applies to the shufflenetv2 family only"),
    ("model.sk.select", "max", "model.sk.select: must be one of softmax, sum"),
    ("model.sk.branches.1.groups", {"choice": [2, 0]},
     "model.sk.branches[1].groups.choice[1]: must be an integer from 1"),
    ("model.sk.branches", {"choice": [[{"kernel": 3, "dilation": 1}]]},
     "model.sk.M: comes from the chosen branch set (branches: {choice: [...]}): leave M out"),
    ("model.groups", {"choice": [2, 0]}, "model.groups.choice[1]: must be an integer from 1 to 4,096, got 0"),
    ("model.sk.branches.1.kernel", {"choice": [3, 4]},
     "model.sk.branches[1].kernel.choice[1]: must be an odd positive integer"),
    ("model.sk.branches.1.dilation", {"int": [3, 1]}, "model.sk.branches[1].dilation.int: low must be below high"),
    ("model.sk.branches.1.dilation", {"int": [1, 3], "float": [1, 2]}, "give exactly one of choice, int, float"),
    ("model.sk.branches.1.dilation", {"choice": []}, "model.sk.branches[1].dilation.choice: must be a non-empty list"),
    ("model.sk.M", {"choice": [1, 3]}, "model.sk.M: can be at most the 2 branches listed"),
    ("model.sk.reduction", {"float": [0, 4], "log": True}, "model.sk.reduction.log: a log scale needs low > 0"),
    ("model.sk.reduction", {"int": [1, 4], "colour": 1},
     "model.sk.reduction.colour: unknown key for a int distribution"),
    ("model.sk.branches.0.kernel", KeyError, "model.sk.branches[0].kernel: is required"),
    ("model.stages.0.depth", KeyError, "model.stages[0].depth: is required"),
    ("model.stages.0.width", 8, "model.stages[0]: give exactly one of width and width_per_group"),
    ("model.stages.0.stride", 3, "model.stages[0].stride: must be one of 1, 2"),
    ("model.stages", [], "model.stages: must be a list of 1 to 16 stages"),
    ("model", KeyError, "model: is required"),
    ("train.lr", {"float": [0.1, "fast"]}, "train.lr.float[1]: must be a number"),
    ("train.optimizer", "lion", "train.optimizer: must be one of sgd, adamw"),
    ("train.momentum", 1.0, "train.momentum: must be a finite number >= 0 and < 1"),
    ("train.epochs", 3, "train.epochs: unknown key"),
    ("objectives", ["params"], "objectives: must include accuracy"),
    ("objectives", ["accuracy", "speed"], "objectives[1]: must be one of accuracy, params, macs, latency, loss"),
    ("objectives", ["accuracy", {"name": "params", "goal": "max"}], "objectives[1].goal: params is always minimised"),
    ("constraints", {"flops": 3}, "constraints.flops: unknown key; allowed: params, macs"),
    ("constraints", {"params": {"max": "lots"}}, "constraints.params.max: must be a number (e.g. 2000000, 2e6 or 2M)"),
    ("constraints", {"params": {"min": 5, "max": 2}}, "constraints.params: min 5 is above max 2"),
    ("sampler", {"name": "cmaes"}, "sampler.name: must be one of tpe, gp, nsga2, nsga3, random"),
    ("scheduler", {"name": "asha", "max_epochs": 2, "grace_period": 3},
     "scheduler.grace_period: 3 exceeds max_epochs 2"),
    ("scheduler", {"name": "hyperband"}, "scheduler.name: must be one of asha, mo_asha, none"),
    ("resources", {"cpu": 0}, "resources.cpu: must be a finite number > 0 and <= 1024"),
    ("concurrency", 0, "concurrency: must be an integer from 1 to 10,000"),
    ("trials", "many", "trials: must be an integer from 1 to 1,000,000"),
    ("data.name", "svhn", "data.name: must be one of digits, cluttered_digits, fashion_mnist, mnist, kmnist, cifar10, "
                          "cifar100, imagefolder, synthetic_cifar"),
    ("data.val_split", "test", "data.val_split: test would rank and stop trials on the test split"),
    ("data.augment", "mixup", "data.augment: must be one of none, crop, crop_flip"),
    ("data.max_scale", 3.0, "data.max_scale: 3.0 makes digits of 24 px, larger than the 12 px canvas"),
    ("data.min_scale", 0.05, "data.min_scale: 0.05 makes digits of 0 px; allowed: > 0.0625"),
    ("data.download", "yes", "data.download: must be true or false"),
    ("constraints", {"params": {"max": 10}},
     "constraints: no network of the space meets the budgets: its smallest has"),
    ("model.stages.0", {"depth": 1, "width": 7, "out_channels": 8},
     "model: none of 200 sampled architectures is valid, e.g. groups: 2 does not divide"),
]


@pytest.mark.parametrize("key,value,message", CASES, ids=[c[0] + ":" + str(i) for i, c in enumerate(CASES)])
def test_bad_spaces_name_the_file_and_the_key(tmp_path, capsys, key, value, message):
    path = tmp_path / "bad.yaml"
    path.write_text(mutate(TINY_SPACE, key, value))
    with pytest.raises(UserError) as err:
        prepare_space(str(path))  # what `run` checks before it writes anything
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written for a bad file


def test_a_branch_set_holds_values_only():
    raw = yaml.safe_load(TINY_SPACE)
    raw["model"]["sk"].pop("M", None)
    raw["model"]["sk"]["branches"] = {"choice": [[{"kernel": 3, "dilation": 1}],
                                                 [{"kernel": 3, "dilation": {"int": [1, 2]}}]]}
    with pytest.raises(SpaceError) as err:
        parse(raw, "x.yaml")
    assert "model.sk.branches.choice[1][0].dilation: the branches of a set are fixed; give a value" in str(err.value)


def test_yaml_syntax_errors_give_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nmodel: [unclosed\n")
    with pytest.raises(UserError, match=r"broken.yaml: not valid YAML at line 3"):
        load_space(str(path))


def test_cli_exit_code_and_no_traceback(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(mutate(TINY_SPACE, "model", 3))
    proc = subprocess.run([sys.executable, "-m", "sksearch", "run", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "model: must be a mapping" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "sksearch", "run", str(tmp_path / "none.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "none.yaml: cannot read" in proc.stderr


def test_numbers_accept_suffixes(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(mutate(TINY_SPACE, "constraints", {"params": "1.5M", "macs": {"max": "2e9", "min": "1K"}}))
    space = load_space(str(path))
    assert space.constraints == {"params": {"max": 1_500_000}, "macs": {"max": 2_000_000_000, "min": 1000}}


def branch_sets(tmp_path, sets) -> Path:
    raw = yaml.safe_load(TINY_SPACE)
    del raw["model"]["sk"]["M"]
    raw["model"]["sk"]["branches"] = {"choice": sets}
    path = tmp_path / "sets.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


K3, K5 = {"kernel": 3, "dilation": 1}, {"kernel": 3, "dilation": 2}


@pytest.mark.parametrize("sets,message", [
    ([[K3], "x"], "model.sk.branches.choice[1]: must be a list of 1 to 16 {kernel, dilation[, groups]} entries"),
    ([[K3], [K3, {"kernel": 4, "dilation": 1}]],
     "model.sk.branches.choice[1][1].kernel: must be an odd positive integer"),
    ([[K3], [K3]], "model.sk.branches: lists a branch set twice: 3x3d1"),
])
def test_bad_branch_sets_are_named(tmp_path, sets, message):
    with pytest.raises(UserError) as err:
        prepare_space(str(branch_sets(tmp_path, sets)))
    assert message in str(err.value)


def test_branch_sets_are_one_categorical_with_readable_labels(tmp_path):
    import optuna

    from sksearch.space.sample import sample

    space = prepare_space(str(branch_sets(tmp_path, [[K3], [K3, K5], [K3, {**K5, "groups": 1}]])))
    for label, branches in (("3x3d1", [[3, 1]]), ("3x3d1+3x3d2", [[3, 1], [3, 2]]),
                            ("3x3d1+3x3d2g1", [[3, 1], [3, 2, 1]])):
        s = sample(space, optuna.trial.FixedTrial({"sk.branches": label, "stages.0.width_per_group": 2, "lr": 0.1}),
                   space.data.shape())
        assert s.arch["sk"]["branches"] == branches and s.params["sk.branches"] == label
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = set()
    for _ in range(30):
        trial = study.ask()
        drawn.add(sample(space, trial, space.data.shape()).params["sk.branches"])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert drawn == {"3x3d1", "3x3d1+3x3d2", "3x3d1+3x3d2g1"}


def test_every_searched_value_is_a_distribution_and_every_other_value_is_not(tmp_path):
    """Sampling tells a searched value from a fixed one by type: the tiny space's four searched
    values (and a branch set) are Distributions, each suggested under its own name."""
    import optuna

    from sksearch.space.distributions import BranchSets, Distribution

    space = parse(yaml.safe_load(TINY_SPACE), "tiny.yaml")
    searched = {"sk.M": space.model["sk"]["M"], "sk.branches.1.dilation": space.model["sk"]["branches"][1]["dilation"],
                "stages.0.width_per_group": space.model["stages"][0]["width_per_group"], "lr": space.train["lr"]}
    assert all(isinstance(v, Distribution) for v in searched.values())
    fixed = [space.model["block"], space.model["sk"]["branches"][0]["kernel"], space.train["batch_size"]]
    assert not any(isinstance(v, Distribution) for v in fixed)
    assert issubclass(BranchSets, Distribution)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    for name, dist in searched.items():
        value = dist.suggest(trial, name)
        assert (dist.low <= value <= dist.high) if name == "lr" else value in dist.candidates()
    assert set(trial.params) == set(searched)
    sets = BranchSets(((K3,), (K3, K5)))
    assert sets.suggest(trial, "sk.branches") in ([K3], [K3, K5]) and sets.to_dict() == {"choice": [[K3], [K3, K5]]}


def test_block_plain_is_the_older_resnext(tmp_path):
    """``block: plain`` names the unit with neither SE nor SK (``resnext`` says the same, in the
    shufflenetv2 family too): a space may search over it, and its networks are exactly resnext's."""
    import optuna

    from sksearch.space.sample import check_sample, sample

    def first_draw(block):
        path = tmp_path / "plain.yaml"
        path.write_text(mutate(TINY_SPACE, "model.block", block))
        space = prepare_space(str(path))
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
        return check_sample(space, sample(space, trial, space.data.shape()))

    plain, older = first_draw("plain"), first_draw("resnext")
    assert plain.spec.block == "resnext" and plain.spec == older.spec and plain.macs == older.macs
    assert first_draw({"choice": ["plain"]}).spec == older.spec


def test_the_confirm_phase_key():
    from tests.conftest import TINY_SPACE

    raw = yaml.safe_load(TINY_SPACE)
    plain = parse(raw)
    assert not plain.confirm.wanted and "confirm" not in plain.to_dict()  # older spaces re-read as they were
    asked = parse({**raw, "confirm": {"seeds": 2, "top": 3, "audit": 1}})
    assert (asked.confirm.seeds, asked.confirm.top, asked.confirm.audit) == (2, 3, 1)
    assert parse(asked.to_dict()).confirm == asked.confirm
    for bad, key in (({"seeds": -1}, "confirm.seeds"), ({"top": 0}, "confirm.top"), ({"rounds": 2}, "confirm")):
        with pytest.raises(SpaceError) as err:
            parse({**raw, "confirm": bad})
        assert key in str(err.value)
