"""LightningModules, one per task."""

from lightning_deepvision.tasks.base import BaseTask
from lightning_deepvision.tasks.verification import VerificationTask

__all__ = ["BaseTask", "VerificationTask"]
