"""A one-shot study read beside its main study: the front of its subnets (their accuracy is the
supernet's estimate, from inherited weights) and how the main study's stand-alone trials
confirmed it, with the rank correlation that says whether the estimate can be trusted.

A confirmed subnet is a searched trial of the main study whose architecture values are those of
a completed subnet evaluation: the one-shot strategy queues exactly those, and a stand-alone
trial that happens to draw the same subnet measures the same thing.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from .pareto import front_rows, front_table
from .store import one_shot_study
from .table import counts, param_columns, searched

if TYPE_CHECKING:
    import pandas as pd

CONFIRMATION_COLUMNS = ("trial_id", "subnet_id", "status", "supernet_accuracy", "accuracy", "params", "macs")
# Below this many completed confirmations a rank correlation says nothing (two points always
# agree or disagree perfectly).
MIN_FOR_TAU = 3


def _key(values: Any) -> str:
    return json.dumps([v.item() if hasattr(v, "item") else v for v in values], default=str)


def subnet_front(subnets: pd.DataFrame, objectives: list[str]) -> pd.DataFrame:
    """The Pareto front of the evaluated subnets over ``objectives`` (``front_table``'s columns;
    ``trial_id`` is the one-shot study's trial number)."""
    return front_table(subnets, objectives)


def confirmation(main: pd.DataFrame, subnets: pd.DataFrame) -> pd.DataFrame:
    """One row per searched trial of the main study that trained a subnet the one-shot study
    evaluated: ``trial_id`` (main study), ``subnet_id`` (one-shot study), ``status``,
    ``supernet_accuracy`` (inherited weights), ``accuracy`` (stand-alone), ``params``, ``macs``;
    sorted by supernet accuracy, best first."""
    import pandas as pd

    arch = param_columns(subnets)
    evaluated = subnets[subnets["status"] == "completed"]
    by_arch: dict[str, Any] = {}
    for row in evaluated.to_dict("records"):  # records, not tuples: names like sk.M are no attributes
        by_arch.setdefault(_key(row[c] for c in arch), row)
    rows = []
    mine = main[searched(main)]
    if arch and all(c in mine.columns for c in arch):
        for r in mine.to_dict("records"):
            hit = by_arch.get(_key(r[c] for c in arch))
            if hit is None:
                continue
            rows.append({"trial_id": int(r["trial_id"]), "subnet_id": int(hit["trial_id"]), "status": r["status"],
                         "supernet_accuracy": float(hit["accuracy"]),
                         "accuracy": None if pd.isna(r["accuracy"]) else float(r["accuracy"]),
                         "params": int(hit["params"]), "macs": int(hit["macs"])})
    out = pd.DataFrame(rows, columns=list(CONFIRMATION_COLUMNS))
    out["accuracy"] = pd.to_numeric(out["accuracy"], errors="coerce").astype("float64")
    return out.sort_values(["supernet_accuracy", "trial_id"], ascending=[False, True]).reset_index(drop=True)


def rank_agreement(confirmed: pd.DataFrame) -> dict[str, Any]:
    """Kendall's tau and Spearman's rho between supernet and stand-alone accuracy over the
    completed confirmations; None where fewer than ``MIN_FOR_TAU`` completed or either side is
    constant."""
    from scipy.stats import kendalltau, spearmanr

    done = confirmed[confirmed["status"] == "completed"].dropna(subset=["accuracy"])
    out: dict[str, Any] = {"confirmed": int(len(confirmed)), "completed": int(len(done)),
                           "kendall_tau": None, "spearman_rho": None}
    if len(done) >= MIN_FOR_TAU and done["accuracy"].nunique() > 1 and done["supernet_accuracy"].nunique() > 1:
        tau = kendalltau(done["supernet_accuracy"], done["accuracy"]).statistic
        rho = spearmanr(done["supernet_accuracy"], done["accuracy"]).statistic
        out["kendall_tau"] = None if math.isnan(tau) else round(float(tau), 4)
        out["spearman_rho"] = None if math.isnan(rho) else round(float(rho), 4)
    return out


def trust_sentence(agreement: dict[str, Any]) -> str:
    """What the rank correlation means for a user choosing from the supernet front."""
    tau = agreement["kendall_tau"]
    if tau is None:
        return (f"{agreement['completed']} confirmed subnets completed: too few (or too alike) to measure how well "
                f"the supernet ranks them; trust only the stand-alone accuracies")
    verdict = ("the supernet ranks subnets well: its front can guide the choice" if tau >= 0.6 else
               "the supernet ranks subnets loosely: confirm any subnet you pick stand-alone" if tau >= 0.3 else
               "the supernet's ranking is not to be trusted here: choose from the stand-alone trials only")
    return f"Kendall's tau {tau:+.2f} over {agreement['completed']} confirmed subnets: {verdict}"


def one_shot_info(main: pd.DataFrame, subnets: pd.DataFrame | None, objectives: list[str],
                  study_name: str) -> dict[str, Any] | None:
    """What ``status`` and ``pareto`` say of a one-shot search: the subnets evaluated, their
    front (rows as ``front_rows`` gives them), the ``confirmations`` (``confirmation``'s rows),
    ``rank_agreement``'s counts and correlations, and the ``verdict`` sentence; None for a study
    that ran none."""
    if subnets is None:
        return None
    c = counts(subnets)
    evaluated = subnets[subnets["status"] == "completed"]
    confirmed = confirmation(main, subnets)
    agreement = rank_agreement(confirmed)
    records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
               for r in confirmed.to_dict("records")]
    return {"study": one_shot_study(study_name), "evaluated": int(len(evaluated)), "rejected": int(c["rejected"]),
            "front": front_rows(subnet_front(subnets, objectives)) if len(evaluated) else [],
            "confirmations": records, **agreement, "verdict": trust_sentence(agreement)}
