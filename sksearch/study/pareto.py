"""Pareto fronts and hypervolume over a study's trials.

Fronts are drawn from completed (full-budget) trials only: a trial stopped early has a
partial accuracy and must not sit on a front. Non-dominated sorting and the hypervolume come
from Optuna (through ``optuna_private``; both minimise), wrapped here for any mix of max and
min objectives.

Hypervolume is computed on normalised objectives so it reads as a fraction of the unit box:
accuracy a (max) becomes 1 - a with reference 1 (accuracy 0); a cost c (params, MACs,
latency, loss; min) becomes c / (1.1 * the largest c among the study's trained trials),
reference 1. A front holding one model of accuracy 1 and no cost would score 1. The
reference is fixed per study (not per step), so the trace over trials is monotone; pass
``reference`` to compare studies on one scale.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import UserError
from ..objectives import GOALS, OBJECTIVES
from . import optuna_private
from .table import param_columns, searched

REFERENCE_MARGIN = 1.1


def choose_objectives(names: str | Sequence[str] | None, table: pd.DataFrame, default: Sequence[str],
                      where: str) -> list[str]:
    """The objectives of a front: ``default`` (the study's) when none are named, else the named
    ones (a list or "accuracy,macs"), each an objective that the study measured."""
    if names is None or (isinstance(names, str) and not names.strip()):
        return list(default)
    given = [t.strip() for t in names.split(",")] if isinstance(names, str) else list(names)
    given = [t for t in given if t]
    for name in given:
        if name not in GOALS:
            raise UserError(f"objectives: {name!r} is not an objective; allowed: {', '.join(GOALS)}")
        if name not in table.columns or table[name].isna().all():
            raise UserError(f"objectives: {name!r} was not measured in {where}")
    if not given or len(set(given)) != len(given):
        raise UserError(f"objectives: give distinct names, got {names!r}")
    return given


def _as_min(values: np.ndarray, goals: Sequence[str]) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    signs = np.array([-1.0 if g == "max" else 1.0 for g in goals])
    return values * signs


def nondominated_ranks(values: np.ndarray, goals: Sequence[str]) -> np.ndarray:
    """Front index of every point (0 = non-dominated). Equal points share a front."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return np.zeros(0, dtype=int)
    return optuna_private.nondomination_ranks(_as_min(values, goals))


def pareto_mask(values: np.ndarray, goals: Sequence[str]) -> np.ndarray:
    return nondominated_ranks(values, goals) == 0


def completed(df: pd.DataFrame, objectives: Sequence[str], include_imported: bool = False) -> pd.DataFrame:
    """Completed searched trials (not baselines; not imported unless asked) with every
    objective known."""
    done = df[(df["status"] == "completed") & searched(df, include_imported)]
    return done.dropna(subset=list(objectives))


def front(df: pd.DataFrame, objectives: Sequence[str], rank: int = 0, include_imported: bool = False) -> pd.DataFrame:
    """The completed searched trials on front ``rank`` (0: the Pareto front), sorted by the
    second objective (or the first when there is only one), with a ``front`` column."""
    done = completed(df, objectives, include_imported)
    ranks = nondominated_ranks(done[list(objectives)].to_numpy(), [GOALS[o] for o in objectives])
    out = done.assign(front=ranks)
    out = out[out["front"] == rank]
    key = objectives[1] if len(objectives) > 1 else objectives[0]
    return out.sort_values([key, "trial_id"]).reset_index(drop=True)


def reference_point(df: pd.DataFrame, objectives: Sequence[str]) -> dict[str, float]:
    """The study's hypervolume reference in raw units: accuracy 0; each cost 1.1 x its largest
    value among trained trials (completed, stopped early or failed after reporting)."""
    trained = df[df["status"].isin(["completed", "stopped_early", "failed"]) & searched(df, True)]
    ref = {}
    for o in objectives:
        if GOALS[o] == "max":
            ref[o] = 0.0
        else:
            largest = pd.to_numeric(trained[o], errors="coerce").max()
            ref[o] = float(largest) * REFERENCE_MARGIN if pd.notna(largest) and largest > 0 else 1.0
    return ref


def normalise(values: np.ndarray, objectives: Sequence[str], reference: Mapping[str, float]) -> np.ndarray:
    """Objectives mapped to minimised values in which the reference point is all ones."""
    values = np.asarray(values, dtype=float).reshape(-1, len(objectives))
    cols = []
    for j, o in enumerate(objectives):
        if GOALS[o] == "max":  # accuracy, at most 1: the reference maps to 1, accuracy 1 to 0
            cols.append((1.0 - values[:, j]) / (1.0 - reference[o]))
        else:
            cols.append(values[:, j] / reference[o])
    return np.stack(cols, axis=1)


def hypervolume(values: np.ndarray, objectives: Sequence[str], reference: Mapping[str, float]) -> float:
    """Normalised hypervolume of the points (any points: dominated ones add nothing; points
    beyond the reference in any objective are dropped)."""
    points = normalise(values, objectives, reference)
    points = points[(points < 1.0).all(axis=1)]
    if len(points) == 0:
        return 0.0
    return optuna_private.hypervolume(points, np.ones(len(objectives)))


def hypervolume_trace(df: pd.DataFrame, objectives: Sequence[str],
                      reference: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Hypervolume of the completed trials after each trial ended, in the order trials
    ended: columns ``trial_id``, ``status``, ``trials_ended``, ``epochs_spent``, ``hypervolume``.

    Incremental: only a completed trial that no point of the current front dominates (or
    equals) can change the hypervolume, and then it is recomputed over the front alone, which
    stays small. Dominated points add nothing to a hypervolume, so this equals recomputing
    over every completed trial after each end (linear in the trials, where that is quadratic)."""
    reference = reference or reference_point(df, objectives)
    ended = df[df["status"].isin(["completed", "stopped_early", "failed"]) & searched(df, False)]
    ended = ended.sort_values(["finished", "trial_id"], na_position="last")
    usable = (ended["status"] == "completed").to_numpy() & ended[list(objectives)].notna().all(axis=1).to_numpy()
    points = normalise(ended[list(objectives)].to_numpy(dtype=float), objectives, reference)
    front = np.empty((0, len(objectives)))
    hv, values = 0.0, []
    for i in range(len(ended)):
        p = points[i]
        if usable[i] and (p < 1.0).all() and not (front <= p).all(axis=1).any():
            front = np.vstack([front[~(p <= front).all(axis=1)], p])
            hv = optuna_private.hypervolume(front, np.ones(len(objectives)))
        values.append(hv)
    return pd.DataFrame({"trial_id": ended["trial_id"].astype(int).to_numpy(), "status": ended["status"].to_numpy(),
                         "trials_ended": np.arange(1, len(ended) + 1),
                         "epochs_spent": ended["epochs"].fillna(0).astype(int).cumsum().to_numpy(),
                         "hypervolume": values},
                        columns=["trial_id", "status", "trials_ended", "epochs_spent", "hypervolume"])


def dominates(a: Sequence[float], b: Sequence[float], objectives: Sequence[str]) -> bool:
    """``a`` is at least as good as ``b`` in every objective and better in one."""
    better_or_equal = all((x >= y) if GOALS[o] == "max" else (x <= y) for x, y, o in zip(a, b, objectives))
    return better_or_equal and any((x > y) if GOALS[o] == "max" else (x < y) for x, y, o in zip(a, b, objectives))


def baseline_verdicts(df: pd.DataFrame, objectives: Sequence[str], include_imported: bool = False) -> list[dict]:
    """For each completed baseline, the front trials that dominate it and what the most
    accurate of them gains: accuracy points, and how much smaller it is in params and MACs."""
    if "baseline" not in df.columns:
        return []
    chosen = front(df, objectives, include_imported=include_imported)
    out = []
    for row in df[df["baseline"].notna()].itertuples():
        verdict: dict[str, Any] = {"baseline": row.baseline, "trial_id": int(row.trial_id), "status": row.status}
        if row.status == "completed" and all(pd.notna(getattr(row, o)) for o in {*objectives, "accuracy", "params",
                                                                                  "macs"}):
            mine = [float(getattr(row, o)) for o in objectives]
            winners = [r for r in chosen.itertuples() if dominates([float(getattr(r, o)) for o in objectives],
                                                                    mine, objectives)]
            verdict.update(accuracy=float(row.accuracy), params=int(row.params), macs=int(row.macs),
                           dominated_by=[int(r.trial_id) for r in winners])
            if winners:
                best = max(winners, key=lambda r: (r.accuracy, -r.params))
                verdict["best"] = {"trial_id": int(best.trial_id),
                                   "accuracy_points": round(100 * (best.accuracy - row.accuracy), 2),
                                   "params_fewer": round(1 - best.params / row.params, 4) if row.params else 0.0,
                                   "macs_fewer": round(1 - best.macs / row.macs, 4) if row.macs else 0.0}
        out.append(verdict)
    return out


def verdict_sentence(v: dict) -> str:
    """One sentence about a baseline against the front."""
    if v.get("status") != "completed":
        return (f"Baseline {v['baseline']} (trial {v['trial_id']}) is {v['status'].replace('_', ' ')}: "
                "nothing to compare yet.")
    head = f"Baseline {v['baseline']} ({v['accuracy']:.2%}, {v['params']:,} params, {v['macs']:,} MACs)"
    if not v["dominated_by"]:
        return f"{head} is not dominated by any front trial: the search did not beat it on every objective."
    b = v["best"]
    gain = f"{b['accuracy_points']:+.2f} points of accuracy" if b["accuracy_points"] else "the same accuracy"
    return (f"{head} is dominated by {len(v['dominated_by'])} front trial{'s' if len(v['dominated_by']) > 1 else ''} "
            f"({', '.join(map(str, v['dominated_by']))}); the most accurate, trial {b['trial_id']}, has {gain} with "
            f"{b['params_fewer']:.0%} fewer params and {b['macs_fewer']:.0%} fewer MACs.")


def front_table(df: pd.DataFrame, objectives: Sequence[str], include_imported: bool = False) -> pd.DataFrame:
    """The Pareto front's rows with trial_id, the metrics, epochs and the searched parameters;
    ``attrs["objectives"]`` names the objectives of the front."""
    chosen = front(df, list(objectives), include_imported=include_imported)
    cols = ["trial_id", *dict.fromkeys([*objectives, "accuracy", "params", "macs"]), "epochs", "imported",
            *param_columns(df)]
    out = chosen[[c for c in cols if c in chosen.columns and (c != "imported" or include_imported)]].copy()
    # A parameter some trials do not sample (sk.M's branches, a conditional key) leaves gaps, and
    # a column of whole numbers with gaps is float in pandas: shown as "groups 4.0". Its values
    # are the integers the space file names, so they stay integers, the gaps missing (Int64).
    for c in param_columns(out):
        values = out[c].dropna()
        if pd.api.types.is_float_dtype(out[c]) and len(values) and values.map(float.is_integer).all():
            out[c] = out[c].astype("Int64")
    out.attrs["objectives"] = list(objectives)
    return out


def front_rows(table: pd.DataFrame) -> list[dict]:
    """A ``front_table`` as plain dicts: trial_id, the metrics, and the trial's searched
    parameters under ``config`` (for printing and ``--json``)."""
    params = set(param_columns(table))
    # A column of whole numbers with gaps (a parameter some trials do not sample) is float in
    # pandas; its values are still the integers the space file names (groups 4, not 4.0).
    whole = {c for c in table.columns if pd.api.types.is_float_dtype(table[c])
             and table[c].dropna().map(float.is_integer).all() and c in params}

    def plain(v: Any, column: str = "") -> Any:
        v = v.item() if hasattr(v, "item") else v
        return int(v) if column in whole and isinstance(v, float) else v

    rows = []
    for _, r in table.iterrows():
        row: dict[str, Any] = {"trial_id": int(r["trial_id"])}
        row.update({k: plain(v) for k, v in r.items() if k != "trial_id" and k not in params and not pd.isna(v)})
        row["config"] = {k: plain(v, k) for k, v in r.items() if k in params and not pd.isna(v)}
        rows.append(row)
    return rows


def print_front(rows: list[dict]) -> None:
    if not rows:
        print("(empty front)")
        return
    # Every row's keys: after ``confirm`` only the repeated trials carry a mean and an se.
    metric_keys = list(dict.fromkeys(k for r in rows for k in r if k not in ("trial_id", "config")))
    config_keys = list(dict.fromkeys(k for r in rows for k in r["config"]))
    header = ["trial", *metric_keys, *config_keys]

    def cell(v: Any, key: str = "") -> str:
        if key in OBJECTIVES and isinstance(v, (int, float)):
            return OBJECTIVES[key].format(v)
        if key in ("accuracy_mean", "accuracy_se") and isinstance(v, float):
            return f"{v:.2%}"  # accuracy as a percentage, as every other line says it
        if isinstance(v, float):
            return f"{v:.4f}" if v < 10 else f"{v:,.0f}"
        if isinstance(v, int) and abs(v) >= 10_000:
            return f"{v:,}"
        return str(v)

    table = [[str(r["trial_id"]), *[cell(r.get(k, ""), k) for k in metric_keys],
              *[cell(r["config"].get(k, "")) for k in config_keys]] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for t in table:
        print("  ".join(c.rjust(w) for c, w in zip(t, widths)))
