"""The file names of an export folder, declared once: every module that writes or reads an
export takes them from here.

    model.py              sksearch's own torch-only network module (``model/network.py``),
                          copied as it is: build(spec) and load(folder)
    spec.json             the ArchSpec (input_size and in_channels included)
    weights.safetensors   the weights (no pickle)
    preprocess.json       what inputs the weights expect: normalisation, classes, the data spec
    train.json            the training recipe (every TrainSpec value, the data spec, epochs,
                          the source); ``sksearch train`` also keeps its job and progress in it
    README.md             the metrics, how to load it, how to train it further
    model.onnx            with --onnx (model.onnx.data beside it for a network over 1.5 GB)
    attention/            ``sksearch analyze``'s analyses of it
    train_log.csv         ``sksearch train``'s log, one row per epoch
    checkpoints/          ``sksearch train``'s checkpoints while it runs

Exports are kept by users and read by later versions: a name here never changes.
``model.py`` names ``spec.json`` and ``weights.safetensors`` itself (its ``load``), since it
imports nothing but torch; ``tests/exports/test_layout.py`` checks that they agree.
"""

from __future__ import annotations

import os

from ..study.lock import LOCK_FILE

MODEL_PY = "model.py"
SPEC_JSON = "spec.json"
WEIGHTS = "weights.safetensors"
PREPROCESS_JSON = "preprocess.json"
TRAIN_JSON = "train.json"
README_MD = "README.md"
MODEL_ONNX = "model.onnx"
ONNX_DATA = MODEL_ONNX + ".data"  # the name torch's exporter gives external weights
ATTENTION = "attention"
TRAIN_LOG = "train_log.csv"
CHECKPOINTS = "checkpoints"

# What an export folder may hold: what write.py writes, what analyze and train add, and the
# lock ``sksearch train`` holds it by.
EXPORT_FILES = frozenset({MODEL_PY, SPEC_JSON, WEIGHTS, PREPROCESS_JSON, README_MD, MODEL_ONNX, ONNX_DATA,
                          TRAIN_JSON, ATTENTION, TRAIN_LOG, CHECKPOINTS, LOCK_FILE})
# What every export holds: a folder with these (and nothing outside EXPORT_FILES) is one.
EXPORT_MARKERS = frozenset({MODEL_PY, SPEC_JSON, WEIGHTS})


class ExportLayout:
    """The paths of an export folder's files: ``ExportLayout(root).spec_json`` is ``root/spec.json``."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.model_py = os.path.join(root, MODEL_PY)
        self.spec_json = os.path.join(root, SPEC_JSON)
        self.weights = os.path.join(root, WEIGHTS)
        self.preprocess_json = os.path.join(root, PREPROCESS_JSON)
        self.train_json = os.path.join(root, TRAIN_JSON)
        self.readme_md = os.path.join(root, README_MD)
        self.model_onnx = os.path.join(root, MODEL_ONNX)
        self.attention = os.path.join(root, ATTENTION)
