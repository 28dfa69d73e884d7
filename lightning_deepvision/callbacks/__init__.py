"""Lightning callbacks: image logging, layer-wise pre-training, neuron analysis, host memory."""

from lightning_deepvision.callbacks.host_memory import ReuseHostMemory, reuse_freed_host_memory
from lightning_deepvision.callbacks.verification_roc import VerificationROCLogger

__all__ = ["ReuseHostMemory", "VerificationROCLogger", "reuse_freed_host_memory"]
