"""The fully connected networks of the 2006 deep-learning papers, built for layer-wise pre-training.

* :class:`MLP`: the DBN-style classifier of Hinton, Osindero, Teh, "A Fast Learning Algorithm
  for Deep Belief Nets", Neural Computation 2006 (784-500-500-2000 logistic units, then a
  10-way softmax; ``mnistclassify.m`` / ``backpropclassify.m``).
* :class:`DeepAutoencoder`: the 784-1000-500-250-30 auto-encoder of Hinton & Salakhutdinov,
  "Reducing the Dimensionality of Data with Neural Networks", Science 2006: logistic units
  everywhere except the linear 30-d code, the decoder mirroring the encoder
  (``mnistdeepauto.m``, ``backprop.m``).

Each hidden layer is an ``nn.Linear`` named ``layers.<i>`` (``encoder.<i>`` / ``decoder.<i>``),
followed by its non-linearity in ``forward``, so that
:class:`~lightning_deepvision.callbacks.LayerwisePretraining` finds the layers by name and
trains each on the previous layer's outputs; the decoder layer ``decoder.<n-1-i>`` is the
mirror of ``encoder.<i>`` (its weight is the transpose, its bias the RBM's visible bias).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from torch import Tensor, nn

from lightning_deepvision.models.layers.autoencoder import ACTIVATIONS, Activation
from lightning_deepvision.models.layers.classifier import LinearClassifierNet
from lightning_deepvision.models.registry import register_model

__all__ = [
    "DBN_HIDDEN",
    "DEEP_AUTOENCODER_HIDDEN",
    "MLP",
    "DeepAutoencoder",
    "dbn_mlp",
    "dbn_mlp_tiny",
    "deep_autoencoder",
    "deep_autoencoder_tiny",
]

#: Hidden layers of Hinton's DBN classifier for MNIST.
DBN_HIDDEN: tuple[int, ...] = (500, 500, 2000)
#: Encoder layers of the Science paper's MNIST auto-encoder (the last is the linear code).
DEEP_AUTOENCODER_HIDDEN: tuple[int, ...] = (1000, 500, 250, 30)


def _input_features(in_chans: int, input_size: int | Sequence[int]) -> int:
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    return int(in_chans * math.prod(size))


def _linear_stack(sizes: Sequence[int], init_std: float) -> nn.ModuleList:
    """``Linear`` layers between consecutive ``sizes``: weights 0.1·N(0, 1), zero biases (rbm.m)."""
    linears = [nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
    for layer in linears:
        nn.init.normal_(layer.weight, 0.0, init_std)
        nn.init.zeros_(layer.bias)
    return nn.ModuleList(linears)


class MLP(LinearClassifierNet):
    """A flattening multi-layer perceptron with logistic hidden units (a DBN's recognition net).

    Args:
        in_features: Input units (the flattened image).
        hidden_sizes: Width of each hidden layer (``layers.0``, ``layers.1``, …).
        num_classes: Classes of the softmax layer ``head`` (0: none, ``forward`` returns the
            top hidden layer).
        activation: Non-linearity of the hidden layers (logistic in the paper).
        init_std: Standard deviation of the initial weights (Hinton: 0.1).
        dropout: Dropout on each hidden layer's output (0 in the paper).
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int] = DBN_HIDDEN,
        num_classes: int = 10,
        activation: Activation = "sigmoid",
        init_std: float = 0.1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not hidden_sizes:
            raise ValueError("hidden_sizes must name at least one layer")
        self.layers = _linear_stack([in_features, *hidden_sizes], init_std)
        self.activation = activation
        self.dropout = nn.Dropout(dropout)
        self.num_features = int(hidden_sizes[-1])
        self.reset_classifier(num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """The top hidden layer ``(B, hidden_sizes[-1])`` of a batch of images or vectors."""
        x = x.flatten(1)
        act = ACTIVATIONS[self.activation]
        for layer in self.layers:
            x = self.dropout(act(layer(x)))
        return x


class DeepAutoencoder(nn.Module):
    """An encoder of logistic layers with a linear code, and the mirrored logistic decoder.

    Args:
        in_features: Input units (the flattened image).
        hidden_sizes: Encoder widths; the last is the code (linear units).
        output_shape: Shape of one reconstruction, e.g. ``(1, 28, 28)``; default
            ``(in_features,)``.
        activation: Non-linearity of the hidden layers (logistic in the paper).
        init_std: Standard deviation of the initial weights.

    Attributes:
        encoder: ``Linear`` layers ``in → hidden_sizes``.
        decoder: ``Linear`` layers back to ``in_features``; ``decoder.<n-1-i>`` mirrors
            ``encoder.<i>``.
        num_features: The code size.
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int] = DEEP_AUTOENCODER_HIDDEN,
        output_shape: Sequence[int] | None = None,
        activation: Activation = "sigmoid",
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        if not hidden_sizes:
            raise ValueError("hidden_sizes must name at least one layer")
        sizes = [in_features, *hidden_sizes]
        self.encoder = _linear_stack(sizes, init_std)
        self.decoder = _linear_stack(sizes[::-1], init_std)
        self.activation = activation
        self.output_shape = tuple(output_shape) if output_shape else (in_features,)
        if math.prod(self.output_shape) != in_features:
            raise ValueError(f"output_shape {self.output_shape} does not hold {in_features} units")
        self.num_features = int(hidden_sizes[-1])

    def encode(self, x: Tensor) -> Tensor:
        """The code ``(B, num_features)``: logistic layers, then the linear code layer."""
        x = x.flatten(1)
        act = ACTIVATIONS[self.activation]
        for index, layer in enumerate(self.encoder):
            x = layer(x)
            if index < len(self.encoder) - 1:
                x = act(x)
        return x

    def decode(self, code: Tensor) -> Tensor:
        """The reconstruction's logits, shaped ``(B, *output_shape)`` (apply a sigmoid)."""
        x = code
        act = ACTIVATIONS[self.activation]
        for index, layer in enumerate(self.decoder):
            x = layer(x)
            if index < len(self.decoder) - 1:
                x = act(x)
        return x.view(x.shape[0], *self.output_shape)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction logits of a batch, ``(B, *output_shape)``."""
        return self.decode(self.encode(x))

    def forward_features(self, x: Tensor) -> Tensor:
        """The code (the features of this network)."""
        return self.encode(x)


@register_model("dbn_mlp")
def dbn_mlp(
    pretrained: bool = False,
    *,
    num_classes: int = 10,
    in_chans: int = 1,
    input_size: int | Sequence[int] = 28,
    hidden_sizes: Sequence[int] = DBN_HIDDEN,
    activation: Activation = "sigmoid",
    init_std: float = 0.1,
    dropout: float = 0.0,
) -> MLP:
    """Hinton's DBN classifier network, 784-500-500-2000-10 for 28×28 grey digits.

    Raises:
        ValueError: If ``pretrained`` (no weights are distributed).
    """
    if pretrained:
        raise ValueError(
            "dbn_mlp has no pretrained weights: pre-train it with LayerwisePretraining"
        )
    return MLP(
        _input_features(in_chans, input_size),
        hidden_sizes,
        num_classes,
        activation=activation,
        init_std=init_std,
        dropout=dropout,
    )


@register_model("dbn_mlp_tiny")
def dbn_mlp_tiny(
    pretrained: bool = False,
    *,
    num_classes: int = 10,
    in_chans: int = 1,
    input_size: int | Sequence[int] = 28,
    hidden_sizes: Sequence[int] = (32, 32, 64),
    activation: Activation = "sigmoid",
    init_std: float = 0.1,
    dropout: float = 0.0,
) -> MLP:
    """:func:`dbn_mlp` with 32-32-64 hidden units, for tests."""
    return dbn_mlp(
        pretrained,
        num_classes=num_classes,
        in_chans=in_chans,
        input_size=input_size,
        hidden_sizes=hidden_sizes,
        activation=activation,
        init_std=init_std,
        dropout=dropout,
    )


@register_model("deep_autoencoder")
def deep_autoencoder(
    pretrained: bool = False,
    *,
    in_chans: int = 1,
    input_size: int | Sequence[int] = 28,
    hidden_sizes: Sequence[int] = DEEP_AUTOENCODER_HIDDEN,
    activation: Activation = "sigmoid",
    init_std: float = 0.1,
) -> DeepAutoencoder:
    """The Science paper's 784-1000-500-250-30 auto-encoder for 28×28 grey digits.

    Raises:
        ValueError: If ``pretrained`` (no weights are distributed).
    """
    if pretrained:
        raise ValueError("deep_autoencoder has no pretrained weights")
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    return DeepAutoencoder(
        _input_features(in_chans, size),
        hidden_sizes,
        output_shape=(in_chans, *size),
        activation=activation,
        init_std=init_std,
    )


@register_model("deep_autoencoder_tiny")
def deep_autoencoder_tiny(
    pretrained: bool = False,
    *,
    in_chans: int = 1,
    input_size: int | Sequence[int] = 28,
    hidden_sizes: Sequence[int] = (64, 32, 16, 8),
    activation: Activation = "sigmoid",
    init_std: float = 0.1,
) -> DeepAutoencoder:
    """:func:`deep_autoencoder` with 64-32-16-8 units, for tests."""
    return deep_autoencoder(
        pretrained,
        in_chans=in_chans,
        input_size=input_size,
        hidden_sizes=hidden_sizes,
        activation=activation,
        init_std=init_std,
    )
