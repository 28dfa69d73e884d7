"""LFW 10-fold protocol: vectorised torch evaluation vs a naive per-threshold numpy loop.

6,000 pairs of 512-d embeddings (3,000 same) in 10 folds, as in LFW View 2. Both variants
score the pairs by cosine similarity and run the 10-fold protocol (threshold chosen on nine
folds, accuracy on the tenth). The baseline loops in Python over every candidate threshold of
every fold (numpy-vectorised inside one threshold); the library sorts once per fold and reads
every candidate off cumulative sums. The two must agree exactly.

Run: ``python benchmarks/kfold_protocol.py``.
"""

from __future__ import annotations

import numpy as np
import torch
from _harness import interleaved_best

from lightning_deepvision.metrics import kfold_verification_accuracy, pair_scores

PAIRS, SAME, FOLDS, DIM = 6000, 3000, 10, 512


def make_pairs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    e1 = torch.randn(PAIRS, DIM, generator=g)
    other = torch.randn(PAIRS, DIM, generator=g)
    same = torch.zeros(PAIRS, dtype=torch.bool)
    # LFW layout: each fold holds 300 matched then 300 mismatched pairs.
    fold = torch.arange(PAIRS) // (PAIRS // FOLDS)
    same[(torch.arange(PAIRS) % (PAIRS // FOLDS)) < SAME // FOLDS] = True
    # A same pair shares part of its embedding, so the task is learnable but not trivial.
    e2 = torch.where(same[:, None], 0.1 * e1 + other, other)
    return e1, e2, same, fold


def naive(e1: np.ndarray, e2: np.ndarray, same: np.ndarray, folds: np.ndarray):
    scores = (e1 * e2).sum(1) / (np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1))
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        test = folds == fold
        train_scores, train_same = scores[~test], same[~test]
        distinct = np.unique(train_scores)[::-1]
        candidates = [np.inf, *((distinct[:-1] + distinct[1:]) / 2), -np.inf]
        best_t, best_acc = np.inf, -1.0
        for t in candidates:  # the loop the library avoids
            acc = np.mean((train_scores >= t) == train_same)
            if acc > best_acc:
                best_t, best_acc = t, acc
        accuracies.append(np.mean((scores[test] >= best_t) == same[test]))
        thresholds.append(best_t)
    return np.array(accuracies), np.array(thresholds)


def vectorised(e1: torch.Tensor, e2: torch.Tensor, same: torch.Tensor, folds: torch.Tensor):
    scores = pair_scores(e1, e2, "cosine")
    return kfold_verification_accuracy(scores, same, folds)


def main() -> None:
    e1, e2, same, folds = make_pairs()
    # Score in float64 on both sides so the comparison is exact, not a rounding race.
    e1, e2 = e1.double(), e2.double()
    np_args = (e1.numpy(), e2.numpy(), same.numpy(), folds.numpy())
    vectorised(e1, e2, same, folds)  # warm-up
    (t_vec, (accs, ths)), (t_naive, (ref_accs, ref_ths)) = interleaved_best(
        [lambda: vectorised(e1, e2, same, folds), lambda: naive(*np_args)], repeats=[15, 3]
    )

    # Same number of correct decisions in every fold (accuracies are float32 in torch).
    per_fold = PAIRS // FOLDS
    correct = np.rint(accs.double().numpy() * per_fold)
    np.testing.assert_array_equal(correct, np.rint(ref_accs * per_fold))
    np.testing.assert_allclose(ths.numpy(), ref_ths, rtol=1e-12, atol=1e-12)
    print(f"pairs={PAIRS} dim={DIM} folds={FOLDS} threads={torch.get_num_threads()}")
    print(f"accuracy {accs.mean():.4f} +- {accs.std(correction=0):.4f} (identical in both)")
    print(f"naive numpy loop over thresholds: {t_naive * 1e3:9.1f} ms")
    print(f"vectorised (sort + cumsum):        {t_vec * 1e3:9.1f} ms")
    print(f"speed-up: {t_naive / t_vec:.0f}x")


if __name__ == "__main__":
    main()
