"""Bounded reads (issue 33, item 8): a file sksearch reads from a folder it was given is read only
when it is a regular file, and never beyond its limit. A link to /dev/zero read to its end
grows until the kernel kills the process; a FIFO read blocks until a writer comes, which is
forever: every command case runs in a subprocess with a timeout, so the old code fails here
instead of hanging the suite."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time

import pytest

from sksearch.errors import UserError
from sksearch.files import JSON_LIMIT, check_regular, read_limited
from tests.conftest import write_space


def _cap_memory() -> None:
    # On the old code a read of /dev/zero grows until the kernel kills something (21 GB seen):
    # capped, it ends in a MemoryError and the test fails without taking the machine down.
    resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))


def sksearch(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    """The command in a subprocess; a read that blocks or grows without end fails on the timeout."""
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "sksearch", *args], capture_output=True, text=True,
                              timeout=timeout, preexec_fn=_cap_memory, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"sksearch {' '.join(args)} did not end within {timeout} s")
    proc.elapsed = time.monotonic() - start  # type: ignore[attr-defined]
    return proc


def refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, err[-2000:])
    assert err.startswith("sksearch: error: ") and err.count("\n") == 1 and "Traceback" not in err, err[-2000:]
    for word in words:
        assert word in err, err


def fifo(path) -> None:
    if path.exists():
        path.unlink()
    os.mkfifo(path)


def zero_link(path) -> None:
    if path.exists():
        path.unlink()
    os.symlink("/dev/zero", path)


# ---- read_limited and check_regular ---------------------------------------------------------

def test_read_limited_reads_a_regular_file_up_to_its_limit(tmp_path):
    path = tmp_path / "f.json"
    path.write_bytes(b"x" * 100)
    assert read_limited(str(path), 100) == b"x" * 100
    with pytest.raises(UserError, match=r"f\.json: 100 bytes, more than the 99 bytes sksearch reads of it"):
        read_limited(str(path), 99)


def test_read_limited_refuses_a_fifo_a_device_and_a_folder_without_blocking(tmp_path):
    fifo(tmp_path / "pipe")
    zero_link(tmp_path / "zero")
    start = time.monotonic()
    for name, kind in (("pipe", "a FIFO"), ("zero", "a character device"), ("", "a directory")):
        with pytest.raises(UserError, match=f"{kind}, not a regular file"):
            read_limited(str(tmp_path / name), JSON_LIMIT)
    assert time.monotonic() - start < 5


def test_read_limited_stops_at_its_limit_on_a_file_that_says_it_is_empty():
    # /proc files report a size of 0 and may be longer than any limit: the read stops at limit + 1.
    with pytest.raises(UserError, match="more than the 10 bytes"):
        read_limited("/proc/self/maps", 10)


def test_check_regular(tmp_path):
    zero_link(tmp_path / "w.safetensors")
    with pytest.raises(UserError, match="w.safetensors: a character device, not a regular file"):
        check_regular(str(tmp_path / "w.safetensors"))
    (tmp_path / "ok").write_bytes(b"")
    check_regular(str(tmp_path / "ok"))
    check_regular(str(tmp_path / "missing"))  # its reader says that it is missing


# ---- commands on a hostile study folder ----------------------------------------------------

@pytest.mark.parametrize("command", ["status", "pareto"])
@pytest.mark.parametrize("plant", [zero_link, fifo], ids=["dev-zero", "fifo"])
def test_read_commands_refuse_a_run_json_that_is_no_regular_file(unfinished_study, command, plant):
    plant(unfinished_study / "run.json")
    proc = sksearch(command, str(unfinished_study))
    refused(proc, "run.json:", "not a regular file")
    assert proc.elapsed < 30  # type: ignore[attr-defined]


@pytest.mark.parametrize("plant", [zero_link, fifo], ids=["dev-zero", "fifo"])
def test_status_refuses_a_data_json_that_is_no_regular_file(unfinished_study, plant):
    plant(unfinished_study / "data.json")
    refused(sksearch("status", str(unfinished_study)), "data.json:", "not a regular file")


def test_an_oversized_run_json_is_refused_unread(unfinished_study):
    run = json.loads((unfinished_study / "run.json").read_text())
    # Valid JSON, padded past the limit: refused by its size, not parsed.
    (unfinished_study / "run.json").write_text(json.dumps(run) + " " * JSON_LIMIT)
    refused(sksearch("status", str(unfinished_study)), "run.json:", f"more than the {JSON_LIMIT:,} bytes")


@pytest.mark.parametrize("plant", [zero_link, fifo], ids=["dev-zero", "fifo"])
def test_run_refuses_a_warm_start_source_whose_run_json_is_no_regular_file(unfinished_study, tmp_path, plant):
    plant(unfinished_study / "run.json")
    space = write_space(tmp_path)
    out = tmp_path / "new"
    refused(sksearch("run", str(space), "--out", str(out), "--warm-start", str(unfinished_study), timeout=120),
            "run.json:", "not a regular file")
    assert not out.exists()


@pytest.mark.parametrize("plant", [zero_link, fifo], ids=["dev-zero", "fifo"])
def test_a_space_file_or_spec_file_that_is_no_regular_file_is_refused(tmp_path, plant):
    plant(tmp_path / "space.yaml")
    refused(sksearch("run", str(tmp_path / "space.yaml"), "--out", str(tmp_path / "o")), "space.yaml:",
            "not a regular file")
    plant(tmp_path / "spec.json")
    refused(sksearch("cost", str(tmp_path / "spec.json")), "spec.json:", "not a regular file")
    assert not (tmp_path / "o").exists()


def test_an_export_whose_files_are_no_regular_files_is_refused(tmp_path):
    from sksearch.cli import main
    from tests.conftest import tiny_spec

    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(tiny_spec().to_dict()))
    export = tmp_path / "exp"
    assert main(["build", str(spec), "--to", str(export)]) == 0
    shutil.copy(export / "weights.safetensors", tmp_path / "weights")
    zero_link(export / "weights.safetensors")  # memory-mapped by safetensors: /dev/zero maps without end
    refused(sksearch("train", str(export), "--epochs", "1", "--out", str(tmp_path / "o"), "--data", "digits"),
            "weights.safetensors: a character device, not a regular file")
    assert not (tmp_path / "o").exists()
    (export / "weights.safetensors").unlink()
    shutil.copy(tmp_path / "weights", export / "weights.safetensors")
    fifo(export / "preprocess.json")
    refused(sksearch("evaluate", str(export)), "preprocess.json:", "a FIFO, not a regular file")
