"""Two ways of splitting labelled images into cross-validation folds.

DeepID2+ (Sun, Wang, Tang, CVPR 2015, §6) cross-validates its single-neuron accuracies over two
halves of LFW. For a neuron to be judged on one person's images it must have seen that person
fitted on the other half, so selectivity splits *within* each identity
(:func:`within_identity_folds`). An attribute probe, in contrast, must not recognise the people
it was trained on instead of the attribute, so probes split *by* identity
(:func:`identity_folds`).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["identity_folds", "within_identity_folds"]


def within_identity_folds(identity: Tensor, num_folds: int = 2) -> Tensor:
    """Deal each identity's images round-robin into ``num_folds`` folds, in order of position.

    Args:
        identity: ``[N]`` identity of each image.
        num_folds: Number of folds.

    Returns:
        ``[N]`` int64 fold ids: the ``j``-th image of an identity is in fold ``j % num_folds``.
    """
    identity = torch.as_tensor(identity).flatten()
    if num_folds < 1:
        raise ValueError(f"num_folds must be positive, got {num_folds}")
    order = torch.argsort(identity, stable=True)
    ordered = identity[order]
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    position = torch.arange(ordered.numel(), device=identity.device)
    # Rank within the run of equal identities: position minus the run's first position.
    first = torch.cummax(torch.where(starts, position, 0), dim=0).values
    folds = torch.empty_like(position)
    folds[order] = (position - first) % num_folds
    return folds


def identity_folds(identity: Tensor, num_folds: int = 2) -> Tensor:
    """Put whole identities into ``num_folds`` folds (identity-disjoint).

    Args:
        identity: ``[N]`` identity of each image.
        num_folds: Number of folds.

    Returns:
        ``[N]`` int64 fold ids: the ``k``-th distinct identity (ascending) goes to fold
        ``k % num_folds``.
    """
    if num_folds < 1:
        raise ValueError(f"num_folds must be positive, got {num_folds}")
    _, inverse = torch.unique(torch.as_tensor(identity).flatten(), return_inverse=True)
    return inverse % num_folds
