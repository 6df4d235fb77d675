"""A study is its folder: a copied or moved interrupted study resumes in place, and never
touches the folder it came from (Ray's tuner.pkl pickles the searcher, the scheduler and the
callbacks with the first folder's database URL and path)."""

import hashlib
import json
import os
import shutil
import signal

import pandas as pd

from tests.conftest import run_cli, write_space
from tests.search.test_driver import FINISHED, check_study, start, wait_for_finished


def checksums(folder) -> dict[str, str]:
    """Every file under ``folder`` (links as their target path, not followed) and its digest."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def interrupted_study(tmp_path, name: str = "study"):
    """A real tiny search stopped by SIGTERM after two trials ended (Ray's snapshot and a
    searcher state in ray/, the rest of its trials still to run)."""
    space_file = write_space(tmp_path, trials="trials: 5")
    out = tmp_path / name
    proc = start(space_file, out)
    wait_for_finished(out, 2, proc)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=120) == 143
    stopped = pd.read_csv(out / "trials.csv")
    assert stopped.status.isin(FINISHED).sum() < 5 and (out / "ray" / "tuner.pkl").exists()
    return out


def check_resumed(folder, planned: int = 5) -> None:
    proc = run_cli("resume", str(folder))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-6000:]
    assert f"resuming study tiny from {folder / 'ray'}" in proc.stdout and "Traceback" not in proc.stderr
    check_study(folder, planned=planned, max_epochs=2)
    status = json.loads(run_cli("status", str(folder), "--json").stdout)
    assert status["finished"] and status["counts"]["interrupted"] == 0
    # The Ray trial folders of all its trials are in the resumed folder.
    trial_dirs = [d for d in os.listdir(folder / "ray") if d.startswith("trial_")]
    assert len({d[:10] for d in trial_dirs}) == planned, trial_dirs


def test_a_copied_or_moved_study_resumes_in_place(tmp_path):
    """One interrupted study, copied (as `cp -a` does) and resumed, then moved and resumed:
    each resume finishes in its own folder, and the copy's resume changes not one byte of the original."""
    original = interrupted_study(tmp_path)
    before = checksums(original)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy, symlinks=True)

    check_resumed(copy)
    assert checksums(original) == before  # the copy's resume wrote nothing into the original

    # The original, moved after its copy finished, resumes on its own to the same plan.
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    os.rename(original, moved)
    check_resumed(moved)
    assert not original.exists()  # nothing was made again at the old place
    # Each ran its own trials after the copy: the copy's new Ray trials are not the moved study's.
    old = {rel.split("/")[1] for rel in before if rel.startswith("ray/trial_")}
    new = {d for d in os.listdir(copy / "ray") if d.startswith("trial_")} - old
    assert new and not new & set(os.listdir(moved / "ray"))
