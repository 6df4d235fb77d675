"""``sksearch analyze``: a trained model's SK attention against object scale, from loading the
model to the files written."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd
import plotly.graph_objects as go

from ..devices import pick_device
from ..errors import UserError
from ..study.folder import StudyFolder
from ..study.layout import atomic_write
from ..study.notebook_figure import for_notebook
from ..study.targets import check_folder_target, check_no_links
from .attention import analysis_images, attention_units, collect, differences, table
from .attention_page import attention_figures, write_attention_report
from .trained import load_trained, trials_with_attention

FILES = ("attention.csv", "attention.html")
NAMED = 12  # trials named in the message when a trial has no attention


def others_to_analyse(folder: StudyFolder, trial_id: int | None) -> str:
    """The trials of ``folder`` that ``analyze`` can read, said as the rest of a message."""
    found = trials_with_attention(folder, but=trial_id)
    if not found:
        return f"no trial of {folder.root} has one (M >= 2) with trained weights"
    names = [f"{t} (baseline {b})" if b else str(t) for t, b in found[:NAMED]]
    more = f" and {len(found) - NAMED} more" if len(found) > NAMED else ""
    example = next((t for t, b in found if not b), found[0][0])  # a searched trial, where there is one
    return (f"trials of {folder.root} with M >= 2 that can be analysed: {', '.join(names)}{more}, "
            f"e.g. `sksearch analyze {folder.root}:{example}`")


@dataclass
class Analysis:
    """What an analysis found and wrote: the files, and the same tables and figures in memory
    (a notebook shows ``figures["difference"]`` inline without opening ``attention.html``)."""

    title: str
    csv: str
    html: str
    accuracy: dict[tuple[str, float], float]   # (kind, scale) -> top-1 accuracy
    differences: pd.DataFrame                  # units x scales: widest minus narrowest branch
    table: pd.DataFrame = field(default_factory=pd.DataFrame)          # attention.csv's rows
    figures: dict[str, go.Figure] = field(default_factory=dict)        # attention.html's, by name


def analyze(target: str, scales: Sequence[float], data: str | None = None, data_root: str | None = None,
            out: str | None = None, per_class: bool = False, unit: str | None = None, bins: int = 3,
            limit: int | None = None, batch_size: int = 256, device: str | None = None,
            log=print, storage: str | None = None) -> Analysis:  # noqa: ANN001 - a print-like function
    """Feed the validation images of ``target`` (an export folder or STUDY_DIR:TRIAL_ID) at
    each scale, record every SK unit's attention, and write ``attention.csv`` and
    ``attention.html`` to ``out`` (default: beside the model). ``storage``: the database of a
    study's trials (default: the study folder's own)."""
    device = pick_device(device)
    if out is not None:
        check_folder_target(out, "--out", ours=os.path.isdir(out) and set(os.listdir(out)) <= set(FILES),
                            what="an attention analysis")
    trained = load_trained(target, storage)
    try:
        units = attention_units(trained.model, target)
    except UserError as err:
        if trained.study is None:
            raise
        raise UserError(f"{err}; {others_to_analyse(trained.study, trained.trial_id)}") from None
    names = [u.name for u in units]
    if unit is not None and unit not in names:
        raise UserError(f"--unit {unit}: no such SK unit with attention; allowed: {', '.join(names)}")
    images, mean, std, data_name = analysis_images(trained.spec.input_size, trained.spec.in_channels,
                                                   trained.preprocess, data, data_root, limit)
    if out is None:
        out = trained.default_out
        check_no_links(trained.home, out)
    log(f"analysing {trained.title}: {len(units)} SK units, {len(images.y)} {data_name} validation images, "
        f"scales {', '.join(f'x{s:g}' for s in scales)}{' and as recorded' if images.scales is not None else ''}")
    att = collect(trained.model, images, scales, mean, std, batch_size=batch_size, device=device)
    df = table(att, per_class=per_class, bins=bins)
    os.makedirs(out, exist_ok=True)
    csv_path = os.path.join(out, FILES[0])
    # A new file renamed over the old: never written through a link someone left there.
    atomic_write(csv_path, lambda tmp: df.to_csv(tmp, index=False))
    class_unit = next(u for u in units if u.name == (unit or units[0].name))
    figures = attention_figures(att, df, class_unit)
    html_path = write_attention_report(att, df, os.path.join(out, FILES[1]), trained.title, data_name,
                                       class_unit, figures)
    diff = differences(df, units)
    grid = diff[(diff["class"] == "") & (diff["kind"] == "enlarged")].pivot_table(
        index="unit", columns="scale", values="difference", sort=False)
    grid.columns = [f"x{c:g}" for c in grid.columns]
    return Analysis(trained.title, csv_path, html_path, att.accuracy, grid, df,
                    {name: for_notebook(fig) for name, fig in figures.items()})
