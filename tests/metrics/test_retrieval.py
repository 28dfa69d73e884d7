"""Cosine kNN retrieval: neighbours, recall@k, mAP (against hand counts and torchmetrics)."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.retrieval import RetrievalHitRate, RetrievalMAP

from lightning_deepvision.metrics.retrieval import KNNRetrieval, cosine_knn, retrieval_metrics


def test_cosine_knn_ranks_by_angle_not_length() -> None:
    gallery = torch.tensor([[1.0, 0.0], [0.0, 5.0], [10.0, 1.0], [-1.0, 0.0]])
    query = torch.tensor([[2.0, 0.02]])  # 0.6° from g0, 5.1° from g2, 89.4° from g1
    scores, indices = cosine_knn(query, gallery, k=3)
    assert indices.tolist() == [[0, 2, 1]]
    assert scores[0, 0] == pytest.approx(0.99995, abs=1e-5)
    assert scores[0].diff().le(0).all()


def test_leave_one_out_never_returns_the_query() -> None:
    features = torch.randn(37, 8, generator=torch.Generator().manual_seed(0))
    _, indices = cosine_knn(features, None, k=36, chunk_size=5)  # several chunks
    rows = torch.arange(37)[:, None]
    assert not (indices == rows).any()
    assert (indices.sort(dim=1).values != rows).all()  # every other item exactly once
    assert {len(set(row)) for row in indices.tolist()} == {36}
    with pytest.raises(ValueError, match=r"k must be in \[1, 36\]"):
        cosine_knn(features, None, k=37)


def test_hand_counted_example() -> None:
    gallery = torch.tensor([[1.0, 0.0], [0.9, 0.3], [0.5, 0.8], [-0.2, 1.0]])
    gallery_labels = torch.tensor([1, 0, 0, 1])
    query = torch.tensor([[1.0, 0.05], [-0.3, 1.0]])
    query_labels = torch.tensor([0, 1])
    results = retrieval_metrics(query, query_labels, gallery, gallery_labels, ks=(1, 2))
    # Query 0 ranks g0 (label 1), g1 (0), g2 (0), g3 (1): relevant at ranks 2 and 3, so
    # AP = (1/2 + 2/3) / 2, no hit at 1, a hit at 2. Query 1 ranks g3 (1), g2 (0), g1 (0),
    # g0 (1): relevant at ranks 1 and 4, AP = (1 + 2/4) / 2.
    assert float(results["recall_at_1"]) == pytest.approx(0.5)
    assert float(results["recall_at_2"]) == pytest.approx(1.0)
    expected_map = ((1 / 2 + 2 / 3) / 2 + (1 + 2 / 4) / 2) / 2
    assert float(results["map"]) == pytest.approx(expected_map)


def test_matches_torchmetrics_on_random_features_with_negative_similarities() -> None:
    generator = torch.Generator().manual_seed(1)
    query, gallery = (
        torch.randn(40, 6, generator=generator),
        torch.randn(90, 6, generator=generator),
    )
    query_labels = torch.randint(0, 5, (40,), generator=generator)
    gallery_labels = torch.randint(0, 5, (90,), generator=generator)
    ours = retrieval_metrics(query, query_labels, gallery, gallery_labels, ks=(1, 5), chunk_size=7)
    similarity = (
        torch.nn.functional.normalize(query, dim=1)
        @ torch.nn.functional.normalize(gallery, dim=1).T
    )
    target = query_labels[:, None] == gallery_labels[None, :]
    indexes = torch.arange(40)[:, None].expand(-1, 90)
    # The reference ranks by similarity itself; shifting by a constant keeps every ranking.
    flat = (similarity.flatten() + 2.0, target.flatten(), indexes.flatten())
    assert float(ours["map"]) == pytest.approx(float(RetrievalMAP()(*flat)), abs=1e-6)
    for k in (1, 5):
        reference = RetrievalHitRate(top_k=k)(*flat)
        assert float(ours[f"recall_at_{k}"]) == pytest.approx(float(reference), abs=1e-6)


def test_relevant_items_with_negative_similarity_still_count() -> None:
    # The only relevant item points away from the query: it is ranked last but still found.
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -0.1]])
    results = retrieval_metrics(
        torch.tensor([[1.0, 0.2]]), torch.tensor([7]), gallery, torch.tensor([1, 2, 7]), ks=(3,)
    )
    assert float(results["recall_at_3"]) == 1.0
    assert float(results["map"]) == pytest.approx(1 / 3)


def test_queries_without_relevant_items_are_skipped() -> None:
    features = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])  # label 1 appears once: no relevant item left for it
    results = retrieval_metrics(features, labels, ks=(1,))
    assert float(results["recall_at_1"]) == 1.0 and float(results["map"]) == 1.0
    empty = retrieval_metrics(features, torch.tensor([0, 1, 2]), ks=(1,))
    assert torch.isnan(empty["map"])


def test_metric_accumulates_batches_and_uses_a_gallery_when_given() -> None:
    generator = torch.Generator().manual_seed(2)
    features = torch.randn(30, 4, generator=generator)
    labels = torch.randint(0, 3, (30,), generator=generator)
    metric = KNNRetrieval(ks=(1, 3))
    for start in range(0, 30, 8):
        metric.update(features[start : start + 8], labels[start : start + 8])
    leave_one_out = metric.compute()
    expected = retrieval_metrics(features, labels, ks=(1, 3))
    assert {k: float(v) for k, v in leave_one_out.items()} == pytest.approx(
        {k: float(v) for k, v in expected.items()}
    )
    metric.reset()
    metric.update(features[:10], labels[:10])
    metric.update(features[10:], labels[10:], gallery=True)
    against_gallery = metric.compute()
    expected = retrieval_metrics(features[:10], labels[:10], features[10:], labels[10:], ks=(1, 3))
    assert float(against_gallery["map"]) == pytest.approx(float(expected["map"]))


def test_metric_counts_repeated_indexes_once() -> None:
    # A padded distributed shard repeats samples: with indexes they count once.
    features = torch.tensor([[1.0, 0.0], [0.8, 0.2], [0.0, 1.0], [0.1, 0.9]])
    labels = torch.tensor([0, 1, 1, 0])
    metric = KNNRetrieval(ks=(1,))
    metric.update(features, labels, indexes=torch.arange(4))
    metric.update(features[:2], labels[:2], indexes=torch.arange(2))
    once = retrieval_metrics(features, labels, ks=(1,))
    assert float(metric.compute()["map"]) == pytest.approx(float(once["map"]))


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="same D"):
        retrieval_metrics(torch.zeros(2, 3), torch.zeros(2), torch.zeros(2, 4), torch.zeros(2))
    with pytest.raises(ValueError, match="gallery_labels are needed"):
        retrieval_metrics(torch.zeros(2, 3), torch.zeros(2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="one per feature row"):
        retrieval_metrics(torch.zeros(2, 3), torch.zeros(3))
    with pytest.raises(ValueError, match="positive integers"):
        KNNRetrieval(ks=(0,))
    with (
        pytest.warns(UserWarning, match="called before the ``update``"),
        pytest.raises(RuntimeError, match="before any query"),
    ):
        KNNRetrieval().compute()
