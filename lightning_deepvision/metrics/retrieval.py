"""Cosine k-nearest-neighbour retrieval of a query set against a gallery: recall@k and mAP.

Krizhevsky, Sutskever, Hinton ("ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012, §6.1 and Fig. 4) show that images whose top hidden-layer (fc7) vectors
are close are semantically alike, even when their pixels are not: the feature serves for
retrieval. This module measures it: every query ranks the gallery by cosine similarity of the
features; a gallery item is relevant when it has the query's label.

- **recall@k** is the fraction of queries with at least one relevant item among their ``k``
  nearest neighbours, the definition of the deep-metric-learning literature (e.g. Oh Song et
  al., "Deep Metric Learning via Lifted Structured Feature Embedding", CVPR 2016); torchmetrics
  calls it the hit rate.
- **mAP** is the mean over queries of the average precision of the whole ranked gallery.

Per-query values come from torchmetrics' retrieval functions; what is added is the ranking
from features, in chunks of queries so that memory stays ``chunk × gallery``, leave-one-out
evaluation of a single set, and a ``Metric`` that accumulates features across batches and
processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F
from torchmetrics import Metric
from torchmetrics.functional.retrieval import retrieval_average_precision, retrieval_hit_rate
from torchmetrics.utilities import dim_zero_cat

from lightning_deepvision.metrics.functional import canonical_order, first_occurrence

__all__ = ["KNNRetrieval", "cosine_knn", "retrieval_metrics"]

#: Queries ranked against the gallery at once (bounds memory to chunk × gallery scores).
DEFAULT_CHUNK = 1024


def _similarities(query: Tensor, gallery: Tensor) -> Tensor:
    return F.normalize(query.float(), dim=1) @ F.normalize(gallery.float(), dim=1).T


def cosine_knn(
    query: Tensor,
    gallery: Tensor | None = None,
    k: int = 5,
    chunk_size: int = DEFAULT_CHUNK,
) -> tuple[Tensor, Tensor]:
    """The ``k`` gallery items most cosine-similar to each query, most similar first.

    Args:
        query: ``(N, D)`` features.
        gallery: ``(M, D)`` features; ``None`` searches the query set itself, leaving each
            query out of its own neighbours.
        k: Neighbours per query (at most the gallery size).
        chunk_size: Queries scored at once.

    Returns:
        ``(similarities, indices)``, both ``(N, k)``; ``indices`` index the gallery (or the
        query set).

    Raises:
        ValueError: If the feature widths differ or ``k`` exceeds the gallery.
    """
    leave_one_out = gallery is None
    reference = query if gallery is None else gallery
    size = reference.shape[0] - (1 if leave_one_out else 0)
    _check_features(query, reference)
    if not 1 <= k <= size:
        raise ValueError(f"k must be in [1, {size}] (the gallery size), got {k}")
    scores, indices = [], []
    for start in range(0, query.shape[0], chunk_size):
        similarity = _similarities(query[start : start + chunk_size], reference)
        if leave_one_out:
            rows = torch.arange(similarity.shape[0], device=similarity.device)
            similarity[rows, rows + start] = -torch.inf
        top = similarity.topk(k, dim=1)
        scores.append(top.values)
        indices.append(top.indices)
    return torch.cat(scores), torch.cat(indices)


def _check_features(query: Tensor, gallery: Tensor) -> None:
    if query.ndim != 2 or gallery.ndim != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"features must be (N, D) and (M, D) with the same D, got {tuple(query.shape)} and "
            f"{tuple(gallery.shape)}"
        )


def retrieval_metrics(
    query: Tensor,
    query_labels: Tensor,
    gallery: Tensor | None = None,
    gallery_labels: Tensor | None = None,
    ks: Sequence[int] = (1, 5),
    chunk_size: int = DEFAULT_CHUNK,
) -> dict[str, Tensor]:
    """Recall@k for each ``k`` and mAP of cosine retrieval (see the module docstring).

    Queries without any relevant gallery item (a class seen once, left out of its own
    gallery) have neither a recall nor a precision and are not counted.

    Args:
        query: ``(N, D)`` query features.
        query_labels: ``(N,)`` their labels.
        gallery: ``(M, D)`` gallery features; ``None`` evaluates leave-one-out on the query
            set (each query against all the others).
        gallery_labels: ``(M,)`` their labels (with ``gallery``).
        ks: The ``k`` of the recalls.
        chunk_size: Queries scored at once.

    Returns:
        ``{"recall_at_<k>": ..., "map": ...}`` as float tensors (NaN when no query has a
        relevant item).

    Raises:
        ValueError: On mismatched shapes, a gallery without labels or a non-positive ``k``.
    """
    leave_one_out = gallery is None
    if gallery is None:
        reference, reference_labels = query, query_labels
    elif gallery_labels is None:
        raise ValueError("gallery_labels are needed with a gallery")
    else:
        reference, reference_labels = gallery, gallery_labels
    _check_features(query, reference)
    if query_labels.shape != (query.shape[0],) or reference_labels.shape != (reference.shape[0],):
        raise ValueError(
            f"labels must be one per feature row, got {tuple(query_labels.shape)} for "
            f"{query.shape[0]} queries and {tuple(reference_labels.shape)} for "
            f"{reference.shape[0]} gallery items"
        )
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must hold positive integers, got {ks}")
    recalls: dict[int, list[Tensor]] = {k: [] for k in ks}
    precisions: list[Tensor] = []
    for start in range(0, query.shape[0], chunk_size):
        similarity = _similarities(query[start : start + chunk_size], reference)
        relevant = query_labels[start : start + chunk_size, None] == reference_labels[None, :]
        # torchmetrics' average precision treats items scored <= 0 as not retrieved: shift the
        # cosine similarities into [1, 3] so that the whole gallery is ranked, and give a
        # left-out query score 0 (ranked last, never relevant).
        scores = similarity + 2.0
        if leave_one_out:
            rows = torch.arange(scores.shape[0], device=scores.device)
            scores[rows, rows + start] = 0.0
            relevant[rows, rows + start] = False
        for row in torch.nonzero(relevant.any(dim=1)).flatten().tolist():
            precisions.append(retrieval_average_precision(scores[row], relevant[row]))
            for k in ks:
                recalls[k].append(retrieval_hit_rate(scores[row], relevant[row], top_k=k))
    results = {f"recall_at_{k}": _mean(values) for k, values in recalls.items()}
    results["map"] = _mean(precisions)
    return results


def _mean(values: list[Tensor]) -> Tensor:
    return torch.stack(values).float().mean() if values else torch.tensor(float("nan"))


class KNNRetrieval(Metric):
    """Accumulate features and labels, then compute :func:`retrieval_metrics`.

    ``update(features, labels)`` adds queries; ``update(..., gallery=True)`` adds gallery
    items. Without any gallery item, the queries are evaluated leave-one-out (each against all
    the others). Features are gathered from every process; with ``indexes`` (each sample's
    position in its dataset), samples that Lightning's padded ``DistributedSampler`` repeats
    are counted once, so the result is the same on one process and on N.

    Args:
        ks: The ``k`` of the recalls (``recall_at_<k>``).
        chunk_size: Queries scored at once in :meth:`compute`.
        **kwargs: ``torchmetrics.Metric`` options.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    query_features: list[Tensor]
    query_labels: list[Tensor]
    query_indexes: list[Tensor]
    gallery_features: list[Tensor]
    gallery_labels: list[Tensor]
    gallery_indexes: list[Tensor]

    def __init__(
        self, ks: Sequence[int] = (1, 5), chunk_size: int = DEFAULT_CHUNK, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.ks = [int(k) for k in ks]
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"ks must hold positive integers, got {list(ks)}")
        self.chunk_size = chunk_size
        for role in ("query", "gallery"):
            for field in ("features", "labels", "indexes"):
                self.add_state(f"{role}_{field}", default=[], dist_reduce_fx="cat")

    def update(
        self,
        features: Tensor,
        labels: Tensor,
        gallery: bool = False,
        indexes: Tensor | None = None,
    ) -> None:
        """Add a batch of query (or gallery) features with their labels (and dataset indexes)."""
        role = "gallery" if gallery else "query"
        if indexes is None:
            # Without indexes, every row counts (single process, or no duplicates to drop).
            indexes = torch.full((features.shape[0],), -1, dtype=torch.long, device=labels.device)
        getattr(self, f"{role}_features").append(features.detach().float())
        getattr(self, f"{role}_labels").append(labels.detach().long())
        getattr(self, f"{role}_indexes").append(indexes.detach().long())

    def _collected(self, role: str) -> tuple[Tensor, Tensor] | None:
        features = getattr(self, f"{role}_features")
        if isinstance(features, list) and not features:
            return None
        features = dim_zero_cat(features)
        if features.numel() == 0:
            # Synchronised across processes, a role no process added to is an empty tensor.
            return None
        labels = dim_zero_cat(getattr(self, f"{role}_labels"))
        indexes = dim_zero_cat(getattr(self, f"{role}_indexes"))
        if bool((indexes >= 0).all()):
            _, first = first_occurrence(indexes)
            features, labels = features[first], labels[first]
        else:
            # No dataset order to restore: sort by content, so that ties break alike on any
            # number of processes.
            order = canonical_order(torch.cat([features.double(), labels[:, None].double()], 1))
            features, labels = features[order], labels[order]
        return features, labels

    def compute(self) -> dict[str, Tensor]:
        """``{"recall_at_<k>": ..., "map": ...}`` over the accumulated features."""
        query = self._collected("query")
        if query is None:
            raise RuntimeError("KNNRetrieval.compute() called before any query was added")
        gallery = self._collected("gallery")
        return retrieval_metrics(
            query[0],
            query[1],
            None if gallery is None else gallery[0],
            None if gallery is None else gallery[1],
            ks=self.ks,
            chunk_size=self.chunk_size,
        )
