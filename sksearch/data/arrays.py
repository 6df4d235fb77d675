"""In-memory data sets: uint8 images and integer labels as numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ArrayData:
    """A data set held in memory: images are uint8 (N, C, H, W), labels int64 (N,).

    Three splits: a search trains on ``train`` and ranks on ``val``; ``test`` is ``None``
    unless the caller asked for it (``load_data(spec, test=True)``), so a search holds none.

    ``scales_*`` and ``boxes_*`` hold, for the embedded multi-scale set, each sample's object
    scale (its side in pixels over the source digit's 8 px) and box; ``None`` elsewhere.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    scales_train: np.ndarray | None = None
    scales_val: np.ndarray | None = None
    # (top, left, side) of each sample's object on the canvas, where known.
    boxes_train: np.ndarray | None = None
    boxes_val: np.ndarray | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    # Training-time augmentation that suits the data: random crop + flip for natural images;
    # none for digits, where a flip changes the class and position is already random; "crop"
    # is a crop alone. ``crop_pad`` pixels of padding, ``pad_mode`` reflect (natural images,
    # whose content runs to the border) or constant (black: objects centred on a black ground).
    augment: str = "none"
    crop_pad: int = 4
    pad_mode: str = "reflect"
    # Random erasing (``data.erase``): the probability per image and the area range, as fractions.
    erase: float = 0.0
    erase_min: float = 0.02
    erase_max: float = 0.25

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def input_size(self) -> int:
        return int(self.x_train.shape[2])

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and std of the training images, in the 0..1 range."""
        x = self.x_train.astype(np.float64) / 255.0
        mean = x.mean(axis=(0, 2, 3))
        std = x.std(axis=(0, 2, 3))
        return mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32)
