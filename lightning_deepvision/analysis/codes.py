"""Binary activation codes and the sparsity they show (DeepID2+ §5 and Table 4).

Sun, Wang and Tang ("Deeply learned face representations are sparse, selective, and robust",
CVPR 2015) threshold the 512 FC-4 activations of a face at zero: about half the neurons are
active on each image (292 ± 34 of 512) and each neuron is active on about half the images
(26,565 ± 5,754 of 46,594), and the binary codes verify nearly as well as the real values
(Hamming distance: 96.45 % on LFW for one net, against 98.70 % for the real values with Joint
Bayesian).

Codes are kept packed, eight neurons a byte, so that an evaluation can store the code of every
image it sees (64 bytes a 512-d image) and count exactly, on one process or gathered from many,
instead of approximating from running sums that could not drop the samples a padded
distributed sampler repeats.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "SparsityStats",
    "hamming_distance",
    "pack_codes",
    "unpack_codes",
]

_BIT_WEIGHTS = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8)
# Number of set bits of every byte value.
_POPCOUNT = torch.tensor([bin(value).count("1") for value in range(256)], dtype=torch.uint8)


def pack_codes(active: Tensor) -> Tensor:
    """Pack a boolean code ``[..., D]`` into ``[..., ceil(D / 8)]`` bytes (neuron 0 in bit 0).

    Args:
        active: Boolean (or 0/1) tensor, the last dimension the neurons.

    Returns:
        ``uint8`` tensor on the same device.
    """
    active = active.to(torch.bool)
    width = active.shape[-1]
    padding = (-width) % 8
    if padding:
        active = torch.nn.functional.pad(active, (0, padding))
    bytes_ = active.shape[-1] // 8
    bits = active.reshape(-1, 8).to(torch.float32)
    # A float matrix-vector product is exact here (sums of distinct powers of two up to 255)
    # and several times quicker on the CPU than the same weighted sum in uint8.
    weights = _BIT_WEIGHTS.to(device=bits.device, dtype=torch.float32)
    return (bits @ weights).to(torch.uint8).reshape(*active.shape[:-1], bytes_)


def unpack_codes(packed: Tensor, num_neurons: int) -> Tensor:
    """Inverse of :func:`pack_codes`: ``[..., ceil(D / 8)]`` bytes to a ``[..., D]`` bool code."""
    if packed.shape[-1] * 8 < num_neurons:
        raise ValueError(
            f"{packed.shape[-1]} bytes hold at most {packed.shape[-1] * 8} neurons, "
            f"not {num_neurons}"
        )
    bits = (packed.unsqueeze(-1) & _BIT_WEIGHTS.to(packed.device)) != 0
    return bits.flatten(-2)[..., :num_neurons]


def hamming_distance(packed1: Tensor, packed2: Tensor) -> Tensor:
    """Number of differing neurons of corresponding packed codes (``int64``, shape ``[...]``).

    ``-hamming_distance(a, b) / D`` is the ``"hamming"`` score of
    :func:`~lightning_deepvision.metrics.pair_scores` on the unpacked codes.
    """
    if packed1.shape != packed2.shape:
        raise ValueError(
            f"codes must have the same shape, got {tuple(packed1.shape)} and {tuple(packed2.shape)}"
        )
    differ = torch.bitwise_xor(packed1, packed2).long()
    return _POPCOUNT.to(packed1.device)[differ].sum(dim=-1, dtype=torch.int64)


@dataclass
class SparsityStats:
    """Running counts of active neurons: per image and per neuron (DeepID2+ §5).

    Memory is ``O(D)`` whatever the number of images: the number of images each neuron was
    active on, and the histogram of the number of neurons active per image. Feed it boolean
    codes with :meth:`update` (or packed ones with :meth:`update_packed`) and read
    :meth:`summary`.

    Args:
        num_neurons: ``D``, the width of the layer.
    """

    num_neurons: int

    def __post_init__(self) -> None:
        if self.num_neurons <= 0:
            raise ValueError(f"num_neurons must be positive, got {self.num_neurons}")
        self.images = 0
        self.neuron_counts = torch.zeros(self.num_neurons, dtype=torch.int64)
        self.active_histogram = torch.zeros(self.num_neurons + 1, dtype=torch.int64)

    def update(self, active: Tensor) -> None:
        """Count a batch of ``[B, D]`` boolean codes."""
        if active.ndim != 2 or active.shape[1] != self.num_neurons:
            raise ValueError(
                f"expected codes of shape [B, {self.num_neurons}], got {tuple(active.shape)}"
            )
        active = active.to(torch.bool).cpu()
        self.images += active.shape[0]
        self.neuron_counts += active.sum(dim=0)
        self.active_histogram += torch.bincount(active.sum(dim=1), minlength=self.num_neurons + 1)

    def update_packed(self, packed: Tensor, chunk: int = 4096) -> None:
        """Count ``[B, ceil(D / 8)]`` packed codes, ``chunk`` images at a time."""
        for start in range(0, packed.shape[0], chunk):
            self.update(unpack_codes(packed[start : start + chunk], self.num_neurons))

    @property
    def active_fraction_per_neuron(self) -> Tensor:
        """Fraction of the images each neuron was active on (``[D]``, float64)."""
        return self.neuron_counts.double() / max(self.images, 1)

    def summary(self) -> dict[str, float]:
        """Mean ± std (over images / over neurons) of the active counts, as in DeepID2+ §5.

        Returns:
            ``images``, ``neurons``; ``active_per_image_mean`` / ``_std`` (neurons active on an
            image) and ``active_fraction_per_image_mean`` / ``_std`` (the same over ``D``);
            ``images_per_neuron_mean`` / ``_std`` and ``image_fraction_per_neuron_mean`` /
            ``_std`` (images a neuron is active on, and over the number of images);
            ``dead_neurons`` (never active) and ``always_active_neurons``. Standard deviations
            are population ones. With no image, the means and deviations are NaN.
        """
        n, d = self.images, self.num_neurons
        nan = float("nan")
        if n == 0:
            per_image_mean = per_image_std = per_neuron_mean = per_neuron_std = nan
        else:
            counts = torch.arange(d + 1, dtype=torch.float64)
            weights = self.active_histogram.double() / n
            per_image_mean = float((weights * counts).sum())
            per_image_std = float((weights * (counts - per_image_mean) ** 2).sum().sqrt())
            per_neuron = self.neuron_counts.double()
            per_neuron_mean = float(per_neuron.mean())
            per_neuron_std = float(per_neuron.std(unbiased=False))
        return {
            "images": float(n),
            "neurons": float(d),
            "active_per_image_mean": per_image_mean,
            "active_per_image_std": per_image_std,
            "active_fraction_per_image_mean": per_image_mean / d,
            "active_fraction_per_image_std": per_image_std / d,
            "images_per_neuron_mean": per_neuron_mean,
            "images_per_neuron_std": per_neuron_std,
            "image_fraction_per_neuron_mean": per_neuron_mean / n if n else nan,
            "image_fraction_per_neuron_std": per_neuron_std / n if n else nan,
            "dead_neurons": float((self.neuron_counts == 0).sum()) if n else nan,
            "always_active_neurons": float((self.neuron_counts == n).sum()) if n else nan,
        }
