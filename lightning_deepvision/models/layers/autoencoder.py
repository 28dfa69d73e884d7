"""One-layer auto-encoders (plain, denoising, tied), fully connected or convolutional.

The building block of greedy layer-wise pre-training by auto-encoders: Bengio, Lamblin,
Popovici, Larochelle, "Greedy Layer-Wise Training of Deep Networks", NIPS 2006 (auto-encoders
in place of RBMs), Vincent, Larochelle, Bengio, Manzagol, "Extracting and Composing Robust
Features with Denoising Autoencoders", ICML 2008 (masking noise), and Masci, Meier, Cireşan,
Schmidhuber, "Stacked Convolutional Auto-Encoders for Hierarchical Feature Extraction", ICANN
2011 (the convolutional form, decoded by the transposed convolution).

The encoder is an existing ``nn.Linear`` or ``nn.Conv2d`` (a network's layer, trained in place)
and the decoder its mirror: a fresh ``Linear`` / ``ConvTranspose2d``, or the encoder's own
weight transposed (``tied``). torch has the parts but no module that ties them together.
"""

from __future__ import annotations

from typing import Literal, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ACTIVATIONS", "Activation", "AutoencoderLayer", "Noise", "ReconstructionLoss"]

Activation = Literal["sigmoid", "relu", "tanh", "identity"]
Noise = Literal["mask", "gaussian"]
ReconstructionLoss = Literal["bce", "mse"]

#: The non-linearities by name (the code of a layer, the hidden layers of the MLPs).
ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "identity": lambda x: x,
}


class AutoencoderLayer(nn.Module):
    """Encode with a Linear or Conv2d layer, decode with its mirror, reconstruct the input.

    Args:
        encoder: The layer to train (its parameters are shared, not copied).
        activation: Non-linearity of the code (the network's own activation after the layer).
        tied: Decode with the encoder's weight transposed instead of a separate weight.
        noise: Corruption of a denoising auto-encoder: ``"mask"`` zeroes each input with
            probability ``noise_level`` (Vincent et al. 2008), ``"gaussian"`` adds
            N(0, ``noise_level``²).
        noise_level: 0 for a plain auto-encoder.
        loss: ``"bce"`` (inputs in [0, 1], logistic reconstruction) or ``"mse"`` (linear
            reconstruction).

    Attributes:
        decoder_bias: Bias of the reconstruction (one per input unit or channel).
        decoder: The separate decoding layer (``None`` when tied).
    """

    decoder: nn.Module | None

    def __init__(
        self,
        encoder: nn.Linear | nn.Conv2d,
        activation: Activation = "sigmoid",
        tied: bool = False,
        noise: Noise = "mask",
        noise_level: float = 0.0,
        loss: ReconstructionLoss = "bce",
    ) -> None:
        super().__init__()
        if not isinstance(encoder, nn.Linear | nn.Conv2d):
            raise TypeError(f"encoder must be nn.Linear or nn.Conv2d, got {type(encoder).__name__}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if noise not in ("mask", "gaussian"):
            raise ValueError(f"noise must be 'mask' or 'gaussian', got {noise!r}")
        if noise_level < 0 or (noise == "mask" and noise_level >= 1):
            raise ValueError(f"noise_level must be >= 0 (and < 1 for masking), got {noise_level}")
        if loss not in ("bce", "mse"):
            raise ValueError(f"loss must be 'bce' or 'mse', got {loss!r}")
        self.encoder = encoder
        self.activation: Activation = activation
        self.tied, self.noise, self.noise_level, self.loss = tied, noise, noise_level, loss
        if isinstance(encoder, nn.Linear):
            inputs = encoder.in_features
            self.decoder = None if tied else nn.Linear(encoder.out_features, inputs, bias=False)
        else:
            if encoder.groups != 1 or not isinstance(encoder.padding, tuple):
                raise ValueError("a convolutional auto-encoder needs groups=1 and numeric padding")
            inputs = encoder.in_channels
            self.decoder = (
                None
                if tied
                else nn.ConvTranspose2d(
                    encoder.out_channels,
                    inputs,
                    cast(tuple[int, int], encoder.kernel_size),
                    stride=cast(tuple[int, int], encoder.stride),
                    padding=cast(tuple[int, int], encoder.padding),
                    dilation=cast(tuple[int, int], encoder.dilation),
                    bias=False,
                )
            )
        self.decoder_bias = nn.Parameter(torch.zeros(inputs, device=encoder.weight.device))
        if self.decoder is not None:
            # The decoder starts as the encoder's transpose, as an unrolled RBM would.
            with torch.no_grad():
                weight = encoder.weight
                self.decoder.weight.copy_(weight.T if isinstance(encoder, nn.Linear) else weight)

    @classmethod
    def linear(cls, in_features: int, out_features: int, **kwargs: object) -> AutoencoderLayer:
        """A fully connected auto-encoder with a fresh encoder ``Linear``."""
        return cls(nn.Linear(in_features, out_features), **kwargs)  # type: ignore[arg-type]

    @classmethod
    def conv(
        cls, in_channels: int, out_channels: int, kernel_size: int, **kwargs: object
    ) -> AutoencoderLayer:
        """A convolutional auto-encoder; ``stride``/``padding`` go to the ``Conv2d``."""
        conv_args = {k: kwargs.pop(k) for k in ("stride", "padding") if k in kwargs}
        encoder = nn.Conv2d(in_channels, out_channels, kernel_size, **conv_args)  # type: ignore[arg-type]
        return cls(encoder, **kwargs)  # type: ignore[arg-type]

    def corrupt(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The input with the configured noise (unchanged for a plain auto-encoder)."""
        if self.noise_level == 0.0:
            return x
        if self.noise == "mask":
            keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.noise_level
            return x * keep
        return x + self.noise_level * torch.randn(x.shape, generator=generator, device=x.device)

    def encode(self, x: Tensor) -> Tensor:
        """The code: the activation of the encoder's output."""
        return cast(Tensor, ACTIVATIONS[self.activation](self.encoder(x)))

    def decode_logits(self, code: Tensor, input_shape: torch.Size) -> Tensor:
        """The reconstruction before its output non-linearity, shaped as the input."""
        encoder = self.encoder
        if isinstance(encoder, nn.Linear):
            weight = encoder.weight.T if self.decoder is None else self.decoder.weight
            return F.linear(code, cast(Tensor, weight), self.decoder_bias)
        # A strided convolution maps several input sizes to one output size: ask for the input's.
        size = input_shape[-2:]
        if self.decoder is not None:
            decoder = cast(nn.ConvTranspose2d, self.decoder)
            out = decoder(code, output_size=list(size))
            return out + self.decoder_bias[:, None, None]
        stride = cast(tuple[int, int], encoder.stride)
        padding = cast(tuple[int, int], encoder.padding)
        dilation = cast(tuple[int, int], encoder.dilation)
        kernel = encoder.kernel_size
        output_padding = [
            size[d]
            - ((code.shape[-2 + d] - 1) * stride[d] - 2 * padding[d])
            - dilation[d] * (kernel[d] - 1)
            - 1
            for d in range(2)
        ]
        return F.conv_transpose2d(
            code,
            encoder.weight,
            self.decoder_bias,
            stride=stride,
            padding=padding,
            output_padding=output_padding,
            dilation=dilation,
        )

    def reconstruct(self, x: Tensor) -> Tensor:
        """The reconstruction of ``x`` (logistic for ``"bce"``, linear for ``"mse"``)."""
        logits = self.decode_logits(self.encode(x), x.shape)
        return torch.sigmoid(logits) if self.loss == "bce" else logits

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The training loss: reconstruct the clean ``x`` from its corrupted copy.

        ``"bce"`` is the cross-entropy summed over units (Hinton & Salakhutdinov's
        reconstruction error), ``"mse"`` the squared error summed over units, both averaged
        over the batch.
        """
        logits = self.decode_logits(self.encode(self.corrupt(x, generator)), x.shape)
        if self.loss == "bce":
            per_unit = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        else:
            per_unit = (logits - x) ** 2
        return per_unit.flatten(1).sum(1).mean()

    @torch.no_grad()
    def reconstruction_error(self, x: Tensor) -> Tensor:
        """Squared error of the clean reconstruction, summed over units, mean over the batch."""
        return ((self.reconstruct(x) - x) ** 2).flatten(1).sum(1).mean()
