"""torchmetrics metrics that torchmetrics lacks: LFW k-fold pair verification, TAR@FAR, ..."""

from lightning_deepvision.metrics.functional import (
    best_threshold,
    kfold_verification_accuracy,
    tar_at_far,
    verification_auroc,
)
from lightning_deepvision.metrics.scoring import ScoreMethod, binarize, pair_scores
from lightning_deepvision.metrics.verification import (
    KFoldVerificationAccuracy,
    PairScoreMetric,
    TARAtFAR,
    VerificationAUROC,
)

__all__ = [
    "KFoldVerificationAccuracy",
    "PairScoreMetric",
    "ScoreMethod",
    "TARAtFAR",
    "VerificationAUROC",
    "best_threshold",
    "binarize",
    "kfold_verification_accuracy",
    "pair_scores",
    "tar_at_far",
    "verification_auroc",
]
