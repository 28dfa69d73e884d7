"""A user's own project, as a separate module: a custom backbone and a VerificationTask subclass.

This is the README's "subclass it" example; tests/tasks/test_subclassing.py trains it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lightning_deepvision.tasks import VerificationTask


class TinyFaceNet(nn.Module):
    """A small CNN that maps a face crop to a 32-d embedding."""

    def __init__(self, in_chans: int = 3, dim: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_chans, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d((4, 4)),
            nn.Flatten(),
            nn.Linear(16 * 16, dim),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class L2NormVerifier(VerificationTask):
    """Scores pairs on L2-normalised embeddings and logs the mean embedding norm."""

    def forward(self, images: Tensor) -> Tensor:
        return torch.nn.functional.normalize(super().forward(images), dim=1)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = super().training_step(batch, batch_idx)
        with torch.no_grad():
            norm = self.forward_levels(batch["image"])[-1].norm(dim=1).mean()
        self.log("train/embedding_norm", norm, batch_size=batch["image"].shape[0])
        return loss
