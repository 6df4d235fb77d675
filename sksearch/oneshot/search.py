"""The search over subnets: the space's sampler draws subnets, each is evaluated with the
weights it inherits from the trained supernet (BatchNorm recalibrated), under the space's
budgets, as trials of a study of its own beside the main one (``NAME:one_shot``).

An evaluation takes a fraction of a second where a stand-alone trial takes minutes, so this
study holds thousands of trials. Every trial is written to the study, finished, as soon as it
is evaluated: a kill loses at most the subnet being evaluated, and the search continues to
``strategy.subnets`` draws.

A sampler draws the same subnet again and again (TPE settles on a few), and values that build
one network (two r that give the same fuse width) are different draws to it. Each network is
evaluated once, keyed by ``network_key``: a repeat draw is told the first one's values (as
Optuna's FAQ answers duplicate samples), written with ``status: repeat``, ``repeat_of`` (the
first's trial number) and ``arch`` (the key), and counted once everywhere it is read. It holds
no copy of the first's measurements (params, MACs, loss...) nor a reason: the subnet table
fills them in.

With ``strategy.screen_images`` a new network is screened first on that many val images and
scored in full only when it is within reach of the front (``screen.py``); one left at its
screening score carries ``screened_on`` (the images its values come from).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import optuna
import torch
from optuna.trial import TrialState
from safetensors.torch import load_file

from ..data.load import make_batches
from ..model.spec import ArchSpec, SpecError
from ..search.optuna_searcher import set_constraints
from ..space.parsed import SearchSpace
from ..space.sample import Checked, draw_fixed, sample, violations
from ..space.samplers import make_sampler
from ..study.store import one_shot_study, open_for_search
from .bn import calibration_batches
from .sandwich import arch_space, evaluate_subnet, recipe
from .screen import FirstImages, calibration_share, within_reach
from .shareable import supernet_layout
from .supernet import Supernet

PROGRESS_EVERY_S = 10.0
REPEAT = "repeat"  # the status attribute of a draw answered from an earlier one's evaluation


def network_key(spec: ArchSpec) -> str:
    """A hash of the network ``spec`` builds: each stage's SK settings resolved, and r and L
    replaced by the fuse width d = max(width // r, L) they give (none where the conv does not
    attend), so that settings which build the same network give the same key."""
    arch = spec.to_dict()
    for i, stage in enumerate(arch["stages"]):
        sk = spec.sk_of(i)
        stage["sk"] = None if not spec.kind.uses("sk") else {
            "branches": [list(b) for b in sk.branches], "select": sk.select,
            "fuse": max(int(spec.stages[i].width // sk.reduction), sk.min_dim) if sk.attends else None}
    arch["sk"] = None
    if not spec.kind.uses("se_reduction"):
        arch["se_reduction"] = None
    return hashlib.sha1(json.dumps(arch, sort_keys=True).encode()).hexdigest()[:16]


def _stored_key(space: SearchSpace, trial: optuna.trial.FrozenTrial) -> str | None:
    """The network key of a stored subnet trial: its ``arch`` attribute, or (a study from before
    the attribute) its values' network; None for a draw that is no valid network."""
    if "arch" in trial.user_attrs:
        return str(trial.user_attrs["arch"])
    try:
        s, _ = draw_fixed(space, trial.params, f"{one_shot_study(space.name)} trial {trial.number}", fill=True)
        return network_key(ArchSpec.from_dict(s.arch))
    except (SpecError, ValueError):
        return None


def load_supernet(space: SearchSpace, shape: Any, weights: str, device: torch.device | str = "cpu") -> Supernet:
    supernet = Supernet(supernet_layout(space.model, shape))
    supernet.net.load_state_dict(load_file(weights))
    return supernet.to(device).eval()


def _objective_values(space: SearchSpace, found: dict[str, float]) -> list[float]:
    return [float(found[name]) for name in space.metric_names]


def _val_size(batches: Any) -> int:
    return len(batches.y_val) if hasattr(batches, "y_val") else len(batches.val_set)


def _screen_images(space: SearchSpace, batches: Any) -> int:
    """The val images a screening reads, or 0 when the search scores every network in full:
    no ``screen_images``, as many as val holds, or ``loss`` an objective (the margin is one of
    accuracy)."""
    n = space.strategy.screen_images
    if n <= 0 or "loss" in space.metric_names or n >= _val_size(batches):
        return 0
    return n


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

    shape = space.data.shape(data)
    strategy = space.strategy
    train = recipe(space_a, strategy.supernet_epochs)
    supernet = load_supernet(space, shape, weights, device)
    batches = make_batches(data, device, train.batch_size, seed=train.seed,
                           channels_last=train.uses_channels_last, workers=0)
    calibration = calibration_batches(batches, strategy.calibration_batches)
    screen = _screen_images(space, batches)
    screening = (f", screened on {screen:,} val images (BatchNorm from {len(calibration_share(calibration))} "
                 f"batches) and scored in full near the front") if screen else ""
    print(f"searching subnets: {strategy.subnets - done} of {strategy.subnets} draws left, sampler "
          f"{space.sampler.name}, inherited weights with BatchNorm recalibrated on {len(calibration)} batches, each "
          f"network evaluated once{screening}; study {study.study_name}", flush=True)
    # The sampler works on a copy in memory; each finished trial is then written to the study in
    # one transaction (add_trial), not one commit per attribute: SQLite's commits, not the
    # evaluations, would otherwise bound the rate.
    memory = optuna.create_study(directions=space_a.directions)
    memory.add_trials(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                    TrialState.FAIL)))
    costs: dict[str, tuple[int, int]] = {}
    # The first draw of each network: a repeat is answered from it (trials are numbered alike in
    # memory and in the study, which holds only what this loop added).
    first: dict[str, optuna.trial.FrozenTrial] = {}
    for t in memory.get_trials(deepcopy=False):
        key = _stored_key(space_a, t)
        if key is not None and "repeat_of" not in t.user_attrs:
            first.setdefault(key, t)
    acc = space.metric_names.index("accuracy")
    # The networks scored in full, as (costs, accuracy): what a screened network must be
    # within reach of. Costs are the objectives other than accuracy, with their directions.
    cost_names = [name for name in space.metric_names if name != "accuracy"]
    minimize = [d == "minimize" for name, d in zip(space.metric_names, space_a.directions) if name != "accuracy"]
    scored = [([t.values[space.metric_names.index(name)] for name in cost_names], t.values[acc])
              for t in first.values()
              if screen and t.state == TrialState.COMPLETE and "screened_on" not in t.user_attrs]
    started = last_print = time.time()
    evaluated = screened_out = 0
    best = max((t.values[acc] for t in first.values() if t.state == TrialState.COMPLETE), default=float("nan"))
    while done < strategy.subnets:
        # Seeded by the study's size, as the main searcher does: a resumed search draws what an
        # uninterrupted one would.
        memory.sampler = make_sampler(space_a, offset=len(memory.get_trials(deepcopy=False)), previous=memory.sampler)
        trial = memory.ask()
        checked = _check(space_a, sample(space_a, trial, shape), costs)
        set_constraints(trial, space_a, checked)
        key = None if checked.spec is None else network_key(checked.spec)
        earlier = first.get(key) if key is not None else None
        if earlier is not None:
            # The same network again: its first evaluation (or rejection) answers it, and the
            # sampler is told so, as Optuna's FAQ answers a duplicate sample.
            if earlier.state == TrialState.COMPLETE:
                # Its values and the link to the first: the first's measurements, and the reason
                # that names it, are read from there (``subnet_table``); copying them made the
                # write, most of a repeat's cost, twice as long.
                attrs = {"status": REPEAT, "run_id": run_id, "repeat_of": earlier.number, "arch": key}
            else:
                attrs = {**earlier.user_attrs, "run_id": run_id, "repeat_of": earlier.number, "arch": key}
            values, state = (earlier.values if earlier.state == TrialState.COMPLETE else None), earlier.state
        elif checked.reason is not None:
            attrs = {"status": "rejected", "reason": checked.reason, **checked.cost, "epochs": 0, "run_id": run_id,
                     "arch": key}
            values, state = None, TrialState.PRUNED
        else:
            t0 = time.perf_counter()
            found = dict(checked.cost)
            if "latency" in space.metric_names:
                model = supernet.subnet(checked.spec)
                found["latency"] = measure_latency(model, (1, shape.in_channels, shape.input_size, shape.input_size),
                                                   channels_last=train.uses_channels_last)
            full = True
            if screen:
                accuracy, loss = evaluate_subnet(supernet, checked.spec, calibration_share(calibration),
                                                 FirstImages(batches, screen), torch.device(device), train)
                full = within_reach([found[name] for name in cost_names], accuracy, screen, scored, minimize)
            if full:
                accuracy, loss = evaluate_subnet(supernet, checked.spec, calibration, batches, torch.device(device),
                                                 train)
            found.update(accuracy=accuracy, loss=loss)
            screened_out += not full
            if full and screen:
                scored.append(([found[name] for name in cost_names], accuracy))
            attrs = {**found, "epochs": strategy.supernet_epochs, "run_id": run_id,
                     "eval_time": time.perf_counter() - t0, "arch": key, "screened_on": None if full else screen}
            values, state = _objective_values(space, found), TrialState.COMPLETE
            evaluated += 1
            best = accuracy if not best >= accuracy else best
        for name, value in attrs.items():
            if value is not None:
                trial.set_user_attr(name, value)
        frozen = memory.tell(trial, values, state=state)
        study.add_trial(frozen)
        if key is not None and earlier is None:
            first[key] = frozen
        done += 1
        if time.time() - last_print >= PROGRESS_EVERY_S or done == strategy.subnets:
            last_print = time.time()
            rate = evaluated / max(time.time() - started, 1e-9)
            print(f"subnets: {done}/{strategy.subnets} draws, {len(first)} distinct networks "
                  f"({sum(t.state == TrialState.COMPLETE for t in first.values())} evaluated, the rest outside the "
                  f"budgets{f'; {screened_out} this run left at their screening score' if screen else ''}), "
                  f"{rate:.1f} evaluations per s, best accuracy {best:.4f}", flush=True)
    return study


def _check(space: SearchSpace, s: Any, costs: dict[str, tuple[int, int]]) -> Checked:
    """``check_sample`` with each architecture counted once (a count takes ~0.1 s; a sampler
    proposes the same subnet again and again)."""
    from ..model.cost import params_and_macs

    try:
        spec = ArchSpec.from_dict(s.arch)
    except SpecError as exc:
        return Checked(s, None, None, None, f"invalid architecture: {exc}")
    key = spec.to_json(indent=None)
    if key not in costs:
        costs[key] = params_and_macs(spec, fits_memory=True)  # a subnet: the supernet holds all its weights
    params, macs = costs[key]
    broken = violations(space, params, macs)
    return Checked(s, spec, params, macs, "; ".join(broken) if broken else None)
