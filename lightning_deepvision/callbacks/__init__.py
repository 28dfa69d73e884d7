"""Lightning callbacks: image logging, layer-wise pre-training, neuron analysis."""

from lightning_deepvision.callbacks.verification_roc import VerificationROCLogger

__all__ = ["VerificationROCLogger"]
