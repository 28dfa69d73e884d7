"""Joint Bayesian face verification (Chen et al., ECCV 2012), the verifier of DeepID2.

Chen, Cao, Wang, Wen, Sun, "Bayesian Face Revisited: A Joint Formulation", ECCV 2012.
DeepID2 (Sun, Wang, Tang, NIPS 2014, §3) reduces the selected DeepID2 features by PCA to 180-d
and verifies pairs with Joint Bayesian trained on CelebFaces+B; DeepID2+ (CVPR 2015) does the
same with FC-4 features.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from lightning_deepvision.models.fitted_buffers import resize_buffers_to_state

__all__ = ["JointBayesian"]

_BUFFERS = ("mean", "projection", "sigma_mu", "sigma_eps", "A", "G")


class JointBayesian(nn.Module):
    """Joint Bayesian verifier: ``f = mu + eps`` with Gaussian identity and intra-personal parts.

    Chen, Cao, Wang, Wen, Sun, "Bayesian Face Revisited: A Joint Formulation", ECCV 2012. A
    (centred, optionally PCA-reduced) feature is modelled as ``x = mu + eps`` with
    ``mu ~ N(0, S_mu)`` (identity) and ``eps ~ N(0, S_eps)`` (intra-personal variation).
    :meth:`fit` estimates ``S_mu`` and ``S_eps`` by the paper's EM-like iteration (E-step:
    posterior means of ``mu`` and ``eps`` for each identity; M-step: their covariances).
    :meth:`forward` returns the log-likelihood ratio of the "same" versus "different"
    hypotheses in the paper's closed form

        ``r(x1, x2) = x1ᵀ A x1 + x2ᵀ A x2 - 2 x1ᵀ G x2``

    with ``A = (S_mu + S_eps)^-1 - (F + G)``, ``F = S_eps^-1`` and
    ``G = -(2 S_mu + S_eps)^-1 S_mu S_eps^-1``. As in the paper, the constant
    ``log |Σ_E| - log |Σ_I|`` and the factor ½ of the exact log-likelihood ratio are dropped:
    ``r = 2 log P(x1, x2 | same) / P(x1, x2 | different) + const``, which changes no ranking
    and no accuracy of a learned threshold. Higher ``r`` = more likely the same identity.

    Everything learned (``mean``, ``projection``, ``sigma_mu``, ``sigma_eps``, ``A``, ``G``) is
    a float64 buffer, so ``state_dict``/checkpoints restore a fitted verifier, including into
    a freshly constructed, unfitted one.
    """

    mean: Tensor
    projection: Tensor
    sigma_mu: Tensor
    sigma_eps: Tensor
    A: Tensor
    G: Tensor

    def __init__(self) -> None:
        super().__init__()
        for name in _BUFFERS:
            shape = (0,) if name == "mean" else (0, 0)
            self.register_buffer(name, torch.zeros(shape, dtype=torch.float64))

    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` has run (or a fitted state has been loaded)."""
        return self.A.numel() > 0

    @property
    def dim(self) -> int:
        """Dimension the model works in (the PCA dimension if PCA was used)."""
        return int(self.A.shape[0])

    def extra_repr(self) -> str:
        """Fitted dimensions, for ``print(module)``."""
        if not self.is_fitted:
            return "fitted=False"
        return f"in_features={self.mean.numel()}, dim={self.dim}"

    @torch.no_grad()
    def fit(
        self,
        features: Tensor,
        labels: Tensor,
        pca_dim: int | None = None,
        iterations: int = 20,
        tol: float = 1e-6,
        em: Literal["paper", "exact"] = "paper",
    ) -> JointBayesian:
        """Estimate the model from labelled features.

        Args:
            features: ``[N, D]`` training features (e.g. DeepID2 vectors of CelebFaces+B).
            labels: ``[N]`` identity labels (any integers).
            pca_dim: If given, project the centred features onto their top ``pca_dim``
                principal components first (DeepID2: 180).
            iterations: Maximum number of EM iterations.
            tol: Stop when the relative change of ``S_mu`` and ``S_eps`` (Frobenius) is below
                this.
            em: ``"paper"``: the paper's iteration, whose M-step takes the covariances of the
                posterior *means* of ``mu`` and ``eps``. It is not a true EM: it shrinks
                ``S_mu`` towards zero in directions where the identity signal is weak compared
                with ``S_eps / m`` and underestimates ``S_eps`` for small ``m``. ``"exact"``:
                the EM of this linear-Gaussian model, which adds the posterior covariances
                and converges to the maximum-likelihood estimates.

        Returns:
            ``self``, fitted.

        Raises:
            ValueError: On mismatched shapes, fewer than two identities, no identity with two
                or more samples (``S_eps`` is then not identifiable), or an invalid
                ``pca_dim``.
        """
        if features.ndim != 2:
            raise ValueError(f"features must be [N, D], got shape {tuple(features.shape)}")
        labels = labels.flatten().to(features.device)
        if labels.numel() != features.shape[0]:
            raise ValueError(f"labels has {labels.numel()} elements, features {features.shape[0]}")
        _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
        if counts.numel() < 2:
            raise ValueError("JointBayesian.fit needs features of at least two identities")
        if int(counts.max()) < 2:
            raise ValueError(
                "JointBayesian.fit needs at least one identity with two or more samples to "
                "estimate the intra-personal covariance S_eps"
            )
        n, d_in = features.shape
        if pca_dim is not None and not 1 <= pca_dim <= d_in:
            raise ValueError(f"pca_dim must be in [1, {d_in}], got {pca_dim}")
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if em not in ("paper", "exact"):
            raise ValueError(f"em must be 'paper' or 'exact', got {em!r}")

        x = features.to(torch.float64)
        mean = x.mean(dim=0)
        x = x - mean
        if pca_dim is not None:
            # eigh of the D x D covariance rather than an SVD of the N x D data: N (images) is
            # usually much larger than D.
            covariance = x.T @ x / n
            _, vectors = torch.linalg.eigh(covariance)
            projection = vectors[:, -pca_dim:].flip(1)  # descending variance
            x = x @ projection
        else:
            projection = torch.zeros(0, 0, dtype=torch.float64, device=x.device)
        dim = x.shape[1]
        eye = torch.eye(dim, dtype=torch.float64, device=x.device)

        num_ids = counts.numel()
        sums = torch.zeros(num_ids, dim, dtype=torch.float64, device=x.device)
        sums.index_add_(0, inverse, x)
        # Initialise with the between-class and within-class scatter (LDA-style).
        class_means = sums / counts[:, None]
        sigma_mu = class_means.T @ class_means / num_ids
        residual = x - class_means[inverse]
        sigma_eps = residual.T @ residual / n
        sizes = torch.unique(counts)

        for _ in range(iterations):
            # Tiny ridge: with few samples per dimension the estimates can be singular.
            sigma_mu = sigma_mu + _ridge(sigma_mu) * eye
            sigma_eps = sigma_eps + _ridge(sigma_eps) * eye
            # E-step. For an identity with m samples, E[mu | x_1..m] = S_mu (m S_mu + S_eps)^-1
            # Σ_j x_j (the paper's S_mu (F + m G) Σ_j x_j, simplified) and E[eps_j] = x_j - E[mu].
            # One solve per distinct m, not per identity.
            mu = torch.empty_like(sums)
            # Posterior covariance of mu (= of every eps_j) summed over identities: only the
            # exact EM uses it.
            posterior_mu = torch.zeros_like(sigma_mu)
            posterior_eps = torch.zeros_like(sigma_eps)
            for m in sizes.tolist():
                members = counts == m
                transform = torch.linalg.solve(m * sigma_mu + sigma_eps, sigma_mu)
                mu[members] = sums[members] @ transform
                if em == "exact":
                    # Cov[mu | x_1..m] = (S_mu^-1 + m S_eps^-1)^-1
                    #                  = S_mu - m S_mu (m S_mu + S_eps)^-1 S_mu
                    covariance = sigma_mu - m * sigma_mu @ transform
                    covariance = (covariance + covariance.T) / 2
                    num = int(members.sum())
                    posterior_mu += num * covariance
                    posterior_eps += num * m * covariance
            eps = x - mu[inverse]
            # M-step: covariances of the posterior means (the paper); the exact EM adds the
            # posterior covariances, without which weak identity directions shrink to zero.
            new_mu = (mu.T @ mu + posterior_mu) / num_ids
            new_eps = (eps.T @ eps + posterior_eps) / n
            change = (
                torch.linalg.matrix_norm(new_mu - sigma_mu)
                + torch.linalg.matrix_norm(new_eps - sigma_eps)
            ) / (torch.linalg.matrix_norm(sigma_mu) + torch.linalg.matrix_norm(sigma_eps))
            sigma_mu, sigma_eps = new_mu, new_eps
            if float(change) < tol:
                break

        sigma_mu = sigma_mu + _ridge(sigma_mu) * eye
        sigma_eps = sigma_eps + _ridge(sigma_eps) * eye
        f = torch.linalg.inv(sigma_eps)
        g = -torch.linalg.solve(2 * sigma_mu + sigma_eps, sigma_mu @ f)
        a = torch.linalg.inv(sigma_mu + sigma_eps) - (f + g)
        # A and G are symmetric in exact arithmetic (blocks of the inverse of a symmetric
        # matrix); symmetrising makes r(x1, x2) = r(x2, x1) hold to the last bit.
        learned = {
            "mean": mean,
            "projection": projection,
            "sigma_mu": sigma_mu,
            "sigma_eps": sigma_eps,
            "A": (a + a.T) / 2,
            "G": (g + g.T) / 2,
        }
        device = self.A.device
        for name, value in learned.items():
            setattr(self, name, value.to(device=device, dtype=torch.float64).contiguous())
        return self

    def transform(self, x: Tensor) -> Tensor:
        """Centre and (if fitted with PCA) project features into the model space, in float64.

        Args:
            x: ``[N, D]`` features.

        Returns:
            ``[N, dim]`` float64.
        """
        self._check_fitted()
        if x.ndim != 2 or x.shape[1] != self.mean.numel():
            raise ValueError(
                f"expected features of shape [N, {self.mean.numel()}], got {tuple(x.shape)}"
            )
        z = x.to(torch.float64) - self.mean
        if self.projection.numel():
            z = z @ self.projection
        return z

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        """Log-likelihood ratio ``r(x1, x2)`` of corresponding rows (higher = same identity).

        Args:
            x1: ``[N, D]`` features of the first images.
            x2: ``[N, D]`` features of the second images.

        Returns:
            ``[N]`` scores, in the floating dtype of ``x1`` (float64 for integer input).
        """
        if x1.shape != x2.shape:
            raise ValueError(f"x1 and x2 must have the same shape, got {x1.shape} and {x2.shape}")
        z1, z2 = self.transform(x1), self.transform(x2)
        r = (
            ((z1 @ self.A) * z1).sum(1)
            + ((z2 @ self.A) * z2).sum(1)
            - 2 * ((z1 @ self.G) * z2).sum(1)
        )
        return r.to(x1.dtype) if x1.is_floating_point() else r

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise RuntimeError(
                "JointBayesian is not fitted: call fit(features, labels) or load a fitted "
                "state_dict first"
            )

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


def _ridge(matrix: Tensor) -> Tensor:
    """A ridge of 1e-9 times the mean variance: keeps the solves stable, changes nothing else."""
    return 1e-9 * torch.diagonal(matrix).mean().clamp_min(1e-300)
