"""Loss modules (DeepID2 joint identification-verification, ...)."""

from lightning_deepvision.losses.identification_verification import (
    JointIdentificationVerificationLoss,
    VerificationKind,
    VerificationLoss,
)

__all__ = ["JointIdentificationVerificationLoss", "VerificationKind", "VerificationLoss"]
