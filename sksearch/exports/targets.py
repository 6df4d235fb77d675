"""Where an export may be written: a new or empty folder, an earlier export of the same trial
(or subnet, or a front of the same study), or with ``--force`` anything else, an earlier export's
files removed first; never a folder with a link out of it. Every check runs before anything is
written."""

from __future__ import annotations

import os
import re
import shutil
from typing import Any

from ..errors import UserError
from ..study.jsonfile import read_json
from ..study.targets import check_folder_target
from .layout import EXPORT_FILES, EXPORT_MARKERS, TRAIN_JSON

_TRIAL_FOLDER = re.compile(r"trial_\d{4,}")


def is_export_folder(path: str) -> bool:
    entries = set(os.listdir(path))
    return EXPORT_MARKERS <= entries <= EXPORT_FILES


def is_front_folder(path: str) -> bool:
    """A folder of ``trial_NNNN`` export folders (``export --front``)."""
    entries = os.listdir(path)
    return all(_TRIAL_FOLDER.fullmatch(e) and os.path.isdir(os.path.join(path, e))
               and is_export_folder(os.path.join(path, e)) for e in entries)


# What export_source says of a folder that is no plain export.
TRAINED = "trained"          # a ``sksearch train`` result (its train.json records the job)
UNREADABLE = "unreadable"    # a train.json that does not say what the export came from


def export_source(path: str) -> Any:
    """What the export folder ``path`` holds: its train.json's "source" (``{"study", "trial_id",
    "folder"}`` for a trial, ``{"study", "subnet_id", ...}`` for a subnet), ``TRAINED`` for a
    ``sksearch train`` result, None for an untrained ``build`` (which writes no train.json)."""
    recipe = os.path.join(path, TRAIN_JSON)
    if not os.path.lexists(recipe):
        return None
    try:
        data = read_json(recipe, mapping=True)
    except UserError:
        return UNREADABLE
    if "job" in data:
        return TRAINED
    source = data.get("source")
    return source if isinstance(source, dict) else UNREADABLE


def same_source(old: Any, new: Any, front: bool = False) -> bool:
    """Whether an export of ``old`` may be replaced by one of ``new`` without ``--force``: the
    same trial (or subnet) of the same study; ``front`` compares the study only. An export
    written before sources recorded the study's folder matches on the study's name."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return old is None and new is None  # untrained builds: nothing trained is lost
    keys = set(new) - ({"trial_id", "subnet_id"} if front else set())
    if "folder" not in old:
        keys.discard("folder")
    return all(old.get(k) == new.get(k) for k in keys)


def describe_source(source: Any) -> str:
    if source is None:
        return "an untrained network (sksearch build)"
    if source == TRAINED:
        return "a network trained by `sksearch train`"
    if not isinstance(source, dict):
        return "an export whose train.json does not say what it came from"
    where = f" (in {source['folder']})" if source.get("folder") else ""
    if "subnet_id" in source:
        return f"the export of subnet {source['subnet_id']} of {source.get('study')}{where}"
    if "trial_id" in source:
        return f"the export of trial {source['trial_id']} of study {source.get('study')}{where}"
    return f"the front of study {source.get('study')}{where}"


def check_export_target(path: str, option: str = "--to", force: bool = False, front: bool = False,
                        source: Any = None) -> bool:
    """Refuse ``path`` for an export of ``source`` (the train.json "source" it will hold; for
    ``front``, the study's) unless it is new, empty, an earlier export of the same ``source``, or
    ``force``; and always when a link in it leads out of it. Returns whether it holds only an
    earlier export of something else, whose files the export must remove first (``clear_export``)."""
    ours = os.path.isdir(path) and (is_front_folder(path) if front else is_export_folder(path))
    check_folder_target(path, option, ours, force, "an export folder" if not front else "a front export")
    if not ours or not os.listdir(path):
        return False
    olds = [export_source(os.path.join(path, e)) for e in sorted(os.listdir(path))] if front else [export_source(path)]
    others = [old for old in olds if not same_source(old, source, front)]
    if not others:
        return False
    other = others[0]
    if not force:
        raise UserError(f"{option} {path}: holds {describe_source(other)}; this export is "
                        f"{describe_source(source)}: choose a new or empty folder, or pass --force to replace it "
                        f"(its files are removed first)")
    return True


def clear_export(path: str) -> None:
    """Remove what an earlier export left in ``path`` (only the names an export holds; a link is
    removed as a link), so a replaced folder keeps no file of the export before it."""
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if name not in EXPORT_FILES:
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.remove(full)
