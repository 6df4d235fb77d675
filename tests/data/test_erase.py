"""Random erasing (data.erase): how often, how much, and the same under the same seed."""

import torch

from sksearch.data.batches import random_erase
from sksearch.data.digits import make_digits
from sksearch.data.load import make_batches


def erased(p: float, area: tuple[float, float], seed: int, n: int = 4000, side: int = 28) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.ones(n, 1, side, side)
    return random_erase(x, p, area, gen) == 0


def test_erased_images_and_areas_stay_within_the_asked_range():
    mask = erased(0.5, (0.02, 0.25), seed=0)
    frac = mask.float().mean(dim=(1, 2, 3))
    hit = frac > 0
    assert abs(hit.float().mean().item() - 0.5) < 0.03          # p of the images, no more
    # Rounding to whole pixels moves an area by at most a row or column (1/28 of the image).
    assert frac[hit].min() >= 0.02 - 1 / 28 and frac[hit].max() <= 0.25 + 1 / 28
    assert abs(frac[hit].mean().item() - 0.135) < 0.02          # uniform over the range: its middle on average
    # each erased region is one rectangle: its rows times its columns
    rows, cols = mask[hit].any(3).sum((1, 2)), mask[hit].any(2).sum((1, 2))
    assert torch.equal(rows * cols, mask[hit].sum((1, 2, 3)))


def test_erasing_is_deterministic_under_its_seed_and_off_at_zero():
    assert torch.equal(erased(0.5, (0.1, 0.3), seed=7), erased(0.5, (0.1, 0.3), seed=7))
    assert not torch.equal(erased(0.5, (0.1, 0.3), seed=7), erased(0.5, (0.1, 0.3), seed=8))
    assert not erased(0.0, (0.1, 0.3), seed=7).any()
    assert erased(1.0, (0.1, 0.3), seed=7).any(3).any(2).all()


def test_training_batches_are_erased_only_when_asked_and_the_same_each_run():
    data = make_digits(64, 20, canvas=16, max_scale=2.0)
    plain = [x for x, _ in make_batches(data, "cpu", 32).train(1)]
    data.erase, data.erase_min, data.erase_max = 1.0, 0.1, 0.2
    first = [x for x, _ in make_batches(data, "cpu", 32).train(1)]
    second = [x for x, _ in make_batches(data, "cpu", 32).train(1)]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    changed = [(a != b).flatten(1).any(1) for a, b in zip(plain, first)]
    assert torch.cat(changed).float().mean() > 0.9   # every image had a rectangle set to the mean
    assert all((a[a != b] == 0).all() for a, b in zip(first, plain))  # erased to 0, the training mean
