"""Data sets for search trials: the embedded multi-scale digits, CIFAR-10/100, image folders.

``spec`` (``DataSpec``: which set and how to read it) needs no torch; ``load`` reads a set
(``load_data``), describes it (``describe``) and puts it on a device (``make_batches``).
"""

from .spec import NAMES, DataShape, DataSpec

__all__ = ["NAMES", "DataShape", "DataSpec"]
