"""torchmetrics metrics that torchmetrics lacks: LFW pair verification, TAR@FAR, Caltech LAMR."""

from lightning_deepvision.metrics.attributes import (
    MultilabelBalancedAccuracy,
    MultilabelMajorityAccuracy,
    attribute_metrics,
    attribute_table,
)
from lightning_deepvision.metrics.functional import (
    best_threshold,
    first_occurrence,
    kfold_verification_accuracy,
    tar_at_far,
    verification_auroc,
)
from lightning_deepvision.metrics.identification import (
    PoseIdentification,
    format_identification_table,
    pose_identification,
)
from lightning_deepvision.metrics.miss_rate import (
    CALTECH_SETTINGS,
    EvaluationSetting,
    LogAverageMissRate,
    MissRateCurve,
    log_average_miss_rate,
    miss_rate_curve,
)
from lightning_deepvision.metrics.parsing import HELEN_COMPONENTS, ParsingScores, parsing_scores
from lightning_deepvision.metrics.retrieval import KNNRetrieval, cosine_knn, retrieval_metrics
from lightning_deepvision.metrics.scoring import (
    SCORERS,
    CosineScorer,
    HammingScorer,
    JointBayesianScorer,
    L2Scorer,
    LDAScorer,
    PairScorer,
    ScoreMethod,
    ScoringName,
    binarize,
    build_scorer,
    pair_scores,
)
from lightning_deepvision.metrics.verification import (
    KFoldVerificationAccuracy,
    PairScoreMetric,
    TARAtFAR,
    UnresolvableFARWarning,
    VerificationAUROC,
    far_label,
)

__all__ = [
    "CALTECH_SETTINGS",
    "HELEN_COMPONENTS",
    "SCORERS",
    "CosineScorer",
    "EvaluationSetting",
    "HammingScorer",
    "JointBayesianScorer",
    "KFoldVerificationAccuracy",
    "KNNRetrieval",
    "L2Scorer",
    "LDAScorer",
    "LogAverageMissRate",
    "MissRateCurve",
    "MultilabelBalancedAccuracy",
    "MultilabelMajorityAccuracy",
    "PairScoreMetric",
    "PairScorer",
    "ParsingScores",
    "PoseIdentification",
    "ScoreMethod",
    "ScoringName",
    "TARAtFAR",
    "UnresolvableFARWarning",
    "VerificationAUROC",
    "attribute_metrics",
    "attribute_table",
    "best_threshold",
    "binarize",
    "build_scorer",
    "cosine_knn",
    "far_label",
    "first_occurrence",
    "format_identification_table",
    "kfold_verification_accuracy",
    "log_average_miss_rate",
    "miss_rate_curve",
    "pair_scores",
    "parsing_scores",
    "pose_identification",
    "retrieval_metrics",
    "tar_at_far",
    "verification_auroc",
]
