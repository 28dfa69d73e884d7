"""NeuronProperties: validation time with the callback / without it (target ≤ 1.25).

DeepID2+ (``VerificationTask``, backbone ``deepid2plus``) validates 10,000 face images (5,000
pairs, random 55x47 inputs, the LFW 10-fold layout) with hooks on its 512-d FC-4 layer. The
callback runs what is computed during validation: the hooks, packing each image's binary code,
each pair's real-valued score, and at the end of the epoch sparsity and binary-code
verification over all 10,000 codes. Both sides validate the same fixed batches in one process,
interleaved, best of ``--repeats``.

With ``--robustness`` a third run adds the occlusion test on ``--robustness-pairs`` stored
pairs (15 extra forward passes over them); its cost does not grow with the validation set, and
it is printed as its own ratio. Selectivity and probes read a labelled set of their own (a
fixed cost bounded by ``max_images``) and are not part of this measurement.

Run: ``python benchmarks/neuron_properties.py`` (``--images 2000`` for a quick look).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from _harness import add_host_memory_option, apply_host_memory_option
from lightning.pytorch import Callback, LightningModule, Trainer
from torch.utils.data import DataLoader, Dataset

from lightning_deepvision.callbacks import NeuronProperties
from lightning_deepvision.tasks import VerificationTask
from lightning_deepvision.testing.trainers import quiet_trainer

SIZE = (55, 47)


class PairBatches(Dataset):
    """``count`` pair batches cycling over a few precomputed ones, each pair its own index."""

    def __init__(self, count: int, pairs: int, distinct: int = 4) -> None:
        g = torch.Generator().manual_seed(0)
        self.count, self.pairs = count, pairs
        self.batches = [
            {
                "image1": torch.randn(pairs, 3, *SIZE, generator=g),
                "image2": torch.randn(pairs, 3, *SIZE, generator=g),
                "same": (torch.arange(pairs) % 2).long(),
            }
            for _ in range(distinct)
        ]

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        index = torch.arange(step * self.pairs, (step + 1) * self.pairs)
        # Ten folds over the whole set, as LFW's View 2.
        fold = index * 10 // (self.count * self.pairs)
        return {**self.batches[step % len(self.batches)], "index": index, "fold": fold}


class ValidationTimer(Callback):
    """Wall time from the start of validation to its end (epoch-end analysis included)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start the clock."""
        self._start = time.perf_counter()

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Stop the clock."""
        self.seconds = time.perf_counter() - self._start


def validate(model: VerificationTask, loader: DataLoader, callbacks: list[Any]) -> float:
    timer = ValidationTimer()
    trainer = quiet_trainer(callbacks=[timer, *callbacks])
    trainer.validate(model, dataloaders=loader, verbose=False)
    return timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="validation images (pairs × 2)")
    parser.add_argument("--batch-pairs", type=int, default=128, help="pairs per batch")
    parser.add_argument("--flip-test", choices=["none", "mean", "concat"], default="none")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--robustness", action="store_true", help="also time the occlusion test")
    parser.add_argument("--robustness-pairs", type=int, default=600)
    add_host_memory_option(parser)
    args = parser.parse_args()
    apply_host_memory_option(args)
    torch.manual_seed(0)
    model = VerificationTask(backbone="deepid2plus", num_identities=10, flip_test=args.flip_test)
    steps = max(1, args.images // (2 * args.batch_pairs))
    loader = DataLoader(PairBatches(steps, args.batch_pairs), batch_size=None)
    images = 2 * steps * args.batch_pairs
    layer = {"FC-4": "backbone.fc"}

    def streamed() -> NeuronProperties:
        return NeuronProperties(
            layers=layer, analyses=["sparsity", "binary_codes"], max_stored=images, pictures=False
        )

    def robust() -> NeuronProperties:
        return NeuronProperties(
            layers=layer,
            analyses=["sparsity", "binary_codes", "robustness"],
            max_stored=images,
            robustness_pairs=args.robustness_pairs,
            pictures=False,
        )

    runs: dict[str, Any] = {"plain": lambda: [], "streamed": lambda: [streamed()]}
    if args.robustness:
        runs["robustness"] = lambda: [robust()]
    validate(model, loader, [])  # warm-up: allocator, kernels, thread pools
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.repeats):
        for name, callbacks in runs.items():  # interleaved, so load spikes hit every side
            best[name] = min(best[name], validate(model, loader, callbacks()))
    print(
        f"DeepID2+ validation of {images} images ({images // 2} pairs, flip_test="
        f"{args.flip_test}), hooks on FC-4 (512-d), best of {args.repeats}:"
    )
    print(f"  without the callback:               {best['plain']:8.2f} s")
    print(f"  with it (sparsity, binary codes):   {best['streamed']:8.2f} s")
    print(f"ratio: {best['streamed'] / best['plain']:.3f} (target <= 1.25)")
    if args.robustness:
        print(
            f"  with the occlusion test ({args.robustness_pairs} pairs x 15 levels): "
            f"{best['robustness']:8.2f} s, ratio {best['robustness'] / best['plain']:.3f} "
            "(a fixed cost: it does not grow with the validation set)"
        )


if __name__ == "__main__":
    main()
