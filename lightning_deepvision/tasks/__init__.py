"""LightningModules, one per task."""

from lightning_deepvision.tasks.attributes import AttributesTask
from lightning_deepvision.tasks.autoencoder import AutoencoderTask
from lightning_deepvision.tasks.base import BaseTask
from lightning_deepvision.tasks.classification import ClassificationTask
from lightning_deepvision.tasks.detection import DetectionTask
from lightning_deepvision.tasks.parsing import ParsingTask
from lightning_deepvision.tasks.patch_ensemble import PatchEnsembleTask
from lightning_deepvision.tasks.reconstruction import ReconstructionTask
from lightning_deepvision.tasks.transfer import TransferReport, load_matching_weights
from lightning_deepvision.tasks.verification import ScorerFitData, VerificationTask

__all__ = [
    "AttributesTask",
    "AutoencoderTask",
    "BaseTask",
    "ClassificationTask",
    "DetectionTask",
    "ParsingTask",
    "PatchEnsembleTask",
    "ReconstructionTask",
    "ScorerFitData",
    "TransferReport",
    "VerificationTask",
    "load_matching_weights",
]
