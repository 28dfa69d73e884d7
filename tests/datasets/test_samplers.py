from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from lightning_deepvision.datasets.samplers import IdentityBalancedSampler


def _labels(sizes: list[int]) -> list[int]:
    # identity ids deliberately non-contiguous (x 7 + 3)
    return [7 * i + 3 for i, n in enumerate(sizes) for _ in range(n)]


SIZES = [1, 2, 3, 5, 8, 13, 4, 4, 6, 9, 2, 10]  # 67 images, 12 identities
LABELS = _labels(SIZES)


def _batches(sampler: IdentityBalancedSampler) -> list[list[int]]:
    indices = list(sampler)
    b = sampler.identities_per_batch * sampler.images_per_identity
    assert len(indices) % b == 0
    return [indices[i : i + b] for i in range(0, len(indices), b)]


def test_is_distributed_sampler() -> None:
    assert isinstance(IdentityBalancedSampler(LABELS, 3, 2), DistributedSampler)


@pytest.mark.parametrize(("p", "k"), [(3, 2), (4, 4), (12, 1), (2, 5)])
def test_batch_structure(p: int, k: int) -> None:
    sampler = IdentityBalancedSampler(LABELS, p, k, seed=1)
    batches = _batches(sampler)
    assert len(sampler) == len(batches) * p * k
    for batch in batches:
        per_identity = [LABELS[i] for i in batch]
        counts = Counter(per_identity)
        assert len(counts) == p
        assert set(counts.values()) == {k}
        # identities are contiguous blocks of K
        blocks = [per_identity[i : i + k] for i in range(0, p * k, k)]
        assert all(len(set(block)) == 1 for block in blocks)
        # an identity with at least K images never repeats an image inside its block
        for block_start in range(0, p * k, k):
            idx = batch[block_start : block_start + k]
            if LABELS.count(LABELS[idx[0]]) >= k:
                assert len(set(idx)) == k


def test_epoch_covers_dataset_roughly_once() -> None:
    labels = _labels([20] * 30)  # 600 images
    sampler = IdentityBalancedSampler(labels, 5, 4, seed=0)
    indices = list(sampler)
    assert len(indices) == 600  # ceil(600 / 20) = 30 batches
    # weighted draws without replacement: most images appear exactly once
    assert len(set(indices)) >= 0.9 * 600


def test_deterministic_and_set_epoch_changes_order() -> None:
    a = IdentityBalancedSampler(LABELS, 3, 2, seed=5)
    b = IdentityBalancedSampler(LABELS, 3, 2, seed=5)
    assert list(a) == list(b)
    assert list(a) == list(a)  # iterating twice gives the same epoch
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(IdentityBalancedSampler(LABELS, 3, 2, seed=6)) != list(
        IdentityBalancedSampler(LABELS, 3, 2, seed=5)
    )


def test_no_shuffle_ignores_epoch() -> None:
    s = IdentityBalancedSampler(LABELS, 3, 2, shuffle=False)
    first = list(s)
    s.set_epoch(3)
    assert list(s) == first


def test_replicas_disjoint_and_equal_length() -> None:
    labels = _labels([3, 9, 4, 6, 2, 8, 5, 7, 1, 10, 6, 4])
    ranks = [IdentityBalancedSampler(labels, 3, 2, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    single = IdentityBalancedSampler(labels, 3, 2, num_replicas=1, rank=0, seed=3)
    assert len(ranks[0]) == len(ranks[1]) == len(list(ranks[0])) == len(list(ranks[1]))
    b0, b1 = _batches(ranks[0]), _batches(ranks[1])
    assert len(b0) == len(b1) == 6  # ceil(65 / (6 * 2))
    # the two ranks take alternate batches of one shared stream: no batch is shared
    assert not {tuple(x) for x in b0} & {tuple(x) for x in b1}
    all_batches = [x for pair in zip(b0, b1, strict=True) for x in pair]
    assert len(all_batches) * 6 >= len(labels)
    # together the ranks cover (almost) the whole dataset once
    assert len({i for batch in all_batches for i in batch}) >= 0.8 * len(labels)
    assert len(single) == 6 * 11  # ceil(65 / 6) batches on one process


def test_small_identities_sampled_with_replacement() -> None:
    labels = [0, 1, 1, 2, 2, 2]  # identity 0 has a single image
    sampler = IdentityBalancedSampler(labels, 3, 4, seed=0)
    for batch in _batches(sampler):
        blocks = {labels[batch[i]]: batch[i : i + 4] for i in range(0, 12, 4)}
        assert blocks[0] == [0, 0, 0, 0]
        assert set(blocks[1]) == {1, 2}  # every image at least once, rest with replacement
        assert set(blocks[2]) == {3, 4, 5}


def test_works_with_dataloader() -> None:
    data = torch.arange(len(LABELS))
    sampler = IdentityBalancedSampler(torch.tensor(LABELS), 4, 2, seed=0)
    loader = DataLoader(data, batch_size=8, sampler=sampler)
    batches = list(loader)
    assert sum(len(b) for b in batches) == len(sampler)
    for batch in batches:
        assert len({LABELS[i] for i in batch.tolist()}) == 4


def test_errors() -> None:
    with pytest.raises(ValueError, match="at least identities_per_batch=13 distinct identities"):
        IdentityBalancedSampler(LABELS, 13, 2)
    with pytest.raises(ValueError, match=">= 1"):
        IdentityBalancedSampler(LABELS, 2, 0)
    with pytest.raises(ValueError, match="rank"):
        IdentityBalancedSampler(LABELS, 2, 2, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="integers"):
        IdentityBalancedSampler([0.5, 1.5], 1, 1)
