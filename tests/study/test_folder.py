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
