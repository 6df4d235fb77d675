"""Where a command may write: a new or empty folder, or one that sksearch itself wrote for the
same purpose (an earlier export of the same trial, for export and build), never over a user's
files or another network's export unless ``--force`` says so, and never a folder with a link
out of it (``nofollow.py``). Every check runs before anything is written."""

from __future__ import annotations

import os
import re
import shutil
from typing import Any

from ..errors import UserError
from .jsonfile import read_json
from .lock import LOCK_FILE
from .nofollow import refuse_links_out

# What an export folder holds (export.py writes these; analyze adds attention/, train the log,
# its lock file and, while it runs, checkpoints/).
EXPORT_FILES = frozenset({"model.py", "spec.json", "weights.safetensors", "preprocess.json", "README.md",
                          "model.onnx", "model.onnx.data", "train.json", "attention", "train_log.csv", "checkpoints",
                          LOCK_FILE})
_TRIAL_FOLDER = re.compile(r"trial_\d{4,}")


EXPORT_MARKERS = frozenset({"model.py", "spec.json", "weights.safetensors"})


def is_export_folder(path: str) -> bool:
    entries = set(os.listdir(path))
    return EXPORT_MARKERS <= entries <= EXPORT_FILES


def is_front_folder(path: str) -> bool:
    """A folder of ``trial_NNNN`` export folders (``export --front``)."""
    entries = os.listdir(path)
    return all(_TRIAL_FOLDER.fullmatch(e) and os.path.isdir(os.path.join(path, e))
               and is_export_folder(os.path.join(path, e)) for e in entries)


def check_folder_target(path: str, option: str, ours: bool | None = None, force: bool = False,
                        what: str = "folder", ignore: frozenset[str] = frozenset()) -> None:
    """Refuse to write into ``path`` when it is a file, or a folder holding entries (beyond
    ``ignore``) that is not ``ours`` (an earlier output of the same kind), unless ``force``."""
    if os.path.isfile(path) or (os.path.exists(path) and not os.path.isdir(path)):
        raise UserError(f"{option} {path}: a file is there, not a folder")
    refuse_links_out(path, option)  # with --force too: files written there would land where a link points
    entries = sorted(set(os.listdir(path)) - ignore) if os.path.isdir(path) else []
    if not entries or ours or force:
        return
    raise UserError(f"{option} {path}: the folder is not empty and is not {what} sksearch wrote "
                    f"(it holds {os.path.join(path, entries[0])}); choose a new or empty folder, or pass --force "
                    f"to write over it")


# What export_source says of a folder that is no plain export.
TRAINED = "trained"          # a ``sksearch train`` result (its train.json records the job)
UNREADABLE = "unreadable"    # a train.json that does not say what the export came from


def export_source(path: str) -> Any:
    """What the export folder ``path`` holds: its train.json's "source" (``{"study", "trial_id",
    "folder"}`` for a trial, ``{"study", "subnet_id", ...}`` for a subnet), ``TRAINED`` for a
    ``sksearch train`` result, None for an untrained ``build`` (which writes no train.json)."""
    recipe = os.path.join(path, "train.json")
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


def check_file_target(path: str, option: str) -> None:
    """A file path to write (atomically): its folder exists and it is not a folder itself."""
    if os.path.isdir(path):
        raise UserError(f"{option} {path}: is a folder; give a file path such as {os.path.join(path, 'report.html')}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UserError(f"{option} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{option} {path}: the folder {parent} is not writable")


def check_no_links(base: str, path: str) -> None:
    """Refuse to write into ``path``, a folder inside ``base`` that the command did not create,
    when it or a folder between is a symbolic link: files written there would land wherever the
    link points (another study, a user's files)."""
    current = base
    for part in os.path.relpath(path, base).split(os.sep):
        current = os.path.join(current, part)
        if os.path.islink(current):
            raise UserError(f"{current}: is a symbolic link (to {os.readlink(current)}); sksearch writes only into "
                            f"real folders inside {base}: remove the link, or give --out a folder of your own")
