"""Face-attribute metrics: mean and balanced accuracy over binary attributes, and the table.

The attribute papers (LNets+ANet, Liu, Luo, Wang, Tang, ICCV 2015, Table 1) report each
attribute's accuracy and their mean. CelebA is imbalanced (``Bald`` is 2 % positive): always
answering "no" scores 98 % there, so the balanced accuracy (the mean of the true-positive and
true-negative rates) is reported beside it, and the majority-class accuracy as the baseline
both must beat. torchmetrics has the multilabel accuracy and the counts; the balanced accuracy
and the majority baseline are derived from its :class:`MultilabelStatScores` counts here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MultilabelAccuracy, MultilabelStatScores
from torchmetrics.wrappers import ClasswiseWrapper

__all__ = [
    "MultilabelBalancedAccuracy",
    "MultilabelMajorityAccuracy",
    "attribute_metrics",
    "attribute_table",
]


class MultilabelBalancedAccuracy(MultilabelStatScores):
    """Mean over labels of ``(TPR + TNR) / 2`` (torchmetrics' counts, exact under DDP).

    A label whose evaluated samples are all of one class has only one defined rate; its
    balanced accuracy is that rate (an undefined rate is left out, not counted as 0).

    Args:
        num_labels: Number of binary labels.
        threshold: Probability above which a prediction is positive.
        average: ``"macro"`` (one number) or ``"none"`` (one per label).
        **kwargs: torchmetrics ``Metric`` options.
    """

    def __init__(
        self, num_labels: int, threshold: float = 0.5, average: str = "macro", **kwargs: Any
    ) -> None:
        if average not in ("macro", "none"):
            raise ValueError(f"average must be 'macro' or 'none', got {average!r}")
        super().__init__(num_labels, threshold, average=None, **kwargs)
        self.balanced_average = average

    def compute(self) -> Tensor:
        """The balanced accuracy (macro) or the per-label values."""
        tp, fp, tn, fn = (s.double() for s in self._final_state())
        rates = torch.stack((tp / (tp + fn), tn / (tn + fp)))  # 0/0 → nan: undefined
        per_label = rates.nanmean(dim=0).float()
        return per_label.nanmean() if self.balanced_average == "macro" else per_label


class MultilabelMajorityAccuracy(MultilabelStatScores):
    """Mean accuracy of answering each label's majority class: the baseline to beat.

    Computed from the targets' counts only (predictions do not matter).
    """

    def __init__(self, num_labels: int, **kwargs: Any) -> None:
        super().__init__(num_labels, average=None, **kwargs)

    def compute(self) -> Tensor:
        """Mean over labels of ``max(positive rate, negative rate)``."""
        tp, fp, tn, fn = (s.double() for s in self._final_state())
        positives = (tp + fn) / (tp + fp + tn + fn)
        return torch.maximum(positives, 1 - positives).mean().float()


def attribute_metrics(names: Sequence[str], threshold: float = 0.5) -> MetricCollection:
    """The attribute metrics of one stage, on probabilities ``(B, A)`` and 0/1 targets.

    Keys: ``mean_accuracy`` (the papers' figure), ``balanced_accuracy``, ``majority_accuracy``
    (the baseline) and ``accuracy/<name>`` per attribute. The four share one set of counts
    (torchmetrics' compute groups).

    Args:
        names: Attribute names, in column order.
        threshold: Probability above which an attribute is predicted present.
    """
    n = len(names)
    return MetricCollection(
        {
            "mean_accuracy": MultilabelAccuracy(n, threshold, average="macro"),
            "balanced_accuracy": MultilabelBalancedAccuracy(n, threshold),
            "majority_accuracy": MultilabelMajorityAccuracy(n),
            "accuracy": ClasswiseWrapper(
                MultilabelAccuracy(n, threshold, average="none"),
                labels=list(names),
                prefix="accuracy/",
            ),
        }
    )


def attribute_table(
    names: Sequence[str], metrics: Mapping[str, Any], prefix: str, paper: Mapping[str, float]
) -> str:
    """A per-attribute table like Liu et al. 2015's Table 1, from computed metrics.

    Args:
        names: Attribute names.
        metrics: Computed values keyed ``<prefix>accuracy/<name>``, ``<prefix>mean_accuracy``,
            ``<prefix>balanced_accuracy``, ``<prefix>majority_accuracy``.
        prefix: The stage prefix, e.g. ``"test/"``.
        paper: Optional reference accuracy (%) per attribute, printed beside ours.
    """
    width = max(len(n) for n in [*names, "majority class"])
    header = f"{'attribute':<{width}}  accuracy %" + ("  paper %" if paper else "")
    lines = [header, "-" * len(header)]
    for name in names:
        value = metrics.get(f"{prefix}accuracy/{name}")
        shown = f"{100 * float(value):10.1f}" if value is not None else f"{'-':>10}"
        ref = f"  {paper[name]:7.0f}" if name in paper else ""
        lines.append(f"{name:<{width}}  {shown}{ref}")
    lines.append("-" * len(header))
    for key, label in (
        ("mean_accuracy", "mean"),
        ("balanced_accuracy", "balanced"),
        ("majority_accuracy", "majority class"),
    ):
        if f"{prefix}{key}" in metrics:
            lines.append(f"{label:<{width}}  {100 * float(metrics[prefix + key]):10.1f}")
    return "\n".join(lines)
