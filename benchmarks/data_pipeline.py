"""Does the data pipeline keep the DeepID2+ training step fed at default settings?

For ``SyntheticFacesDataModule()`` (procedural rendering, done once in ``setup``) and
``IdentityFolderLFWDataModule`` on a JPEG identity folder + LFW tree written by
``lightning_deepvision.testing`` (decoding path), both at their default loader settings
(``num_workers`` = half the usable CPUs, persistent workers, P=32 × K=4 = 128 images a batch),
the script measures in one run:

(a) the training loader alone: seconds per batch of ``train_dataloader()`` iterated without a
    model (after warm-up), and where one sample's time goes in the main process (rendering or
    decoding, the transforms v2 pipeline, collate);
(b) the DeepID2+ ``VerificationTask`` training step on the same batch size, in a plain loop
    (forward, joint loss on every level, backward, SGD) on real batches of that loader;
(c) a Lightning ``fit`` of N steps fed by the real loader vs the same fit fed by those batches
    precomputed (``FixedBatches``), both timed as wall time between consecutive step ends (so
    waiting for data counts), in rounds of alternating order: the median ratio end-to-end /
    precomputed is 1.0 when the step is never data-bound. Target: ratio <= 1.05.

On a machine with few cores a loader worker is never free: it takes its CPU time from the
training step, so (c) exceeds 1 by about (a) / (b) / cores even when (a) < (b).

    python benchmarks/data_pipeline.py [--steps 10] [--warmup 2] [--rounds 2] [--num-workers N]
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import torch
from _harness import (
    STEP_LR,
    FixedBatches,
    build_task,
    median_after_warmup,
    plain_step_times,
    timing_trainer,
)
from lightning.pytorch import Callback, LightningDataModule
from torch.utils.data import DataLoader, default_collate

from lightning_deepvision.datamodules import (
    IdentityFolderLFWDataModule,
    SyntheticFacesDataModule,
    VerificationDataModule,
)
from lightning_deepvision.datasets.image_io import read_image
from lightning_deepvision.datasets.synthetic import render_face
from lightning_deepvision.testing import write_identity_folder, write_lfw


class StepIntervals(Callback):
    """Wall time between consecutive training-step ends: step, logging *and* data wait."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_end(self, *args: Any) -> None:
        """Record the time."""
        self.ends.append(time.perf_counter())

    @property
    def intervals(self) -> list[float]:
        """Seconds from each step end to the next."""
        return [b - a for a, b in zip(self.ends, self.ends[1:], strict=False)]


def fit_intervals(
    model: Any, steps: int, *, datamodule: LightningDataModule | None = None, loader: Any = None
) -> list[float]:
    """Seconds between step ends of a ``Trainer.fit`` of ``steps`` steps (no validation)."""
    timer = StepIntervals()
    trainer = timing_trainer(steps, timer)
    trainer.fit(model, train_dataloaders=loader, datamodule=datamodule)
    return timer.intervals


def epochs(loader: DataLoader[Any]) -> Generator[dict[str, torch.Tensor], None, None]:
    """The loader's batches, epoch after epoch (as ``Trainer.fit`` draws them)."""
    epoch = 0
    while True:
        loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        yield from loader
        epoch += 1


def loader_seconds_per_batch(
    data: VerificationDataModule, batches: int, warmup: int
) -> tuple[float, list[dict[str, torch.Tensor]]]:
    """Seconds per training batch of the loader alone (after warm-up), and the batches seen."""
    data.setup("fit")
    stream = epochs(data.train_dataloader())
    seen = [next(stream) for _ in range(warmup)]  # worker start-up and first batches
    start = time.perf_counter()
    for _ in range(batches):
        seen.append(next(stream))
    seconds = (time.perf_counter() - start) / batches
    stream.close()  # shuts the workers down
    return seconds, seen


def per_sample_ms(fn: Callable[[int], Any], count: int) -> float:
    """Milliseconds per call of ``fn(i)`` for ``i < count`` (in this process)."""
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return (time.perf_counter() - start) / count * 1e3


def sample_profile(data: VerificationDataModule, count: int) -> dict[str, float]:
    """Where one training sample's time goes, in ms, on one thread like a loader worker."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # DataLoader workers run on one intra-op thread
    try:
        return _sample_profile(data, count)
    finally:
        torch.set_num_threads(threads)


def _sample_profile(data: VerificationDataModule, count: int) -> dict[str, float]:
    start = time.perf_counter()
    data.setup("fit")
    setup_seconds = time.perf_counter() - start
    dataset: Any = data.dataset("train")
    transform = data.image_transforms(train=True)
    raw = copy.copy(dataset)  # the same dataset without transforms
    raw.transforms = None
    profile: dict[str, float] = {
        # Once per run, not per epoch: SyntheticFacesDataModule pre-renders its images here.
        "setup('fit'), once, per training image": setup_seconds / len(dataset) * 1e3
    }
    if isinstance(data, SyntheticFacesDataModule):
        profile["render_face (image)"] = per_sample_ms(
            lambda i: render_face(i % 500, i, data.image_size, data.seed), count
        )
        profile[f"dataset item, no transforms ({type(raw).__name__})"] = per_sample_ms(
            raw.__getitem__, count
        )
    else:
        profile["read_image (decode)"] = per_sample_ms(
            lambda i: read_image(dataset.samples[i]), count
        )
        profile["dataset item, no transforms"] = per_sample_ms(raw.__getitem__, count)
    images = [raw[i]["image"] for i in range(count)]
    profile["transforms v2 (train)"] = per_sample_ms(lambda i: transform(images[i]), count)
    profile["dataset item with transforms"] = per_sample_ms(dataset.__getitem__, count)
    samples = [dataset[i] for i in range(data.batch_size)]
    start = time.perf_counter()
    for _ in range(5):
        default_collate(samples)
    profile["collate (per sample)"] = (time.perf_counter() - start) / 5 / len(samples) * 1e3
    return profile


def measure(
    name: str,
    make_data: Callable[[], VerificationDataModule],
    steps: int,
    warmup: int,
    rounds: int,
) -> float:
    """Print (a), (b) and (c) for one data module; return the end-to-end/precomputed ratio."""
    data = make_data()
    print(
        f"\n== {name}: batch {data.batch_size}, num_workers {data.num_workers}, "
        f"persistent_workers {data.persistent_workers}, pin_memory {data.pin_memory}"
    )
    for part, ms in sample_profile(make_data(), 64).items():
        print(f"   {part:<58s} {ms:7.2f} ms/sample")

    loader_s, batches = loader_seconds_per_batch(make_data(), steps, warmup)
    print(f"(a) loader alone: {loader_s * 1e3:8.1f} ms/batch")

    identities = make_data().num_classes
    torch.manual_seed(0)
    plain = median_after_warmup(
        plain_step_times(build_task("deepid2plus", identities), batches, steps + warmup, STEP_LR),
        warmup,
    )
    print(f"(b) DeepID2+ step (plain loop): {plain * 1e3:8.1f} ms/step")
    print(f"    loader / step = {loader_s / plain:.2f} (< 1: the loader alone keeps up)")

    def precomputed_fit() -> float:
        torch.manual_seed(0)
        loader = DataLoader(FixedBatches(batches, steps + warmup), batch_size=None)
        model = build_task("deepid2plus", identities)
        return median_after_warmup(fit_intervals(model, steps + warmup, loader=loader), warmup)

    def end_to_end_fit() -> float:
        torch.manual_seed(0)
        model = build_task("deepid2plus", identities)
        intervals = fit_intervals(model, steps + warmup, datamodule=make_data())
        return median_after_warmup(intervals, warmup)

    # Rounds in alternating order, so that drift of the machine does not favour either side.
    ratios = []
    for round_index in range(rounds):
        if round_index % 2 == 0:
            precomputed = precomputed_fit()
            end_to_end = end_to_end_fit()
        else:
            end_to_end = end_to_end_fit()
            precomputed = precomputed_fit()
        ratios.append(end_to_end / precomputed)
        print(
            f"(c) Lightning fit, round {round_index}: real loader {end_to_end * 1e3:8.1f} ms/step, "
            f"precomputed {precomputed * 1e3:8.1f} ms/step, ratio {ratios[-1]:.3f}"
        )
    ratio = statistics.median(ratios)
    print(f"(c) end-to-end / precomputed = {ratio:.3f} (median of {rounds}; target <= 1.05)")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10, help="timed steps / batches")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps / batches first")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the fits in (c)")
    parser.add_argument(
        "--num-workers",
        type=int,
        default=None,
        help="override the data modules' default loader workers (to try alternatives)",
    )
    args = parser.parse_args()
    workers = args.num_workers
    # Keep the report readable: Lightning's start-up banners and notes that are no news here.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*but have no `val_dataloader`.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    print(f"usable CPUs {cpus}, torch intra-op threads {torch.get_num_threads()}")

    ratios = {
        "SyntheticFacesDataModule()": measure(
            "SyntheticFacesDataModule()",
            lambda: SyntheticFacesDataModule(num_workers=workers),
            args.steps,
            args.warmup,
            args.rounds,
        )
    }
    with tempfile.TemporaryDirectory() as tmp:
        # 250x250 JPEGs like CASIA-WebFace and LFW, so that decoding costs what it does there;
        # 40 rendered identities copied 5 times (rendering is the slow part), 12 batches/epoch.
        train_root = write_identity_folder(
            Path(tmp) / "train", num_identities=40, images_per_identity=8, image_size=(250, 250)
        )
        for copy in range(1, 5):
            for folder in sorted(train_root.glob("id_00[0-3]?")):
                shutil.copytree(folder, train_root / f"copy{copy}_{folder.name}")
        lfw_root = write_lfw(Path(tmp) / "lfw")
        ratios["IdentityFolderLFWDataModule(JPEG)"] = measure(
            "IdentityFolderLFWDataModule(train_root, lfw_root)",
            lambda: IdentityFolderLFWDataModule(train_root, lfw_root, num_workers=workers),
            args.steps,
            args.warmup,
            args.rounds,
        )
    print()
    for name, ratio in ratios.items():
        print(f"{name}: end-to-end / precomputed = {ratio:.3f} (target <= 1.05)")
    print(f"worst ratio {max(ratios.values()):.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
