import numpy as np
import torch

from sksearch.data.batches import random_crop_flip
from sksearch.data.digits import make_digits
from sksearch.data.load import make_batches


def test_epochs_are_deterministic_and_drop_the_partial_batch():
    data = make_digits(200, 100)
    b = make_batches(data, "cpu", batch_size=64, seed=1)
    first = [y.clone() for _, y in b.train(1)]
    again = [y.clone() for _, y in b.train(1)]
    other = [y.clone() for _, y in b.train(2)]
    assert len(first) == 3 and all(len(y) == 64 for y in first)
    assert all(torch.equal(a, c) for a, c in zip(first, again))
    assert not all(torch.equal(a, c) for a, c in zip(first, other))


def test_batches_are_normalised_with_training_statistics():
    data = make_digits(400, 100)
    b = make_batches(data, "cpu", batch_size=400)
    x, _ = next(b.train(1))
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-2
    assert sum(len(y) for _, y in b.val()) == 100


def test_crop_flip_without_padding_only_flips():
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5).repeat(8, 1, 1, 1)
    out = random_crop_flip(x, 0, gen)
    flipped = [torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_crop_shifts_within_the_padding():
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 4, 4] = 1.0
    out = random_crop_flip(x, 2, gen)
    where = [tuple(np.argwhere(o[0].numpy() == 1.0)[0]) for o in out if o.max() == 1.0]
    rows = {r for r, _ in where}
    assert rows <= set(range(2, 7)) and len(rows) > 1


def test_a_crop_pads_with_black_before_normalising():
    """IDX sets crop from black padding (their objects sit on black), without a flip for "crop"."""
    import numpy as np
    import torch

    from sksearch.data.arrays import ArrayData
    from sksearch.data.batches import DeviceBatches

    x = np.full((64, 1, 8, 8), 200, np.uint8)
    x[:, :, :, :4] = 100  # left half darker: a flip would move it
    data = ArrayData("t", x, np.zeros(64, np.int64), x[:4], np.zeros(4, np.int64), 1, augment="crop", crop_pad=2,
                     pad_mode="constant")
    batches = DeviceBatches(data, "cpu", batch_size=64)
    (xb, _), = list(batches.train(1))
    raw = (xb * batches.std + batches.mean) * 255
    values = set(torch.round(raw).unique().tolist())
    assert values <= {0.0, 100.0, 200.0} and 0.0 in values  # black borders, no reflected pixels
    # Without a flip the dark half stays left of the bright half in every image.
    for img in torch.round(raw[:, 0]):
        row = img[4]
        dark, bright = (row == 100).nonzero(), (row == 200).nonzero()
        assert dark.max() < bright.min()
