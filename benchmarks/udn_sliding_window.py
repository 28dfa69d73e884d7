"""Sliding-window scoring of a frame pyramid: one fully convolutional pass vs cropped windows.

Both sides score every window (stride 4, UDN's pooling stride) of every level of the image
pyramid ``DetectionTask`` builds for a 640x480 frame, with the same UDN on its stacked input
channels. The fast side is ``UDN.score_map`` on each level; the baseline crops the windows of
each level and applies the same model to them one batch at a time. The cropped baseline takes
minutes on a CPU for the whole pyramid, so it is timed on ``--baseline-batches`` batches per
level and scaled linearly to the level's window count (its cost is linear in the windows); the
fast side is timed on the whole pyramid. Both sides agree on the windows they score (checked on
the timed batches). Target: ratio >= 20.

    python benchmarks/udn_sliding_window.py [--conv1-channels 16] [--frame 480 640]
"""

from __future__ import annotations

import argparse
import time

import torch

from lightning_deepvision.models.udn import UDN
from lightning_deepvision.tasks.sliding_window import crop_windows, pyramid_scales, resize_even
from lightning_deepvision.transforms import udn_channels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conv1-channels", type=int, default=16)
    parser.add_argument("--frame", type=int, nargs=2, default=(480, 640))
    parser.add_argument("--min-height", type=float, default=50.0)
    parser.add_argument("--scales-per-octave", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--baseline-batches", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = UDN(in_chans=8, conv1_channels=args.conv1_channels).eval()
    frame = torch.rand(1, 3, *args.frame) * 2 - 1
    scales = pyramid_scales(
        args.frame, (84, 28), 0.1, args.min_height, None, args.scales_per_octave
    )
    levels = [udn_channels(resize_even(frame, s)[0]) for s in scales]
    with torch.no_grad():
        model.score_map(levels[-1])  # warm-up
        start = time.perf_counter()
        maps = [model.score_map(level)[0] for level in levels]
        dense = time.perf_counter() - start
        windows = sum(m.numel() for m in maps)
        cropped, timed = 0.0, 0
        for level, scores in zip(levels, maps, strict=True):
            crops = crop_windows(level[0], (84, 28), model.stride)
            count = min(len(crops), args.batch_size * args.baseline_batches)
            start = time.perf_counter()
            out = torch.cat(
                [model(crops[k : k + args.batch_size]) for k in range(0, count, args.batch_size)]
            )
            elapsed = time.perf_counter() - start
            assert torch.allclose(out.reshape(-1), scores.reshape(-1)[:count], atol=1e-4)
            cropped += elapsed * len(crops) / count
            timed += count
    print(
        f"{args.frame[1]}x{args.frame[0]} frame, {len(scales)} scales "
        f"({scales[0]:.2f} .. {scales[-1]:.2f}), {windows} windows, UDN conv1 "
        f"{args.conv1_channels}: one pass {dense:.2f} s; cropped windows in batches of "
        f"{args.batch_size} {cropped:.1f} s ({timed} windows timed, scaled to all) "
        f"= ratio {cropped / dense:.1f} (target >= 20)"
    )


if __name__ == "__main__":
    main()
