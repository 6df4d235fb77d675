"""Learning curves: every epoch every trial reported, one row each (``curves.parquet``).

The study keeps each trial's per-epoch record (the user attribute ``curve``, written by the
searcher as results arrive); this module turns it into a table with the trial's status and,
at the scheduler's rungs, what the scheduler decided there:

    trial_id, epoch, accuracy, loss, train_loss, lr, epoch_time, status, rung_decision

``rung_decision`` is ``continue`` at a rung the trial went past, ``stop`` at the rung where the
scheduler stopped it, and empty elsewhere (no rung, or a trial still running there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .layout import Layout, atomic_write

# pandas is imported where a table is built: ``import sksearch`` loads this module (through
# StudyFolder), and ``sksearch models`` answers without pandas.
if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["trial_id", "epoch", "accuracy", "loss", "train_loss", "lr", "epoch_time", "status", "rung_decision"]


def curves_table(curves: Mapping[int, Sequence[Mapping[str, Any]]], table: pd.DataFrame,
                 rungs: Iterable[int]) -> pd.DataFrame:
    """One row per (trial, epoch) from the study's records; ``table`` gives each trial's
    status, ``rungs`` the epochs at which the scheduler compared trials."""
    import pandas as pd

    rungs = set(rungs)
    status = dict(zip(table["trial_id"].astype(int), table["status"]))
    columns: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for number in sorted(curves):
        entries = sorted(curves[number], key=lambda e: e.get("epoch", 0))
        if not entries or number not in status:
            continue
        last = entries[-1].get("epoch")
        for entry in entries:
            epoch = entry.get("epoch")
            decision = ""
            if epoch in rungs:
                if epoch != last:
                    decision = "continue"
                elif status[number] == "stopped_early":
                    decision = "stop"
            columns["trial_id"].append(number)
            columns["epoch"].append(epoch)
            for key in ("accuracy", "loss", "train_loss", "lr", "epoch_time"):
                columns[key].append(entry.get(key))
            columns["status"].append(status[number])
            columns["rung_decision"].append(decision)
    df = pd.DataFrame(columns, columns=COLUMNS)
    df["trial_id"] = df["trial_id"].astype("int64")
    df["epoch"] = df["epoch"].astype("int64")
    for key in ("accuracy", "loss", "train_loss", "lr", "epoch_time"):
        df[key] = pd.to_numeric(df[key], errors="coerce").astype("float64")
    return df


def write_curves(df: pd.DataFrame, root: str) -> str:
    """``curves.parquet`` of a study folder, replaced atomically."""
    return atomic_write(Layout(root).curves_parquet, lambda p: df.to_parquet(p, index=False))
