"""What ``sksearch confirm`` found, read back: each confirmed trial's mean and standard error
over all its runs, which front points are within noise of each other (and of the
baselines), what the audit of early stopping found, and how well each rung of the scheduler
(and a one-shot search's supernet) ranks trials, with a bootstrap interval on Kendall's tau.

The runs live in the study ``NAME:confirm`` beside the main one (``store.confirm_study``),
one Optuna trial per (trial, seed, kind), linked to its trial by the user attribute
``trial_id``. Nothing here imports torch or Ray; scipy only when a tau is measured.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from ..objectives import GOALS
from .pareto import completed, dominates, nondominated_ranks
from .rank import TAU_WARN, kendall_interval, tau_text, weak
from .reader import read_beside
from .store import confirm_study
from .subnets import confirmation, one_shot_interval
from .table import CURVE, searched

if TYPE_CHECKING:
    from .folder import StudyFolder

REPEAT, AUDIT = "repeat", "audit"
KINDS = (REPEAT, AUDIT)
# Two runs' accuracies are "within noise" when their intervals mean +- NOISE_SE standard errors
# overlap: about a 95% interval each, the rule of thumb the readers use.
NOISE_SE = 2.0
# Which stopped trials an audit draws: a permutation under this seed, so ``--audit 2`` then
# ``--audit 3`` extends the same draw and never trains a different trial in its place.
AUDIT_SEED = 0
RUN_COLUMNS = ("number", "trial_id", "seed", "kind", "status", "accuracy", "epochs", "reason")
_STATE = {"COMPLETE": "completed", "FAIL": "failed", "RUNNING": "running", "WAITING": "queued", "PRUNED": "failed"}


def runs_table(records: Sequence[Any] | None) -> pd.DataFrame:
    """The confirmation study's runs, one row each (``RUN_COLUMNS``); ``attrs["curves"]`` maps
    a run's number to its per-epoch record."""
    rows, curves = [], {}
    for r in records or ():
        a = r.user_attrs
        if "trial_id" not in a:
            continue
        rows.append({"number": r.number, "trial_id": int(a["trial_id"]), "seed": int(a.get("seed", -1)),
                     "kind": a.get("kind", REPEAT), "status": _STATE.get(r.state, r.state.lower()),
                     "accuracy": a.get("accuracy") if r.state == "COMPLETE" else None,
                     "epochs": a.get("epochs"), "reason": a.get("reason")})
        curves[r.number] = list(a.get(CURVE) or [])
    out = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    out["accuracy"] = pd.to_numeric(out["accuracy"], errors="coerce")
    out.attrs["curves"] = curves
    return out


def read_runs(folder: StudyFolder) -> pd.DataFrame | None:
    """The confirmation runs of a study folder; None when ``sksearch confirm`` never ran."""
    records = read_beside(folder.ref, confirm_study(folder.name))
    return None if records is None else runs_table(records)


# ---- which trials a confirmation trains ----

def near_front(df: pd.DataFrame, objectives: Sequence[str], top: int | None) -> list[int]:
    """The completed searched trials to repeat: the whole Pareto front, then the next
    non-dominated ranks (within a rank the more accurate first) until ``top`` trials are
    chosen (``None``: the front alone)."""
    done = completed(df, objectives)
    if done.empty:
        return []
    ranks = nondominated_ranks(done[list(objectives)].to_numpy(dtype=float), [GOALS[o] for o in objectives])
    ordered = done.assign(rank=ranks).sort_values(["rank", "accuracy", "trial_id"], ascending=[True, False, True])
    on_front = int((ranks == 0).sum())
    return [int(t) for t in ordered["trial_id"].head(max(on_front, top or 0))]


def audit_draw(df: pd.DataFrame, k: int) -> list[int]:
    """``k`` searched trials that the scheduler stopped early, drawn at random (seeded)."""
    stopped = sorted(int(t) for t in df.loc[(df["status"] == "stopped_early") & searched(df), "trial_id"])
    order = np.random.default_rng(AUDIT_SEED).permutation(len(stopped))
    return [stopped[i] for i in order[:k]]


def planned_runs(df: pd.DataFrame, objectives: Sequence[str], seeds: int, top: int | None, audit: int) -> int:
    """How many runs ``confirm`` with these settings trains in all (as ``search.confirm.plan``
    lists them): ``seeds`` per near-front trial and completed baseline, and the audited trials."""
    baselines = int((df["baseline"].notna() & (df["status"] == "completed")).sum()) if "baseline" in df else 0
    repeats = seeds * (len(near_front(df, objectives, top)) + baselines) if seeds else 0
    return repeats + len(audit_draw(df, audit))


def phase_done(folder: StudyFolder, runs: pd.DataFrame | None) -> bool:
    """Whether the space's ``confirm`` phase has nothing left to train (true when it asks for none)."""
    spec = folder.space.confirm
    if not spec.wanted:
        return True
    ended = 0 if runs is None else int(runs["status"].isin(["completed", "failed"]).sum())
    return ended >= planned_runs(folder.table, folder.objectives, spec.seeds, spec.top, spec.audit)


# ---- means, standard errors and noise ----

def mean_se(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and its standard error (sample standard deviation over sqrt(n); None for one run)."""
    a = np.asarray(values, dtype=float)
    if len(a) < 2:
        return float(a.mean()), None
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a)))


def trial_stats(df: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per repeated trial: ``runs`` (the search's own run and the completed repeats),
    ``accuracy_mean`` and ``accuracy_se``."""
    repeats = runs[(runs["kind"] == REPEAT) & (runs["status"] == "completed")].dropna(subset=["accuracy"])
    rows = []
    for trial_id, part in repeats.groupby("trial_id"):
        own = df.loc[(df["trial_id"] == trial_id) & (df["status"] == "completed"), "accuracy"].dropna()
        values = [*own.astype(float).tolist()[:1], *part["accuracy"].astype(float).tolist()]
        mean, se = mean_se(values)
        rows.append({"trial_id": int(trial_id), "runs": len(values), "accuracy_mean": mean, "accuracy_se": se})
    return pd.DataFrame(rows, columns=["trial_id", "runs", "accuracy_mean", "accuracy_se"])


def with_stats(table: pd.DataFrame, stats: pd.DataFrame | None) -> pd.DataFrame:
    """A front table with ``runs``, ``accuracy_mean`` and ``accuracy_se`` after its metrics
    (for its confirmed trials; empty elsewhere); unchanged without confirmations."""
    if stats is None or stats.empty:
        return table
    attrs = dict(table.attrs)
    merged = table.merge(stats, on="trial_id", how="left")
    merged["runs"] = merged["runs"].astype("Int64")  # whole numbers with gaps (the unrepeated trials)
    first = [c for c in table.columns if c in ("trial_id", *GOALS, "epochs", "imported")]
    rest = [c for c in table.columns if c not in first]
    out = merged[[*first, "runs", "accuracy_mean", "accuracy_se", *rest]]
    out.attrs.update(attrs)
    return out


def interval(mean: float, se: float | None) -> tuple[float, float]:
    half = NOISE_SE * (se or 0.0)
    return mean - half, mean + half


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def noise_groups(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each point (``name``, ``mean``, ``se``), the others whose accuracy intervals
    (mean +- 2 se; a single run is a point) overlap its own: ``within_noise_of``."""
    out = []
    for p in points:
        mine = interval(p["mean"], p["se"])
        near = [q["name"] for q in points if q is not p and overlap(mine, interval(q["mean"], q["se"]))]
        out.append({**p, "within_noise_of": near})
    return out


def noise_points(df: pd.DataFrame, front_ids: Sequence[int], stats: pd.DataFrame) -> list[dict[str, Any]]:
    """The front's trials and the completed baselines as points for ``noise_groups``: mean and
    se where repeated, their one run otherwise."""
    by_id = stats.set_index("trial_id") if len(stats) else None
    points = []
    rows = df[df["trial_id"].isin(list(front_ids)) | (df["baseline"].notna() & (df["status"] == "completed"))]
    for r in rows.dropna(subset=["accuracy"]).itertuples():
        tid = int(r.trial_id)
        name = f"baseline {r.baseline}" if isinstance(r.baseline, str) else f"trial {tid}"
        if by_id is not None and tid in by_id.index:
            s = by_id.loc[tid]
            se = None if pd.isna(s["accuracy_se"]) else float(s["accuracy_se"])
            points.append({"name": name, "trial_id": tid, "mean": float(s["accuracy_mean"]), "se": se,
                           "runs": int(s["runs"])})
        else:
            points.append({"name": name, "trial_id": tid, "mean": float(r.accuracy), "se": None, "runs": 1})
    return points


def noise_sentence(p: dict[str, Any]) -> str:
    spread = f" +- {p['se']:.2%}" if p["se"] is not None else ""
    runs = f"{p['runs']} run{'s' if p['runs'] != 1 else ''}"
    if not p["within_noise_of"]:
        return f"{p['name']}: {p['mean']:.2%}{spread} ({runs}) stands apart from every other point beyond noise"
    return f"{p['name']}: {p['mean']:.2%}{spread} ({runs}) is within noise of {', '.join(p['within_noise_of'])}"


# ---- the audit of early stopping ----

def audit_findings(df: pd.DataFrame, runs: pd.DataFrame, objectives: Sequence[str]) -> dict[str, Any]:
    """What the audited trials reached at the full budget: each one's ``accuracy``, the
    ``stopped_at`` epoch and accuracy, whether it ``joins`` the front (no completed searched
    trial dominates it) and its ``gap``: its accuracy minus that of the most accurate completed
    trial that costs no more in every other objective (positive: it beats the front there;
    None: nothing is as cheap). ``joined`` counts those that join."""
    audited = runs[(runs["kind"] == AUDIT) & (runs["status"] == "completed")].dropna(subset=["accuracy"])
    done = completed(df, objectives)
    costs = [o for o in objectives if o != "accuracy"]
    found = []
    for r in audited.itertuples():
        row = df[df["trial_id"] == r.trial_id]
        if row.empty:
            continue
        row = row.iloc[0]
        values = {o: (float(r.accuracy) if o == "accuracy" else float(row[o])) for o in objectives}
        mine = [values[o] for o in objectives]
        beaten_by = [int(t.trial_id) for t in done.itertuples()
                     if dominates([float(getattr(t, o)) for o in objectives], mine, objectives)]
        cheaper = done
        for o in costs:
            cheaper = cheaper[(cheaper[o] <= values[o]) if GOALS[o] == "min" else (cheaper[o] >= values[o])]
        rival = None if cheaper.empty or "accuracy" not in objectives else float(cheaper["accuracy"].max())
        found.append({"trial_id": int(r.trial_id), "accuracy": float(r.accuracy),
                      "stopped_at": None if pd.isna(row["epochs"]) else int(row["epochs"]),
                      "stopped_accuracy": None if pd.isna(row["accuracy"]) else float(row["accuracy"]),
                      "joins": not beaten_by, "dominated_by": beaten_by,
                      "gap": None if rival is None else float(r.accuracy) - rival})
    return {"audited": len(found), "planned": int((runs["kind"] == AUDIT).sum()),
            "joined": sum(1 for f in found if f["joins"]), "trials": found}


def audit_sentence(a: dict[str, Any]) -> str:
    if not a["audited"]:
        return "audit: no stopped trial has been trained to the full budget yet"
    joined = [f for f in a["trials"] if f["joins"]]
    head = (f"audit: {a['audited']} trial{'s' if a['audited'] != 1 else ''} the scheduler stopped, trained to the "
            f"full budget: {len(joined)} would have joined the front")
    gaps = [f for f in a["trials"] if f["gap"] is not None]
    if joined:
        parts = [f"trial {f['trial_id']} " + (f"by {100 * f['gap']:+.2f} points" if f["gap"] is not None
                                              else "(cheaper than every front trial)") for f in joined]
        return head + " (" + ", ".join(parts) + "): early stopping lost them"
    if gaps:
        closest = max(gaps, key=lambda f: f["gap"])
        return (head + f"; the closest, trial {closest['trial_id']}, stays {-100 * closest['gap']:.2f} points below "
                f"the front at its cost")
    return head


# ---- rank correlations with a bootstrap interval ----

def _at_epoch(curve: Sequence[dict[str, Any]], epoch: int) -> float | None:
    for point in curve:
        if point.get("epoch") == epoch and point.get("accuracy") is not None:
            return float(point["accuracy"])
    return None


def rung_agreement(df: pd.DataFrame, curves: pd.DataFrame, runs: pd.DataFrame, rungs: Sequence[int],
                   max_epochs: int) -> list[dict[str, Any]]:
    """For each rung below the full budget: Kendall's tau (with its interval) between the
    accuracy at the rung and at the full budget, over the completed searched trials
    (``completed``) and over the audited ones (``audited``: trained on past the rung whatever
    it said, so not selected by it)."""
    done = df[(df["status"] == "completed") & searched(df)].dropna(subset=["accuracy"])
    final = dict(zip(done["trial_id"].astype(int), done["accuracy"].astype(float)))
    audits = runs[(runs["kind"] == AUDIT) & (runs["status"] == "completed")].dropna(subset=["accuracy"])
    out = []
    for rung in rungs:
        if rung >= max_epochs:
            continue
        at = curves[curves["epoch"] == rung].dropna(subset=["accuracy"])
        at = at[at["trial_id"].isin(list(final))]
        x = at["accuracy"].astype(float).tolist()
        y = [final[int(t)] for t in at["trial_id"]]
        pairs = [(_at_epoch(runs.attrs.get("curves", {}).get(r.number, []), rung), float(r.accuracy))
                 for r in audits.itertuples()]
        pairs = [p for p in pairs if p[0] is not None]
        out.append({"rung": int(rung), "completed": kendall_interval(x, y),
                    "audited": kendall_interval([p[0] for p in pairs], [p[1] for p in pairs])})
    return out


ADVICE = ("a later grace period, more data per trial (data.train_limit / the data's size) or a larger reduction "
          "factor")


def rung_lines(agreement: list[dict[str, Any]]) -> list[str]:
    """A line per rung, and a warning under a rung whose interval reaches below 0.3."""
    lines = []
    for a in agreement:
        lines.append(f"rung at epoch {a['rung']}: {tau_text(a['completed'], 'completed trials')}; "
                     f"{tau_text(a['audited'], 'audited trials')} (95% bootstrap intervals)")
        if weak(a["completed"]) or weak(a["audited"]):
            lines.append(f"  warning: at epoch {a['rung']} the interval's lower end is below {TAU_WARN}: this rung may "
                         f"stop trials that would rank well at the full budget; consider {ADVICE}")
    return lines


# ---- everything, for status, pareto and the report ----

def front_noise(df: pd.DataFrame, front_ids: Sequence[int], runs: pd.DataFrame) -> list[dict[str, Any]]:
    """``noise_groups`` over a front's trials and the completed baselines."""
    return noise_groups(noise_points(df, front_ids, trial_stats(df, runs)))


def confirm_info(folder: StudyFolder, runs: pd.DataFrame | None,
                 one_shot: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """What ``status --json`` holds under ``confirm`` (None when ``sksearch confirm`` never
    ran; ``runs``: ``read_runs``'s): the runs by status and kind, ``stats`` per repeated trial, the front's ``noise``
    points, the ``audit``'s findings, each rung's ``rungs`` agreement and the one-shot
    search's ``one_shot`` interval (``one_shot``: ``one_shot_info``'s, where the caller has it:
    its bootstrap is not redone)."""
    if runs is None:
        return None
    df = folder.table
    objectives = folder.objectives
    stats = trial_stats(df, runs)
    front_ids = near_front(df, objectives, None) if "accuracy" in objectives else []
    noise = front_noise(df, front_ids, runs)
    scheduler = folder.space.scheduler
    counts = {kind: {s: int(n) for s, n in runs[runs["kind"] == kind]["status"].value_counts().items()}
              for kind in KINDS}
    info: dict[str, Any] = {"runs": counts, "stats": stats.to_dict("records"), "noise": noise,
                            "audit": audit_findings(df, runs, objectives),
                            "rungs": rung_agreement(df, folder.learning_curves, runs, scheduler.rungs(),
                                                    scheduler.max_epochs),
                            "one_shot": None}
    for s in info["stats"]:
        if s["accuracy_se"] is not None and math.isnan(s["accuracy_se"]):
            s["accuracy_se"] = None
    if one_shot is not None:
        info["one_shot"] = one_shot["tau_interval"]
    elif (subnets := folder.subnet_table) is not None:
        info["one_shot"] = one_shot_interval(confirmation(df, subnets))
    return info


def info_lines(info: dict[str, Any]) -> list[str]:
    """``status``'s lines on the confirmations (the one-shot interval is the one-shot lines')."""
    r = info["runs"]
    done = {k: r[k].get("completed", 0) for k in KINDS}
    left = {k: sum(r[k].values()) - done[k] for k in KINDS}
    unfinished = left[REPEAT] + left[AUDIT]
    lines = [f"confirm   {done[REPEAT]} repeats with new seeds completed, {done[AUDIT]} stopped trials audited"
             + (f"; {unfinished} unfinished or failed (`sksearch confirm` again continues the unfinished)"
                if unfinished else "")]
    lines += [f"          {noise_sentence(p)}" for p in info["noise"] if p["runs"] > 1 or p["within_noise_of"]]
    if sum(r[AUDIT].values()):
        lines.append(f"          {audit_sentence(info['audit'])}")
    lines += [f"          {line}" for line in rung_lines(info["rungs"])]
    return lines
