"""What the locally connected and locally shared convolutions have in common.

Both give each region of the output map its own filter bank instead of one shared by the whole
map: every output position in the locally connected layers of DeepID (Sun, Wang, Tang, CVPR
2014), DeepID2 (NIPS 2014), DeepID2+ (CVPR 2015) and FIP (Zhu et al., ICCV 2013); every cell of
a grid in DeepID2's locally shared conv3 and ANet's C3/C4 (Liu et al., ICCV 2015).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def as_pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """Return ``value`` as an ``(h, w)`` pair of ints, accepting an int or a length-2 sequence.

    Raises:
        ValueError: If ``value`` is a sequence of another length.
    """
    if isinstance(value, int):
        return (value, value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return (pair[0], pair[1])


class RegionFilterBank(nn.Module):
    """Base of the convolutions with one filter bank (and bias) per region of a grid.

    It validates and stores the convolution's geometry; :meth:`_create_filters` then allocates
    ``weight`` of shape ``(rows, cols, out_channels, in_channels, kh, kw)`` and ``bias`` of
    shape ``(rows, cols, out_channels)`` (or ``None``) and initialises them like
    :class:`torch.nn.Conv2d`, independently in every region.

    Args:
        in_channels: Input channels ``C``.
        out_channels: Output channels ``O``.
        kernel_size: Filter size, an int or ``(kh, kw)``.
        stride: Stride, an int or ``(sh, sw)``.
        padding: Zero padding on each side, an int or ``(ph, pw)``.

    Raises:
        ValueError: If a channel count, the kernel size or the stride is not positive, or the
            padding is negative.
    """

    weight: nn.Parameter
    bias: nn.Parameter | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int],
        padding: int | Sequence[int],
    ) -> None:
        super().__init__()
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(
                f"in_channels and out_channels must be positive, got {in_channels}, {out_channels}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = as_pair(stride, "stride")
        self.padding = as_pair(padding, "padding")
        if min(self.kernel_size) <= 0 or min(self.stride) <= 0 or min(self.padding) < 0:
            raise ValueError(
                f"kernel_size and stride must be positive and padding non-negative, got "
                f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
            )

    def _create_filters(self, regions: tuple[int, int], bias: bool) -> None:
        """Allocate one filter bank (and bias) for each of ``rows x cols`` regions, initialised."""
        rows, cols = regions
        kh, kw = self.kernel_size
        self.weight = nn.Parameter(
            torch.empty(rows, cols, self.out_channels, self.in_channels, kh, kw)
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(rows, cols, self.out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    @property
    def fan_in(self) -> int:
        """Inputs seen by one output unit: ``in_channels * kh * kw``."""
        return self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    def reset_parameters(self) -> None:
        """Initialise like :class:`torch.nn.Conv2d`, independently in every region."""
        # nn.Conv2d's kaiming_uniform_(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in));
        # computing the bound directly avoids nn.init's fan calculation, which would misread
        # the 6-D weight (it takes dim 1 as the input dimension).
        bound = 1.0 / math.sqrt(self.fan_in)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)
