"""timm's classifier contract, shared by the library's networks.

A network that computes a feature vector (``forward_features``) and puts one linear classifier
on it exposes the same five members as every timm model, so that a task can swap the head,
freeze the backbone for a linear probe or read the features without knowing the network:
``num_features``, ``num_classes``, ``forward_head(x, pre_logits=False)``, ``get_classifier()``
and ``reset_classifier(num_classes)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn

__all__ = ["LinearClassifierNet"]


class LinearClassifierNet(nn.Module, ABC):
    """Base of the networks whose logits are one ``Linear`` on ``forward_features``.

    A subclass sets :attr:`num_features` (the width of :meth:`forward_features`' output),
    calls :meth:`reset_classifier` at the end of its ``__init__`` and implements
    :meth:`forward_features`. The classifier is :attr:`head`: ``Linear(num_features,
    num_classes)`` initialised N(0, 0.01) with zero bias, or ``nn.Identity`` when
    ``num_classes == 0`` (``forward`` then returns the features).

    Attributes:
        num_features: Width of the features.
        num_classes: Outputs of the classifier (0: none).
        head: The classifier.
    """

    num_features: int
    num_classes: int
    head: nn.Module

    @abstractmethod
    def forward_features(self, x: Tensor) -> Tensor:
        """Return the ``(B, num_features)`` features of a batch."""

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Apply the classifier to features (or return them unchanged with ``pre_logits``)."""
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        """Return logits, or the features when ``num_classes == 0``."""
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """Return the classifier module (``nn.Identity`` when ``num_classes == 0``)."""
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a fresh ``Linear(num_features, num_classes)``.

        Weights are drawn from N(0, 0.01) and biases are 0 (the output layers of AlexNet and
        DeepID are initialised this way); ``num_classes == 0`` removes the classifier.

        Raises:
            ValueError: If ``num_classes`` is negative.
        """
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        self.num_classes = num_classes
        if num_classes > 0:
            head = nn.Linear(self.num_features, num_classes)
            nn.init.normal_(head.weight, 0.0, 0.01)
            nn.init.zeros_(head.bias)
            self.head = head
        else:
            self.head = nn.Identity()
