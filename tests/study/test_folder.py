"""A study folder reopens as it ran (an old CIFAR study's val was the test batch), and is read
from its own database unless the user names another: never from a server its run.json names."""

import dataclasses
import json
import os
import socket
import threading

import pytest

from sksearch.cli import main
from sksearch.data.spec import DataSpec
from sksearch.errors import UserError
from sksearch.study.folder import RunInfo, StudyFolder, masked, own_storage
from sksearch.version import __version__
from tests.conftest import write_space


def test_a_cifar_study_from_before_the_three_splits_reopens_on_its_own_val(unfinished_study):
    record = DataSpec.named("cifar10").to_dict()
    del record["val_split"]  # what a study written before the three splits recorded
    (unfinished_study / "data.json").write_text(json.dumps({"name": "cifar10", "data_spec": record}))
    assert StudyFolder.open(str(unfinished_study)).space.data.val_split == "test"
    record["val_split"] = "holdout"
    (unfinished_study / "data.json").write_text(json.dumps({"name": "cifar10", "data_spec": record}))
    assert StudyFolder.open(str(unfinished_study)).space.data.val_split == "holdout"
    (unfinished_study / "data.json").unlink()
    assert StudyFolder.open(str(unfinished_study)).space.data.val_split == "holdout"


def test_a_copied_study_reads_its_own_database_not_the_one_run_json_names_by_path(tmp_path):
    """`run --storage sqlite:///DIR/optuna.db --out DIR` wrote the folder's own database by its
    absolute path: a copy of the folder opens the database beside its run.json."""
    from sksearch.study.folder import RunInfo
    from sksearch.study.layout import Layout

    copy = tmp_path / "copy"
    copy.mkdir()
    layout = Layout(str(copy))
    own = RunInfo(study_name="tiny", storage=f"sqlite:///{tmp_path / 'first' / 'optuna.db'}", sksearch="0.5.0")
    shared_sqlite = RunInfo(study_name="tiny", storage=f"sqlite:///{tmp_path / 'shared.db'}", sksearch="0.5.0")
    postgres = RunInfo(study_name="tiny", storage="postgresql://me@db/studies", sksearch="0.5.0")
    assert own.storage_url(layout) == own.storage  # no optuna.db here: a study sharing another folder's
    (copy / "optuna.db").write_bytes(b"")
    assert own.storage_url(layout) == f"sqlite:///{copy / 'optuna.db'}"
    # A database of another name, or on a server, is shared: the copy shares it too.
    assert shared_sqlite.storage_url(layout) == shared_sqlite.storage
    assert postgres.storage_url(layout) == postgres.storage


# ---- the database a read opens: the folder's own, or the one the user names ----------------

class FakeServer:
    """A TCP port that counts the connections made to it (and closes each at once): where a
    study folder's run.json points a read command at a server it chose."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port, self.connections, self._stop = self.sock.getsockname()[1], 0, False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop:
            try:
                con, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            con.close()

    def close(self):
        self._stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def hostile(unfinished_study):
    """A study folder whose run.json names a server of its choosing, with a password."""
    server = FakeServer()
    run = json.loads((unfinished_study / "run.json").read_text())
    run["storage"] = f"postgresql://victim:s3cret@127.0.0.1:{server.port}/studies?password=s3cret&sslmode=disable"
    (unfinished_study / "run.json").write_text(json.dumps(run))
    yield unfinished_study, server
    server.close()


@pytest.mark.parametrize("command", [
    ["status"], ["status", "--json"], ["pareto"], ["report"], ["export", "--trial", "0", "--to", "{tmp}/x"],
    ["evaluate", "{folder}:0"], ["analyze", "{folder}:0"],
])
def test_a_read_command_never_connects_to_the_server_a_folder_names(hostile, tmp_path, capsys, command):
    folder, server = hostile
    args = [a.format(tmp=tmp_path, folder=folder) for a in command]
    if "{folder}" not in command[-1]:
        args.insert(1, str(folder))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert server.connections == 0
    assert len(err.strip().splitlines()) == 1 and "s3cret" not in err, err
    assert (f"run.json names the database postgresql://victim:***@127.0.0.1:{server.port}/studies?password=***"
            f"&sslmode=disable, not the folder's own optuna.db" in err), err
    assert "pass --storage URL" in err
    assert not (tmp_path / "x").exists()


def test_python_reads_the_folders_own_database_unless_given_a_storage(hostile):
    import sksearch

    folder, server = hostile
    with pytest.raises(sksearch.UserError, match=r"names the database postgresql://victim:\*\*\*@.*storage=URL"):
        _ = sksearch.open(str(folder)).table
    # The user names the database: that one is read (here the folder's own file, by its URL).
    study = sksearch.open(str(folder), storage=f"sqlite:///{folder / 'optuna.db'}")
    assert study.table.trial_id.tolist() == [0] and study.table.status.tolist() == ["stopped_early"]
    assert server.connections == 0


def test_a_shared_study_in_another_file_is_read_with_storage_only(unfinished_study, tmp_path, capsys):
    """A SQLite file outside the folder is another database too: read when named, not before."""
    shared = tmp_path / "shared.db"
    os.replace(unfinished_study / "optuna.db", shared)
    run = json.loads((unfinished_study / "run.json").read_text())
    run["storage"] = f"sqlite:///{shared}"
    (unfinished_study / "run.json").write_text(json.dumps(run))
    before = shared.read_bytes()
    assert main(["status", str(unfinished_study), "--json"]) == 2
    assert f"names the database sqlite:///{shared}, not the folder's own" in capsys.readouterr().err
    assert main(["status", str(unfinished_study), "--json", "--storage", f"sqlite:///{shared}"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["counts"]["stopped_early"] == 1 and info["study"] == "tiny"
    assert shared.read_bytes() == before


def test_the_folders_own_database_is_read_however_run_json_spells_it(unfinished_study):
    run = RunInfo.from_dict(json.loads((unfinished_study / "run.json").read_text()), "run.json")
    # (Of sksearch 0.1, whose run.json held the absolute path of the folder's own database, any
    # optuna.db it names is read as the one beside it: RunInfo.storage_url.)
    run = dataclasses.replace(run, sksearch=__version__)
    own = f"sqlite:///{unfinished_study / 'optuna.db'}"
    # Another folder's optuna.db is the one a copied study's run.json names: the copy reads its own.
    for storage in (None, own, f"sqlite:///{unfinished_study}/./optuna.db",
                    f"sqlite:///{unfinished_study.parent}/optuna.db"):
        assert own_storage(str(unfinished_study), dataclasses.replace(run, storage=storage)) == own
    for storage in (f"sqlite:///{unfinished_study}/other.db", "mysql://u:p@db.example/s"):
        with pytest.raises(UserError, match="not the folder's own optuna.db"):
            own_storage(str(unfinished_study), dataclasses.replace(run, storage=storage))


def test_a_password_is_masked_wherever_a_url_holds_it():
    assert masked("postgresql://me:pa:ss@host:5432/db") == "postgresql://me:***@host:5432/db"
    assert masked("postgresql://me@host/db?password=x&sslmode=require") == \
        "postgresql://me@host/db?password=***&sslmode=require"
    assert masked("postgresql://me@host/db") == "postgresql://me@host/db"
    assert masked("sqlite:////a/b/optuna.db") == "sqlite:////a/b/optuna.db"


def test_a_warm_start_from_a_folder_never_connects_to_the_server_it_names(hostile, tmp_path, capsys):
    folder, server = hostile
    space = write_space(tmp_path)
    assert main(["run", str(space), "--out", str(tmp_path / "out"), "--warm-start", str(folder)]) == 2
    err = capsys.readouterr().err
    assert server.connections == 0 and "s3cret" not in err
    assert "names the database postgresql://victim:***@" in err and "name it as URL#tiny" in err
    assert not (tmp_path / "out").exists()
