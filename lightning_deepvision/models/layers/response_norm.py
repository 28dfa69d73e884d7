"""Local response normalisation across channels, as AlexNet defines it.

Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012, §3.3.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["LocalResponseNorm"]


class LocalResponseNorm(nn.Module):
    r"""Local response normalisation with the paper's formula (Krizhevsky et al., NIPS 2012, §3.3).

    For the activity ``a^i`` of kernel map ``i`` (of ``N``) at one position,

    .. math::

        b^i = a^i \Big/ \Big(k + \alpha \sum_{j=\max(0,\,i-n/2)}^{\min(N-1,\,i+n/2)}
        (a^j)^2\Big)^{\beta}

    with ``n/2`` rounded down ("the sum runs over n adjacent kernel maps at the same spatial
    position"); the paper uses k = 2, n = 5, α = 1e-4, β = 0.75.
    :class:`torch.nn.LocalResponseNorm` follows Caffe instead and divides α by ``n``, so with the
    same constants it normalises five times more weakly than the paper; this layer passes
    ``α · n`` to torch's kernel, which makes the two formulas equal.

    With ``groups > 1`` the channels are normalised in ``groups`` separate blocks, as in the
    paper's two-GPU network, where each GPU normalises only the kernel maps it holds.

    Args:
        size: ``n``, the number of adjacent maps summed over; odd, so that the window is
            centred as in the formula.
        alpha: ``α`` of the formula (not divided by ``size``).
        beta: ``β``.
        k: ``k``.
        groups: Number of channel blocks normalised independently.

    Raises:
        ValueError: If ``size`` is not a positive odd number or ``groups`` is not positive;
            when called, if the channels do not divide into ``groups``.
    """

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 2.0,
        groups: int = 1,
    ) -> None:
        super().__init__()
        if size < 1 or size % 2 == 0:
            raise ValueError(f"size must be a positive odd number, got {size}")
        if groups < 1:
            raise ValueError(f"groups must be positive, got {groups}")
        self.size = size
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` of shape ``(B, C, ...)`` across its channels."""
        groups = self.groups
        if groups == 1:
            return F.local_response_norm(x, self.size, self.alpha * self.size, self.beta, self.k)
        batch, channels = x.shape[:2]
        if channels % groups:
            raise ValueError(f"{channels} channels do not divide into {groups} groups")
        # Each block becomes its own sample of C / groups channels: the window never crosses
        # from one block into the next.
        blocks = x.reshape(batch * groups, channels // groups, *x.shape[2:])
        out = F.local_response_norm(blocks, self.size, self.alpha * self.size, self.beta, self.k)
        return out.reshape(x.shape)

    def extra_repr(self) -> str:
        """The constants, shown in the module's ``repr``."""
        return (
            f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}, "
            f"groups={self.groups}"
        )
