"""The one table of data sets (``data.spec.DATASETS``): every name, shape, default and reader
comes from it, and a set added to it is read with no other change."""

import dataclasses

import numpy as np
import pytest

from sksearch.data import cifar, idx
from sksearch.data.load import READERS, load_data
from sksearch.data.spec import DATASETS, NAMES, DataSet, DataShape, DataSpec
from sksearch.errors import UserError
from sksearch.space import SpaceError, schema

# The shapes the sets gave before the table (DataSpec.shape's if-chain), with the spec's defaults.
SHAPES = {"digits": (1, 24, 10), "cluttered_digits": (1, 32, 10), "fashion_mnist": (1, 28, 10),
          "mnist": (1, 28, 10), "kmnist": (1, 28, 10), "cifar10": (3, 32, 10), "cifar100": (3, 32, 100),
          "imagefolder": (3, 224, 2), "synthetic_cifar": (3, 32, 10)}


def test_every_name_list_is_the_tables():
    assert NAMES == tuple(DATASETS) == tuple(SHAPES)
    assert schema.DATA_FIELDS["name"]("data.name", "mnist") == "mnist"
    with pytest.raises(SpaceError, match=f"must be one of {', '.join(DATASETS)}; got 'svhn'"):
        schema.DATA_FIELDS["name"]("data.name", "svhn")


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_each_row_names_a_reader_and_keys_the_data_section_has(name):
    row = DATASETS[name]
    assert row.name == name and row.about and row.reader in READERS
    fields = {f.name for f in dataclasses.fields(DataSpec)}
    assert set(row.reads) <= fields & set(schema.DATA_FIELDS), row.reads
    assert set(row.settings) <= fields
    assert isinstance(row.side, int) or row.side in fields
    # A set whose reader checks named files has its files in the reader's formats.
    formats = {"idx": idx.FORMATS, "cifar": cifar.FORMATS}.get(row.reader)
    assert formats is None or name in formats


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_shape_and_defaults_come_from_the_row(name):
    named = DataSpec.named(name)
    assert dataclasses.astuple(named.shape()) == SHAPES[name]
    row = DATASETS[name]
    assert named.val_size == (row.holdout or DataSpec.val_size)
    assert all(getattr(named, k) == v for k, v in row.settings.items())
    assert named.is_digits == (row.reader == "digits")


def test_a_loaded_folder_gives_its_class_count_and_a_larger_crop_its_side():
    class Loaded:
        num_classes = 7

    folder = DataSpec(name="imagefolder", image_size=96)
    assert folder.shape(Loaded()) == DataShape(3, 96, 7)
    assert folder.shape() == DataShape(3, 96, 2)  # before the scan: 2 stands in
    assert DataSpec(name="cifar100").shape(Loaded()) == DataShape(3, 32, 100)  # a fixed count is the table's


def test_an_unknown_name_is_refused_with_the_tables_names(tmp_path):
    message = f"data.name: 'svhn' is not a data set; allowed: {', '.join(DATASETS)}"
    with pytest.raises(UserError) as err:
        load_data(DataSpec(name="svhn"))
    assert str(err.value) == message
    with pytest.raises(UserError) as err:
        DataSpec(name="svhn").shape()
    assert str(err.value) == message


def test_an_old_cifar_record_reads_val_from_the_test_batch_as_it_did():
    assert DataSpec.from_record({"name": "cifar100"}).val_split == "test"
    assert DataSpec.from_record({"name": "mnist"}).val_split == "holdout"
    assert DataSpec.from_record({"name": "gone"}).val_split == "holdout"  # the name is refused where it is read


def test_a_set_added_to_the_table_is_named_read_and_shaped_with_no_other_change(monkeypatch):
    """The guide's promise (docs/architecture.md, "How to add a data set"): a set that an
    existing reader reads is one row."""
    row = DataSet("blobs_small", "CIFAR-shaped blobs, small", "synthetic", 3, 32, 10, holdout=None,
                  settings={"train_size": 60, "val_size": 30}, reads=("train_size", "val_size"))
    monkeypatch.setitem(DATASETS, row.name, row)
    data = load_data(DataSpec.named("blobs_small"))
    assert (len(data.y_train), len(data.y_val)) == (60, 30)
    assert data.x_train.shape[1:] == (3, 32, 32) and sorted(np.unique(data.y_train)) == list(range(10))
    assert DataSpec.named("blobs_small").shape(data) == DataShape(3, 32, 10)
    # A row whose shape is wrong is caught when its images are read, not trained on.
    monkeypatch.setitem(DATASETS, row.name, dataclasses.replace(row, side=28))
    with pytest.raises(UserError, match="blobs_small's train images are 3 x 32 x 32; its networks take 3 x 28 x 28"):
        load_data(DataSpec.named("blobs_small"))


def test_a_row_with_a_test_split_has_val_held_out_of_train(monkeypatch):
    monkeypatch.setitem(DATASETS, "blobs_held", DataSet("blobs_held", "blobs", "synthetic", 3, 32, 10, holdout=20,
                                                        settings={"train_size": 100, "val_size": 40}))
    data = load_data(DataSpec.named("blobs_held"))
    assert (len(data.y_train), len(data.y_val)) == (80, 20)  # val_size is the hold-out's, 20 of train's 100
