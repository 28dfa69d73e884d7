"""Locally shared 2-D convolution: weights shared within, not across, the cells of a grid.

DeepID2 (Sun, Wang, Tang, "Deep Learning Face Representation by Joint
Identification-Verification", NIPS 2014) shares conv3's weights "in every 2x2 local regions";
ANet (Liu, Luo, Wang, Tang, "Deep Learning Face Attributes in the Wild", ICCV 2015) splits the
response maps of C3 and C4 "into non-overlapping grid cells, each with its own filters".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_deepvision.models.layers._filter_bank import RegionFilterBank, as_pair


def _split(size: int, parts: int) -> tuple[list[int], list[int]]:
    """Return the starts and sizes of ``torch.tensor_split(range(size), parts)``."""
    # tensor_split gives the first ``size % parts`` pieces one extra element. ``int``: under
    # ``torch.jit.trace`` a map size arrives as a 0-d tensor, which ``divmod`` does not take.
    base, extra = divmod(int(size), parts)
    sizes = [base + 1] * extra + [base] * (parts - extra)
    starts = [sum(sizes[:i]) for i in range(parts)]
    return starts, sizes


class LocallySharedConv2d(RegionFilterBank):
    r"""Convolution with one filter bank per cell of a grid over the output map.

    Interpretation of DeepID2's conv3 ("weights locally shared in every 2x2 local regions",
    Sun, Wang, Tang, NIPS 2014) and of ANet's C3/C4 ("response maps split into non-overlapping
    grid cells, each with its own filters", Liu et al., ICCV 2015) — the papers do not pin it
    down, so the grid is a parameter:

    * the *output* map of size ``(out_h, out_w)`` is split into ``grid = (gh, gw)`` cells as
      evenly as possible, with :func:`torch.tensor_split` semantics (the first
      ``out_h % gh`` cell rows are one taller, likewise for columns);
    * every cell has its own filters and bias, shared by all output positions inside the cell;
    * a cell's outputs are computed from the input region under it plus the kernel's halo, so
      each output unit sees exactly the inputs an ordinary convolution's unit would.

    ``grid=(1, 1)`` is an ordinary :class:`torch.nn.Conv2d`; a grid equal to the output size is
    a locally connected layer. Unlike :class:`LocallyConnected2d`, any input size works because
    the grid is defined relative to the output map.

    The cost is one ordinary convolution, not one per cell: each cell's input window is sliced
    (all windows padded to the largest cell's size), the windows are stacked along the channel
    dimension, and a single grouped convolution with ``groups = gh * gw`` runs over them before
    the cells are put back together.

    Args:
        in_channels: Input channels ``C``.
        out_channels: Output channels ``O``.
        kernel_size: Filter size, an int or ``(kh, kw)``.
        grid: Number of cells ``(gh, gw)`` along the output's height and width (or one int).
        stride: Stride, an int or ``(sh, sw)``.
        padding: Zero padding on each side of the input, an int or ``(ph, pw)``.
        bias: Whether each cell has a learned bias.

    Attributes:
        weight: Shape ``(gh, gw, out_channels, in_channels, kh, kw)``.
        bias: Shape ``(gh, gw, out_channels)`` or ``None``.

    Raises:
        ValueError: If an argument is not positive (the padding: negative).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        grid: int | Sequence[int] = (2, 2),
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        self.grid = as_pair(grid, "grid")
        if min(self.grid) <= 0:
            raise ValueError(f"grid must be positive, got {self.grid}")
        # One filter bank per cell of the grid.
        self._create_filters(self.grid, bias)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Return the output's spatial size for an input of ``height x width``."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1

    def forward(self, x: Tensor) -> Tensor:
        """Apply each cell's filters to the input under that cell.

        Args:
            x: Input of shape ``(B, in_channels, H, W)``; channels-last inputs give
                channels-last outputs.

        Returns:
            Output of shape ``(B, out_channels, out_h, out_w)``.

        Raises:
            ValueError: If the input has the wrong rank or channel count, or if the output map
                is smaller than the grid (some cell would be empty).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"LocallySharedConv2d expects input of shape (B, {self.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        gh, gw = self.grid
        cells = gh * gw
        height, width = x.shape[-2:]
        out_h, out_w = self.output_size(height, width)
        if out_h < gh or out_w < gw:
            raise ValueError(
                f"LocallySharedConv2d: output map {out_h}x{out_w} (input {height}x{width}) is "
                f"smaller than the grid {gh}x{gw}; every cell needs at least one output position"
            )
        weight = self.weight.view(cells * self.out_channels, self.in_channels, *self.kernel_size)
        bias = None if self.bias is None else self.bias.view(cells * self.out_channels)
        if cells == 1:
            return F.conv2d(x, weight, bias, self.stride, self.padding)

        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        row_starts, row_sizes = _split(out_h, gh)
        col_starts, col_sizes = _split(out_w, gw)
        # The first cell is the largest; every window is cut to its size so that one grouped
        # convolution covers all cells. Smaller cells compute a few surplus outputs, dropped
        # below; the last windows may reach past the input, hence the extra zero padding.
        cell_h, cell_w = row_sizes[0], col_sizes[0]
        win_h, win_w = (cell_h - 1) * sh + kh, (cell_w - 1) * sw + kw
        extra_h = max(0, row_starts[-1] * sh + win_h - (height + 2 * ph))
        extra_w = max(0, col_starts[-1] * sw + win_w - (width + 2 * pw))
        if ph or pw or extra_h or extra_w:
            x = F.pad(x, (pw, pw + extra_w, ph, ph + extra_h))

        # Keep the caller's memory format: oneDNN convolutions are fastest channels-last, and
        # switching layouts would cost a copy of its own.
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not (
            x.is_contiguous()
        )
        # One slice per cell (not one strided unfold, whose backward measured slower on CPU).
        if channels_last:
            nhwc = x.permute(0, 2, 3, 1)
            cuts = [
                nhwc[:, r * sh : r * sh + win_h, c * sw : c * sw + win_w]
                for r in row_starts
                for c in col_starts
            ]
            # (B, win_h, win_w, cells, C) -> channels-last (B, cells * C, win_h, win_w)
            stacked = torch.stack(cuts, dim=3).flatten(3).permute(0, 3, 1, 2)
        else:
            cuts = [
                x[:, :, r * sh : r * sh + win_h, c * sw : c * sw + win_w]
                for r in row_starts
                for c in col_starts
            ]
            stacked = torch.stack(cuts, dim=1).flatten(1, 2)
        out = F.conv2d(stacked, weight, bias, self.stride, groups=cells)

        batch = out.shape[0]
        if len(set(row_sizes)) == 1 and len(set(col_sizes)) == 1:
            # Even split: the cells tile the output exactly, so one permuting copy reassembles.
            grid_out = out.unflatten(1, (gh, gw, self.out_channels))
            if channels_last:
                # (B, gh, cell_h, gw, cell_w, O) -> (B, out_h, out_w, O), viewed as NCHW.
                dense = grid_out.permute(0, 1, 4, 2, 5, 3).reshape(
                    batch, out_h, out_w, self.out_channels
                )
                return dense.permute(0, 3, 1, 2)
            return grid_out.permute(0, 3, 1, 4, 2, 5).reshape(
                batch, self.out_channels, out_h, out_w
            )
        # Uneven split: crop each cell's surplus outputs, then concatenate rows of cells.
        per_cell = out.split(self.out_channels, dim=1)
        rows = [
            torch.cat(
                [per_cell[i * gw + j][:, :, : row_sizes[i], : col_sizes[j]] for j in range(gw)],
                dim=3,
            )
            for i in range(gh)
        ]
        return torch.cat(rows, dim=2)

    def extra_repr(self) -> str:
        """Summarise the configuration for ``print(module)``."""
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"grid={self.grid}, stride={self.stride}, padding={self.padding}, "
            f"bias={self.bias is not None}"
        )
