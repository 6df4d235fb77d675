"""The search over subnets: the space's sampler draws subnets, each is evaluated with the
weights it inherits from the trained supernet (BatchNorm recalibrated), under the space's
budgets, as trials of a study of its own beside the main one (``NAME:one_shot``).

An evaluation takes a fraction of a second where a stand-alone trial takes minutes, so this
study holds thousands of trials. Every trial is told as soon as it is evaluated: after a kill
the search continues to ``strategy.subnets`` evaluations, and a trial the kill left RUNNING
is told FAIL with the reason.
"""

from __future__ import annotations

import time
from typing import Any

import optuna
import torch
from optuna.trial import TrialState
from safetensors.torch import load_file

from ..data.load import make_batches
from ..search.optuna_searcher import set_constraints
from ..search.samplers import make_sampler
from ..space.sample import check_sample, sample
from ..space.schema import SearchSpace
from ..study.optuna_private import set_user_attrs
from ..study.store import open_for_search
from .bn import calibration_batches
from .sandwich import arch_space, evaluate_subnet, recipe
from .shareable import supernet_layout
from .supernet import Supernet

ONE_SHOT_SUFFIX = ":one_shot"
PROGRESS_EVERY_S = 10.0


def one_shot_study(name: str) -> str:
    """The study of a space's subnet evaluations, beside its main study."""
    return name + ONE_SHOT_SUFFIX


def load_supernet(space: SearchSpace, shape: Any, weights: str, device: torch.device | str = "cpu") -> Supernet:
    supernet = Supernet(supernet_layout(space.model, shape))
    supernet.net.load_state_dict(load_file(weights))
    return supernet.to(device).eval()


def _objective_values(space: SearchSpace, found: dict[str, float]) -> list[float]:
    return [float(found[name]) for name in space.metric_names]


def search_subnets(space: SearchSpace, data: Any, weights: str, storage_url: str, device: str = "cpu",
                   run_id: str | None = None) -> optuna.Study:
    """Evaluate subnets until the one-shot study holds ``strategy.subnets`` ended trials;
    returns the study."""
    from ..model.cost import measure_latency

    space_a = arch_space(space)
    shape = space.data.shape(getattr(data, "num_classes", None))
    strategy = space.strategy
    train = recipe(space_a, strategy.supernet_epochs)
    name = one_shot_study(space.name)
    study = open_for_search(storage_url, name, space_a)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        set_user_attrs(study, t.number, {"status": "failed", "reason": "left running by a search that was stopped"})
        study.tell(t.number, state=TrialState.FAIL)
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)))
    if done >= strategy.subnets:
        return study
    supernet = load_supernet(space, shape, weights, device)
    batches = make_batches(data, device, train.batch_size, seed=train.seed,
                           channels_last=train.uses_channels_last, workers=0)
    calibration = calibration_batches(batches, strategy.calibration_batches)
    print(f"searching subnets: {strategy.subnets - done} of {strategy.subnets} evaluations left, sampler "
          f"{space.sampler.name}, inherited weights with BatchNorm recalibrated on {len(calibration)} batches; "
          f"study {name}", flush=True)
    started = last_print = time.time()
    evaluated = 0
    while done < strategy.subnets:
        # Seeded by the study's size, as the main searcher does: a resumed search draws what an
        # uninterrupted one would.
        study.sampler = make_sampler(space_a, offset=len(study.get_trials(deepcopy=False)))
        trial = study.ask()
        checked = check_sample(space_a, sample(space_a, trial, shape))
        set_constraints(trial, space_a, checked)
        if checked.reason is not None:
            set_user_attrs(study, trial.number, {"status": "rejected", "reason": checked.reason, **checked.cost,
                                                 "epochs": 0, "run_id": run_id})
            study.tell(trial, state=TrialState.PRUNED)
        else:
            t0 = time.perf_counter()
            accuracy, loss = evaluate_subnet(supernet, checked.spec, calibration, batches, torch.device(device), train)
            found = {"accuracy": accuracy, "loss": loss, **checked.cost}
            if "latency" in space.metric_names:
                model = supernet.subnet(checked.spec)
                found["latency"] = measure_latency(model, (1, shape.in_channels, shape.input_size, shape.input_size),
                                                   channels_last=train.uses_channels_last)
            set_user_attrs(study, trial.number, {**found, "epochs": strategy.supernet_epochs, "run_id": run_id,
                                                 "eval_time": time.perf_counter() - t0})
            study.tell(trial, _objective_values(space, found))
            evaluated += 1
        done += 1
        if time.time() - last_print >= PROGRESS_EVERY_S or done == strategy.subnets:
            last_print = time.time()
            rate = evaluated / max(time.time() - started, 1e-9)
            best = max((t.values[space.metric_names.index("accuracy")] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))),
                       default=float("nan"))
            print(f"subnets: {done}/{strategy.subnets} evaluated, {rate:.1f} per s, best accuracy {best:.4f}",
                  flush=True)
    return study
