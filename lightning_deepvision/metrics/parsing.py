"""Face-parsing scores from one accumulated confusion matrix: mIoU, per-class IoU/F1, overall F1.

- IoU (Jaccard) per class and its mean over the classes, the standard segmentation measure
  (Everingham et al., "The PASCAL Visual Object Classes Challenge", IJCV 2010).
- F1 per class, and the *overall* F-measure HELEN papers report (Smith, Zhang, Brandt, Lin,
  Yang, CVPR 2013; Liu, Yang, Huang, Yang, "Multi-Objective Convolutional Learning for Face
  Labeling", CVPR 2015): the facial components (brows, eyes, nose and the mouth as upper lip,
  inner mouth and lower lip together) are merged into their groups, and precision and recall
  are pooled over all component pixels before taking the F-measure.

torchmetrics' ``MulticlassJaccardIndex`` / ``MulticlassF1Score`` each keep their own state and
know nothing of component groups; one ``MulticlassConfusionMatrix`` (its state, update and
distributed reduction) gives every number here at once, and the groups are sums of its cells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torchmetrics.classification import MulticlassConfusionMatrix

__all__ = ["HELEN_COMPONENTS", "ParsingScores", "parsing_scores"]

HELEN_COMPONENTS: dict[str, tuple[str, ...]] = {
    "brows": ("left_eyebrow", "right_eyebrow"),
    "eyes": ("left_eye", "right_eye"),
    "nose": ("nose",),
    "mouth": ("upper_lip", "inner_mouth", "lower_lip"),
}
"""The component groups of HELEN's overall F-measure, by :data:`HELEN_LABELS` names."""


def _ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    # 0/0 (a class absent from both prediction and truth) counts as 0, as torchmetrics does.
    return torch.where(denominator > 0, numerator / denominator.clamp(min=1), 0.0)


def parsing_scores(
    confusion: Tensor,
    class_names: Sequence[str],
    components: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Tensor]:
    """Every parsing score from a confusion matrix ``confusion[true, predicted]`` of pixels.

    Args:
        confusion: ``(K, K)`` pixel counts, rows the truth, columns the prediction.
        class_names: The ``K`` class names (keys ``iou_<name>``, ``f1_<name>``).
        components: Component groups of the overall F-measure; groups whose classes are not
            all in ``class_names`` are left out, and with none left ``f1_overall`` is not
            reported. ``None``: :data:`HELEN_COMPONENTS`.

    Returns:
        ``miou`` (mean IoU over the classes present in the truth or the prediction),
        ``pixel_accuracy``, ``iou_<name>`` and ``f1_<name>`` per class, and ``f1_overall``.

    Raises:
        ValueError: If ``class_names`` does not match the matrix.
    """
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square matrix, got {tuple(confusion.shape)}")
    if len(class_names) != confusion.shape[0]:
        raise ValueError(
            f"{len(class_names)} class names for a {confusion.shape[0]}-class confusion matrix"
        )
    counts = confusion.double()
    hits = counts.diagonal()
    truth, predicted = counts.sum(1), counts.sum(0)
    union = truth + predicted - hits
    iou = _ratio(hits, union)
    f1 = _ratio(2 * hits, truth + predicted)
    present = union > 0
    scores: dict[str, Tensor] = {
        "miou": iou[present].mean() if bool(present.any()) else iou.new_zeros(()),
        "pixel_accuracy": _ratio(hits.sum(), counts.sum()),
    }
    for k, name in enumerate(class_names):
        scores[f"iou_{name}"] = iou[k]
        scores[f"f1_{name}"] = f1[k]
    index = {name: k for k, name in enumerate(class_names)}
    groups = [
        [index[name] for name in members]
        for members in (HELEN_COMPONENTS if components is None else components).values()
        if all(name in index for name in members)
    ]
    if groups:
        # Confusions within a group (left for right eye, lip for inner mouth) count as hits.
        in_group = torch.zeros(len(class_names), dtype=torch.bool)
        tp = counts.new_zeros(())
        for members in groups:
            rows = torch.tensor(members)
            tp = tp + counts[rows][:, rows].sum()
            in_group[rows] = True
        precision = _ratio(tp, counts[:, in_group].sum())
        recall = _ratio(tp, counts[in_group].sum())
        scores["f1_overall"] = _ratio(2 * precision * recall, precision + recall)
    return {key: value.float() for key, value in scores.items()}


class ParsingScores(MulticlassConfusionMatrix):
    """Per-pixel parsing scores over a whole evaluation, as a torchmetrics ``Metric``.

    ``update(predictions, target)`` takes label maps ``(B, H, W)`` (or logits
    ``(B, K, H, W)``, arg-maxed) and the true maps; :meth:`compute` returns the dict of
    :func:`parsing_scores`. The state is the confusion matrix, summed over processes.

    Args:
        class_names: The class names in label order.
        components: Component groups of ``f1_overall`` (default :data:`HELEN_COMPONENTS`).
        ignore_index: A target label left out of every score (e.g. unlabelled pixels).
    """

    def __init__(
        self,
        class_names: Sequence[str],
        components: Mapping[str, Sequence[str]] | None = None,
        ignore_index: int | None = None,
    ) -> None:
        # Inputs come from the task (arg-maxed int64 maps): skip torchmetrics' per-call checks,
        # which cost as much as the update on large maps.
        super().__init__(len(class_names), ignore_index=ignore_index, validate_args=False)
        self.class_names = tuple(class_names)
        self.components = (
            None if components is None else {k: tuple(v) for k, v in components.items()}
        )

    def compute(self) -> dict[str, Tensor]:  # type: ignore[override]
        """:func:`parsing_scores` of the accumulated confusion matrix."""
        return parsing_scores(self.confmat, self.class_names, self.components)
