"""Test-time occlusions of face images (DeepID2+ §7).

Sun, Wang and Tang ("Deeply learned face representations are sparse, selective, and robust",
CVPR 2015, §7) test networks trained on unoccluded faces with two kinds of occlusion applied
only at test time: 10–70 % of the face area covered, and random blocks of 10×10 to 70×70
pixels. The covered area grows from the chin upwards, so that at the largest occlusion only the
forehead and hair remain (the setting in which their 25-net system keeps 88.2 %). Here block
sides are fractions of the image's shorter side, so that the protocol scales with the input.

Block positions are a pure function of ``(seed, key)``: each image's key (e.g. its pair index
and slot) hashes to its position, so occlusions do not depend on batching or on the number of
processes, and no global random state is read or advanced.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["block_positions", "occlude_blocks", "occlude_bottom"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (Steele, Lea, Flood, OOPSLA 2014): a bijective 64-bit hash."""
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _uniform(keys: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """A uniform number in ``[0, 1)`` per key, a fixed function of ``(seed, stream, key)``."""
    salt = _splitmix64(np.array([seed * 2 + stream], dtype=np.uint64))
    bits = _splitmix64(keys.astype(np.uint64) ^ salt)
    return (bits >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def occlude_bottom(images: Tensor, fraction: float, fill: float = 0.0) -> Tensor:
    """Cover the bottom ``fraction`` of the rows of every image (a copy; the input is kept).

    Args:
        images: ``[B, C, H, W]`` batch.
        fraction: Covered share of the height, in ``[0, 1]``; the number of rows is rounded.
        fill: Value written into the covered pixels (0 is the mean face after the library's
            normalisation).

    Returns:
        The occluded copy.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    out = images.clone()
    rows = round(fraction * images.shape[-2])
    if rows:
        out[..., images.shape[-2] - rows :, :] = fill
    return out


def block_positions(
    keys: Tensor, side: int, height: int, width: int, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Top-left corners of ``side × side`` blocks inside a ``height × width`` image, per key.

    Args:
        keys: ``[B]`` non-negative integer keys, one per image.
        side: Block side in pixels (at most ``min(height, width)``).
        height: Image height.
        width: Image width.
        seed: Seed of the positions.

    Returns:
        ``(top, left)``, each ``[B]`` int64, uniform over the positions that keep the block
        inside the image.
    """
    if not 0 < side <= min(height, width):
        raise ValueError(f"side must be in [1, {min(height, width)}], got {side}")
    array = keys.detach().cpu().numpy().astype(np.int64)
    if (array < 0).any():
        raise ValueError("keys must be non-negative")
    top = np.floor(_uniform(array, seed, 0) * (height - side + 1)).astype(np.int64)
    left = np.floor(_uniform(array, seed, 1) * (width - side + 1)).astype(np.int64)
    return torch.from_numpy(top).to(keys.device), torch.from_numpy(left).to(keys.device)


def occlude_blocks(
    images: Tensor, side_fraction: float, keys: Tensor, seed: int = 0, fill: float = 0.0
) -> Tensor:
    """Cover one square block per image at a position drawn from its key (a copy).

    Args:
        images: ``[B, C, H, W]`` batch.
        side_fraction: Block side as a fraction of ``min(H, W)`` (rounded, at least one pixel),
            in ``(0, 1]``.
        keys: ``[B]`` non-negative integer key of each image (see :func:`block_positions`).
        seed: Seed of the positions.
        fill: Value written into the block.

    Returns:
        The occluded copy.
    """
    if not 0.0 < side_fraction <= 1.0:
        raise ValueError(f"side_fraction must be in (0, 1], got {side_fraction}")
    height, width = images.shape[-2:]
    if keys.shape != (images.shape[0],):
        raise ValueError(f"keys must be [{images.shape[0]}], got {tuple(keys.shape)}")
    side = max(1, round(side_fraction * min(height, width)))
    top, left = block_positions(keys, side, height, width, seed)
    rows = torch.arange(height, device=images.device).view(1, -1, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, -1)
    top, left = top.to(images.device).view(-1, 1, 1), left.to(images.device).view(-1, 1, 1)
    inside = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
    return images.masked_fill(inside.unsqueeze(1), fill)
