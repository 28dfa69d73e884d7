"""Single-neuron selectivity for identities and attributes (DeepID2+ §6).

Sun, Wang and Tang ("Deeply learned face representations are sparse, selective, and robust",
CVPR 2015, §6) classify each identity and each attribute from one neuron at a time: the
neuron's activation is thresholded, and the accuracy is normalised by the sizes of the
positive and negative classes (i.e. balanced accuracy), cross-validated over two halves of the
images. The best single neurons reach about 97 % for some identities and attributes, and the
neurons of each label split into an *excitatory* set (high activation means the label) and an
*inhibitory* set (low activation means the label).

Every neuron × label pair is searched at once: one sort per neuron, then cumulative counts of
each label's positives along the sorted activations give the balanced accuracy of every cut
(the same scheme as :func:`~lightning_deepvision.metrics.best_threshold`, which scores one
pair list with plain accuracy; here there are ``D × L`` lists and the classes are balanced).
Cuts fall only between distinct activations, which matters for ReLU features with many exact
zeros, and sit at the midpoint of their two neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "Selectivity",
    "evaluate_thresholds",
    "fit_thresholds",
    "mean_responses",
    "single_neuron_selectivity",
]

# Elements of the largest intermediate tensor (cuts × neurons × labels) built at once.
_CHUNK_ELEMENTS = 1 << 22


def _check(activations: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    if activations.ndim != 2:
        raise ValueError(f"activations must be [N, D], got shape {tuple(activations.shape)}")
    if targets.ndim == 1:
        targets = targets.unsqueeze(1)
    if targets.ndim != 2 or targets.shape[0] != activations.shape[0]:
        raise ValueError(
            f"targets must be [N, L] with N = {activations.shape[0]}, got {tuple(targets.shape)}"
        )
    return activations.float(), targets.to(torch.bool)


def _neuron_chunk(rows: int, labels: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(1, rows * labels))


def _balanced(tp: Tensor, tn: Tensor, positives: Tensor, negatives: Tensor) -> Tensor:
    """Balanced accuracy; NaN for a label with no positive or no negative."""
    nan = torch.tensor(float("nan"), dtype=torch.float32, device=tp.device)
    both = (positives > 0) & (negatives > 0)
    accuracy = 0.5 * (tp / positives.clamp(min=1) + tn / negatives.clamp(min=1))
    return torch.where(both, accuracy, nan)


def fit_thresholds(activations: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Best single-neuron classifier of every label: threshold, direction, balanced accuracy.

    For neuron ``d`` and label ``l`` the classifier is "label if ``x > t``" (excitatory) or
    "label if ``x <= t``" (inhibitory); the threshold and direction maximising the balanced
    accuracy on these images are chosen. Ties go to the lowest cut, and to excitatory.

    Args:
        activations: ``[N, D]`` activations.
        targets: ``[N, L]`` (or ``[N]``) boolean labels.

    Returns:
        ``(accuracy, threshold, excitatory)``, each ``[L, D]``: the in-sample balanced accuracy
        (NaN for a label without positives or negatives), the threshold (``-inf`` / ``+inf``
        when the best is to call everything / nothing the label, as for a constant neuron,
        whose accuracy is 0.5) and whether high activations mean the label.
    """
    x, y = _check(activations, targets)
    n, d = x.shape
    labels = y.shape[1]
    positives = y.sum(dim=0).float()  # [L]
    negatives = n - positives
    accuracy = torch.empty(labels, d, device=x.device)
    threshold = torch.empty(labels, d, device=x.device)
    excitatory = torch.empty(labels, d, dtype=torch.bool, device=x.device)
    y_int = y.to(torch.int32)
    cuts = torch.arange(n + 1, device=x.device, dtype=torch.float32).view(-1, 1, 1)
    inf = torch.full((1,), float("inf"), device=x.device)
    step = _neuron_chunk(n + 1, labels)
    for start in range(0, d, step):
        stop = min(d, start + step)
        xs, order = torch.sort(x[:, start:stop], dim=0)  # ascending, [N, c]
        # below[k] = positives among the k lowest activations, k = 0..N: [N + 1, c, L].
        below = torch.cumsum(y_int[order], dim=0)
        below = torch.cat([below.new_zeros(1, *below.shape[1:]), below]).float()
        # Excitatory: the label above the cut. True positives lie above, true negatives below.
        exc = _balanced(positives - below, cuts - below, positives, negatives)
        best_of_two = torch.maximum(exc, 1 - exc)
        # A cut inside a run of equal activations cannot be realised by any threshold.
        valid = torch.ones(n + 1, stop - start, dtype=torch.bool, device=x.device)
        if n > 1:
            valid[1:n] = xs[:-1] < xs[1:]
        score = torch.where(valid.unsqueeze(-1), best_of_two.nan_to_num(-1.0), -1.0)
        best = score.argmax(dim=0)  # [c, L]
        columns = torch.arange(stop - start, device=x.device).unsqueeze(1).expand_as(best)
        chosen = exc[best, columns, torch.arange(labels, device=x.device)]
        # Thresholds of the cuts: -inf, midpoints, +inf.
        edges = torch.cat([-inf.expand(1, stop - start), (xs[:-1] + xs[1:]) / 2])
        edges = torch.cat([edges, inf.expand(1, stop - start)])
        accuracy[:, start:stop] = torch.maximum(chosen, 1 - chosen).T
        threshold[:, start:stop] = edges[best, columns].T
        excitatory[:, start:stop] = (chosen >= 1 - chosen).T | chosen.isnan().T
    return accuracy, threshold, excitatory


def evaluate_thresholds(
    activations: Tensor, targets: Tensor, threshold: Tensor, excitatory: Tensor
) -> Tensor:
    """Balanced accuracy ``[L, D]`` of given single-neuron classifiers on other images.

    Args:
        activations: ``[M, D]`` activations of held-out images.
        targets: ``[M, L]`` boolean labels.
        threshold: ``[L, D]`` thresholds (from :func:`fit_thresholds`).
        excitatory: ``[L, D]`` directions.

    Returns:
        ``[L, D]`` balanced accuracies, NaN for a label without positives or negatives here.
    """
    x, y = _check(activations, targets)
    m, d = x.shape
    labels = y.shape[1]
    if threshold.shape != (labels, d) or excitatory.shape != (labels, d):
        raise ValueError(
            f"threshold and excitatory must be [{labels}, {d}], got {tuple(threshold.shape)} "
            f"and {tuple(excitatory.shape)}"
        )
    positives = y.sum(dim=0).float().unsqueeze(1)  # [L, 1]
    negatives = m - positives
    accuracy = torch.empty(labels, d, device=x.device)
    y3 = y.unsqueeze(-1)  # [M, L, 1]
    step = _neuron_chunk(m, labels)
    for start in range(0, d, step):
        stop = min(d, start + step)
        above = x[:, None, start:stop] > threshold[None, :, start:stop]  # [M, L, c]
        said = above == excitatory[None, :, start:stop]
        tp = (said & y3).sum(dim=0).float()
        tn = (~said & ~y3).sum(dim=0).float()
        accuracy[:, start:stop] = _balanced(tp, tn, positives, negatives)
    return accuracy


@dataclass(frozen=True)
class Selectivity:
    """How well each neuron alone classifies each label.

    Attributes:
        accuracy: ``[L, D]`` balanced accuracy, cross-validated over the folds when there were
            several (NaN where a label lacks positives or negatives).
        threshold: ``[L, D]`` threshold fitted on all images.
        excitatory: ``[L, D]`` whether high activation means the label (else inhibitory),
            fitted on all images.
    """

    accuracy: Tensor
    threshold: Tensor
    excitatory: Tensor

    def best(self, label: int, k: int = 1) -> list[tuple[int, float, bool]]:
        """The ``k`` most accurate neurons of ``label``: ``(neuron, accuracy, excitatory)``."""
        row = self.accuracy[label].nan_to_num(-1.0)
        order = torch.argsort(row, descending=True, stable=True)[:k]
        return [
            (int(i), float(self.accuracy[label, i]), bool(self.excitatory[label, i])) for i in order
        ]


def single_neuron_selectivity(
    activations: Tensor, targets: Tensor, folds: Tensor | None = None
) -> Selectivity:
    """Single-neuron balanced accuracy of every neuron for every label (DeepID2+ §6).

    Args:
        activations: ``[N, D]`` activations.
        targets: ``[N, L]`` (or ``[N]``) boolean labels, e.g. one column per attribute and per
            identity (one-vs-rest).
        folds: ``[N]`` fold of each image. With two or more folds, each fold's accuracy is that
            of the classifier fitted on the other folds, and the folds' accuracies are averaged
            (DeepID2+ cross-validates over two halves of LFW). ``None``: in-sample accuracy.

    Returns:
        :class:`Selectivity`; its thresholds and directions are fitted on all images.
    """
    accuracy, threshold, excitatory = fit_thresholds(activations, targets)
    if folds is None:
        return Selectivity(accuracy, threshold, excitatory)
    x, y = _check(activations, targets)
    folds = torch.as_tensor(folds, device=x.device).flatten()
    if folds.shape[0] != x.shape[0]:
        raise ValueError(f"folds must have {x.shape[0]} entries, got {folds.shape[0]}")
    fold_ids = torch.unique(folds)
    if fold_ids.numel() < 2:
        return Selectivity(accuracy, threshold, excitatory)
    held_out = []
    for fold in fold_ids:
        test = folds == fold
        _, fold_threshold, fold_excitatory = fit_thresholds(x[~test], y[~test])
        held_out.append(evaluate_thresholds(x[test], y[test], fold_threshold, fold_excitatory))
    return Selectivity(torch.stack(held_out).nanmean(dim=0), threshold, excitatory)


def mean_responses(activations: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Mean activation of every neuron over each label's positive and negative images.

    Ranking a label's neurons by the first gives the "neurons ranked by response" view of
    DeepID2+ Figs. 10–13.

    Returns:
        ``(positive_mean, negative_mean)``, each ``[L, D]`` (NaN for an empty class).
    """
    x, y = _check(activations, targets)
    yf = y.float()
    positives = yf.sum(dim=0).unsqueeze(1)
    negatives = x.shape[0] - positives
    positive_sum = yf.T @ x
    negative_sum = x.sum(dim=0, keepdim=True) - positive_sum
    return positive_sum / positives, negative_sum / negatives
