"""One CD-1 pre-training epoch of a 784-500 RBM: LayerwisePretraining vs a plain PyTorch loop.

The callback side pre-trains ``layers.0`` of a 784-500 :class:`MLP` inside ``Trainer.fit``
(batches from the trainer's loader, the layer's input captured from the network's forward,
Hinton's momentum and weight cost, the per-epoch log); the plain side is Hinton's ``rbm.m``
transcribed to torch (the same five matrix products, momentum increments and weight cost),
reading the same precomputed batches through the same kind of ``DataLoader``, as a plain
training loop does. Epochs are interleaved over several rounds; the script prints
the best epoch time of each, their ratio, and the median of the rounds' ratios (on a loaded
machine one round can be hit by a load spike: compare both). Target: ratio <= 1.05.

    python benchmarks/rbm_pretraining.py [--batches 100] [--batch-size 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _harness import FixedBatches, add_host_memory_option, apply_host_memory_option
from lightning.pytorch import LightningModule, Trainer
from torch.utils.data import DataLoader

from lightning_deepvision.callbacks import LayerwisePretraining
from lightning_deepvision.models.mlp import MLP
from lightning_deepvision.tasks import ClassificationTask
from lightning_deepvision.testing.trainers import quiet_trainer

LR, WEIGHT_COST, MOMENTUM = 0.1, 0.0002, 0.5


class TimedPretraining(LayerwisePretraining):
    """Records the wall time of the pre-training (one epoch of one layer)."""

    seconds = 0.0

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Pre-train, timed."""
        start = time.perf_counter()
        super().on_train_start(trainer, pl_module)
        self.seconds = time.perf_counter() - start


def callback_epoch(batches: list[dict[str, torch.Tensor]], hidden: int) -> float:
    """Seconds of one pre-training epoch through the callback."""
    torch.manual_seed(0)
    task = ClassificationTask(backbone=MLP(784, [hidden], num_classes=0), num_classes=10)
    callback = TimedPretraining(
        ["layers.0"], epochs=1, lr=LR, weight_cost=WEIGHT_COST, save_checkpoint=False, samples=0
    )
    # One supervised step follows the pre-training (fit has to start for the callback to run).
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0, callbacks=[callback])
    loader = DataLoader(FixedBatches(batches, len(batches)), batch_size=None)
    trainer.fit(task, train_dataloaders=loader)
    return callback.seconds


def plain_epoch(batches: list[dict[str, torch.Tensor]], hidden: int) -> float:
    """Seconds of the same epoch of CD-1 updates, Hinton's rbm.m written out in torch."""
    torch.manual_seed(0)
    visible = batches[0]["image"][0].numel()
    weight = torch.randn(hidden, visible) * 0.1
    hidden_bias, visible_bias = torch.zeros(hidden), torch.zeros(visible)
    weight_inc = torch.zeros_like(weight)
    hidden_inc, visible_inc = torch.zeros_like(hidden_bias), torch.zeros_like(visible_bias)
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(FixedBatches(batches, len(batches)), batch_size=None)
    start = time.perf_counter()
    errors = []
    for batch in loader:
        data = batch["image"].flatten(1)
        cases = data.shape[0]
        pos_hid = torch.sigmoid(data @ weight.T + hidden_bias)
        pos_prods = pos_hid.T @ data
        hid_states = torch.bernoulli(pos_hid, generator=generator)
        neg_data = torch.sigmoid(hid_states @ weight + visible_bias)
        neg_hid = torch.sigmoid(neg_data @ weight.T + hidden_bias)
        neg_prods = neg_hid.T @ neg_data
        errors.append(((data - neg_data) ** 2).sum(1).mean())
        weight_inc = MOMENTUM * weight_inc + LR * (
            (pos_prods - neg_prods) / cases - WEIGHT_COST * weight
        )
        visible_inc = MOMENTUM * visible_inc + LR * (data.sum(0) - neg_data.sum(0)) / cases
        hidden_inc = MOMENTUM * hidden_inc + LR * (pos_hid.sum(0) - neg_hid.sum(0)) / cases
        weight += weight_inc
        visible_bias += visible_inc
        hidden_bias += hidden_inc
    float(torch.stack(errors).mean())  # the epoch's error, as the callback logs it
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    add_host_memory_option(parser)
    args = parser.parse_args()
    apply_host_memory_option(args)
    generator = torch.Generator().manual_seed(0)
    batches = [
        {
            "image": torch.rand(args.batch_size, 1, 28, 28, generator=generator),
            "label": torch.randint(0, 10, (args.batch_size,), generator=generator),
        }
        for _ in range(args.batches)
    ]
    callback_times, plain_times = [], []
    for round_index in range(args.rounds):
        plain_times.append(plain_epoch(batches, args.hidden))
        callback_times.append(callback_epoch(batches, args.hidden))
        print(
            f"round {round_index}: callback {callback_times[-1]:.3f} s, "
            f"plain {plain_times[-1]:.3f} s, ratio {callback_times[-1] / plain_times[-1]:.3f}"
        )
    best_callback, best_plain = min(callback_times), min(plain_times)
    print(
        f"784-{args.hidden} RBM, CD-1, {args.batches} batches of {args.batch_size}: "
        f"LayerwisePretraining epoch {best_callback:.3f} s / plain loop {best_plain:.3f} s "
        f"= ratio {best_callback / best_plain:.3f}; median of the rounds' ratios "
        f"{statistics.median(c / p for c, p in zip(callback_times, plain_times, strict=True)):.3f}"
        " (target <= 1.05)"
    )


if __name__ == "__main__":
    main()
