"""PCA followed by Fisher's linear discriminant, fitted on labelled features (Fisherfaces).

Belhumeur, Hespanha, Kriegman, "Eigenfaces vs. Fisherfaces: Recognition Using Class Specific
Linear Projection", IEEE TPAMI 1997. Applied to deep features it is the classical remedy when a
network is trained on few identities: the directions in which the training people differ are
kept, each whitened by the variation within a person, and the rest dropped.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lightning_deepvision.models.fitted_buffers import resize_buffers_to_state

__all__ = ["LinearDiscriminant"]

_BUFFERS = ("mean", "projection")


class LinearDiscriminant(nn.Module):
    """Fisherfaces projection: centre, PCA to ``pca_dim``, then LDA to at most ``C - 1`` dims.

    Belhumeur, Hespanha, Kriegman, TPAMI 1997. PCA first reduces the centred features to
    ``pca_dim`` dimensions (by default ``min(D, N - C)``, the paper's choice, which keeps the
    within-class scatter ``S_w`` non-singular); LDA then solves ``S_b w = λ S_w w`` and keeps
    the ``C - 1`` (or ``lda_dim``) leading directions, scaled so that the within-class
    covariance becomes the identity (as scikit-learn's ``LinearDiscriminantAnalysis.transform``
    does with its default solver). ``shrinkage`` blends ``S_w`` with its mean variance times
    the identity (Ledoit–Wolf style regularisation) for features of a network that has already
    separated its training people, whose within-class scatter understates that of new people.

    Written in torch rather than taken from scikit-learn so that the model layer depends on
    torch only (design rule 1) and the fitted projection is a buffer that ``state_dict`` and
    checkpoints carry, as :class:`~lightning_deepvision.models.JointBayesian` does.
    """

    mean: Tensor
    projection: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(0, dtype=torch.float64))
        self.register_buffer("projection", torch.zeros(0, 0, dtype=torch.float64))

    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` has run (or a fitted state has been loaded)."""
        return self.projection.numel() > 0

    def extra_repr(self) -> str:
        """Fitted dimensions, for ``print(module)``."""
        if not self.is_fitted:
            return "fitted=False"
        return f"in_features={self.projection.shape[0]}, out_features={self.projection.shape[1]}"

    @torch.no_grad()
    def fit(
        self,
        features: Tensor,
        labels: Tensor,
        pca_dim: int | None = None,
        lda_dim: int | None = None,
        shrinkage: float = 0.0,
    ) -> LinearDiscriminant:
        """Estimate the projection from ``[N, D]`` features and their ``[N]`` identity labels.

        Args:
            features: Training features.
            labels: Identity labels (any integers).
            pca_dim: PCA dimension before LDA; ``None`` takes ``min(D, N - C)``.
            lda_dim: Discriminant directions kept; ``None`` keeps ``min(C - 1, pca_dim)``.
            shrinkage: In ``[0, 1]``: ``S_w ← (1 - s) S_w + s · mean variance · I``.

        Returns:
            ``self``, fitted.

        Raises:
            ValueError: On mismatched shapes, fewer than two identities, no identity with two
                or more samples, or a dimension or shrinkage out of range.
        """
        if features.ndim != 2:
            raise ValueError(f"features must be [N, D], got shape {tuple(features.shape)}")
        labels = labels.flatten().to(features.device)
        if labels.numel() != features.shape[0]:
            raise ValueError(f"labels has {labels.numel()} elements, features {features.shape[0]}")
        _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
        n, d_in = features.shape
        classes = counts.numel()
        if classes < 2 or int(counts.max()) < 2:
            raise ValueError(
                "LinearDiscriminant.fit needs at least two identities and one with two or more "
                "samples (the within-class scatter is otherwise undefined)"
            )
        pca_dim = min(d_in, n - classes) if pca_dim is None else pca_dim
        if not 1 <= pca_dim <= min(d_in, n):
            raise ValueError(f"pca_dim must be in [1, {min(d_in, n)}], got {pca_dim}")
        lda_dim = min(classes - 1, pca_dim) if lda_dim is None else lda_dim
        if not 1 <= lda_dim <= pca_dim:
            raise ValueError(f"lda_dim must be in [1, {pca_dim}], got {lda_dim}")
        if not 0.0 <= shrinkage <= 1.0:
            raise ValueError(f"shrinkage must be in [0, 1], got {shrinkage}")

        x = features.to(torch.float64)
        mean = x.mean(dim=0)
        x = x - mean
        # PCA by SVD of the data: with few images (N < D) the D x D covariance is rank-deficient.
        _, _, vh = torch.linalg.svd(x, full_matrices=False)
        pca = vh[:pca_dim].T
        z = x @ pca
        sums = torch.zeros(classes, pca_dim, dtype=torch.float64, device=z.device)
        sums.index_add_(0, inverse, z)
        class_means = sums / counts[:, None]
        residual = z - class_means[inverse]
        within = residual.T @ residual / n
        weighted = class_means * counts[:, None].sqrt()
        between = weighted.T @ weighted / n
        eye = torch.eye(pca_dim, dtype=torch.float64, device=z.device)
        scale = torch.diagonal(within).mean().clamp_min(1e-300)
        within = (1 - shrinkage) * within + (shrinkage * scale + 1e-9 * scale) * eye
        # S_b w = λ S_w w with S_w = L Lᵀ becomes the symmetric problem L⁻¹ S_b L⁻ᵀ v = λ v,
        # w = L⁻ᵀ v; then wᵀ S_w w = 1 (within-class whitened).
        cholesky = torch.linalg.cholesky(within)
        inner = torch.linalg.solve_triangular(cholesky, between, upper=False)
        inner = torch.linalg.solve_triangular(cholesky, inner.T, upper=False)
        _, vectors = torch.linalg.eigh((inner + inner.T) / 2)
        leading = vectors[:, -lda_dim:].flip(1)
        directions = torch.linalg.solve_triangular(cholesky.T, leading, upper=True)
        device = self.projection.device
        self.mean = mean.to(device=device).contiguous()
        self.projection = (pca @ directions).to(device=device).contiguous()
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Project ``[N, D]`` features into the discriminant space (``[N, lda_dim]``, float64)."""
        if not self.is_fitted:
            raise RuntimeError(
                "LinearDiscriminant is not fitted: call fit(features, labels) or load a fitted "
                "state_dict first"
            )
        if x.ndim != 2 or x.shape[1] != self.mean.numel():
            raise ValueError(
                f"expected features of shape [N, {self.mean.numel()}], got {tuple(x.shape)}"
            )
        return (x.to(torch.float64) - self.mean) @ self.projection

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # A fresh (unfitted) module takes the fitted state's shapes.
        resize_buffers_to_state(self, state_dict, prefix, _BUFFERS)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
