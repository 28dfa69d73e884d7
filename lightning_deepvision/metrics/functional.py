"""Pair-verification metrics as plain functions: LFW k-fold accuracy, best threshold, TAR@FAR.

The protocol is the standard LFW View 2 evaluation (Huang et al., "Labeled Faces in the Wild",
UMass TR 07-49, 2007; README of the LFW distribution): for each of the 10 folds, the decision
threshold is chosen on the other nine folds and applied to the held-out fold. DeepID2 (Sun,
Wang, Tang, NIPS 2014) and DeepID2+ (CVPR 2015) report mean ± std of the fold accuracies.

Scores are "higher = more likely the same identity"; a pair is declared "same" when its score
is ``>= threshold``. Candidate thresholds are the midpoints between consecutive distinct
observed scores, plus ``+inf`` ("nothing is the same") and ``-inf`` ("everything is the
same"). A midpoint reproduces on the training folds exactly the accuracy it was chosen for,
and, unlike a threshold placed on a training score, it does not misclassify a held-out pair
that falls just beyond the training extremes (perfectly separated data stays at 100 %). All
candidates are evaluated at once with a sort and cumulative sums; nothing loops over
thresholds.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.classification import binary_auroc, binary_roc

__all__ = [
    "best_threshold",
    "kfold_verification_accuracy",
    "tar_at_far",
    "verification_auroc",
]


def _check_pairs(scores: Tensor, same: Tensor) -> tuple[Tensor, Tensor]:
    scores = torch.as_tensor(scores)
    same = torch.as_tensor(same, device=scores.device)
    if scores.shape != same.shape:
        raise ValueError(
            f"scores and same must have the same shape, got {tuple(scores.shape)} "
            f"and {tuple(same.shape)}"
        )
    if scores.is_complex() or scores.dtype == torch.bool:
        raise ValueError(f"scores must be real numbers, got dtype {scores.dtype}")
    return scores.flatten(), same.flatten().bool()


def _correct_counts(scores: Tensor, same: Tensor) -> tuple[Tensor, Tensor]:
    """Correct decisions for every candidate threshold, largest threshold first.

    Returns ``(thresholds [C], correct [C])``: ``+inf``, the midpoints between consecutive
    distinct scores in descending order, then ``-inf``; ``correct[c]`` counts the pairs
    classified correctly by ``score >= thresholds[c]``.
    """
    n = scores.numel()
    s, order = torch.sort(scores, descending=True, stable=True)
    y = same[order].to(torch.long)
    # k = number of pairs declared "same" (the k highest scores), k = 0..n.
    tp = torch.cat([torch.zeros(1, dtype=torch.long, device=s.device), torch.cumsum(y, 0)])
    k = torch.arange(n + 1, device=s.device)
    negatives = n - tp[-1]
    correct = tp + (negatives - (k - tp))
    # Only cuts between distinct scores are realisable by a threshold.
    valid = torch.ones(n + 1, dtype=torch.bool, device=s.device)
    if n > 1:
        valid[1:n] = s[:-1] > s[1:]
    s = s if s.is_floating_point() else s.to(torch.float64)
    above, below = s[:-1], s[1:]
    middle = (above + below) / 2
    # Rounding can put the midpoint of two adjacent floats onto the lower one, which would
    # then be accepted: fall back to the upper score, which still separates the two.
    middle = torch.where(middle > below, middle, above)
    inf = torch.full((1,), float("inf"), dtype=s.dtype, device=s.device)
    thresholds = torch.cat([inf, middle, -inf])
    return thresholds[valid], correct[valid]


def best_threshold(scores: Tensor, same: Tensor) -> tuple[Tensor, Tensor]:
    """Threshold maximising the verification accuracy of ``score >= threshold``.

    Candidates are ``+inf``, the midpoints between consecutive distinct scores and ``-inf``;
    ties in accuracy go to the largest threshold.

    Args:
        scores: ``[N]`` pair scores, higher = more likely the same identity.
        same: ``[N]`` bool ground truth.

    Returns:
        ``(threshold, accuracy)`` as 0-d tensors.
    """
    scores, same = _check_pairs(scores, same)
    if scores.numel() == 0:
        raise ValueError("best_threshold needs at least one pair")
    thresholds, correct = _correct_counts(scores, same)
    best = torch.argmax(correct)  # first maximum = largest threshold
    return thresholds[best], correct[best].to(torch.get_default_dtype()) / scores.numel()


def kfold_verification_accuracy(
    scores: Tensor, same: Tensor, folds: Tensor
) -> tuple[Tensor, Tensor]:
    """Per-fold accuracies of the LFW k-fold protocol.

    For each fold (in ascending order of fold id) the threshold is the :func:`best_threshold`
    of all *other* folds and the accuracy is measured on the fold itself. If only one distinct
    fold id is present (e.g. a single ``fast_dev_run`` batch) there is nothing to hold out:
    the best in-sample threshold and its (optimistic) accuracy are returned instead.

    Args:
        scores: ``[N]`` pair scores, higher = more likely the same identity.
        same: ``[N]`` bool ground truth.
        folds: ``[N]`` integer fold id of each pair.

    Returns:
        ``(accuracies [F], thresholds [F])`` for the ``F`` distinct folds. The reported
        figure is ``accuracies.mean()`` ± ``accuracies.std(unbiased=False)``.
    """
    scores, same = _check_pairs(scores, same)
    folds = torch.as_tensor(folds, device=scores.device).flatten()
    if folds.shape != scores.shape:
        raise ValueError(f"folds must have shape {tuple(scores.shape)}, got {tuple(folds.shape)}")
    if scores.numel() == 0:
        raise ValueError("kfold_verification_accuracy needs at least one pair")
    fold_ids = torch.unique(folds)
    if fold_ids.numel() == 1:
        threshold, accuracy = best_threshold(scores, same)
        return accuracy.reshape(1), threshold.reshape(1)
    accuracies, thresholds = [], []
    for fold in fold_ids:
        test = folds == fold
        threshold, _ = best_threshold(scores[~test], same[~test])
        predicted = scores[test] >= threshold
        accuracies.append((predicted == same[test]).to(torch.get_default_dtype()).mean())
        thresholds.append(threshold)
    return torch.stack(accuracies), torch.stack(thresholds)


def _ranks01(scores: Tensor) -> Tensor:
    """Dense ranks scaled to ``[0, 1]`` (float64): same order and ties as ``scores``.

    torchmetrics applies a sigmoid to scores outside ``[0, 1]`` (it takes them for logits),
    which saturates in float32 and merges distinct large scores such as Joint Bayesian
    log-likelihood ratios. ROC and AUC depend only on the order, which ranks keep exactly.
    """
    _, rank = torch.unique(scores, sorted=True, return_inverse=True)
    top = max(int(rank.max()), 1) if rank.numel() else 1
    return rank.to(torch.float64) / top


def tar_at_far(scores: Tensor, same: Tensor, far: float = 1e-3) -> Tensor:
    """True accept rate at a false accept rate of at most ``far``.

    The operating point is the lowest threshold whose false accept rate on the negative pairs
    does not exceed ``far`` (the ROC point with the largest FAR <= ``far``), so the TAR is the
    highest the constraint allows. Computed from
    :func:`torchmetrics.functional.classification.binary_roc`.

    Args:
        scores: ``[N]`` pair scores, higher = more likely the same identity.
        same: ``[N]`` bool ground truth.
        far: Maximum false accept rate, in ``[0, 1]``.

    Returns:
        0-d tensor in ``[0, 1]``.
    """
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"far must be in [0, 1], got {far}")
    scores, same = _check_pairs(scores, same)
    if scores.numel() == 0:
        raise ValueError("tar_at_far needs at least one pair")
    fpr, tpr, _ = binary_roc(_ranks01(scores), same.long(), validate_args=False)
    # fpr starts at 0 (threshold above every score), so the selection is never empty.
    return tpr[fpr <= far].max().to(torch.get_default_dtype())


def verification_auroc(scores: Tensor, same: Tensor) -> Tensor:
    """Area under the ROC curve of pair scores (torchmetrics ``binary_auroc`` on ranks).

    Args:
        scores: ``[N]`` pair scores, higher = more likely the same identity.
        same: ``[N]`` bool ground truth.

    Returns:
        0-d tensor.
    """
    scores, same = _check_pairs(scores, same)
    if scores.numel() == 0:
        raise ValueError("verification_auroc needs at least one pair")
    return binary_auroc(_ranks01(scores), same.long(), validate_args=False).to(
        torch.get_default_dtype()
    )
