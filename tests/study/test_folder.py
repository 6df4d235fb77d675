"""A study folder reopens as it ran: an old CIFAR study's val was the test batch."""

import json

from sksearch.data.spec import DataSpec
from sksearch.study.folder import StudyFolder


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
