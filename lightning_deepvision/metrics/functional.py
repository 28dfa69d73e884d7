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
import torch.distributed as dist
from torch import Tensor
from torchmetrics.functional.classification import binary_auroc, binary_roc
from torchmetrics.utilities.distributed import gather_all_tensors

__all__ = [
    "best_threshold",
    "canonical_order",
    "first_occurrence",
    "gather_rows",
    "kfold_verification_accuracy",
    "log_average_miss_rate",
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


# How far past the lowest score a strict threshold goes when everything is "same": relative
# and absolute, so that it moves for scores of any magnitude, zero included.
_PAST = 1e-6
_PAST_ABS = 1e-12


def best_threshold(scores: Tensor, same: Tensor, *, strict: bool = False) -> tuple[Tensor, Tensor]:
    """Threshold maximising the verification accuracy of ``score >= threshold`` (or ``>``).

    Every cut of the descending scores that falls between two distinct values is evaluated at
    once (one sort, one cumulative sum). Ties in accuracy go to the cut that declares the
    fewest pairs "same", i.e. the largest threshold. A cut inside the sorted scores is placed
    at the midpoint of its two neighbours, so that it sits between the classes rather than on
    a training sample.

    Args:
        scores: ``[N]`` pair scores, higher = more likely the same identity. Distances (lower =
            more likely the same) are negated scores: pass ``-distances`` and negate the
            threshold.
        same: ``[N]`` bool ground truth.
        strict: The decision rule and the threshold's range. ``False`` (the LFW protocol):
            "same" is ``score >= threshold``; the end cuts are ``+inf`` (nothing is the same)
            and ``-inf`` (everything is), and a midpoint that rounding puts onto the lower
            of two adjacent floats is moved onto the upper one, which still separates them.
            ``True`` (a threshold that is used as a quantity, such as the adaptive margin of
            :class:`~lightning_deepvision.losses.VerificationLoss`): "same" is
            ``score > threshold`` and the threshold is always finite — the highest score
            when nothing is the same, and the lowest score moved outwards by a relative
            ``1e-6`` plus ``1e-12`` when everything is; midpoints are used as computed.

    Returns:
        ``(threshold, accuracy)`` as 0-d tensors; the threshold is floating (float64 for
        integer scores).

    Raises:
        ValueError: If there is no pair, or the shapes or dtypes are unusable.
    """
    scores, same = _check_pairs(scores, same)
    n = scores.numel()
    if n == 0:
        raise ValueError("best_threshold needs at least one pair")
    s, order = torch.sort(scores, descending=True, stable=True)
    y = same[order].to(torch.long)
    # k = number of pairs declared "same" (the k highest scores), k = 0..n.
    tp = torch.cat([torch.zeros(1, dtype=torch.long, device=s.device), torch.cumsum(y, 0)])
    k = torch.arange(n + 1, device=s.device)
    negatives = n - tp[-1]
    correct = tp + (negatives - (k - tp))
    # Only cuts between distinct scores are realisable by a threshold; the others never win
    # (-1 is below every count), and argmax takes the first maximum: the smallest k.
    valid = torch.ones(n + 1, dtype=torch.bool, device=s.device)
    if n > 1:
        valid[1:n] = s[:-1] > s[1:]
    best = torch.argmax(torch.where(valid, correct, -1))
    s = s if s.is_floating_point() else s.to(torch.float64)
    above, below = s[:-1], s[1:]
    middle = (above + below) / 2
    if strict:
        lowest = s[-1:]
        # Outwards = downwards: shrink a positive score, grow a negative one.
        past = torch.where(lowest < 0, lowest * (1 + _PAST), lowest * (1 - _PAST)) - _PAST_ABS
        thresholds = torch.cat([s[:1], middle, past])
    else:
        # Rounding can put the midpoint of two adjacent floats onto the lower one, which
        # would then be accepted: fall back to the upper score, which still separates the two.
        middle = torch.where(middle > below, middle, above)
        inf = torch.full((1,), float("inf"), dtype=s.dtype, device=s.device)
        thresholds = torch.cat([inf, middle, -inf])
    return thresholds[best], correct[best].to(torch.get_default_dtype()) / n


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


def first_occurrence(index: Tensor) -> tuple[Tensor, Tensor]:
    """Each distinct value of ``index`` and the position of its first occurrence.

    Lightning's ``DistributedSampler`` pads the last shard by repeating samples, so after
    gathering from all processes a pair may appear twice; keeping the first copy of each pair
    index makes every pair count exactly once, as on a single process.

    Args:
        index: ``[N]`` integer indices (any shape; flattened).

    Returns:
        ``(unique, positions)``: the ``[U]`` distinct values in ascending order and, for each,
        the position of its first occurrence in ``index`` (so ``index[positions] == unique``).
    """
    index = index.flatten()
    # One stable sort keeps the copies of a value in their original order.
    order = torch.argsort(index, stable=True)
    ordered = index[order]
    first = torch.ones_like(ordered, dtype=torch.bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return ordered[first], order[first]


def canonical_order(rows: Tensor) -> Tensor:
    """The permutation that sorts ``rows`` lexicographically (equal rows keep their order).

    Gathered from several processes, samples arrive in rank order, not in dataset order; a
    result that depends on the order (ties in a nearest-neighbour search) would then change
    with the number of processes. Sorted by content, the samples are in the same order on any
    number of processes. Prefer dataset indices (:func:`first_occurrence`) where samples have
    them.

    Args:
        rows: ``[N, ...]``; each row is compared as a whole.
    """
    if rows.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=rows.device)
    _, inverse = torch.unique(rows.reshape(rows.shape[0], -1), dim=0, return_inverse=True)
    return torch.argsort(inverse, stable=True)


def gather_rows(rows: Tensor) -> Tensor:
    """The rows of every process, concatenated in rank order; ``rows`` itself on one process.

    Evaluation shards are uneven (no sample is repeated to even them out), and
    ``LightningModule.all_gather`` stacks tensors of one shape only; torchmetrics'
    ``gather_all_tensors`` pads, gathers and trims. Every process must call this.

    Args:
        rows: ``[N, ...]``, ``N`` may differ between processes (the other sizes may not).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return rows
    # Collective backends differ in what they carry: bool travels as uint8.
    wire = rows.to(torch.uint8) if rows.dtype == torch.bool else rows
    gathered = torch.cat(gather_all_tensors(wire.contiguous()))
    return gathered.bool() if rows.dtype == torch.bool else gathered


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


# The Caltech log-average miss rate is at home in miss_rate.py, which imports first_occurrence
# from this module: imported last, when everything it needs here is defined.
from lightning_deepvision.metrics.miss_rate import log_average_miss_rate  # noqa: E402
