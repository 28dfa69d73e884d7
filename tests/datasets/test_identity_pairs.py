"""IdentityPairs / balanced_pairs: LFW-style pairs drawn from identity labels."""

from pathlib import Path

import pytest
import torch

from lightning_deepvision.datasets import IdentityFolder, IdentityPairs, balanced_pairs


def test_balanced_pairs_are_every_matched_pair_and_as_many_mismatched() -> None:
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    first, second, same = balanced_pairs(labels, seed=3)
    assert int(same.sum()) == 3 + 1 + 6 and same.numel() == 20
    assert (first < second).all()
    truth = torch.tensor(labels)
    assert torch.equal(truth[first] == truth[second], same)
    assert len(set(zip(first.tolist(), second.tolist(), strict=True))) == 20  # no repeats
    capped = balanced_pairs(labels, max_matched=4)[2]
    assert capped.tolist() == [True] * 4 + [False] * 4
    with pytest.raises(ValueError, match="matched"):
        balanced_pairs([0, 1, 2])


def test_identity_pairs_folds_and_samples(identity_folder_root: Path) -> None:
    images = IdentityFolder(identity_folder_root)  # 8 identities x 6 images
    pairs = IdentityPairs(images, num_folds=5, seed=1)
    assert len(pairs) == 2 * 8 * 15
    folds = torch.tensor([p[3] for p in pairs.pairs])
    same = torch.tensor([p[2] for p in pairs.pairs])
    # Every fold is balanced: as many matched as mismatched pairs.
    for fold in range(5):
        assert int(same[folds == fold].sum()) == int((~same[folds == fold]).sum()) == 24
    sample = pairs[7]
    assert set(sample) == {"image1", "image2", "same", "fold", "index"}
    i, j, matched, fold = pairs.pairs[7]
    assert torch.equal(sample["image2"], images[j]["image"])
    assert torch.equal(sample["image1"], images[i]["image"])
    assert int(sample["same"]) == matched and int(sample["fold"]) == fold
    assert int(sample["index"]) == 7
    assert IdentityPairs(images, num_folds=5, seed=1).pairs == pairs.pairs  # seeded
    with pytest.raises(ValueError, match="num_folds"):
        IdentityPairs(images, num_folds=0)
