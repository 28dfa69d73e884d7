"""Samples per second from a litdata stream vs the folder reader it was written from.

An ImageNet tree (``lightning_deepvision.testing.write_imagenet``, JPEGs of ``--image-size``) is
read by ``ImageNet(root, "train")`` and written once by ``optimize_dataset``; the script then
reads every sample (decoded, before transforms) from both, in rounds of alternating order, and
prints the median samples/s of each and the ratio stream / folder, for

(a) the main process alone (decoding and record parsing, no loader), and
(b) a loader with ``--num-workers`` workers and batches of ``--batch-size`` (torch's
    ``DataLoader`` over the folder dataset, litdata's ``StreamingDataLoader`` over the stream;
    the images are cropped to one size so that they collate).

The stream reads its chunks sequentially where the folder reader opens one file per sample, so
on a local disk with a warm page cache the two are close (both are bound by JPEG decoding);
the stream's gain is on object stores and network file systems, which this cannot measure.
Target: ratio >= 0.9 (streaming costs no throughput at the decoder).

    python benchmarks/streaming.py [--classes 16] [--per-class 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from _harness import machine_header
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from lightning_deepvision.datasets import ImageNet
from lightning_deepvision.streaming import StreamingSamples, optimize_dataset, streaming_loader
from lightning_deepvision.testing.imagenet import write_imagenet


def samples_per_second(read: Callable[[], Iterable[Any]], count: int) -> float:
    """``count`` divided by the seconds taken to exhaust ``read()``."""
    start = time.perf_counter()
    seen = sum(1 for _ in read())
    elapsed = time.perf_counter() - start
    if seen != count:
        raise RuntimeError(f"read {seen} items, expected {count}")
    return count / elapsed


def compare(
    name: str,
    folder: Callable[[], Iterable[Any]],
    stream: Callable[[], Iterable[Any]],
    count: int,
    rounds: int,
    unit: str = "samples",
) -> None:
    """Alternate the two readers over ``rounds`` and print their medians and the ratio."""
    rates: dict[str, list[float]] = {"folder": [], "stream": []}
    for round_ in range(rounds):
        order = [("folder", folder), ("stream", stream)]
        for label, read in order if round_ % 2 == 0 else order[::-1]:
            rates[label].append(samples_per_second(read, count))
    folder_rate = statistics.median(rates["folder"])
    stream_rate = statistics.median(rates["stream"])
    print(
        f"{name}: folder {folder_rate:.1f} {unit}/s, stream {stream_rate:.1f} {unit}/s, "
        f"ratio stream/folder {stream_rate / folder_rate:.2f} (median of {rounds} rounds)"
    )


def main() -> None:
    """Write the tree and the stream, then time both readers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=16)
    parser.add_argument("--per-class", type=int, default=32)
    parser.add_argument("--image-size", type=int, nargs=2, default=(224, 256))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    print(machine_header())
    with tempfile.TemporaryDirectory() as tmp:
        root = write_imagenet(
            Path(tmp) / "imagenet",
            layout="sorted",
            num_classes=args.classes,
            train_images_per_class=args.per_class,
            val_images_per_class=1,
            image_size=tuple(args.image_size),
        )
        dataset = ImageNet(root, "train")
        count = len(dataset)
        start = time.perf_counter()
        output = optimize_dataset(dataset, Path(tmp) / "stream", num_workers=args.num_workers)
        print(
            f"{count} JPEGs of {args.image_size[0]}x{args.image_size[1]}; optimize_dataset "
            f"with {args.num_workers} workers: {time.perf_counter() - start:.1f} s"
        )
        stream = StreamingSamples(output)
        compare("(a) main process", lambda: iter(dataset), lambda: iter(stream), count, args.rounds)

        crop = v2.CenterCrop(min(args.image_size) // 2)

        def keep(sample: dict[str, Any]) -> dict[str, Any]:
            return {"image": crop(sample["image"]), "label": sample["label"]}

        cropped = ImageNet(root, "train", transforms=keep)
        cropped_stream = StreamingSamples(output, transforms=keep)
        batches = -(-count // args.batch_size)
        workers = args.num_workers
        compare(
            f"(b) loader, {workers} workers, batch {args.batch_size}",
            lambda: DataLoader(cropped, batch_size=args.batch_size, num_workers=workers),
            lambda: streaming_loader(
                cropped_stream, batch_size=args.batch_size, num_workers=workers
            ),
            batches,
            args.rounds,
            unit="batches",
        )


if __name__ == "__main__":
    main()
