"""Synthetic study folders of any size, for benchmarks of the read commands at scale.

The trials' parameters come from the project's own sampler (``space.sample``, fed by random
draws) over a search space; their metrics are made up: accuracy grows with the model's size
and noise, 60% of the trials are stopped early at the first rung, 35% complete, 5% fail. The
study is created through Optuna (schema, directions, metric names) and its trials are written
with one bulk INSERT per table in Optuna's own layout, because Optuna's ORM takes about 5 ms a
trial (four minutes for 50,000). ``verify`` reads the study back through Optuna's API.

    python benchmarks/synthetic_study.py OUT_DIR --trials 10000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import sys
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class RandomDraw:
    """An Optuna-trial stand-in for ``space.sample``: random suggestions, recorded with their
    distributions as Optuna would store them."""

    def __init__(self, rng: np.random.Generator) -> None:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        self.rng, self.params, self.distributions = rng, {}, {}
        self._cat, self._float, self._int = CategoricalDistribution, FloatDistribution, IntDistribution

    def _keep(self, name: str, value: Any, dist: Any) -> Any:
        self.params[name], self.distributions[name] = value, dist
        return value

    def suggest_categorical(self, name: str, choices: tuple) -> Any:
        return self._keep(name, choices[self.rng.integers(len(choices))], self._cat(list(choices)))

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        value = int(low + step * self.rng.integers((high - low) // step + 1))
        return self._keep(name, value, self._int(low, high, step=step, log=log))

    def suggest_float(self, name: str, low: float, high: float, step: float | None = None, log: bool = False) -> float:
        value = float(math.exp(self.rng.uniform(math.log(low), math.log(high))) if log else self.rng.uniform(low, high))
        return self._keep(name, value, self._float(low, high, step=step, log=log))


def make_study(folder: str, trials: int, space_file: str = str(ROOT / "search_spaces" / "quickstart.yaml"),
               seed: int = 0) -> str:
    """A study folder with ``trials`` trials; returns the folder."""
    import optuna
    from optuna.distributions import distribution_to_json

    from sksearch.space import load_space
    from sksearch.space.sample import sample
    from sksearch.study.folder import RunInfo
    from sksearch.study.layout import Layout, atomic_write

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space(space_file)
    layout = Layout(folder)
    os.makedirs(folder, exist_ok=True)
    atomic_write(layout.space_yaml, space.to_yaml())
    atomic_write(layout.run_json, json.dumps(RunInfo(study_name=space.name, sksearch="0.2.0").to_dict()))
    atomic_write(layout.data_json, json.dumps({"name": "digits", "in_channels": 1, "input_size": 24,
                                               "num_classes": 10, "mean": [0.1], "std": [0.2]}))
    study = optuna.create_study(study_name=space.name, storage=layout.default_storage(), directions=space.directions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(space.metric_names)
    rng = np.random.default_rng(seed)
    shape = space.data.shape()
    start = datetime(2026, 1, 1)
    max_epochs, rung = space.scheduler.max_epochs, space.scheduler.grace_period
    rows: dict[str, list[tuple]] = {"trials": [], "trial_params": [], "trial_values": [], "trial_user_attributes": []}
    for number in range(trials):
        draw = RandomDraw(rng)
        sample(space, draw, shape)
        size = int(np.exp(rng.normal(10.5, 0.8)))
        final = float(np.clip(0.55 + 0.08 * math.log(size / 3e4) + rng.normal(0, 0.05), 0.05, 0.995))
        kind = rng.random()
        status = "failed" if kind < 0.05 else "completed" if kind < 0.40 else "stopped_early"
        epochs = (max_epochs if status == "completed" else rung if status == "stopped_early"
                  else int(rng.integers(1, max_epochs + 1)))
        curve = [{"epoch": e, "accuracy": round(final * (0.6 + 0.4 * e / max_epochs), 4), "loss": round(2.0 - final, 4),
                  "params": int(size), "macs": int(size * 40), "train_loss": round(2.1 - final, 4),
                  "train_time": 3.0 * e, "epoch_time": 3.0, "lr": 0.1} for e in range(1, epochs + 1)]
        attrs: dict[str, Any] = {"ray_trial_id": f"{number:08x}", "params": int(size), "macs": int(size * 40),
                                 "epochs": epochs, "accuracy": curve[-1]["accuracy"], "loss": curve[-1]["loss"],
                                 "train_time": 3.0 * epochs, "node": "synthetic", "status": status, "curve": curve}
        if status == "failed":
            attrs["reason"] = "RuntimeError: synthetic failure"
        trial_id = number + 1
        begin = start + timedelta(seconds=4 * number)
        state = {"completed": "COMPLETE", "stopped_early": "PRUNED", "failed": "FAIL"}[status]
        rows["trials"].append((trial_id, number, study._study_id, state, str(begin),
                               str(begin + timedelta(seconds=3 * epochs + 0.5))))
        for name, value in draw.params.items():
            dist = draw.distributions[name]
            rows["trial_params"].append((trial_id, name, dist.to_internal_repr(value), distribution_to_json(dist)))
        if status == "completed":
            metrics = {"accuracy": curve[-1]["accuracy"], "params": size, "macs": size * 40, "loss": curve[-1]["loss"]}
            for objective, name in enumerate(space.metric_names):
                rows["trial_values"].append((trial_id, objective, float(metrics[name]), "FINITE"))
        for key, value in attrs.items():
            rows["trial_user_attributes"].append((trial_id, key, json.dumps(value)))
    con = sqlite3.connect(layout.optuna_db)
    with con:
        con.executemany("INSERT INTO trials (trial_id, number, study_id, state, datetime_start, datetime_complete) "
                        "VALUES (?, ?, ?, ?, ?, ?)", rows["trials"])
        con.executemany("INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
                        "VALUES (?, ?, ?, ?)", rows["trial_params"])
        con.executemany("INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES (?, ?, ?, ?)",
                        rows["trial_values"])
        con.executemany('INSERT INTO trial_user_attributes (trial_id, "key", value_json) VALUES (?, ?, ?)',
                        rows["trial_user_attributes"])
    con.close()
    return folder


def verify(folder: str) -> None:
    """Optuna reads the study back, and its own front equals sksearch's."""
    import optuna

    import sksearch

    s = sksearch.open(folder)
    study = optuna.load_study(study_name=s.name, storage=s.storage_url)
    assert len(study.trials) == len(s.table)
    theirs = sorted(t.number for t in study.best_trials)
    ours = sorted(s.front().trial_id)
    assert theirs == ours, (theirs[:10], ours[:10])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make_study(args.folder, args.trials, seed=args.seed)
    verify(args.folder)
    print(f"wrote {args.folder} with {args.trials} trials")


if __name__ == "__main__":
    main()
