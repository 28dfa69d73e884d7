"""Attribute linear probes on a layer's features, and which attributes belong to identities.

X. Wang's CUHK lecture, closing on DeepID2+ (Sun, Wang, Tang, "Deeply learned face
representations are sparse, selective, and robust", CVPR 2015), states that features trained
for identity keep the attributes of the person (gender, race, hair) best in the top layers,
while attributes that change from image to image of one person (expression, lighting,
accessories) are better read from lower layers, which identity supervision has not yet taught
to ignore them. :func:`linear_probe_accuracy` measures how
linearly decodable each attribute is from a layer; :func:`identity_consistency` tells the two
kinds of attribute apart from the data themselves.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["identity_consistency", "linear_probe_accuracy"]


def identity_consistency(attributes: Tensor, identity: Tensor) -> Tensor:
    """Fraction of images whose attribute agrees with the majority of their person's images.

    1.0 for an attribute of the person (constant over their images); close to
    ``max(p, 1 - p)`` for one drawn afresh for every image with prevalence ``p`` (for people
    with many images). Only people with at least two images count.

    Args:
        attributes: ``[N, A]`` binary attributes.
        identity: ``[N]`` identity of each image.

    Returns:
        ``[A]`` float consistencies (NaN if no person has two images).
    """
    attributes = torch.as_tensor(attributes).float()
    if attributes.ndim != 2:
        raise ValueError(f"attributes must be [N, A], got shape {tuple(attributes.shape)}")
    identity = torch.as_tensor(identity, device=attributes.device).flatten()
    if identity.shape[0] != attributes.shape[0]:
        raise ValueError(f"identity must have {attributes.shape[0]} entries, got {identity.shape}")
    _, inverse = torch.unique(identity, return_inverse=True)
    people = int(inverse.max()) + 1 if inverse.numel() else 0
    counts = torch.bincount(inverse, minlength=people).float()
    positives = attributes.new_zeros(people, attributes.shape[1]).index_add_(0, inverse, attributes)
    agree = torch.maximum(positives, counts.unsqueeze(1) - positives)
    several = counts >= 2
    total = counts[several].sum()
    if total == 0:
        return torch.full((attributes.shape[1],), float("nan"))
    return agree[several].sum(dim=0) / total


def _balanced_accuracy(predicted: Tensor, targets: Tensor) -> Tensor:
    positives = targets.sum(dim=0).float()
    negatives = targets.shape[0] - positives
    tp = (predicted & targets).sum(dim=0).float()
    tn = (~predicted & ~targets).sum(dim=0).float()
    accuracy = 0.5 * (tp / positives.clamp(min=1) + tn / negatives.clamp(min=1))
    return torch.where((positives > 0) & (negatives > 0), accuracy, float("nan"))


def _fit_logistic(
    x: Tensor, y: Tensor, weight_decay: float, max_iter: int
) -> tuple[Tensor, Tensor]:
    """One class-balanced, L2-regularised logistic regression per column of ``y`` (L-BFGS)."""
    n, d = x.shape
    positives = y.sum(dim=0).float().clamp(min=1)
    negatives = (n - y.sum(dim=0)).float().clamp(min=1)
    # Each class weighs half, whatever its size (scikit-learn's class_weight="balanced").
    sample_weight = torch.where(y, n / (2 * positives), n / (2 * negatives))
    weight = torch.zeros(d, y.shape[1], requires_grad=True)
    bias = torch.zeros(y.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe"
    )
    targets = y.float()

    def closure() -> Tensor:
        optimizer.zero_grad()
        logits = x @ weight + bias
        loss = F.binary_cross_entropy_with_logits(logits, targets, weight=sample_weight)
        loss = loss + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def linear_probe_accuracy(
    features: Tensor,
    targets: Tensor,
    folds: Tensor,
    weight_decay: float = 1e-3,
    max_iter: int = 100,
) -> Tensor:
    """Cross-validated balanced accuracy of a linear probe for each attribute.

    Per fold, a class-balanced logistic regression with an L2 penalty is fitted on the other
    folds' standardised features (L-BFGS, full batch) and scored on the fold; the folds'
    balanced accuracies are averaged. Works inside ``torch.inference_mode`` (as Lightning's
    evaluation runs callbacks): the fit runs on copies with autograd enabled.

    Args:
        features: ``[N, D]`` features of one layer.
        targets: ``[N, A]`` binary attributes.
        folds: ``[N]`` fold of each image (at least two distinct values), e.g.
            :func:`~lightning_deepvision.analysis.identity_folds`.
        weight_decay: Coefficient of the squared-weight penalty (on standardised features).
        max_iter: L-BFGS iterations per fold.

    Returns:
        ``[A]`` balanced accuracies (NaN for an attribute that a fold lacks a class of).
    """
    if features.ndim != 2 or targets.ndim != 2 or features.shape[0] != targets.shape[0]:
        raise ValueError(
            f"features must be [N, D] and targets [N, A], got {tuple(features.shape)} and "
            f"{tuple(targets.shape)}"
        )
    folds = torch.as_tensor(folds).flatten().cpu()
    fold_ids = torch.unique(folds)
    if fold_ids.numel() < 2:
        raise ValueError("linear_probe_accuracy needs at least two folds")
    with torch.inference_mode(False), torch.enable_grad():
        x = features.detach().float().cpu().clone()
        y = targets.detach().to(torch.bool).cpu().clone()
        accuracies = []
        for fold in fold_ids:
            test = folds == fold
            train_x, train_y = x[~test], y[~test]
            mean = train_x.mean(dim=0)
            std = train_x.std(dim=0, unbiased=False).clamp(min=1e-6)
            weight, bias = _fit_logistic((train_x - mean) / std, train_y, weight_decay, max_iter)
            predicted = ((x[test] - mean) / std) @ weight + bias > 0
            accuracy = _balanced_accuracy(predicted, y[test])
            trainable = train_y.any(dim=0) & ~train_y.all(dim=0)
            accuracies.append(torch.where(trainable, accuracy, float("nan")))
    return torch.stack(accuracies).nanmean(dim=0)
