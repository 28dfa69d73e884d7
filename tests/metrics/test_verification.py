from __future__ import annotations

import hashlib
import itertools
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torchmetrics import MetricCollection

from lightning_deepvision.metrics import (
    KFoldVerificationAccuracy,
    PairScoreMetric,
    TARAtFAR,
    VerificationAUROC,
    best_threshold,
    first_occurrence,
    kfold_verification_accuracy,
    tar_at_far,
    verification_auroc,
)


def _pairs(n: int = 600, folds: int = 10, seed: int = 0, decimals: int | None = None):
    g = torch.Generator().manual_seed(seed)
    same = torch.rand(n, generator=g) < 0.5
    scores = torch.randn(n, generator=g, dtype=torch.float64) + 1.2 * same
    if decimals is not None:  # many ties
        scores = torch.round(scores, decimals=decimals)
    fold = torch.arange(n) % folds
    return scores, same, fold


def _brute_best(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Reference: explicit loop over every candidate threshold, largest first."""
    distinct = sorted(set(scores.tolist()), reverse=True)
    middles = [(a + b) / 2 for a, b in itertools.pairwise(distinct)]
    candidates = [np.inf, *middles, -np.inf]
    best_t, best_acc = None, -1.0
    for t in candidates:
        acc = float(np.mean((scores >= t) == same))
        if acc > best_acc:
            best_t, best_acc = t, acc
    assert best_t is not None
    return best_t, best_acc


def _brute_kfold(scores: np.ndarray, same: np.ndarray, folds: np.ndarray):
    accs, ths = [], []
    for f in np.unique(folds):
        test = folds == f
        t, _ = _brute_best(scores[~test], same[~test])
        accs.append(float(np.mean((scores[test] >= t) == same[test])))
        ths.append(t)
    return np.array(accs), np.array(ths)


@pytest.mark.parametrize(("seed", "decimals"), [(0, None), (1, 1), (2, 0)])
def test_kfold_matches_brute_force(seed: int, decimals: int | None) -> None:
    scores, same, folds = _pairs(400, 10, seed, decimals)
    accs, ths = kfold_verification_accuracy(scores, same, folds)
    ref_accs, ref_ths = _brute_kfold(scores.numpy(), same.numpy(), folds.numpy())
    np.testing.assert_allclose(accs.numpy(), ref_accs, atol=1e-7)
    np.testing.assert_array_equal(ths.numpy(), ref_ths)
    assert accs.shape == (10,)


def test_best_threshold_matches_brute_force_and_edge_cases() -> None:
    scores, same, _ = _pairs(300, seed=3, decimals=1)
    t, acc = best_threshold(scores, same)
    ref_t, ref_acc = _brute_best(scores.numpy(), same.numpy())
    assert float(t) == ref_t and float(acc) == pytest.approx(ref_acc)
    # all pairs different: the best is to accept nothing (+inf)
    t, acc = best_threshold(torch.tensor([0.1, 0.5]), torch.tensor([False, False]))
    assert float(t) == float("inf") and float(acc) == 1.0
    # all pairs same: accept everything
    t, acc = best_threshold(torch.tensor([0.1, 0.5]), torch.tensor([True, True]))
    assert float(t) == float("-inf") and float(acc) == 1.0
    # separable: the midpoint between the classes
    t, acc = best_threshold(torch.tensor([0.1, 0.3, 0.5, 0.9]), torch.tensor([0, 0, 1, 1]))
    assert float(t) == pytest.approx(0.4) and float(acc) == 1.0


def _threshold_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Seeded scores and labels: random, rounded into many ties, constant; float32 and 64."""
    cases = []
    for seed in range(60):
        g = torch.Generator().manual_seed(seed)
        n = int(torch.randint(1, 300, (1,), generator=g))
        same = torch.rand(n, generator=g) < float(torch.rand((), generator=g))
        dtype = (torch.float32, torch.float64)[seed % 2]
        scores = torch.randn(n, generator=g, dtype=dtype) + 1.5 * same
        if seed % 5 == 1:
            scores = torch.round(scores, decimals=1)
        elif seed % 5 == 2:
            scores = torch.round(scores)
        elif seed % 5 == 3:
            scores = torch.full_like(scores, 0.7)
        cases.append((scores, same))
    return cases


# Recorded from the two separate implementations (LFW protocol; verification-loss margin).
LFW_DIGEST = "2e058396a6d608265524192642d5c294b740f79feeaf00caeffdaf5452f30795"
MARGIN_DIGEST = "38a2dd3223c20fe55b235c3175b01a432ccc6cca07e342eb790c969ceaf0ff2d"


def _digest(tensors: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(str(t.dtype).encode())
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_best_threshold_reproduces_both_former_searches_bit_for_bit() -> None:
    # Digests of the outputs of the two searches this function replaced, recorded on the same
    # cases before they were merged: the LFW protocol's (scores, >=, infinite ends) and the
    # adaptive margin's (float32 distances, <, finite ends).
    lfw, margin = [], []
    for scores, same in _threshold_cases():
        lfw.extend(best_threshold(scores, same))
        distances = (2.0 - scores).abs().float()
        margin.append(-best_threshold(-distances, same, strict=True)[0])
    assert _digest(lfw) == LFW_DIGEST
    assert _digest(margin) == MARGIN_DIGEST


def _brute_margin(distances: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Reference for the margin: loop over the thresholds of ``distance < t``, smallest first."""
    distinct = torch.unique(distances)  # ascending
    candidates = [
        distinct[0],
        *((distinct[:-1] + distinct[1:]) / 2),
        distinct[-1] * (1 + 1e-6) + 1e-12,
    ]
    errors = [int(((distances < t) != same).sum()) for t in candidates]
    return candidates[errors.index(min(errors))]


@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_strict_threshold_matches_brute_force_on_distances(decimals: int | None) -> None:
    for seed in range(5):
        scores, same, _ = _pairs(200, seed=seed, decimals=decimals)
        distances = (3.0 - scores).abs().float()
        threshold, accuracy = best_threshold(-distances, same, strict=True)
        expected = _brute_margin(distances, same)
        assert torch.equal(-threshold, expected)
        assert float(accuracy) == pytest.approx(
            float(((distances < -threshold) == same).mean(dtype=torch.float64))
        )


def test_strict_threshold_edge_cases_stay_finite() -> None:
    # nothing is the same: the highest score itself (no score is strictly above it)
    t, acc = best_threshold(torch.tensor([0.1, 0.5]), torch.tensor([False, False]), strict=True)
    assert float(t) == pytest.approx(0.5) and float(acc) == 1.0
    # everything is the same: just below the lowest score, whatever its sign
    for scores in (torch.tensor([0.1, 0.5]), torch.tensor([-0.1, 0.5]), torch.tensor([0.0, 1.0])):
        t, acc = best_threshold(scores, torch.tensor([True, True]), strict=True)
        assert torch.isfinite(t) and float(acc) == 1.0
        assert bool((scores > t).all()) and float(scores.min() - t) < 1e-6
    # separable: the midpoint between the classes
    t, _ = best_threshold(
        torch.tensor([0.1, 0.3, 0.5, 0.9]), torch.tensor([0, 0, 1, 1]), strict=True
    )
    assert float(t) == pytest.approx(0.4)


def test_single_fold_falls_back_to_in_sample_threshold() -> None:
    scores, same, _ = _pairs(200, seed=4)
    folds = torch.full_like(same, 7, dtype=torch.long)
    accs, ths = kfold_verification_accuracy(scores, same, folds)
    t, acc = best_threshold(scores, same)
    assert accs.shape == ths.shape == (1,)
    assert float(accs[0]) == float(acc) and float(ths[0]) == float(t)


def test_perfect_separation() -> None:
    scores = torch.cat([torch.linspace(1, 2, 50), torch.linspace(-2, 0.5, 50)])
    same = torch.cat([torch.ones(50), torch.zeros(50)]).bool()
    folds = torch.arange(100) % 10
    accs, _ = kfold_verification_accuracy(scores, same, folds)
    assert torch.all(accs == 1.0)
    assert float(verification_auroc(scores, same)) == 1.0
    assert float(tar_at_far(scores, same, 0.0)) == 1.0


@pytest.mark.parametrize("far", [0.0, 1e-3, 1e-2, 0.1, 0.5])
def test_tar_at_far_and_auroc_match_sklearn(far: float) -> None:
    g = torch.Generator().manual_seed(5)
    same = torch.rand(4000, generator=g) < 0.4
    # large-magnitude scores: torchmetrics would squash them with a sigmoid
    scores = 50 * torch.randn(4000, generator=g, dtype=torch.float64) + 40 * same
    fpr, tpr, _ = roc_curve(same.numpy(), scores.numpy())
    assert float(tar_at_far(scores, same, far)) == pytest.approx(tpr[fpr <= far].max(), abs=1e-6)
    assert float(verification_auroc(scores, same)) == pytest.approx(
        roc_auc_score(same.numpy(), scores.numpy()), abs=1e-6
    )


def _metrics() -> list[PairScoreMetric]:
    return [
        KFoldVerificationAccuracy(),
        KFoldVerificationAccuracy("std"),
        VerificationAUROC(),
        TARAtFAR(far=0.05),
    ]


def _expected(scores: torch.Tensor, same: torch.Tensor, folds: torch.Tensor) -> list[float]:
    accs, _ = _brute_kfold(scores.numpy(), same.numpy(), folds.numpy())
    fpr, tpr, _ = roc_curve(same.numpy(), scores.numpy())
    return [
        float(accs.mean()),
        float(accs.std()),  # population std, ddof=0
        float(roc_auc_score(same.numpy(), scores.numpy())),
        float(tpr[fpr <= 0.05].max()),
    ]


def test_metric_objects_match_references_over_batches() -> None:
    scores, same, folds = _pairs(600, seed=6)
    index = torch.arange(600)
    expected = _expected(scores, same, folds)
    for metric, value in zip(_metrics(), expected, strict=True):
        for chunk in torch.arange(600).split(128):
            metric.update(scores[chunk], same[chunk], folds[chunk], index[chunk])
        result = metric.compute()
        assert result.ndim == 0
        assert float(result) == pytest.approx(value, abs=1e-6)


def test_first_occurrence_drops_padded_duplicates() -> None:
    index = torch.tensor([4, 1, 2, 4, 1, 3])
    unique, first = first_occurrence(index)
    assert unique.tolist() == [1, 2, 3, 4]
    assert first.tolist() == [1, 2, 5, 0]
    assert torch.equal(index[first], unique)
    unique, first = first_occurrence(torch.zeros(0, dtype=torch.long))
    assert unique.numel() == first.numel() == 0


def test_duplicates_are_counted_once() -> None:
    scores, same, folds = _pairs(300, seed=7)
    index = torch.arange(300)
    once, twice = KFoldVerificationAccuracy(), KFoldVerificationAccuracy()
    once.update(scores, same, folds, index)
    twice.update(scores, same, folds, index)
    twice.update(scores, same, folds, index)
    assert float(once.compute()) == float(twice.compute())


@pytest.mark.parametrize("n", [301, 600])
def test_padded_ranks_merge_to_single_process_result(n: int) -> None:
    # Two ranks, DistributedSampler-style: pad the index list by repeating its head, then
    # rank r takes every second index. Their merged state must give the 1-process numbers.
    scores, same, folds = _pairs(n, seed=8)
    padded = list(range(n))
    padded += padded[: (-n) % 2]
    shards = [torch.tensor(padded[r::2]) for r in range(2)]
    expected = _expected(scores, same, folds)
    for make, value in zip(_metrics(), expected, strict=True):
        ranks = [make.clone(), make.clone()]
        for metric, shard in zip(ranks, shards, strict=True):
            # scrambled order within a rank must not matter either
            shard = shard[torch.randperm(len(shard), generator=torch.Generator().manual_seed(0))]
            metric.update(scores[shard], same[shard], folds[shard], shard)
        ranks[0].merge_state(ranks[1])
        assert float(ranks[0].compute()) == pytest.approx(value, abs=1e-6)


def test_metric_collection_with_compute_groups_and_clone() -> None:
    scores, same, folds = _pairs(500, seed=9)
    index = torch.arange(500)
    collection = MetricCollection(
        {
            "acc": KFoldVerificationAccuracy(),
            "acc_std": KFoldVerificationAccuracy("std"),
            "auroc": VerificationAUROC(),
            "tar": TARAtFAR(far=0.05),
        }
    )
    val = collection.clone(prefix="val/")
    for chunk in index.split(100):
        val.update(scores[chunk], same[chunk], folds[chunk], index[chunk])
    # identical states: one compute group stores the scores once
    assert list(val.compute_groups.values()) == [["acc", "acc_std", "auroc", "tar"]]
    out = val.compute()
    assert set(out) == {"val/acc", "val/acc_std", "val/auroc", "val/tar"}
    expected = _expected(scores, same, folds)
    for key, value in zip(("acc", "acc_std", "auroc", "tar"), expected, strict=True):
        assert float(out[f"val/{key}"]) == pytest.approx(value, abs=1e-6)
    # the untouched original is independent of the clone
    assert all(len(m.scores) == 0 for m in collection.values())  # type: ignore[union-attr]
    val.reset()
    assert all(len(m.scores) == 0 for m in val.values())  # type: ignore[union-attr]


def test_compute_before_update_is_nan_and_bad_update_raises() -> None:
    metric = VerificationAUROC()
    with pytest.warns(UserWarning):
        assert torch.isnan(metric.compute())
    with pytest.raises(ValueError, match="same"):
        metric.update(torch.zeros(3), torch.zeros(2), torch.zeros(3), torch.arange(3))
    with pytest.raises(ValueError, match="statistic"):
        KFoldVerificationAccuracy("median")  # type: ignore[arg-type]


def test_tar_at_far_names_its_far_and_warns_when_unresolvable() -> None:
    from lightning_deepvision.metrics import TARAtFAR, UnresolvableFARWarning, far_label

    assert far_label(1e-2) == "1e-2" and far_label(0.005) == "5e-3" and far_label(1e-3) == "1e-3"
    metric = TARAtFAR(far=1e-2)
    assert metric.name == "tar_at_far_1e-2"
    scores = torch.linspace(0, 1, 40)
    same = torch.arange(40) >= 20  # 20 mismatched pairs: one false accept is a FAR of 0.05
    metric.update(scores, same, torch.zeros(40, dtype=torch.long), torch.arange(40))
    with pytest.warns(UnresolvableFARWarning, match="not resolvable on 20 mismatched pairs"):
        assert float(metric.compute()) == 1.0
    resolvable = TARAtFAR(far=0.05)
    resolvable.update(scores, same, torch.zeros(40, dtype=torch.long), torch.arange(40))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnresolvableFARWarning)
        resolvable.compute()
