"""Locally connected 2-D convolution (no weight sharing across positions).

Used by DeepID (Sun, Wang, Tang, "Deep Learning Face Representation from Predicting 10,000
Classes", CVPR 2014), DeepID2 (Sun, Wang, Tang, "Deep Learning Face Representation by Joint
Identification-Verification", NIPS 2014) and DeepID2+ (CVPR 2015) for their last convolutional
layer, and by FIP (Zhu, Luo, Wang, Tang, ICCV 2013) throughout.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_deepvision.models.layers._filter_bank import RegionFilterBank, as_pair


class LocallyConnected2d(RegionFilterBank):
    r"""2-D convolution whose filters are *not* shared across output positions.

    Every output position :math:`(i, j)` has its own filter bank :math:`W_{ij}` and bias
    :math:`b_{ij}`:

    .. math::
        y_{o,i,j} = b_{ij,o} + \sum_{c, u, v} W_{ij,o,c,u,v}\, x_{c,\, i s_h + u,\, j s_w + v}

    This is the "locally connected" layer of DeepID/DeepID2/DeepID2+ (Sun, Wang, Tang,
    CVPR 2014, NIPS 2014, CVPR 2015), whose conv4 has no weight sharing at all because face
    regions differ in their statistics, and of FIP (Zhu et al., ICCV 2013).

    Because the filter banks are tied to positions, the input size is fixed at construction.
    The computation is vectorised: one strided view extracts all patches, one copy lays them out
    position-major, and one batched matrix multiply (with the bias fused in) applies every
    position's filters at once.

    Args:
        in_channels: Input channels ``C``.
        out_channels: Output channels ``O``.
        in_size: The input's spatial size ``(H, W)`` (before padding).
        kernel_size: Filter size, an int or ``(kh, kw)``.
        stride: Stride, an int or ``(sh, sw)``.
        padding: Zero padding on each side, an int or ``(ph, pw)``.
        bias: Whether each position has a learned bias.

    Attributes:
        weight: Shape ``(out_h, out_w, out_channels, in_channels, kh, kw)``.
        bias: Shape ``(out_h, out_w, out_channels)`` or ``None``.
        out_size: The output's spatial size ``(out_h, out_w)``.

    Raises:
        ValueError: If the output would be empty or an argument is not positive.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        in_size: int | Sequence[int],
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        self.in_size = as_pair(in_size, "in_size")
        out_h, out_w = (
            (n + 2 * p - k) // s + 1
            for n, p, k, s in zip(
                self.in_size, self.padding, self.kernel_size, self.stride, strict=True
            )
        )
        if out_h <= 0 or out_w <= 0:
            raise ValueError(
                f"LocallyConnected2d: input {self.in_size} with padding {self.padding} is smaller "
                f"than kernel {self.kernel_size}"
            )
        self.out_size = (out_h, out_w)
        # One filter bank per output position.
        self._create_filters(self.out_size, bias)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the position-wise filters.

        Args:
            x: Input of shape ``(B, in_channels, *in_size)``, any memory format.

        Returns:
            Output of shape ``(B, out_channels, *out_size)``. It is a view of the position-major
            matmul result (no extra copy); call ``.contiguous()`` if a dense layout is needed.

        Raises:
            ValueError: If the input's shape differs from ``(B, in_channels, *in_size)``.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[2:]) != self.in_size:
            raise ValueError(
                f"LocallyConnected2d expects input of shape (B, {self.in_channels}, "
                f"{self.in_size[0]}, {self.in_size[1]}) because its filters are tied to "
                f"positions; got {tuple(x.shape)}"
            )
        batch = x.shape[0]
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        out_h, out_w = self.out_size
        positions = out_h * out_w
        if ph or pw:
            x = F.pad(x, (pw, pw, ph, ph))
        # (B, C, out_h, out_w, kh, kw) is a strided view; the reshape is the one im2col copy,
        # written position-major so that the batched matmul below reads it without another copy.
        patches = x.unfold(2, kh, sh).unfold(3, kw, sw)
        cols = patches.permute(2, 3, 0, 1, 4, 5).reshape(positions, batch, self.fan_in)
        # (L, O, C*kh*kw) -> (L, C*kh*kw, O): a transposed view that BLAS consumes directly.
        weight = self.weight.view(positions, self.out_channels, self.fan_in).transpose(1, 2)
        if self.bias is not None:
            out = torch.baddbmm(self.bias.view(positions, 1, self.out_channels), cols, weight)
        else:
            out = torch.bmm(cols, weight)
        # (L, B, O) -> (B, O, out_h, out_w) as a view.
        return out.permute(1, 2, 0).unflatten(2, (out_h, out_w))

    def extra_repr(self) -> str:
        """Summarise the configuration for ``print(module)``."""
        return (
            f"{self.in_channels}, {self.out_channels}, in_size={self.in_size}, "
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"out_size={self.out_size}, bias={self.bias is not None}"
        )
