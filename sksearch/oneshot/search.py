"""The search over subnets: the space's sampler draws subnets, each is evaluated with the
weights it inherits from the trained supernet (BatchNorm recalibrated), under the space's
budgets, as trials of a study of its own beside the main one (``NAME:one_shot``).

An evaluation takes a fraction of a second where a stand-alone trial takes minutes, so this
study holds thousands of trials. Every trial is written to the study, finished, as soon as it
is evaluated: a kill loses at most the subnet being evaluated, and the search continues to
``strategy.subnets`` evaluations.
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
from ..space.sample import Checked, sample, violations
from ..space.parsed import SearchSpace
from ..study.store import one_shot_study, open_for_search
from .bn import calibration_batches
from .sandwich import arch_space, evaluate_subnet, recipe
from .shareable import supernet_layout
from .supernet import Supernet

PROGRESS_EVERY_S = 10.0


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
    space_a = arch_space(space)
    strategy = space.strategy
    study = open_for_search(storage_url, one_shot_study(space.name), space_a)
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)))
    if done >= strategy.subnets:
        return study
    # The trials' thread count: with more threads than cores a busy CPU turns each tiny
    # BatchNorm into a thread rendezvous (46 ms instead of 0.04 ms under load on 2 cores).
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(space.resources.cpu)))
    try:
        return _search(space, space_a, study, done, data, weights, device, run_id)
    finally:
        torch.set_num_threads(threads)


def _search(space: SearchSpace, space_a: SearchSpace, study: optuna.Study, done: int, data: Any, weights: str,
            device: str, run_id: str | None) -> optuna.Study:
    from ..model.cost import measure_latency

    shape = space.data.shape(getattr(data, "num_classes", None))
    strategy = space.strategy
    train = recipe(space_a, strategy.supernet_epochs)
    supernet = load_supernet(space, shape, weights, device)
    batches = make_batches(data, device, train.batch_size, seed=train.seed,
                           channels_last=train.uses_channels_last, workers=0)
    calibration = calibration_batches(batches, strategy.calibration_batches)
    print(f"searching subnets: {strategy.subnets - done} of {strategy.subnets} evaluations left, sampler "
          f"{space.sampler.name}, inherited weights with BatchNorm recalibrated on {len(calibration)} batches; "
          f"study {study.study_name}", flush=True)
    # The sampler works on a copy in memory; each finished trial is then written to the study in
    # one transaction (add_trial), not one commit per attribute: SQLite's commits, not the
    # evaluations, would otherwise bound the rate.
    memory = optuna.create_study(directions=space_a.directions)
    memory.add_trials(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                    TrialState.FAIL)))
    costs: dict[str, tuple[int, int]] = {}
    acc = space.metric_names.index("accuracy")
    started = last_print = time.time()
    evaluated, best = 0, max((t.values[acc] for t in memory.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))),
                             default=float("nan"))
    while done < strategy.subnets:
        # Seeded by the study's size, as the main searcher does: a resumed search draws what an
        # uninterrupted one would.
        memory.sampler = make_sampler(space_a, offset=len(memory.get_trials(deepcopy=False)))
        trial = memory.ask()
        checked = _check(space_a, sample(space_a, trial, shape), costs)
        set_constraints(trial, space_a, checked)
        if checked.reason is not None:
            attrs = {"status": "rejected", "reason": checked.reason, **checked.cost, "epochs": 0, "run_id": run_id}
            values, state = None, TrialState.PRUNED
        else:
            t0 = time.perf_counter()
            accuracy, loss = evaluate_subnet(supernet, checked.spec, calibration, batches, torch.device(device), train)
            found = {"accuracy": accuracy, "loss": loss, **checked.cost}
            if "latency" in space.metric_names:
                model = supernet.subnet(checked.spec)
                found["latency"] = measure_latency(model, (1, shape.in_channels, shape.input_size, shape.input_size),
                                                   channels_last=train.uses_channels_last)
            attrs = {**found, "epochs": strategy.supernet_epochs, "run_id": run_id,
                     "eval_time": time.perf_counter() - t0}
            values, state = _objective_values(space, found), TrialState.COMPLETE
            evaluated += 1
            best = accuracy if not best >= accuracy else best
        for key, value in attrs.items():
            if value is not None:
                trial.set_user_attr(key, value)
        frozen = memory.tell(trial, values, state=state)
        study.add_trial(frozen)
        done += 1
        if time.time() - last_print >= PROGRESS_EVERY_S or done == strategy.subnets:
            last_print = time.time()
            rate = evaluated / max(time.time() - started, 1e-9)
            print(f"subnets: {done}/{strategy.subnets} evaluated, {rate:.1f} per s, best accuracy {best:.4f}",
                  flush=True)
    return study


def _check(space: SearchSpace, s: Any, costs: dict[str, tuple[int, int]]) -> Checked:
    """``check_sample`` with each architecture counted once (a count takes ~0.1 s; a sampler
    proposes the same subnet again and again)."""
    from ..model.cost import params_and_macs
    from ..model.spec import ArchSpec, SpecError

    try:
        spec = ArchSpec.from_dict(s.arch)
    except SpecError as exc:
        return Checked(s, None, None, None, f"invalid architecture: {exc}")
    key = spec.to_json(indent=None)
    if key not in costs:
        costs[key] = params_and_macs(spec)
    params, macs = costs[key]
    broken = violations(space, params, macs)
    return Checked(s, spec, params, macs, "; ".join(broken) if broken else None)
