"""torchmetrics metrics for pair verification (LFW protocol), exact under DDP.

Huang et al., "Labeled Faces in the Wild", UMass TR 07-49, 2007 (10-fold View 2 protocol), as
used by DeepID2 (Sun, Wang, Tang, NIPS 2014) and DeepID2+ (CVPR 2015).
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from typing import Any, Literal

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from lightning_deepvision.metrics.functional import (
    first_occurrence,
    kfold_verification_accuracy,
    tar_at_far,
    verification_auroc,
)

__all__ = [
    "KFoldVerificationAccuracy",
    "PairScoreMetric",
    "TARAtFAR",
    "UnresolvableFARWarning",
    "VerificationAUROC",
    "far_label",
]


class PairScoreMetric(Metric):
    """Base class: accumulates pair scores, labels, folds and pair indices.

    A subclass implements :meth:`compute_pairs`; :meth:`compute` hands it the de-duplicated
    pairs, or returns NaN before any update.

    Every subclass shares the same four list states, so a ``MetricCollection`` of them forms a
    single compute group and stores the scores once.

    Exactness under DDP: Lightning's ``DistributedSampler`` pads the last shard by repeating
    samples, so after the ``cat`` reduction a pair may appear twice. :meth:`pair_data` keeps
    exactly one entry per pair index (the first), so every pair counts once and none is
    dropped; the result on N processes equals the result on one. The ``indices`` must
    therefore identify pairs globally (the dataset index of the pair).

    Args:
        kwargs: Passed to :class:`torchmetrics.Metric`.
    """

    is_differentiable = False
    higher_is_better: bool | None = True
    full_state_update = False

    scores: list[Tensor]
    same: list[Tensor]
    folds: list[Tensor]
    indices: list[Tensor]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("same", default=[], dist_reduce_fx="cat")
        self.add_state("folds", default=[], dist_reduce_fx="cat")
        self.add_state("indices", default=[], dist_reduce_fx="cat")

    def update(self, scores: Tensor, same: Tensor, folds: Tensor, indices: Tensor) -> None:
        """Add a batch of pairs.

        Args:
            scores: ``[B]`` scores, higher = more likely the same identity.
            same: ``[B]`` bool (or 0/1) ground truth.
            folds: ``[B]`` integer fold ids (LFW: 0-9).
            indices: ``[B]`` global pair indices, used to drop sampler padding duplicates.
        """
        scores = scores.detach().flatten()
        n = scores.numel()
        for name, value in (("same", same), ("folds", folds), ("indices", indices)):
            if value.numel() != n:
                raise ValueError(f"{name} has {value.numel()} elements, scores has {n}")
        self.scores.append(scores)
        self.same.append(same.detach().flatten().bool())
        self.folds.append(folds.detach().flatten().long())
        self.indices.append(indices.detach().flatten().long())

    def pair_data(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(scores, same, folds)`` with exactly one entry per pair index."""
        scores = dim_zero_cat(self.scores)
        same = dim_zero_cat(self.same)
        folds = dim_zero_cat(self.folds)
        indices = dim_zero_cat(self.indices)
        _, keep = first_occurrence(indices)
        return scores[keep], same[keep], folds[keep]

    def compute(self) -> Tensor:
        """:meth:`compute_pairs` of the de-duplicated pairs (NaN before any update)."""
        if not self._has_data():
            return torch.tensor(float("nan"), device=self.device)
        return self.compute_pairs(*self.pair_data())

    @abstractmethod
    def compute_pairs(self, scores: Tensor, same: Tensor, folds: Tensor) -> Tensor:
        """The metric of ``[N]`` scores, ground truth and fold ids, exactly one entry per pair."""

    def _has_data(self) -> bool:
        # After a DDP sync the list state has been concatenated into one tensor.
        state: list[Tensor] | Tensor = self.scores
        if isinstance(state, Tensor):
            return state.numel() > 0
        return any(s.numel() > 0 for s in state)


class KFoldVerificationAccuracy(PairScoreMetric):
    """Mean (or std) accuracy of the LFW k-fold verification protocol.

    For each fold the threshold maximising accuracy on the other folds is applied to the
    held-out fold (see :func:`~lightning_deepvision.metrics.functional.kfold_verification_accuracy`,
    which also documents the single-fold fallback). The std is the population std (ddof 0)
    of the fold accuracies, as common LFW evaluation code reports it.

    Args:
        statistic: ``"mean"`` or ``"std"`` of the fold accuracies.
        kwargs: Passed to :class:`torchmetrics.Metric`.
    """

    def __init__(self, statistic: Literal["mean", "std"] = "mean", **kwargs: Any) -> None:
        if statistic not in ("mean", "std"):
            raise ValueError(f"statistic must be 'mean' or 'std', got {statistic!r}")
        super().__init__(**kwargs)
        self.statistic = statistic

    def compute_pairs(self, scores: Tensor, same: Tensor, folds: Tensor) -> Tensor:
        """The requested statistic of the per-fold accuracies."""
        accuracies, _ = kfold_verification_accuracy(scores, same, folds)
        if self.statistic == "mean":
            return accuracies.mean()
        return accuracies.std(correction=0)


class VerificationAUROC(PairScoreMetric):
    """Area under the ROC curve of the (de-duplicated) pair scores.

    Args:
        kwargs: Passed to :class:`torchmetrics.Metric`.
    """

    def compute_pairs(self, scores: Tensor, same: Tensor, folds: Tensor) -> Tensor:
        """AUROC of the scores."""
        return verification_auroc(scores, same)


class UnresolvableFARWarning(UserWarning):
    """The requested FAR is below one false accept on the evaluated mismatched pairs."""


def far_label(far: float) -> str:
    """``far`` as metric names carry it: ``0.01`` → ``"1e-2"``, ``0.005`` → ``"5e-3"``."""
    mantissa, exponent = f"{far:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


class TARAtFAR(PairScoreMetric):
    """True accept rate at a false accept rate of at most ``far``.

    A FAR below ``1 / number of mismatched pairs`` cannot be resolved: no threshold admits a
    fraction of a false accept, so the TAR reported is the one at zero false accepts. With
    LFW-sized folds of 300 mismatched pairs a fold, 1e-3 is below one false accept per fold;
    :meth:`compute` warns (once per metric) when that happens. Name the logged value after its
    FAR (:attr:`name`, e.g. ``tar_at_far_1e-2``).

    Args:
        far: Maximum false accept rate (default 1 %).
        kwargs: Passed to :class:`torchmetrics.Metric`.
    """

    def __init__(self, far: float = 1e-2, **kwargs: Any) -> None:
        if not 0.0 <= far <= 1.0:
            raise ValueError(f"far must be in [0, 1], got {far}")
        super().__init__(**kwargs)
        self.far = far
        self._warned = False

    @property
    def name(self) -> str:
        """The metric's name with its FAR, e.g. ``"tar_at_far_1e-2"``."""
        return f"tar_at_far_{far_label(self.far)}"

    def compute_pairs(self, scores: Tensor, same: Tensor, folds: Tensor) -> Tensor:
        """TAR at the given FAR."""
        negatives = int((~same).sum())
        if 0 < self.far * negatives < 1 and not self._warned:
            self._warned = True
            warnings.warn(
                f"TAR at FAR {self.far:g} is not resolvable on {negatives} mismatched pairs "
                f"(one false accept is a FAR of {1 / negatives:.2g}): the value reported is the "
                f"TAR at zero false accepts; choose far >= {1 / negatives:.2g} or more pairs",
                UnresolvableFARWarning,
                stacklevel=2,
            )
        return tar_at_far(scores, same, self.far)
