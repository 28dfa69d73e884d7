"""Pair scores from embeddings: cosine, Euclidean, and Hamming on binary codes.

The Hamming score follows DeepID2+ (Sun, Wang, Tang, "Deeply learned face representations are
sparse, selective, and robust", CVPR 2015, Table 4): FC-4 activations are thresholded into a
binary code and pairs are compared by Hamming distance.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ScoreMethod", "binarize", "pair_scores"]

ScoreMethod = Literal["cosine", "l2", "hamming"]


def binarize(embeddings: Tensor, threshold: float = 0.0) -> Tensor:
    """Binary code ``embeddings > threshold`` (DeepID2+ Table 4).

    With ReLU features the default threshold 0 keeps exactly the active neurons, which
    DeepID2+ §5 finds to be about half of them per image.

    Args:
        embeddings: ``[..., D]`` real features.
        threshold: Activation threshold.

    Returns:
        Bool tensor of the same shape.
    """
    return embeddings > threshold


def pair_scores(
    e1: Tensor,
    e2: Tensor,
    method: ScoreMethod = "cosine",
    binarize_threshold: float = 0.0,
) -> Tensor:
    """Similarity of corresponding rows of ``e1`` and ``e2``; higher = more similar.

    Args:
        e1: ``[N, D]`` embeddings of the first images.
        e2: ``[N, D]`` embeddings of the second images.
        method: ``"cosine"`` (cosine similarity), ``"l2"`` (negative Euclidean distance) or
            ``"hamming"`` (negative normalised Hamming distance, in ``[-1, 0]``, of the codes
            ``e > binarize_threshold``).
        binarize_threshold: Threshold of the binary codes for ``"hamming"``.

    Returns:
        ``[N]`` scores.
    """
    if e1.shape != e2.shape:
        raise ValueError(
            f"e1 and e2 must have the same shape, got {tuple(e1.shape)} and {tuple(e2.shape)}"
        )
    if e1.ndim < 1:
        raise ValueError("embeddings need a feature dimension")
    if method == "cosine":
        return F.cosine_similarity(e1, e2, dim=-1, eps=1e-8)
    if method == "l2":
        return -torch.linalg.vector_norm(e1 - e2, dim=-1)
    if method == "hamming":
        differ = binarize(e1, binarize_threshold) != binarize(e2, binarize_threshold)
        dtype = e1.dtype if e1.is_floating_point() else torch.get_default_dtype()
        return -differ.to(dtype).mean(dim=-1)
    raise ValueError(f"method must be 'cosine', 'l2' or 'hamming', got {method!r}")
