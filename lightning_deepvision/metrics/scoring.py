"""Pair scores from embeddings: cosine, Euclidean, Hamming on binary codes, Joint Bayesian, LDA.

The Hamming score follows DeepID2+ (Sun, Wang, Tang, "Deeply learned face representations are
sparse, selective, and robust", CVPR 2015, Table 4): FC-4 activations are thresholded into a
binary code and pairs are compared by Hamming distance. Joint Bayesian (Chen et al., ECCV 2012)
is the verifier of DeepID2 (Sun, Wang, Tang, NIPS 2014, §3), fitted on labelled embeddings.
The LDA scorer compares embeddings by cosine after a Fisherfaces projection (Belhumeur,
Hespanha, Kriegman, TPAMI 1997) fitted on labelled embeddings.

:func:`pair_scores` is the parameter-free computation; the :class:`PairScorer` modules wrap
every method behind one interface (``fit`` then ``forward``), chosen by name with
:func:`build_scorer`, so that a task scores pairs without knowing which method it was given
and a fitted scorer's state travels in the checkpoint.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_deepvision.models.joint_bayesian import JointBayesian
from lightning_deepvision.models.linear_discriminant import LinearDiscriminant

__all__ = [
    "SCORERS",
    "CosineScorer",
    "HammingScorer",
    "JointBayesianScorer",
    "L2Scorer",
    "LDAScorer",
    "PairScorer",
    "ScoreMethod",
    "ScoringName",
    "binarize",
    "build_scorer",
    "pair_scores",
]

ScoreMethod = Literal["cosine", "l2", "hamming"]
ScoringName = Literal["cosine", "l2", "hamming", "joint_bayesian", "lda"]


def binarize(embeddings: Tensor, threshold: float = 0.0) -> Tensor:
    """Binary code ``embeddings > threshold`` (DeepID2+ Table 4).

    With ReLU features the default threshold 0 keeps exactly the active neurons, which
    DeepID2+ §5 finds to be about half of them per image.

    Args:
        embeddings: ``[..., D]`` real features.
        threshold: Activation threshold.

    Returns:
        Bool tensor of the same shape.
    """
    return embeddings > threshold


def pair_scores(
    e1: Tensor,
    e2: Tensor,
    method: ScoreMethod = "cosine",
    binarize_threshold: float = 0.0,
) -> Tensor:
    """Similarity of corresponding rows of ``e1`` and ``e2``; higher = more similar.

    Args:
        e1: ``[N, D]`` embeddings of the first images.
        e2: ``[N, D]`` embeddings of the second images.
        method: ``"cosine"`` (cosine similarity), ``"l2"`` (negative Euclidean distance) or
            ``"hamming"`` (negative normalised Hamming distance, in ``[-1, 0]``, of the codes
            ``e > binarize_threshold``).
        binarize_threshold: Threshold of the binary codes for ``"hamming"``.

    Returns:
        ``[N]`` scores.
    """
    if e1.shape != e2.shape:
        raise ValueError(
            f"e1 and e2 must have the same shape, got {tuple(e1.shape)} and {tuple(e2.shape)}"
        )
    if e1.ndim < 1:
        raise ValueError("embeddings need a feature dimension")
    if method == "cosine":
        return F.cosine_similarity(e1, e2, dim=-1, eps=1e-8)
    if method == "l2":
        return -torch.linalg.vector_norm(e1 - e2, dim=-1)
    if method == "hamming":
        differ = binarize(e1, binarize_threshold) != binarize(e2, binarize_threshold)
        dtype = e1.dtype if e1.is_floating_point() else torch.get_default_dtype()
        return -differ.to(dtype).mean(dim=-1)
    raise ValueError(f"method must be 'cosine', 'l2' or 'hamming', got {method!r}")


class PairScorer(nn.Module, ABC):
    """Scores corresponding rows of two embedding batches; higher = more likely the same.

    Subclasses that learn from labelled embeddings set ``requires_fit = True`` and implement
    :meth:`fit`; what they learn lives in buffers, so ``state_dict`` and checkpoints carry it.
    """

    requires_fit: ClassVar[bool] = False

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`forward` can run (always, for a scorer that needs no fit)."""
        return True

    def fit(self, embeddings: Tensor, labels: Tensor) -> None:
        """Learn from ``[N, D]`` embeddings and ``[N]`` identity labels; a no-op here."""

    @abstractmethod
    def forward(self, e1: Tensor, e2: Tensor) -> Tensor:
        """Return the ``[N]`` scores of the rows of ``e1`` and ``e2`` (both ``[N, D]``)."""


class _FixedScorer(PairScorer):
    """A :func:`pair_scores` method as a module."""

    method: ClassVar[ScoreMethod]
    binarize_threshold: float = 0.0

    def forward(self, e1: Tensor, e2: Tensor) -> Tensor:
        """Scores of :func:`pair_scores` with this scorer's method."""
        return pair_scores(e1, e2, self.method, binarize_threshold=self.binarize_threshold)


class CosineScorer(_FixedScorer):
    """Cosine similarity of the embeddings."""

    method = "cosine"


class L2Scorer(_FixedScorer):
    """Negative Euclidean distance of the embeddings."""

    method = "l2"


class HammingScorer(_FixedScorer):
    """Negative normalised Hamming distance of binary codes (DeepID2+, CVPR 2015, Table 4).

    Args:
        binarize_threshold: Activation threshold of the codes ``embedding > threshold``.
    """

    method = "hamming"

    def __init__(self, binarize_threshold: float = 0.0) -> None:
        super().__init__()
        self.binarize_threshold = binarize_threshold

    def extra_repr(self) -> str:
        """The code threshold, for ``print(module)``."""
        return f"binarize_threshold={self.binarize_threshold}"


class JointBayesianScorer(PairScorer):
    """Joint Bayesian log-likelihood ratio (Chen et al., ECCV 2012), as used by DeepID2.

    Args:
        pca_dim: PCA dimension before fitting (DeepID2 uses 180); ``None`` keeps all.
    """

    requires_fit = True

    def __init__(self, pca_dim: int | None = None) -> None:
        super().__init__()
        self.pca_dim = pca_dim
        self.model = JointBayesian()

    @property
    def is_fitted(self) -> bool:
        """Whether the model has been fitted (or a fitted state loaded)."""
        return self.model.is_fitted

    def fit(self, embeddings: Tensor, labels: Tensor) -> None:
        """Fit :class:`~lightning_deepvision.models.joint_bayesian.JointBayesian`."""
        self.model.fit(embeddings, labels, pca_dim=self.pca_dim)

    def forward(self, e1: Tensor, e2: Tensor) -> Tensor:
        """Log-likelihood ratios of the pairs (raises if not fitted)."""
        return self.model(e1, e2)

    def extra_repr(self) -> str:
        """The PCA dimension, for ``print(module)``."""
        return f"pca_dim={self.pca_dim}"


class LDAScorer(PairScorer):
    """Cosine similarity after PCA + LDA (Fisherfaces, Belhumeur et al., TPAMI 1997).

    Fitted on labelled training embeddings (:class:`~lightning_deepvision.models.\
LinearDiscriminant`): with few training people the directions that separate them, each
    whitened by the variation within a person, verify new people better than the raw
    embedding, and, unlike Joint Bayesian, nothing but the projection is estimated from the
    (over-separated) training embeddings.

    Args:
        pca_dim: PCA dimension before LDA; ``None`` takes ``min(D, N - C)`` (Fisherfaces).
        shrinkage: Shrinkage of the within-class scatter towards its mean variance, in
            ``[0, 1]``.
    """

    requires_fit = True

    def __init__(self, pca_dim: int | None = None, shrinkage: float = 0.0) -> None:
        super().__init__()
        self.pca_dim = pca_dim
        self.shrinkage = shrinkage
        self.model = LinearDiscriminant()

    @property
    def is_fitted(self) -> bool:
        """Whether the projection has been fitted (or a fitted state loaded)."""
        return self.model.is_fitted

    def fit(self, embeddings: Tensor, labels: Tensor) -> None:
        """Fit the PCA + LDA projection (``pca_dim`` capped at what the data supports)."""
        pca_dim = self.pca_dim
        if pca_dim is not None:
            classes = int(torch.unique(labels).numel())
            pca_dim = min(pca_dim, embeddings.shape[1], embeddings.shape[0] - classes)
        self.model.fit(embeddings, labels, pca_dim=pca_dim, shrinkage=self.shrinkage)

    def forward(self, e1: Tensor, e2: Tensor) -> Tensor:
        """Cosine similarity of the projected pairs (raises if not fitted)."""
        scores = pair_scores(self.model(e1), self.model(e2), "cosine")
        return scores.to(e1.dtype) if e1.is_floating_point() else scores

    def extra_repr(self) -> str:
        """The PCA dimension and shrinkage, for ``print(module)``."""
        return f"pca_dim={self.pca_dim}, shrinkage={self.shrinkage}"


SCORERS: dict[str, type[PairScorer]] = {
    "cosine": CosineScorer,
    "l2": L2Scorer,
    "hamming": HammingScorer,
    "joint_bayesian": JointBayesianScorer,
    "lda": LDAScorer,
}


def build_scorer(
    name: str, *, binarize_threshold: float = 0.0, pca_dim: int | None = None
) -> PairScorer:
    """Build the pair scorer called ``name``, passing it the options it uses.

    Args:
        name: One of :data:`SCORERS` (``"cosine"``, ``"l2"``, ``"hamming"``,
            ``"joint_bayesian"``, ``"lda"``).
        binarize_threshold: Code threshold of ``"hamming"``; ignored by the others.
        pca_dim: PCA dimension of ``"joint_bayesian"`` and ``"lda"``; ignored by the others.

    Raises:
        ValueError: If ``name`` is not a known scorer.
    """
    if name not in SCORERS:
        raise ValueError(f"unknown scoring {name!r}: expected one of {sorted(SCORERS)}")
    if name == "hamming":
        return HammingScorer(binarize_threshold)
    if name == "joint_bayesian":
        return JointBayesianScorer(pca_dim)
    if name == "lda":
        return LDAScorer(pca_dim)
    return SCORERS[name]()
