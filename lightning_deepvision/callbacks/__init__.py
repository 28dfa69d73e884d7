"""Lightning callbacks: image logging, layer-wise pre-training, neuron analysis, host memory.

Names are imported on first access, so that importing this package (the CLI does, to resolve
``class_path`` entries) loads neither matplotlib nor the modules of callbacks a run does not use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lightning_deepvision._lazy import lazy_exports

if TYPE_CHECKING:
    from lightning_deepvision.callbacks.bad_samples import BadSampleReport
    from lightning_deepvision.callbacks.caltech_results import CaltechResultsWriter
    from lightning_deepvision.callbacks.checkpoint import (
        ResumeCheckpoint,
        TaskEarlyStopping,
        TaskModelCheckpoint,
    )
    from lightning_deepvision.callbacks.detection_frames import (
        DetectionFramesLogger,
        MissRateCurveLogger,
    )
    from lightning_deepvision.callbacks.face_window_threshold import FaceWindowThreshold
    from lightning_deepvision.callbacks.filter_grid import FilterGridLogger
    from lightning_deepvision.callbacks.host_memory import (
        ReuseHostMemory,
        reuse_freed_host_memory,
    )
    from lightning_deepvision.callbacks.layerwise_pretraining import LayerwisePretraining
    from lightning_deepvision.callbacks.miss_rate_curve import plot_miss_rate_curves
    from lightning_deepvision.callbacks.neuron_properties import (
        LabelledImagesData,
        NeuronProperties,
    )
    from lightning_deepvision.callbacks.parsing_overlay import ParsingOverlayLogger
    from lightning_deepvision.callbacks.performance import CompileModel
    from lightning_deepvision.callbacks.prediction_writer import PredictionWriter
    from lightning_deepvision.callbacks.progress import CompactModelSummary, LineProgressBar
    from lightning_deepvision.callbacks.reconstruction_grid import ReconstructionGridLogger
    from lightning_deepvision.callbacks.retrieval_grid import RetrievalGridLogger
    from lightning_deepvision.callbacks.verification_roc import VerificationROCLogger

__all__ = [
    "BadSampleReport",
    "CaltechResultsWriter",
    "CompactModelSummary",
    "CompileModel",
    "DetectionFramesLogger",
    "FaceWindowThreshold",
    "FilterGridLogger",
    "LabelledImagesData",
    "LayerwisePretraining",
    "LineProgressBar",
    "MissRateCurveLogger",
    "NeuronProperties",
    "ParsingOverlayLogger",
    "PredictionWriter",
    "ReconstructionGridLogger",
    "ResumeCheckpoint",
    "RetrievalGridLogger",
    "ReuseHostMemory",
    "TaskEarlyStopping",
    "TaskModelCheckpoint",
    "VerificationROCLogger",
    "plot_miss_rate_curves",
    "reuse_freed_host_memory",
]

# name -> sub-module that defines it.
_LAZY = {
    "BadSampleReport": "bad_samples",
    "FilterGridLogger": "filter_grid",
    "RetrievalGridLogger": "retrieval_grid",
    "LayerwisePretraining": "layerwise_pretraining",
    "CompactModelSummary": "progress",
    "CompileModel": "performance",
    "LineProgressBar": "progress",
    "LabelledImagesData": "neuron_properties",
    "NeuronProperties": "neuron_properties",
    "ReuseHostMemory": "host_memory",
    "reuse_freed_host_memory": "host_memory",
    "ResumeCheckpoint": "checkpoint",
    "TaskEarlyStopping": "checkpoint",
    "TaskModelCheckpoint": "checkpoint",
    "VerificationROCLogger": "verification_roc",
    "ParsingOverlayLogger": "parsing_overlay",
    "PredictionWriter": "prediction_writer",
    "plot_miss_rate_curves": "miss_rate_curve",
    "CaltechResultsWriter": "caltech_results",
    "DetectionFramesLogger": "detection_frames",
    "MissRateCurveLogger": "detection_frames",
    "ReconstructionGridLogger": "reconstruction_grid",
    "FaceWindowThreshold": "face_window_threshold",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
