"""AlexNet exactly as published, in its single-tower and two-GPU (grouped) forms.

Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012.

torchvision's ``alexnet`` is a different network (the later single-GPU variant of "One weird
trick", Krizhevsky 2014: 64/192/384/256/256 kernels, no response normalisation, adaptive
pooling, dropout before the FC layers), so this one is built from the paper:

* input 227×227 (the paper's "224" does not fit its own stride-4 arithmetic; 227 does);
* conv1 96×11×11 stride 4 → 55×55; conv2 256×5×5 (pad 2) → 27×27; conv3 384, conv4 384,
  conv5 256, all 3×3 (pad 1) → 13×13;
* ReLU after every conv and FC layer; response normalisation (:class:`LocalResponseNorm`,
  k = 2, n = 5, α = 1e-4, β = 0.75) after the ReLU of conv1 and conv2; overlapping 3×3 stride-2
  max-pooling after both normalisations and after conv5 → 6×6×256 = 9216;
* fc6 and fc7 of 4096 units with dropout 0.5 on their outputs, fc8 with 1000 outputs;
* weights N(0, 0.01); biases 1 in conv2, conv4, conv5 and the fully-connected hidden layers
  (fc6, fc7), 0 in conv1, conv3 and fc8 (§5).

With ``groups=2`` conv2, conv4 and conv5 see only the kernel maps on their own GPU (the
48/192/192-deep kernels of Fig. 2) and each GPU normalises its own maps; conv3 and the FC layers
are connected across GPUs. Parameters: 62,378,344 single tower, 60,965,224 grouped.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor, nn

from lightning_deepvision.models.layers._filter_bank import as_pair
from lightning_deepvision.models.layers.classifier import LinearClassifierNet
from lightning_deepvision.models.layers.response_norm import LocalResponseNorm
from lightning_deepvision.models.registry import register_model

__all__ = ["PAPER_CHANNELS", "AlexNet", "alexnet", "alexnet_tiny"]

#: Kernel maps of conv1..conv5 in the paper (both GPUs together).
PAPER_CHANNELS: tuple[int, int, int, int, int] = (96, 256, 384, 384, 256)
_TINY_CHANNELS: tuple[int, int, int, int, int] = (8, 16, 24, 24, 16)

Init = Literal["paper", "kaiming"]
# The layers whose biases the paper initialises to 1, "which accelerates the early stages of
# learning by providing the ReLUs with positive inputs" (§5).
_UNIT_BIAS = frozenset({"conv2", "conv4", "conv5", "fc6", "fc7"})


def _conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class AlexNet(LinearClassifierNet):
    """The network of Krizhevsky, Sutskever, Hinton (NIPS 2012), configurable from plain types.

    The conv trunk is :attr:`features` (``conv1`` … ``pool5``, named as in the paper and in
    Caffe), the hidden FC layers are :attr:`pre_logits` (``fc6``/``fc7`` with ReLU and dropout)
    and the classifier fc8 is :attr:`head`. Following timm's contract,
    :meth:`forward_features` returns the top hidden layer (fc7 after ReLU and dropout, the
    4096-d feature the paper uses for retrieval, §6.1), :attr:`num_features` is its width and
    :meth:`forward_head` applies fc8; ``features(x)`` gives the pool5 maps.

    ``forward_head``, ``get_classifier`` and ``reset_classifier`` (fc8: N(0, 0.01), zero bias, as
    the paper) come from :class:`LinearClassifierNet`.

    Dropout is torch's inverted dropout (outputs scaled by 2 in training), equal in expectation
    to the paper's "multiply the outputs by 0.5 at test time".

    Args:
        num_classes: Outputs of fc8 (1000 for ILSVRC; 0: no classifier, ``forward`` returns
            the fc7 features).
        in_chans: Input channels.
        input_size: Input side (or ``(H, W)``); fixed, because fc6 reads the whole pool5 map.
        groups: 1 for the single tower; 2 for the paper's two-GPU connectivity (conv2, conv4,
            conv5 and the response normalisation split into two halves).
        channels: Kernel maps of conv1..conv5.
        hidden_features: Width of fc6 and fc7.
        dropout: Dropout probability on the outputs of fc6 and fc7.
        lrn_size: ``n`` of the response normalisation (adjacent maps summed over).
        lrn_alpha: ``α`` of the paper's formula (not divided by ``n``, unlike torch's layer).
        lrn_beta: ``β``.
        lrn_k: ``k``.
        init: ``"paper"`` (weights N(0, 0.01), unit biases as listed above) or ``"kaiming"``
            (He-normal weights for the ReLU layers and zero biases, which trains faster from
            scratch in small settings; the classifier is N(0, 0.01) either way).

    Attributes:
        map_sizes: ``(H, W)`` of every conv and pooling output, e.g. ``map_sizes["pool5"]``.

    Raises:
        ValueError: If the configuration is malformed or the input too small for the trunk.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        input_size: int | Sequence[int] = 227,
        groups: int = 1,
        channels: Sequence[int] = PAPER_CHANNELS,
        hidden_features: int = 4096,
        dropout: float = 0.5,
        lrn_size: int = 5,
        lrn_alpha: float = 1e-4,
        lrn_beta: float = 0.75,
        lrn_k: float = 2.0,
        init: Init = "paper",
    ) -> None:
        super().__init__()
        widths = [int(c) for c in channels]
        if len(widths) != 5 or min(widths) < 1:
            raise ValueError(f"channels needs 5 positive entries (conv1..conv5), got {channels}")
        if groups < 1 or any(c % groups for c in widths):
            raise ValueError(
                f"groups must be positive and divide every entry of channels {widths}, got {groups}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if in_chans < 1 or hidden_features < 1 or num_classes < 0:
            raise ValueError(
                f"in_chans and hidden_features must be positive and num_classes >= 0, got "
                f"{in_chans}, {hidden_features}, {num_classes}"
            )
        if init not in ("paper", "kaiming"):
            raise ValueError(f"init must be 'paper' or 'kaiming', got {init!r}")
        self.in_chans = in_chans
        self.input_size = as_pair(input_size, "input_size")
        self.groups = groups
        self.channels = widths
        self.init = init
        self.map_sizes = self._map_sizes()

        c1, c2, c3, c4, c5 = widths

        def norm() -> LocalResponseNorm:
            return LocalResponseNorm(lrn_size, lrn_alpha, lrn_beta, lrn_k, groups=groups)

        def pool() -> nn.MaxPool2d:
            # Overlapping pooling (s = 2 < z = 3) lowered the paper's top-1/top-5 error by
            # 0.4 % / 0.3 % against s = z = 2 (§3.4).
            return nn.MaxPool2d(kernel_size=3, stride=2)

        # conv1 and conv3 take every input map (conv1 sees the image on both GPUs; conv3 is
        # the layer connected across GPUs); the others only their own GPU's half.
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(in_chans, c1, 11, stride=4),
                relu1=nn.ReLU(inplace=True),
                norm1=norm(),
                pool1=pool(),
                conv2=nn.Conv2d(c1, c2, 5, padding=2, groups=groups),
                relu2=nn.ReLU(inplace=True),
                norm2=norm(),
                pool2=pool(),
                conv3=nn.Conv2d(c2, c3, 3, padding=1),
                relu3=nn.ReLU(inplace=True),
                conv4=nn.Conv2d(c3, c4, 3, padding=1, groups=groups),
                relu4=nn.ReLU(inplace=True),
                conv5=nn.Conv2d(c4, c5, 3, padding=1, groups=groups),
                relu5=nn.ReLU(inplace=True),
                pool5=pool(),
            )
        )
        pool_h, pool_w = self.map_sizes["pool5"]
        self.pre_logits = nn.Sequential(
            OrderedDict(
                flatten=nn.Flatten(1),
                fc6=nn.Linear(c5 * pool_h * pool_w, hidden_features),
                relu6=nn.ReLU(inplace=True),
                drop6=nn.Dropout(dropout),
                fc7=nn.Linear(hidden_features, hidden_features),
                relu7=nn.ReLU(inplace=True),
                drop7=nn.Dropout(dropout),
            )
        )
        self.num_features = hidden_features
        self.num_classes = num_classes
        self.head: nn.Module = nn.Identity()
        self._init_weights()
        self.reset_classifier(num_classes)

    def _map_sizes(self) -> dict[str, tuple[int, int]]:
        sizes: dict[str, tuple[int, int]] = {}
        height, width = self.input_size
        # (name, kernel, stride, padding) in the order of the trunk.
        for name, kernel, stride, padding in (
            ("conv1", 11, 4, 0),
            ("pool1", 3, 2, 0),
            ("conv2", 5, 1, 2),
            ("pool2", 3, 2, 0),
            ("conv3", 3, 1, 1),
            ("conv4", 3, 1, 1),
            ("conv5", 3, 1, 1),
            ("pool5", 3, 2, 0),
        ):
            height = _conv_out(height, kernel, stride, padding)
            width = _conv_out(width, kernel, stride, padding)
            if height < 1 or width < 1:
                raise ValueError(
                    f"input_size {self.input_size} is too small for AlexNet: {name} would be "
                    f"{height}x{width} (the smallest input is 67x67)"
                )
            sizes[name] = (height, width)
        return sizes

    def _init_weights(self) -> None:
        layers = [*self.features.named_children(), *self.pre_logits.named_children()]
        for name, module in layers:
            if not isinstance(module, (nn.Conv2d, nn.Linear)) or module.bias is None:
                continue
            if self.init == "paper":
                # §5: "zero-mean Gaussian distribution with standard deviation 0.01".
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.constant_(module.bias, 1.0 if name in _UNIT_BIAS else 0.0)
            else:
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_chans or tuple(x.shape[2:]) != self.input_size:
            raise ValueError(
                f"AlexNet expects input of shape (B, {self.in_chans}, {self.input_size[0]}, "
                f"{self.input_size[1]}) (set input_size/in_chans to change it); got "
                f"{tuple(x.shape)}"
            )

    def forward_features(self, x: Tensor) -> Tensor:
        """Return the top hidden layer (fc7 after ReLU and dropout), ``(B, num_features)``."""
        self._check_input(x)
        return self.pre_logits(self.features(x))


@register_model("alexnet")
def alexnet(
    pretrained: bool = False,
    *,
    num_classes: int = 1000,
    in_chans: int = 3,
    input_size: int | Sequence[int] = 227,
    groups: int = 1,
    channels: Sequence[int] = PAPER_CHANNELS,
    hidden_features: int = 4096,
    dropout: float = 0.5,
    lrn_size: int = 5,
    lrn_alpha: float = 1e-4,
    lrn_beta: float = 0.75,
    lrn_k: float = 2.0,
    init: Init = "paper",
) -> AlexNet:
    """AlexNet (Krizhevsky, Sutskever, Hinton, NIPS 2012); ``groups=2`` for the two-GPU form.

    Args:
        pretrained: Must be False: torchvision's ImageNet weights belong to a different
            network (see the module docstring), and the paper's were never released in torch.
        num_classes: Outputs of fc8.
        in_chans: Input channels.
        input_size: Input side or ``(H, W)``.
        groups: 1 (single tower) or 2 (two-GPU connectivity).
        channels: Kernel maps of conv1..conv5.
        hidden_features: Width of fc6 and fc7.
        dropout: Dropout on the outputs of fc6 and fc7.
        lrn_size: ``n`` of the response normalisation.
        lrn_alpha: ``α`` of the response normalisation (the paper's, not divided by ``n``).
        lrn_beta: ``β`` of the response normalisation.
        lrn_k: ``k`` of the response normalisation.
        init: ``"paper"`` or ``"kaiming"``, see :class:`AlexNet`.
    """
    if pretrained:
        raise ValueError(
            "no pretrained weights exist for the paper's AlexNet in torch (torchvision's "
            "'alexnet' weights are for a different network); use pretrained=False"
        )
    return AlexNet(
        num_classes=num_classes,
        in_chans=in_chans,
        input_size=input_size,
        groups=groups,
        channels=channels,
        hidden_features=hidden_features,
        dropout=dropout,
        lrn_size=lrn_size,
        lrn_alpha=lrn_alpha,
        lrn_beta=lrn_beta,
        lrn_k=lrn_k,
        init=init,
    )


_TINY: dict[str, Any] = {"channels": _TINY_CHANNELS, "hidden_features": 64}


@register_model("alexnet_tiny")
def alexnet_tiny(pretrained: bool = False, **kwargs: Any) -> AlexNet:
    """AlexNet's topology and 227×227 input with 8-24 kernel maps and 64-d fc6/fc7, for tests.

    Takes every argument of :func:`alexnet` (its signature lists them, with these defaults).
    """
    return alexnet(pretrained, **{**_TINY, **kwargs})


# The registry reads a builder's signature to check the arguments it is given: declare
# alexnet's, with the tiny defaults, rather than a catch-all **kwargs.
alexnet_tiny.__signature__ = inspect.signature(alexnet).replace(  # type: ignore[attr-defined]
    parameters=[
        p.replace(default=_TINY.get(p.name, p.default))
        for p in inspect.signature(alexnet).parameters.values()
    ],
    return_annotation=AlexNet,
)
