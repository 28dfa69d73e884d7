"""``predict`` with the PredictionWriter vs the same ``predict`` writing nothing.

Both sides run ``Trainer.predict(return_predictions=False)`` of the same task over the same
precomputed images (a dataset that indexes a tensor, each sample with a ``path``), interleaved
over several rounds; the script prints the best time of each and their ratio. The writer side
also writes every batch's shard, merges them into the ``.npy`` arrays and ``predictions.csv``
and removes the shards. Target: ratio <= 1.05 (the files cost a few percent of the network).

    python benchmarks/prediction_writer.py [--task verification|parsing] [--images 2048]

``verification``: DeepID2 embeddings (160 floats per 55x47 face, the recipe's network);
``parsing``: the tiny cross-modality parser's label maps (an int64 map per 64x64 image, the
largest output per sample of the library's tasks).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch
from _harness import interleaved_best, machine_header
from lightning.pytorch import LightningModule
from torch.utils.data import DataLoader, Dataset

from lightning_deepvision.callbacks import PredictionWriter
from lightning_deepvision.tasks import ParsingTask, VerificationTask
from lightning_deepvision.testing.trainers import quiet_trainer


class IndexedImages(Dataset[dict[str, Any]]):
    """Sample ``i`` is ``images[i]`` with a made-up file path (no decoding on either side)."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.images[index], "path": f"images/{index:07d}.jpg"}


def build(task: str) -> tuple[LightningModule, torch.Size]:
    """The task (eval mode, seeded weights) and the input size of its images."""
    torch.manual_seed(0)
    if task == "verification":
        return VerificationTask(backbone="deepid2", flip_test="none"), torch.Size((3, 55, 47))
    model = ParsingTask(backbone="cross_modality_parsing_tiny", num_classes=11)
    return model, torch.Size((3, 64, 64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("verification", "parsing"), default="verification")
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(machine_header())
    model, shape = build(args.task)
    images = torch.randn(args.images, *shape, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(IndexedImages(images), batch_size=args.batch_size)

    with tempfile.TemporaryDirectory() as directory:
        runs = iter(range(10**6))

        def plain() -> None:
            trainer = quiet_trainer(default_root_dir=directory)
            trainer.predict(model, dataloaders=loader, return_predictions=False)

        def written() -> Path:
            writer = PredictionWriter(output_dir=Path(directory) / f"run{next(runs)}")
            trainer = quiet_trainer(callbacks=[writer], default_root_dir=directory)
            trainer.predict(model, dataloaders=loader, return_predictions=False)
            return writer.files["index"].parent

        plain()  # warm-up: first-call allocations and thread pools
        (plain_time, _), (writer_time, out) = interleaved_best(
            [plain, written], [args.rounds, args.rounds]
        )
        size = sum(p.stat().st_size for p in Path(str(out)).iterdir()) / 2**20
    ratio = writer_time / plain_time
    print(
        f"{args.task}: predict of {args.images} images with PredictionWriter "
        f"{writer_time:.2f} s ({size:.1f} MiB written) / without {plain_time:.2f} s = "
        f"ratio {ratio:.3f} (target <= 1.05)"
    )


if __name__ == "__main__":
    main()
