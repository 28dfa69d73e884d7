"""MVP: the Multi-View Perceptron.

Zhu, Luo, Wang, Tang, "Multi-View Perceptron: a Deep Model for Learning Face Identity and View
Representations", NIPS 2014.

MVP separates a face's identity from its view: deterministic identity neurons encode who it
is, view neurons encode the pose, and the output layer renders the face at a requested view
and predicts the view label. The paper's view neurons are stochastic and trained by a
Monte-Carlo EM procedure; this is the deterministic conditional form specs §11 allows: the
identity code and a requested-view code are decoded into the face at that view, and a view
branch predicts the input's view. Layer sizes are NOT CONFIRMED (specs §3); the defaults
follow specs §11 (32×32 grey input) with 512-unit hidden layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from lightning_deepvision.models.layers._filter_bank import as_pair
from lightning_deepvision.models.registry import register_model

__all__ = ["MULTIPIE_YAWS", "MVP", "mvp", "mvp_tiny"]

#: The seven poses −45° … +45° of Multi-PIE that FIP and MVP are evaluated on.
MULTIPIE_YAWS: tuple[float, ...] = (-45.0, -30.0, -15.0, 0.0, 15.0, 30.0, 45.0)


class MVP(nn.Module):
    """Identity neurons, view neurons and a view-conditioned output layer.

    ``x → h1 = ReLU(W1 x̂)``, ``x̂`` the image standardised to zero mean and unit variance
    (``standardize``); identity neurons ``h_id = ReLU(W_id h1)`` (the identity features);
    view neurons ``h_v = ReLU(W_v h1)`` predict the input's view (``view_logits``); the
    output ``Ŷ = W_out ReLU(W_dec [h_id, e_view])`` is the face at the requested view, whose
    code ``e_view`` is a learned embedding of the view index (one per entry of ``yaws``).

    Args:
        in_chans: Input channels (1: grey).
        in_size: Input ``(height, width)`` (32×32 by default).
        hidden: Width of the first hidden layer and of the decoder's hidden layer.
        identity_dim: Identity neurons (the identity features).
        view_dim: View neurons, and the width of the requested-view code.
        yaws: The views the model renders and recognises, in degrees.
        standardize: Standardise each input image (zero mean, unit variance) before the
            first layer. Fully connected neurons on raw intensities spend their capacity on
            the exposure and contrast of the image; standardised, the view neurons learn the
            pose at all (their cross-entropy stayed at ``log 7`` on the synthetic faces
            without it) and the identity neurons identify better. The output is not
            standardised: it renders the target's intensities.

    Attributes:
        num_features: ``identity_dim``.
        num_views: ``len(yaws)``.
    """

    def __init__(
        self,
        in_chans: int = 1,
        in_size: int | Sequence[int] = 32,
        hidden: int = 512,
        identity_dim: int = 512,
        view_dim: int = 64,
        yaws: Sequence[float] = MULTIPIE_YAWS,
        standardize: bool = True,
    ) -> None:
        super().__init__()
        if not yaws:
            raise ValueError("yaws must name at least one view")
        self.in_chans = in_chans
        self.in_size = as_pair(in_size, "in_size")
        self.out_chans = in_chans
        self.out_size = self.in_size
        self.yaws = tuple(float(y) for y in yaws)
        self.num_views = len(self.yaws)
        self.num_features = identity_dim
        self.standardize = standardize
        pixels = in_chans * self.in_size[0] * self.in_size[1]
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU(inplace=True))
        self.identity = nn.Sequential(nn.Linear(hidden, identity_dim), nn.ReLU(inplace=True))
        self.view = nn.Sequential(nn.Linear(hidden, view_dim), nn.ReLU(inplace=True))
        self.view_classifier = nn.Linear(view_dim, self.num_views)
        self.view_code = nn.Embedding(self.num_views, view_dim)
        self.decoder = nn.Sequential(
            nn.Linear(identity_dim + view_dim, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, pixels),
        )
        self.register_buffer("yaw_table", torch.tensor(self.yaws), persistent=False)

    def view_index(self, yaw: Tensor) -> Tensor:
        """Index of the view nearest each yaw (degrees) in :attr:`yaws`."""
        yaw_table: Tensor = self.yaw_table  # type: ignore[assignment]
        return (yaw.to(yaw_table.dtype)[:, None] - yaw_table).abs().argmin(dim=1)

    def encode(self, x: Tensor) -> Tensor:
        """The first hidden layer ``h1`` ``(B, hidden)``, shared by identity and view neurons."""
        if self.standardize:
            flat = x.flatten(1)
            mean = flat.mean(dim=1, keepdim=True)
            std = flat.std(dim=1, keepdim=True)
            # The floor keeps a flat image (std 0) finite.
            x = ((flat - mean) / std.clamp_min(1e-3)).view_as(x)
        return cast(Tensor, self.encoder(x))

    def forward_features(self, x: Tensor) -> Tensor:
        """Identity features ``(B, identity_dim)``."""
        return cast(Tensor, self.identity(self.encode(x)))

    def forward_head(self, features: Tensor, view: Tensor | None = None) -> Tensor:
        """The face at view indices ``view`` ``(B,)`` (frontal, yaw 0, when ``None``)."""
        if view is None:
            view = self.view_index(features.new_zeros(features.shape[0]))
        code = torch.cat((features, self.view_code(view)), dim=1)
        return self.decoder(code).view(-1, self.out_chans, *self.out_size)

    def view_logits(self, x: Tensor) -> Tensor:
        """Scores of the input's view over :attr:`yaws`."""
        return cast(Tensor, self.view_classifier(self.view(self.encode(x))))

    def forward(self, x: Tensor, view: Tensor | None = None) -> Tensor:
        """Render ``x``'s face at view indices ``view`` (frontal when ``None``)."""
        return self.forward_head(self.forward_features(x), view)

    def forward_all(self, x: Tensor, view: Tensor | None = None) -> dict[str, Tensor]:
        """``features``, ``reconstruction`` at ``view`` and ``view_logits`` in one pass."""
        hidden = self.encode(x)
        features = self.identity(hidden)
        return {
            "features": features,
            "reconstruction": self.forward_head(features, view),
            "view_logits": self.view_classifier(self.view(hidden)),
        }


@register_model("mvp")
def mvp(
    in_chans: int = 1,
    in_size: int | Sequence[int] = 32,
    hidden: int = 512,
    identity_dim: int = 512,
    view_dim: int = 64,
    yaws: Sequence[float] = MULTIPIE_YAWS,
    standardize: bool = True,
) -> MVP:
    """MVP (Zhu, Luo, Wang, Tang, NIPS 2014), deterministic form: 32×32 grey, 512 units."""
    return MVP(in_chans, in_size, hidden, identity_dim, view_dim, yaws, standardize)


@register_model("mvp_tiny")
def mvp_tiny(
    in_chans: int = 1,
    in_size: int | Sequence[int] = 16,
    hidden: int = 32,
    identity_dim: int = 16,
    view_dim: int = 8,
    yaws: Sequence[float] = MULTIPIE_YAWS,
    standardize: bool = True,
) -> MVP:
    """A 16×16 MVP with 32 hidden units, for CPU tests."""
    return MVP(in_chans, in_size, hidden, identity_dim, view_dim, yaws, standardize)
