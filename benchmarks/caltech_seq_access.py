"""Caltech .seq frame access: ``seq[i]`` at random ``i`` vs decoding from the start.

A Norpix ``.seq`` file stores JPEG frames of varying size one after another, so a reader without
an index (OpenCV's ``VideoCapture``, a JPEG-marker splitter) reaches frame ``i`` by reading, and
usually decoding, every frame before it. ``SeqFile`` walks the byte counts once when the file is
opened (four bytes read per frame, nothing decoded) and then reads and decodes only frame ``i``.

The benchmark writes a Caltech-sized video (640x480 JPEG frames at 30 fps) with the library's
writer, then times, at the same random frame indices and interleaved so that load spikes hit
both:

- indexed: ``seq[i]`` (one read, one decode);
- from the start: decode frames ``0 .. i`` in order (the baseline);

and checks both give the same pixels. It prints the one-time index cost and the ratio of the
mean access times, which grows with the position of the frames asked for (about half the
video's length in decodes for uniform random frames).

Run: ``python benchmarks/caltech_seq_access.py [--frames 300] [--accesses 12]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lightning_deepvision.datasets.caltech import SeqFile
from lightning_deepvision.datasets.caltech import seq as seq_module
from lightning_deepvision.testing import write_seq


def caltech_like_frames(count: int, seed: int = 0) -> list[torch.Tensor]:
    """640x480 frames with smooth structure and noise, so JPEG sizes vary like real video."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 1, 480)[:, None]
    cols = np.linspace(0, 1, 640)[None, :]
    base = np.stack([120 + 80 * rows + 0 * cols, 100 + 60 * cols + 0 * rows, 90 + 40 * rows * cols])
    frames = []
    for i in range(count):
        shifted = np.roll(base, 3 * i, axis=2) + rng.normal(0, 12, base.shape)
        frames.append(torch.from_numpy(np.clip(shifted, 0, 255).astype(np.uint8)))
    return frames


def from_the_start(seq: SeqFile, index: int) -> torch.Tensor:
    """The baseline: decode every frame up to ``index`` in order, keep the last."""
    frame = seq[0]
    for j in range(1, index + 1):
        frame = seq.decode(seq.read_bytes(j), j)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames in the video")
    parser.add_argument("--accesses", type=int, default=12, help="random frames read")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = write_seq(Path(tmp) / "V000.seq", caltech_like_frames(args.frames), quality=85)
        size_mb = path.stat().st_size / 2**20
        seq_module._MEMORY_INDEX.clear()
        start = time.perf_counter()
        seq = SeqFile(path)
        index_time = time.perf_counter() - start
        print(f"video: {len(seq)} frames of {seq.width}x{seq.height} JPEG, {size_mb:.1f} MiB")
        print(f"index built once in {index_time * 1e3:.2f} ms ({len(seq)} byte counts read)")

        seq[0]  # warm-up
        indices = random.Random(0).sample(range(len(seq)), args.accesses)
        indexed, baseline = [], []
        for i in indices:
            t0 = time.perf_counter()
            a = seq[i]
            t1 = time.perf_counter()
            b = from_the_start(seq, i)
            t2 = time.perf_counter()
            assert torch.equal(a, b), f"frame {i} differs"
            indexed.append(t1 - t0)
            baseline.append(t2 - t1)
        mean_indexed = statistics.mean(indexed)
        mean_baseline = statistics.mean(baseline)
        print(f"random frames (mean index {statistics.mean(indices):.0f}): {indices}")
        print(f"seq[i]:              {mean_indexed * 1e3:8.2f} ms per frame (one decode)")
        print(
            f"decode from start:   {mean_baseline * 1e3:8.2f} ms per frame "
            f"({statistics.mean(i + 1 for i in indices):.0f} decodes on average)"
        )
        print(f"ratio (from start / indexed): {mean_baseline / mean_indexed:.1f}x")


if __name__ == "__main__":
    main()
