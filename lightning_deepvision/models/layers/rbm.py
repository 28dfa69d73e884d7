"""Restricted Boltzmann machines: energy, free energy, Gibbs sampling, CD-k / PCD and AIS.

Hinton, Osindero, Teh, "A Fast Learning Algorithm for Deep Belief Nets", Neural Computation
2006 (greedy stacks of RBMs trained by contrastive divergence), and Hinton & Salakhutdinov,
"Reducing the Dimensionality of Data with Neural Networks", Science 2006 (the code layer of the
deep auto-encoder: an RBM with linear Gaussian hidden units, ``rbmhidlinear.m``). Persistent CD
is Tieleman, "Training Restricted Boltzmann Machines using Approximations to the Likelihood
Gradient", ICML 2008; annealed importance sampling of the partition function is Salakhutdinov
& Murray, "On the Quantitative Analysis of Deep Belief Networks", ICML 2008.

Neither torch nor torchvision has RBMs (scikit-learn's ``BernoulliRBM`` is NumPy-only,
Bernoulli-only and has no AIS), hence this module. The weight is stored as ``(hidden,
visible)``, the layout of ``nn.Linear``, so that an RBM can share its weight and hidden bias
with a network's ``Linear`` layer (:meth:`RBM.from_linear`): pre-training the RBM then
initialises that layer in place.

Energies (``σ`` the visible standard deviations, 1 for Bernoulli units; ``x = c + W (v / σ)``
the hidden input):

* visible term: ``-b·v`` (Bernoulli) or ``Σ (v - b)² / 2σ²`` (Gaussian);
* hidden term: ``-c·h`` (Bernoulli) or ``Σ h² / 2 - c·h`` (linear Gaussian, unit variance);
* interaction: ``-(v / σ)ᵀ Wᵀ h``.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["RBM", "BernoulliRBM", "GaussianBernoulliRBM", "UnitType"]

UnitType = Literal["bernoulli", "gaussian"]
_UNIT_TYPES = ("bernoulli", "gaussian")
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class RBM(nn.Module):
    """A restricted Boltzmann machine with Bernoulli or Gaussian units on either side.

    ``visible="gaussian"`` gives the Gaussian–Bernoulli RBM for real-valued data (standardise
    the data first, or set ``sigma`` to its standard deviation; ``learn_sigma`` learns ``log σ``
    per unit, clamped at ``min_sigma`` so that it cannot collapse — the usual cause of the
    exploding gradients reported with learned variances). ``hidden="gaussian"`` gives linear
    units with unit-variance Gaussian noise, the code layer of Hinton & Salakhutdinov (2006).

    Training follows Hinton's ``rbm.m``: the positive statistics use the hidden probabilities,
    the reconstruction uses visible probabilities (means), and :meth:`contrastive_divergence`
    stores the gradient estimate of the negative log-likelihood in each parameter's ``.grad``,
    so that any ``torch.optim`` optimiser applies Hinton's update (SGD with momentum and a
    weight cost on ``weight`` only reproduces his increments exactly).

    Args:
        num_visible: Visible units.
        num_hidden: Hidden units.
        visible: ``"bernoulli"`` or ``"gaussian"`` visible units.
        hidden: ``"bernoulli"`` or ``"gaussian"`` (linear) hidden units.
        sigma: Initial (or fixed) standard deviation of Gaussian visible units.
        learn_sigma: Learn ``log σ`` of Gaussian visible units.
        min_sigma: Lower bound of a learned ``σ``.
        init_std: Standard deviation of the initial weights (Hinton: 0.1).
        weight: A ``(num_hidden, num_visible)`` parameter to share (e.g. a ``Linear``'s).
        hidden_bias: A ``(num_hidden,)`` parameter to share.

    Attributes:
        weight: ``(num_hidden, num_visible)``.
        hidden_bias: ``(num_hidden,)``.
        visible_bias: ``(num_visible,)``.
        log_sigma: ``(num_visible,)`` parameter (learned) or buffer (fixed).
    """

    log_sigma: Tensor

    def __init__(
        self,
        num_visible: int,
        num_hidden: int,
        visible: UnitType = "bernoulli",
        hidden: UnitType = "bernoulli",
        sigma: float = 1.0,
        learn_sigma: bool = False,
        min_sigma: float = 1e-2,
        init_std: float = 0.1,
        weight: nn.Parameter | None = None,
        hidden_bias: nn.Parameter | None = None,
    ) -> None:
        super().__init__()
        for side, kind in (("visible", visible), ("hidden", hidden)):
            if kind not in _UNIT_TYPES:
                raise ValueError(f"{side} must be one of {_UNIT_TYPES}, got {kind!r}")
        if sigma <= 0 or min_sigma <= 0:
            raise ValueError(f"sigma and min_sigma must be positive, got {sigma}, {min_sigma}")
        self.num_visible, self.num_hidden = int(num_visible), int(num_hidden)
        self.visible, self.hidden = visible, hidden
        self.min_sigma = float(min_sigma)
        if weight is None:
            weight = nn.Parameter(torch.randn(num_hidden, num_visible) * init_std)
        if tuple(weight.shape) != (num_hidden, num_visible):
            raise ValueError(
                f"weight must be (num_hidden, num_visible) = {(num_hidden, num_visible)}, "
                f"got {tuple(weight.shape)}"
            )
        self.weight = weight
        if hidden_bias is None:
            hidden_bias = nn.Parameter(torch.zeros(num_hidden, device=weight.device))
        self.hidden_bias = hidden_bias
        self.visible_bias = nn.Parameter(torch.zeros(num_visible, device=weight.device))
        log_sigma = torch.full((num_visible,), math.log(sigma), device=weight.device)
        if learn_sigma and visible == "gaussian":
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    @classmethod
    def from_linear(cls, linear: nn.Linear, **kwargs: object) -> RBM:
        """An RBM sharing ``linear``'s weight and bias (its hidden units are the layer's outputs).

        Raises:
            ValueError: If the layer has no bias (the RBM needs hidden biases).
        """
        if linear.bias is None:
            raise ValueError("an RBM needs hidden biases: the Linear layer has bias=False")
        return cls(
            linear.in_features,
            linear.out_features,
            weight=cast(nn.Parameter, linear.weight),
            hidden_bias=cast(nn.Parameter, linear.bias),
            **kwargs,  # type: ignore[arg-type]
        )

    # -- conditionals ----------------------------------------------------------------------------
    @property
    def sigma(self) -> Tensor:
        """Standard deviations of the visible units (ones for Bernoulli units)."""
        if self.visible == "bernoulli":
            return torch.ones_like(self.visible_bias)
        return self.log_sigma.clamp_min(math.log(self.min_sigma)).exp()

    def _scaled(self, v: Tensor) -> Tensor:
        return v if self.visible == "bernoulli" else v / self.sigma

    def hidden_input(self, v: Tensor) -> Tensor:
        """``c + W (v / σ)``, ``(B, num_hidden)``."""
        return F.linear(self._scaled(v), self.weight, self.hidden_bias)

    def hidden_mean(self, v: Tensor) -> Tensor:
        """``E[h | v]``: logistic probabilities, or the input itself for linear units."""
        x = self.hidden_input(v)
        return torch.sigmoid(x) if self.hidden == "bernoulli" else x

    def sample_hidden(self, mean: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A draw of ``h`` given its conditional mean (binary, or mean + N(0, 1))."""
        if self.hidden == "bernoulli":
            return torch.bernoulli(mean, generator=generator)
        return mean + torch.randn(mean.shape, generator=generator, device=mean.device)

    def visible_mean(self, h: Tensor) -> Tensor:
        """``E[v | h]``: logistic probabilities, or ``b + σ Wᵀh`` for Gaussian units."""
        top_down = h @ self.weight
        if self.visible == "bernoulli":
            return torch.sigmoid(top_down + self.visible_bias)
        return self.visible_bias + self.sigma * top_down

    def sample_visible(self, mean: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A draw of ``v`` given its conditional mean (binary, or mean + σ N(0, 1))."""
        if self.visible == "bernoulli":
            return torch.bernoulli(mean, generator=generator)
        return mean + self.sigma * torch.randn(mean.shape, generator=generator, device=mean.device)

    def forward(self, v: Tensor) -> Tensor:
        """The hidden means of a batch (what the next layer of a DBN is trained on)."""
        return self.hidden_mean(v.flatten(1))

    # -- energies ---------------------------------------------------------------------------------
    def _visible_term(self, v: Tensor) -> Tensor:
        if self.visible == "bernoulli":
            return -(v @ self.visible_bias)
        return (((v - self.visible_bias) / self.sigma) ** 2).sum(-1) / 2

    def energy(self, v: Tensor, h: Tensor) -> Tensor:
        """``E(v, h)`` of each pair of a batch, ``(B,)``."""
        hidden = -(h @ self.hidden_bias)
        if self.hidden == "gaussian":
            hidden = hidden + (h**2).sum(-1) / 2
        interaction = -(F.linear(self._scaled(v), self.weight) * h).sum(-1)
        return self._visible_term(v) + hidden + interaction

    def free_energy(self, v: Tensor) -> Tensor:
        """``F(v) = -log Σ_h exp(-E(v, h))`` (an integral for linear units), ``(B,)``."""
        x = self.hidden_input(v)
        if self.hidden == "bernoulli":
            hidden = -F.softplus(x).sum(-1)
        else:
            hidden = -(x**2).sum(-1) / 2 - self.num_hidden * _HALF_LOG_2PI
        return self._visible_term(v) + hidden

    def free_energy_grad(self, v: Tensor, hidden_mean: Tensor | None = None) -> dict[str, Tensor]:
        """The gradient of the mean of ``F(v)`` over a batch, in closed form.

        The closed form costs one matrix product for the weight (what Hinton's ``rbm.m``
        computes as ``data' * poshidprobs``); autograd on :meth:`free_energy` would recompute
        the hidden input and run its backward.

        Args:
            v: ``(B, num_visible)``.
            hidden_mean: :meth:`hidden_mean` of ``v`` when already computed.

        Returns:
            Gradients by parameter name (``weight``, ``hidden_bias``, ``visible_bias`` and, for
            a learned ``σ``, ``log_sigma``).
        """
        mean = self.hidden_mean(v) if hidden_mean is None else hidden_mean
        weights = torch.full((v.shape[0],), 1.0 / v.shape[0], dtype=v.dtype, device=v.device)
        return self._weighted_free_energy_grad(v, mean, weights)

    def _weighted_free_energy_grad(
        self, v: Tensor, hidden_mean: Tensor, weights: Tensor
    ) -> dict[str, Tensor]:
        """``∂ Σ_i w_i F(v_i) / ∂θ``: signed weights give CD's difference in one product each."""
        u = self._scaled(v)
        m = hidden_mean * -weights[:, None]
        grads = {"weight": m.T @ u, "hidden_bias": m.sum(0)}
        if self.visible == "bernoulli":
            grads["visible_bias"] = -(weights @ v)
        else:
            sigma = self.sigma
            centred = v - self.visible_bias
            grads["visible_bias"] = -(weights @ centred) / sigma**2
            if isinstance(self.log_sigma, nn.Parameter):
                squared = weights @ centred**2 / sigma**2
                grads["log_sigma"] = -squared - (u * (m @ self.weight)).sum(0)
        return grads

    # -- learning ---------------------------------------------------------------------------------
    def gibbs_step(
        self, v: Tensor, generator: torch.Generator | None = None, sample_visible: bool = True
    ) -> tuple[Tensor, Tensor]:
        """One step ``v → h → v'``: returns the sampled ``h`` and ``v'`` (a draw, or its mean)."""
        h = self.sample_hidden(self.hidden_mean(v), generator)
        mean = self.visible_mean(h)
        return h, self.sample_visible(mean, generator) if sample_visible else mean

    def contrastive_divergence(
        self,
        v: Tensor,
        k: int = 1,
        chain: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Store the CD-k (or PCD-k) estimate of ``-∂ log p(v) / ∂θ`` in each ``.grad``.

        The positive phase uses the data, the negative phase the visible means after ``k``
        Gibbs steps started from the data (CD-k, Hinton 2002) or from ``chain``, the persistent
        chains' states (PCD, Tieleman 2008). Intermediate steps sample the visible units; the
        last step uses their means, as ``rbm.m`` does for CD-1.

        Args:
            v: Data ``(B, num_visible)``.
            k: Gibbs steps.
            chain: Persistent chains' visible states (any number of rows); ``None`` is CD.
            generator: Random generator of the samples.

        Returns:
            ``(squared reconstruction error summed over units, mean over the batch; new chain
            state)``: the error of the one-step reconstruction of ``v``, and the chains'
            sampled visible states after ``k`` steps (for CD, the sampled reconstruction).
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        with torch.no_grad():
            positive_mean = self.hidden_mean(v)
            state = v if chain is None else chain
            mean = positive_mean if chain is None else self.hidden_mean(chain)
            negative = state
            reconstruction: Tensor | None = None
            for step in range(k):
                if step > 0:
                    mean = self.hidden_mean(state)
                negative = self.visible_mean(self.sample_hidden(mean, generator))
                if chain is None and step == 0:
                    reconstruction = negative
                if chain is not None or step < k - 1:
                    state = self.sample_visible(negative, generator)
            if reconstruction is None:
                reconstruction = self.visible_mean(self.sample_hidden(positive_mean, generator))
            if isinstance(self.log_sigma, nn.Parameter):
                # A learned σ needs the visible noise in the negative phase: the noise-free
                # means have a variance σ² too small, and would drive σ up without end.
                negative = self.sample_visible(negative, generator)
            # Positive minus negative phase as one weighted sum: one product for the weight.
            batch, chains = v.shape[0], negative.shape[0]
            weights = torch.cat(
                [
                    torch.full((batch,), 1.0 / batch, dtype=v.dtype, device=v.device),
                    torch.full((chains,), -1.0 / chains, dtype=v.dtype, device=v.device),
                ]
            )
            grads = self._weighted_free_energy_grad(
                torch.cat([v, negative]),
                torch.cat([positive_mean, self.hidden_mean(negative)]),
                weights,
            )
            for name, grad in grads.items():
                getattr(self, name).grad = grad
            error = ((v - reconstruction) ** 2).sum(-1).mean()
        return error, state

    # -- sampling and likelihood -------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        num_samples: int,
        steps: int = 1000,
        init: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Visible means after ``steps`` Gibbs steps of ``num_samples`` chains.

        Args:
            num_samples: Chains (ignored when ``init`` is given).
            steps: Gibbs steps of each chain.
            init: Starting visible states ``(N, num_visible)``; default random (Bernoulli 0.5,
                or ``b + σ N(0, 1)`` for Gaussian units).
            generator: Random generator.
        """
        device = self.weight.device
        if init is None:
            if self.visible == "bernoulli":
                half = torch.full(
                    (num_samples, self.num_visible), 0.5, device=device, dtype=self.weight.dtype
                )
                init = torch.bernoulli(half, generator=generator)
            else:
                init = self.sample_visible(
                    self.visible_bias.expand(num_samples, -1).clone(), generator
                )
        v = init
        mean = v
        for _ in range(steps):
            h = self.sample_hidden(self.hidden_mean(v), generator)
            mean = self.visible_mean(h)
            v = self.sample_visible(mean, generator)
        return mean

    def _check_bernoulli(self, what: str) -> None:
        if self.visible != "bernoulli" or self.hidden != "bernoulli":
            raise ValueError(
                f"{what} is implemented for Bernoulli–Bernoulli RBMs; this one has "
                f"{self.visible} visible and {self.hidden} hidden units"
            )

    @torch.no_grad()
    def log_partition_exact(self, max_states: int = 2**20) -> Tensor:
        """``log Z`` by enumerating every state of the smaller layer (tiny RBMs only).

        Raises:
            ValueError: Unless both layers are Bernoulli, or if ``2^min(V, H) > max_states``.
        """
        self._check_bernoulli("exact log Z")
        side = min(self.num_visible, self.num_hidden)
        if 2**side > max_states:
            raise ValueError(f"2^{side} states exceed max_states={max_states}")
        bits = torch.arange(2**side, device=self.weight.device)[:, None]
        states = ((bits >> torch.arange(side, device=bits.device)) & 1).to(self.weight.dtype)
        if side == self.num_visible:
            return torch.logsumexp(-self.free_energy(states), 0)
        # Σ_v over Bernoulli visibles of exp(-E(v, h)) = exp(c·h) Π_i (1 + exp(b_i + (hW)_i)).
        visible = F.softplus(states @ self.weight + self.visible_bias).sum(-1)
        return torch.logsumexp(states @ self.hidden_bias + visible, 0)

    @torch.no_grad()
    def log_partition_ais(
        self,
        num_chains: int = 100,
        betas: int | Tensor = 10000,
        base_visible_bias: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Annealed importance sampling estimate of ``log Z`` (Salakhutdinov & Murray 2008).

        The chains start from the base-rate model (no weights, visible biases
        ``base_visible_bias``, e.g. the data's log-odds; default zero) and anneal the weights
        and biases in along ``betas`` with one Gibbs transition per temperature.

        Args:
            num_chains: AIS runs averaged.
            betas: Inverse temperatures from 0 to 1 (a tensor), or their number (uniform).
            base_visible_bias: Visible biases of the base model.
            generator: Random generator.

        Returns:
            The estimate of ``log Z`` (a scalar tensor).
        """
        self._check_bernoulli("AIS")
        device, dtype = self.weight.device, self.weight.dtype
        if isinstance(betas, int):
            betas = torch.linspace(0.0, 1.0, betas, device=device, dtype=dtype)
        base = (
            torch.zeros(self.num_visible, device=device, dtype=dtype)
            if base_visible_bias is None
            else base_visible_bias.to(device, dtype)
        )

        def log_unnormalised(v: Tensor, beta: float) -> Tensor:
            visible = v @ ((1 - beta) * base + beta * self.visible_bias)
            return visible + F.softplus(beta * self.hidden_input(v)).sum(-1)

        probs = torch.sigmoid(base).expand(num_chains, -1)
        v = torch.bernoulli(probs, generator=generator)
        log_w = torch.zeros(num_chains, device=device, dtype=dtype)
        for previous, beta in itertools.pairwise(betas.tolist()):
            log_w += log_unnormalised(v, beta) - log_unnormalised(v, previous)
            h = torch.bernoulli(torch.sigmoid(beta * self.hidden_input(v)), generator=generator)
            top = (1 - beta) * base + beta * (h @ self.weight + self.visible_bias)
            v = torch.bernoulli(torch.sigmoid(top), generator=generator)
        log_z_base = F.softplus(base).sum() + self.num_hidden * math.log(2.0)
        return log_z_base + torch.logsumexp(log_w, 0) - math.log(num_chains)

    def log_likelihood(self, v: Tensor, log_partition: Tensor) -> Tensor:
        """Mean ``log p(v) = -F(v) - log Z`` over a batch, given ``log Z``."""
        return (-self.free_energy(v) - log_partition).mean()


class BernoulliRBM(RBM):
    """:class:`RBM` with binary visible units (Hinton's ``rbm.m``; ``hidden`` as in RBM)."""

    def __init__(self, num_visible: int, num_hidden: int, **kwargs: object) -> None:
        super().__init__(num_visible, num_hidden, visible="bernoulli", **kwargs)  # type: ignore[arg-type]


class GaussianBernoulliRBM(RBM):
    """:class:`RBM` with Gaussian visible units for real-valued (standardised) data."""

    def __init__(self, num_visible: int, num_hidden: int, **kwargs: object) -> None:
        super().__init__(num_visible, num_hidden, visible="gaussian", **kwargs)  # type: ignore[arg-type]
