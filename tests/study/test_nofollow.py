"""Nothing written through a link out of the folder a command writes: exports, builds, train
--out, run --force and resume refuse a folder with such a link (exit 2, one line naming it) and
leave the link's target byte for byte as it was."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from sksearch.cli import main
from sksearch.errors import UserError
from sksearch.study.nofollow import atomic_write, refuse_links_out
from tests.conftest import tiny_spec, write_space


def make_study(tmp, name: str = "study", trials: int = 2):
    """A study folder with ``trials`` completed trials, each with a Ray folder, params.json and
    a checkpoint's weights, built without Ray (seconds, not a search's minutes)."""
    from safetensors.torch import save_file

    from sksearch.model.network import build
    from sksearch.search.optuna_searcher import OptunaSearcher
    from sksearch.space import load_space

    out = tmp / name
    out.mkdir(parents=True)
    space_file = write_space(tmp, name=f"{name}.yaml")
    space = load_space(str(space_file))
    (out / "space.yaml").write_text(space.to_yaml())
    (out / "run.json").write_text(json.dumps({"study_name": "tiny", "storage": None, "address": None}))
    searcher = OptunaSearcher(space, f"sqlite:///{out / 'optuna.db'}", "tiny", space.data.shape(), 6)
    for i in range(trials):
        rid = f"ray{i}"
        config = searcher.suggest(rid)
        searcher.on_trial_complete(rid, {"epoch": space.scheduler.max_epochs, "accuracy": 0.5 + i / 10,
                                         "loss": 1.0, **config["cost"]})
        folder = out / "ray" / f"trial_{i:04d}_{rid}"
        (folder / "checkpoint_000002").mkdir(parents=True)
        (folder / "params.json").write_text(json.dumps(config, default=str))
        save_file(build(config["arch"]).state_dict(), str(folder / "checkpoint_000002" / "model.safetensors"))
    return out


def digests(folder) -> dict[str, str]:
    """Every file under ``folder`` (links followed: what a write through them would change)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def outside_export(tmp, like=None) -> tuple:
    """A folder of files with known bytes outside every folder a command is given (a copy of the
    export ``like``, or text), and its digests."""
    outside = tmp / "outside"
    if like is not None:
        shutil.copytree(like, outside)
        return outside, digests(outside)
    outside.mkdir()
    for name in ("model.py", "spec.json", "weights.safetensors", "preprocess.json", "README.md", "train.json",
                 "train_log.csv"):
        (outside / name).write_text(f"the outside {name}, not to be touched\n")
    return outside, digests(outside)


def linked_export(tmp, outside, name: str = "linked"):
    """An export folder whose every file is a link into ``outside``."""
    folder = tmp / name
    folder.mkdir()
    for p in outside.iterdir():
        os.symlink(p, folder / p.name)
    return folder


def refused(capsys, link) -> str:
    err = capsys.readouterr().err
    assert err.startswith("sksearch: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and str(link) in err and "symbolic link" in err, err
    return err


def test_atomic_write_refuses_a_link_in_its_place(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("kept\n")
    os.symlink(target, tmp_path / "file.txt")
    with pytest.raises(UserError, match="file.txt: is a symbolic link"):
        atomic_write(str(tmp_path / "file.txt"), "new\n")
    assert target.read_text() == "kept\n" and os.path.islink(tmp_path / "file.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "target.txt"]  # no temporary file left
    atomic_write(str(tmp_path / "plain.txt"), b"bytes\n")
    atomic_write(str(tmp_path / "plain.txt"), lambda tmp: Path(tmp).write_text("text\n"))
    assert (tmp_path / "plain.txt").read_text() == "text\n"


def test_links_out_of_a_folder_at_any_depth_are_refused_and_links_inside_are_not(tmp_path):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f").write_text("x")
    os.symlink(root / "a" / "b" / "f", root / "inside")  # stays inside: allowed
    os.symlink("b", root / "a" / "b2")
    refuse_links_out(str(root), "--to")
    for link, target in ((root / "a" / "b" / "deep", tmp_path), (root / "file", tmp_path / "x.txt"),
                         (root / "a" / "dangling", root / "nowhere")):
        os.symlink(target, link)
        with pytest.raises(UserError, match=f"--to {root}: {link} is a symbolic link"):
            refuse_links_out(str(root), "--to")
        link.unlink()
    refuse_links_out(str(tmp_path / "missing"))  # a new folder holds nothing to check


@pytest.mark.parametrize("how", ["trial", "build"])
def test_export_and_build_into_an_export_of_links_write_nothing_through_them(tmp_path, capsys, how):
    study = make_study(tmp_path)
    outside, before = outside_export(tmp_path)
    target = linked_export(tmp_path, outside)
    spec = tmp_path / "tiny.json"
    spec.write_text(tiny_spec().to_json())
    args = (["export", str(study), "--trial", "0", "--to", str(target)] if how == "trial"
            else ["build", str(spec), "--to", str(target)])
    assert main([*args, "--force"]) == 2  # --force replaces a folder, never what its links point to
    refused(capsys, target / "README.md")
    assert main(args) == 2
    refused(capsys, target / "README.md")
    assert digests(outside) == before


def test_export_front_through_a_linked_trial_folder_writes_nothing_there(tmp_path, capsys):
    study = make_study(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    assert main(["export", str(study), "--trial", "0", "--to", str(elsewhere)]) == 0
    before = digests(elsewhere)
    front = tmp_path / "front"
    assert main(["export", str(study), "--front", "--objectives", "accuracy", "--to", str(front)]) == 0
    kept = sorted(p.name for p in front.iterdir())
    shutil.rmtree(front / kept[0])
    os.symlink(elsewhere, front / kept[0])
    assert main(["export", str(study), "--front", "--objectives", "accuracy", "--to", str(front)]) == 2
    refused(capsys, front / kept[0])
    assert digests(elsewhere) == before


def test_export_subnet_checks_its_folder_for_links_first(tmp_path, monkeypatch):
    """``--subnet`` goes through the same check (before the supernet is even looked for)."""
    import pandas as pd

    from sksearch.oneshot import export as oneshot_export
    from sksearch.study.folder import StudyFolder

    study = make_study(tmp_path)
    outside, before = outside_export(tmp_path)
    target = linked_export(tmp_path, outside)
    folder = StudyFolder.open(str(study))
    row = pd.DataFrame([{"trial_id": 0, "status": "completed", "accuracy": 0.5, "params": 1, "macs": 1,
                         "config": {}, "reason": None}])
    monkeypatch.setattr(StudyFolder, "subnet_table", property(lambda self: row))
    # The subnet is checked against the space first (a refusal either way writes nothing).
    monkeypatch.setattr(oneshot_export, "_recorded_subnet", lambda *args: tiny_spec())
    with pytest.raises(UserError, match=f"{target / 'README.md'} is a symbolic link"):
        oneshot_export.export_subnet(folder, 0, str(target), force=True)
    assert digests(outside) == before


def test_train_out_into_an_export_of_links_writes_nothing_through_them(tmp_path, capsys):
    study = make_study(tmp_path)
    source = tmp_path / "source"
    assert main(["export", str(study), "--trial", "0", "--to", str(source)]) == 0
    outside, before = outside_export(tmp_path, like=source)  # an export: old code trained into it
    target = linked_export(tmp_path, outside)
    assert main(["train", str(source), "--epochs", "1", "--out", str(target), "--device", "cpu"]) == 2
    refused(capsys, target / "README.md")
    # A linked checkpoints/ (the folder a running train writes every epoch) is refused the same way.
    (tmp_path / "ckpt").mkdir()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    os.symlink(tmp_path / "ckpt", fresh / "checkpoints")
    assert main(["train", str(source), "--epochs", "1", "--out", str(fresh), "--device", "cpu"]) == 2
    refused(capsys, fresh / "checkpoints")
    assert digests(outside) == before and not any((tmp_path / "ckpt").iterdir())


def test_train_log_is_written_without_following_a_link(tmp_path):
    from sksearch.exports.layout import TRAIN_LOG as LOG_FILE
    from sksearch.fulltrain import _append_log

    outside = tmp_path / "outside.csv"
    outside.write_text("kept\n")
    os.symlink(outside, tmp_path / LOG_FILE)
    with pytest.raises(UserError, match="is a symbolic link"):
        _append_log(str(tmp_path), {"epoch": 1, "accuracy": 0.5})
    assert outside.read_text() == "kept\n"


def test_resume_and_run_force_refuse_a_ray_folder_linked_outside(tmp_path, capsys):
    study = make_study(tmp_path)
    other = tmp_path / "other_ray"
    shutil.move(study / "ray", other)
    os.symlink(other, study / "ray")
    before = digests(other)
    assert main(["resume", str(study)]) == 2
    refused(capsys, study / "ray")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's\n")
    os.symlink(other, mine / "ray")
    space = write_space(tmp_path, name="run.yaml")
    assert main(["run", str(space), "--out", str(mine), "--force"]) == 2
    refused(capsys, mine / "ray")
    assert digests(other) == before
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt", "ray"]


def test_resume_refuses_a_lock_file_linked_outside_and_leaves_its_target(tmp_path, capsys):
    study = make_study(tmp_path)
    target = tmp_path / "precious.txt"
    target.write_text("not a lock file\n")
    os.symlink(target, study / ".sksearch.lock")
    assert main(["resume", str(study)]) == 2
    refused(capsys, study / ".sksearch.lock")
    assert target.read_text() == "not a lock file\n"
