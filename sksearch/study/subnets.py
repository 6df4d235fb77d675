"""A one-shot study read beside its main study: the front of its subnets (their accuracy is the
supernet's estimate, from inherited weights) and how the main study's stand-alone trials
confirmed it, with the rank correlation that says whether the estimate can be trusted.

A confirmed subnet is a searched trial of the main study whose architecture values are those of
a completed subnet evaluation: the one-shot strategy queues exactly those, and a stand-alone
trial that happens to draw the same subnet measures the same thing.

Each network counts once: a draw of a network drawn before (status ``repeat``; two values
that build one network are one, by the ``arch`` key the search records) stands on no front and
in no count of evaluated subnets, and each confirmed network is one point of the rank
correlation.
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

from ..objectives import GOALS
from .layout import SUPERNET, supernet_dir
from .pareto import front_rows, front_table, pareto_mask
from .rank import SMALL_N, TAU_WARN, kendall_interval, small_n_interval
from .store import one_shot_study
from .table import REPEAT, counts, param_columns, searched

if TYPE_CHECKING:
    import pandas as pd

CONFIRMATION_COLUMNS = ("trial_id", "subnet_id", "status", "supernet_accuracy", "accuracy", "params", "macs")
# Below this many completed confirmations a rank correlation says nothing (two points always
# agree or disagree perfectly).
MIN_FOR_TAU = 3
def _plain(v: Any) -> Any:
    """A searched value as the space file names it: a column with gaps (a parameter some
    subnets do not sample) holds NaN for the gaps and floats for its integers."""
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float):
        return None if math.isnan(v) else int(v) if v.is_integer() else v
    return v


def _key(values: Any) -> str:
    return json.dumps([_plain(v) for v in values], default=str)


def _identities(subnets: pd.DataFrame) -> pd.Series:
    """Each row's network: its ``arch`` key, or (a study from before the key) its values."""
    import pandas as pd

    arch = param_columns(subnets)
    by_values = [_key(row[c] for c in arch) for row in subnets.to_dict("records")]
    keys = subnets["arch"] if "arch" in subnets.columns else [None] * len(subnets)
    return pd.Series([k if isinstance(k, str) else v for k, v in zip(keys, by_values)], index=subnets.index,
                     dtype=object)


def distinct_evaluated(subnets: pd.DataFrame) -> pd.DataFrame:
    """The evaluated subnets, one row per network (its first evaluation)."""
    done = subnets[(subnets["status"] == "completed") & searched(subnets)].sort_values("trial_id")
    return done[~_identities(done).duplicated()]


def subnet_front(subnets: pd.DataFrame, objectives: list[str]) -> pd.DataFrame:
    """The Pareto front of the evaluated subnets over ``objectives``, each network once
    (``front_table``'s columns; ``trial_id`` is the one-shot study's trial number)."""
    return front_table(distinct_evaluated(subnets), objectives)


def chosen_subnets(subnets: pd.DataFrame, objectives: list[str], confirm: int, spread: int) -> list[int]:
    """The subnets the one-shot strategy confirms stand-alone, by trial number, each network
    once: ``confirm`` of the supernet's front over ``objectives`` (evenly spread along it when it
    holds more), then ``spread`` others evenly spread over the accuracy ranking of the rest, so
    that the rank correlation is measured over the space, not only its front."""
    done = distinct_evaluated(subnets).dropna(subset=list(objectives))
    if done.empty:
        return []
    mask = pareto_mask(done[list(objectives)].to_numpy(dtype=float), [GOALS[o] for o in objectives])
    ranked = done.assign(on_front=mask).sort_values(["accuracy", "trial_id"], ascending=[False, True])
    front = ranked[ranked["on_front"]]["trial_id"].astype(int).tolist()
    rest = ranked[~ranked["on_front"]]["trial_id"].astype(int).tolist()

    def evenly(items: list[int], n: int) -> list[int]:
        if n >= len(items):
            return list(items)
        return [items[round(i * (len(items) - 1) / max(n - 1, 1))] for i in range(n)] if n else []

    return evenly(front, confirm) + evenly(rest, spread)


def confirmation(main: pd.DataFrame, subnets: pd.DataFrame) -> pd.DataFrame:
    """One row per network that a searched trial of the main study trained and the one-shot
    study evaluated: ``trial_id`` (main study; of several trials of one network, the first that
    completed, else the first), ``subnet_id`` (one-shot study: the network's first evaluation),
    ``status``, ``supernet_accuracy`` (inherited weights), ``accuracy`` (stand-alone),
    ``params``, ``macs``; sorted by supernet accuracy, best first."""
    import pandas as pd

    arch = param_columns(subnets)
    answered = subnets[subnets["status"].isin(["completed", REPEAT])].sort_values("trial_id")
    identities = _identities(answered)
    first: dict[str, Any] = {}
    for ident, row in zip(identities, answered.to_dict("records")):
        if row["status"] == "completed":
            first.setdefault(ident, row)
    by_arch: dict[str, Any] = {}
    # records, not tuples: names like sk.M are no attributes. A repeat's values (another r that
    # builds the same network) lead to the network's first evaluation.
    for ident, row in zip(identities, answered.to_dict("records")):
        if ident in first:
            by_arch.setdefault(_key(row[c] for c in arch), first[ident])
    rows = []
    mine = main[searched(main)]
    if arch:
        # A parameter no main trial sampled (M=3's third branch when every confirmed subnet
        # has two) is no column of the main table: there it is None, as in those subnets' rows.
        for r in mine.to_dict("records"):
            hit = by_arch.get(_key(r.get(c) for c in arch))
            if hit is None:
                continue
            rows.append({"trial_id": int(r["trial_id"]), "subnet_id": int(hit["trial_id"]), "status": r["status"],
                         "supernet_accuracy": float(hit["accuracy"]),
                         "accuracy": None if pd.isna(r["accuracy"]) else float(r["accuracy"]),
                         "params": int(hit["params"]), "macs": int(hit["macs"])})
    out = pd.DataFrame(rows, columns=list(CONFIRMATION_COLUMNS))
    out["accuracy"] = pd.to_numeric(out["accuracy"], errors="coerce").astype("float64")
    # A network trained twice (a trial that drew an already confirmed subnet) is one point of
    # the rank correlation: its completed trial, the first of them.
    out = (out.assign(unfinished=out["status"] != "completed").sort_values(["unfinished", "trial_id"])
           .drop_duplicates("subnet_id").drop(columns="unfinished"))
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


def one_shot_interval(confirmed: pd.DataFrame) -> dict[str, Any]:
    """``rank.kendall_interval`` of supernet against stand-alone accuracy over the completed
    confirmations (``confirmation``'s table)."""
    done = confirmed[confirmed["status"] == "completed"].dropna(subset=["accuracy", "supernet_accuracy"])
    return kendall_interval(done["supernet_accuracy"].astype(float), done["accuracy"].astype(float))


def trust_sentence(agreement: dict[str, Any], interval: dict[str, Any] | None = None) -> str:
    """What the rank correlation means for a user choosing from the supernet front: tau, its
    95% interval (``interval``, ``one_shot_interval``'s; without it, under ``SMALL_N`` pairs,
    tau's spread under no correlation) and the verdict, in one sentence."""
    tau = agreement["kendall_tau"]
    if tau is None:
        return (f"{agreement['completed']} confirmed subnets completed: too few (or too alike) to measure how well "
                f"the supernet ranks them; trust only the stand-alone accuracies")
    n = agreement["completed"]
    given = interval is not None and interval.get("low") is not None
    low, high = (interval["low"], interval["high"]) if given else (small_n_interval(tau, n) or (None, None))
    said = f"Kendall's tau {tau:+.2f}" + (f" [{low:+.2f}, {high:+.2f}]" if low is not None else "")
    said += f" over {n} confirmed subnets" + (" (95% interval)" if low is not None else "")
    if tau >= 0.3 and low is not None and low < TAU_WARN:
        few = f"{n} are too few to tell: " if n < SMALL_N else ""
        return (f"{said}: the supernet ranks subnets {'well' if tau >= 0.6 else 'loosely'} over these {n}, but the "
                f"interval reaches down to {low:+.2f}, below {TAU_WARN}: {few}confirm more subnets stand-alone before "
                f"trusting its front")
    verdict = ("the supernet ranks subnets well: its front can guide the choice" if tau >= 0.6 else
               "the supernet ranks subnets loosely: confirm any subnet you pick stand-alone" if tau >= 0.3 else
               "the supernet's ranking is not to be trusted here: choose from the stand-alone trials only")
    return f"{said}: {verdict}"


def one_shot_info(main: pd.DataFrame, subnets: pd.DataFrame | None, objectives: list[str],
                  study_name: str) -> dict[str, Any] | None:
    """What ``status`` and ``pareto`` say of a one-shot search: its ``draws``, the ``distinct``
    networks among them, those ``evaluated`` (each network once), the ``repeats`` answered from
    an earlier evaluation and the draws ``rejected`` (outside the budgets, or no network, a
    repeat of a rejected network too); their front (rows as ``front_rows`` gives
    them), the ``confirmations`` (``confirmation``'s rows), ``rank_agreement``'s counts and
    correlations, and the ``verdict`` sentence; None for a study that ran none."""
    if subnets is None:
        return None
    c = counts(subnets)
    drawn = subnets[searched(subnets)]
    evaluated = distinct_evaluated(subnets)
    repeats = int((drawn["status"] == REPEAT).sum())  # a draw rejected again is counted as rejected
    # Every draw that was a network (not one whose values make none), within budget or not.
    networks = drawn[drawn["status"].isin(["completed", REPEAT, "rejected"])
                     & ~drawn["reason"].fillna("").astype(str).str.startswith("invalid architecture")]
    confirmed = confirmation(main, subnets)
    agreement = rank_agreement(confirmed)
    interval = one_shot_interval(confirmed)
    records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
               for r in confirmed.to_dict("records")]
    return {"study": one_shot_study(study_name), "draws": int(len(drawn)),
            "distinct": int(_identities(networks).nunique()) if len(networks) else 0,
            "evaluated": int(len(evaluated)), "repeats": repeats, "rejected": int(c["rejected"]),
            "front": front_rows(subnet_front(subnets, objectives)) if len(evaluated) else [],
            "confirmations": records, **agreement, "tau_interval": interval,
            "verdict": trust_sentence(agreement, interval)}


def supernet_epochs(root: str) -> int:
    """The epochs the supernet of the study folder ``root`` has trained: the last its Ray trial
    reported (``supernet/supernet/result.json``, a line per epoch; a line cut short by a kill is
    skipped), 0 before the first."""
    path = os.path.join(supernet_dir(root), SUPERNET, "result.json")
    epochs = 0
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    epoch = json.loads(line).get("epoch")
                except (ValueError, AttributeError):
                    continue
                if isinstance(epoch, int) and not isinstance(epoch, bool):
                    epochs = max(epochs, epoch)
    except OSError:  # no training yet (or no readable record of it)
        return 0
    return epochs
