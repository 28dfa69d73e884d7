"""One layer's unsupervised learner for greedy layer-wise pre-training: an RBM or an auto-encoder.

:class:`~lightning_deepvision.callbacks.LayerwisePretraining` wraps each layer it pre-trains
in a :class:`LayerLearner`: the building block of ``models/layers`` that shares the layer's
parameters (so the network's layer is trained in place), its optimiser with Hinton's
momentum schedule and weight cost, one update step, the evaluation measures, and the copy of
the learned decoder into a mirror layer (the unrolled decoder of a deep auto-encoder).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, cast

import torch
from torch import Tensor, nn

from lightning_deepvision.models.layers.autoencoder import AutoencoderLayer, Noise
from lightning_deepvision.models.layers.rbm import RBM, UnitType

__all__ = ["LayerLearner", "Mode", "layer_input"]

Mode = Literal["rbm", "autoencoder"]


class _Captured(Exception):
    """Stops a forward pass once the input of the wanted layer is known."""


@torch.no_grad()
def layer_input(model: nn.Module, layer: nn.Module, batch: Tensor, name: str = "layer") -> Tensor:
    """The input ``layer`` receives when ``model`` runs on ``batch`` (the rest is not computed).

    Raises:
        RuntimeError: If the model's forward never calls the layer.
    """
    captured: list[Tensor] = []

    def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
        captured.append(args[0])
        raise _Captured

    handle = layer.register_forward_pre_hook(hook)
    try:
        model(batch)
    except _Captured:
        pass
    finally:
        handle.remove()
    if not captured:
        raise RuntimeError(f"{type(model).__name__}'s forward never calls the layer {name!r}")
    return captured[0]


class LayerLearner:
    """The learner of one layer: an :class:`RBM` or an :class:`AutoencoderLayer` around it.

    Args:
        name: The layer's name (for messages).
        layer: The ``nn.Linear`` (RBM or auto-encoder) or ``nn.Conv2d`` (auto-encoder).
        mode: ``"rbm"`` or ``"autoencoder"``.
        visible: Units of the layer's input: ``"bernoulli"`` (values in [0, 1]; the
            auto-encoder reconstructs them with a cross-entropy) or ``"gaussian"`` (real
            values; squared error).
        hidden: Units of the layer's output: ``"bernoulli"`` (logistic) or ``"gaussian"``
            (linear).
        lr: Learning rate.
        weight_cost: L2 penalty on the weights only (Hinton: 0.0002).
        k: Gibbs steps of CD-k / PCD-k.
        persistent: Persistent chains (PCD) instead of CD.
        num_chains: Persistent chains.
        learn_sigma: Learn the visible standard deviations of a Gaussian RBM.
        tied: Tied decoder weights (auto-encoder).
        noise: Corruption of a denoising auto-encoder.
        noise_level: 0 for a plain auto-encoder.
    """

    def __init__(
        self,
        name: str,
        layer: nn.Module,
        mode: Mode,
        visible: UnitType,
        hidden: UnitType,
        lr: float,
        weight_cost: float,
        k: int = 1,
        persistent: bool = False,
        num_chains: int = 100,
        learn_sigma: bool = False,
        tied: bool = True,
        noise: Noise = "mask",
        noise_level: float = 0.0,
    ) -> None:
        self.name, self.mode, self.k = name, mode, int(k)
        self.persistent, self.num_chains = persistent, int(num_chains)
        self.chain: Tensor | None = None
        self.module: nn.Module
        if mode == "rbm":
            if not isinstance(layer, nn.Linear):
                raise TypeError(
                    f"RBM pre-training needs an nn.Linear layer, {name!r} is a "
                    f"{type(layer).__name__} (use mode='autoencoder' for convolutions)"
                )
            self.module = RBM.from_linear(
                layer, visible=visible, hidden=hidden, learn_sigma=learn_sigma
            )
            weights: list[Tensor] = [self.module.weight]
        elif mode == "autoencoder":
            if not isinstance(layer, nn.Linear | nn.Conv2d):
                raise TypeError(
                    f"auto-encoder pre-training needs an nn.Linear or nn.Conv2d layer, {name!r} "
                    f"is a {type(layer).__name__}"
                )
            self.module = AutoencoderLayer(
                layer,
                activation="sigmoid" if hidden == "bernoulli" else "identity",
                tied=tied,
                noise=noise,
                noise_level=noise_level,
                loss="bce" if visible == "bernoulli" else "mse",
            )
            weights = [layer.weight]
            if self.module.decoder is not None:
                weights.append(cast(Tensor, self.module.decoder.weight))
        else:
            raise ValueError(f"mode must be 'rbm' or 'autoencoder', got {mode!r}")
        decayed = {id(w) for w in weights}
        rest = [p for p in self.module.parameters() if id(p) not in decayed]
        # Hinton's code applies the weight cost to the weights, never to the biases.
        self.optimizer = torch.optim.SGD(
            [{"params": weights, "weight_decay": weight_cost}, {"params": rest, "weight_decay": 0}],
            lr=lr,
            momentum=0.5,
        )

    def set_momentum(self, momentum: float) -> None:
        """The momentum of the next updates (Hinton: 0.5 for five epochs, then 0.9)."""
        for group in self.optimizer.param_groups:
            group["momentum"] = momentum

    def parameters(self) -> list[nn.Parameter]:
        """The parameters the updates change."""
        return list(self.module.parameters())

    def step(
        self,
        x: Tensor,
        generator: torch.Generator,
        reduce: Callable[[Tensor], Tensor] | None = None,
    ) -> Tensor:
        """One update on the batch ``x``; returns its reconstruction error.

        Args:
            x: The layer's input.
            generator: Random generator of the samples / the corruption.
            reduce: Averages a tensor over the processes (``None``: one process), applied to
                each gradient before the update so that every process keeps the same weights.
        """
        self.optimizer.zero_grad(set_to_none=True)
        if isinstance(self.module, RBM):
            if self.persistent and self.chain is None:
                self.chain = torch.bernoulli(
                    torch.full((self.num_chains, x.shape[1]), 0.5, device=x.device),
                    generator=generator,
                )
            error, state = self.module.contrastive_divergence(
                x, self.k, self.chain if self.persistent else None, generator
            )
            if self.persistent:
                self.chain = state
        else:
            error = self.module(x, generator)
            error.backward()
            error = error.detach()
        if reduce is not None:
            for parameter in self.parameters():
                if parameter.grad is not None:
                    parameter.grad = reduce(parameter.grad)
        self.optimizer.step()
        return error

    @torch.no_grad()
    def evaluate(self, x: Tensor) -> dict[str, Tensor]:
        """Measures of a held-out batch: squared reconstruction error (and mean free energy)."""
        if isinstance(self.module, RBM):
            mean = self.module.visible_mean(self.module.hidden_mean(x))
            error = ((x - mean) ** 2).flatten(1).sum(1).mean()
            return {"reconstruction_error": error, "free_energy": self.module.free_energy(x).mean()}
        return {"reconstruction_error": cast(AutoencoderLayer, self.module).reconstruction_error(x)}

    @torch.no_grad()
    def finish(self, mirror: nn.Module | None) -> None:
        """Fold a learned ``σ`` into the layer, and copy the decoder into ``mirror``.

        The network's layer computes ``W v + c``; a Gaussian RBM's hidden input is
        ``W (v / σ) + c``, so ``W / σ`` is what the layer must hold. The mirror (a decoder
        layer, e.g. ``decoder.3`` for ``encoder.0``) gets the generative weights: ``σ Wᵀ``
        and the visible biases for an RBM, the decoding weight and bias for an auto-encoder.

        Raises:
            ValueError: If the mirror's shape does not fit the layer's decoder.
        """
        module = self.module
        if isinstance(module, RBM):
            sigma = module.sigma.detach().clone()
            decoder_weight = module.weight.T * sigma[:, None]
            decoder_bias = module.visible_bias.detach()
            if module.visible == "gaussian":
                module.weight.div_(sigma)
        else:
            assert isinstance(module, AutoencoderLayer)
            weight = module.encoder.weight if module.decoder is None else module.decoder.weight
            decoder_weight = cast(Tensor, weight)
            if isinstance(module.encoder, nn.Linear) and module.decoder is None:
                decoder_weight = decoder_weight.T
            decoder_bias = module.decoder_bias.detach()
        if mirror is None:
            return
        mirror_weight = getattr(mirror, "weight", None)
        mirror_bias = getattr(mirror, "bias", None)
        if not isinstance(mirror_weight, Tensor) or mirror_weight.shape != decoder_weight.shape:
            raise ValueError(
                f"the mirror of {self.name!r} must have a weight of shape "
                f"{tuple(decoder_weight.shape)}, got {type(mirror).__name__} "
                f"{None if mirror_weight is None else tuple(mirror_weight.shape)}"
            )
        mirror_weight.copy_(decoder_weight)
        if isinstance(mirror_bias, Tensor):
            mirror_bias.copy_(decoder_bias)

    # -- resumption ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The learner's own state: its module (the visible biases), optimiser and chains."""
        return {
            "module": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "chain": None if self.chain is None else self.chain.cpu(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the shared layer parameters included)."""
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        chain = state.get("chain")
        self.chain = None if chain is None else chain.to(self.parameters()[0].device)
