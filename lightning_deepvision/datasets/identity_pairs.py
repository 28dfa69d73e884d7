"""Verification pairs drawn from an identity-labelled image set.

LFW-style evaluation (Huang et al., UMass TR 07-49, 2007: pairs in folds, half matched, half
mismatched) needs a pairs file; when a data set has none (an identity folder's held-out people,
AT&T's unseen people), :class:`IdentityPairs` draws the pairs from the identity labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from lightning_deepvision.datasets.bad_samples import OnBadSample, SkipsBadSamples

__all__ = ["IdentityPairs", "balanced_pairs"]


def balanced_pairs(
    labels: Sequence[int] | Tensor, max_matched: int | None = None, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """Every matched pair (or ``max_matched`` of them) and as many mismatched pairs.

    Args:
        labels: Identity label of every image.
        max_matched: Keep at most this many matched pairs (drawn at random); ``None`` keeps all.
        seed: Seed of the draws.

    Returns:
        ``(first, second, same)``: image indices of each pair (``first < second``) and whether
        the pair is matched, matched pairs first, each group in random order.

    Raises:
        ValueError: If the labels give no matched pair or no mismatched pair.
    """
    labels = torch.as_tensor(labels).flatten()
    first, second = torch.triu_indices(len(labels), len(labels), offset=1)
    same = labels[first] == labels[second]
    generator = torch.Generator().manual_seed(seed)
    matched = same.nonzero().flatten()
    mismatched = (~same).nonzero().flatten()
    if matched.numel() == 0 or mismatched.numel() == 0:
        raise ValueError(
            f"{len(labels)} images of {labels.unique().numel()} identities give "
            f"{matched.numel()} matched and {mismatched.numel()} mismatched pairs: pairs need "
            "at least two identities and one identity with two images"
        )
    matched = matched[torch.randperm(matched.numel(), generator=generator)][:max_matched]
    count = min(matched.numel(), mismatched.numel())
    mismatched = mismatched[torch.randperm(mismatched.numel(), generator=generator)][:count]
    keep = torch.cat([matched[:count], mismatched])
    return first[keep], second[keep], same[keep]


class IdentityPairs(SkipsBadSamples):
    """Balanced verification pairs over an identity-labelled dataset, in folds.

    Each sample is ``{"image1", "image2", "same", "fold", "index"}`` as from
    :class:`~lightning_deepvision.datasets.LFWPairs`. Matched and mismatched pairs are each
    spread over the folds round-robin, so every fold is balanced; folds are not
    person-disjoint (with few people, a person-disjoint fold holds two or three people, and
    whether they look alike decides it), which leaks nothing the protocol learns but a
    threshold.

    Args:
        images: Identity-labelled dataset exposing ``targets`` (e.g.
            :class:`~lightning_deepvision.datasets.IdentityFolder`), returning sample dicts with
            ``image``; its own transforms are left as they are.
        transforms: Applied once to the whole pair sample dict (both images).
        num_folds: Folds of the protocol (10 as LFW).
        max_matched: At most this many matched pairs; ``None`` keeps every one.
        seed: Seed of the pair draw and of the fold assignment.
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    With ``on_bad_sample="skip"`` a pair with an unreadable image is replaced by the next
    readable pair, never by another image in the pair (which could change ``same``): the images
    are read through ``images.get_sample``, bypassing the policy of ``images``.

    Attributes:
        pairs: ``(i, j, same, fold)`` per pair, ``i``/``j`` indexing ``images``.
        num_folds: The number of folds.
    """

    def __init__(
        self,
        images: Dataset[Any],
        transforms: Callable[[Any], Any] | None = None,
        num_folds: int = 10,
        max_matched: int | None = None,
        seed: int = 0,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        if num_folds < 1:
            raise ValueError(f"num_folds must be >= 1, got {num_folds}")
        self.images = images
        self.transforms = transforms
        self.num_folds = num_folds
        first, second, same = balanced_pairs(images.targets, max_matched, seed)  # type: ignore[attr-defined]
        count = int(same.sum())
        folds = torch.cat([torch.arange(count), torch.arange(same.numel() - count)]) % num_folds
        self.pairs: list[tuple[int, int, bool, int]] = list(
            zip(first.tolist(), second.tolist(), same.tolist(), folds.tolist(), strict=True)
        )
        self.on_bad_sample = on_bad_sample

    def __len__(self) -> int:
        return len(self.pairs)

    def get_sample(self, index: int) -> dict[str, Any]:
        """Pair ``index``, transforms applied (``__getitem__`` applies ``on_bad_sample``)."""
        i, j, same, fold = self.pairs[index]
        # get_sample raises for an unreadable image, so that the whole pair is replaced.
        read: Callable[[int], Any] = self.images.__getitem__
        if isinstance(self.images, SkipsBadSamples):
            read = self.images.get_sample
        sample: dict[str, Any] = {
            "image1": read(i)["image"],
            "image2": read(j)["image"],
            "same": torch.tensor(int(same), dtype=torch.int64),
            "fold": torch.tensor(fold, dtype=torch.int64),
            "index": torch.tensor(index, dtype=torch.int64),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample
