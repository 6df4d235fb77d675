"""Data sets for search trials: the embedded multi-scale digits, CIFAR-10/100, image folders.

``spec`` (``DATASETS``: the table of sets; ``DataSpec``: which set and how to read it) needs no
torch; ``load`` reads a set with the reader its row names (``load_data``), describes it
(``describe``) and puts it on a device (``make_batches``).
"""

from .spec import DATASETS, NAMES, DataSet, DataShape, DataSpec

__all__ = ["DATASETS", "NAMES", "DataSet", "DataShape", "DataSpec"]
