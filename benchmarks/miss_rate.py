"""Caltech log-average miss rate: the vectorised evaluation vs a plain per-detection loop.

The Caltech test set (every 30th frame of set06-set10: 4,024 frames) with about 100 detections
and 5 ground-truth objects a frame, as a detector's output before non-maximum suppression
thresholds look. The baseline is what a straightforward port of ``bbGt('evalRes')`` looks like:
per image, a Python loop over the detections in score order, each compared with the image's
ground truth in numpy. The library evaluates every image at once in torch (overlaps of all
pairs in one pass, greedy matching in rounds). Both must give the same LAMR to the last bit.

Run: ``python benchmarks/miss_rate.py [--frames 4024] [--detections 100] [--objects 5]``.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np
import torch
from _harness import interleaved_best

from lightning_deepvision.metrics import log_average_miss_rate
from lightning_deepvision.metrics.miss_rate import ASPECT_RATIO, CALTECH_BOUNDS, FPPI_REFERENCE

IGNORE_LABELS = ("person?", "people", "ignore")


def make_frames(
    frames: int, detections: int, objects: int, seed: int = 0
) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """Pedestrians (some occluded, small or labelled as ignore regions) and detections.

    A few detections jittered around each pedestrian, the rest clutter; continuous scores.
    """
    g = torch.Generator().manual_seed(seed)
    labels_pool = ["person"] * 8 + ["person?", "people"]
    dts, gts = [], []
    for _ in range(frames):
        n = int(torch.randint(0, 2 * objects + 1, (1,), generator=g))
        h = 30 + 170 * torch.rand(n, generator=g, dtype=torch.float64)
        w = h * (0.35 + 0.15 * torch.rand(n, generator=g, dtype=torch.float64))
        x = -10 + 640 * torch.rand(n, generator=g, dtype=torch.float64)
        y = 480 * torch.rand(n, generator=g, dtype=torch.float64) - h / 2
        boxes = torch.stack([x, y, w, h], 1)
        occluded = torch.rand(n, generator=g) < 0.3
        visible = boxes.clone()
        visible[:, 3] *= torch.rand(n, generator=g, dtype=torch.float64)
        visible[~occluded] = 0
        labels = [labels_pool[int(i)] for i in torch.randint(0, 10, (n,), generator=g)]
        k = int(torch.randint(detections // 2, 3 * detections // 2 + 1, (1,), generator=g))
        near = min(k, 4 * n)
        around = boxes[torch.randint(0, max(n, 1), (near,), generator=g)] if n else boxes[:0]
        around = around + torch.randn(near, 4, generator=g, dtype=torch.float64) * 6
        ch = 25 + 200 * torch.rand(k - near, generator=g, dtype=torch.float64)
        clutter = torch.stack(
            [
                640 * torch.rand(k - near, generator=g, dtype=torch.float64),
                400 * torch.rand(k - near, generator=g, dtype=torch.float64),
                0.41 * ch,
                ch,
            ],
            1,
        )
        scores = torch.rand(k, 1, generator=g, dtype=torch.float64)
        scores[:near] += 0.5  # detections near pedestrians tend to score higher
        dts.append(torch.cat([torch.cat([around, clutter]), scores], 1))
        gts.append({"boxes": boxes, "visible": visible, "labels": labels})
    return dts, gts


def _overlaps(dt: np.ndarray, gt: np.ndarray, ignore: np.ndarray) -> np.ndarray:
    """Overlap of one detection with every ground-truth box (compOas for one row)."""
    iw = np.minimum(dt[0] + dt[2], gt[:, 0] + gt[:, 2]) - np.maximum(dt[0], gt[:, 0])
    ih = np.minimum(dt[1] + dt[3], gt[:, 1] + gt[:, 3]) - np.maximum(dt[1], gt[:, 1])
    t = iw * ih
    da = dt[2] * dt[3]
    union = np.where(ignore, da, da + gt[:, 2] * gt[:, 3] - t)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((iw > 0) & (ih > 0), t / union, 0.0)


def naive(dts: list[torch.Tensor], gts: list[dict[str, Any]]) -> float:
    """The toolbox's steps for the reasonable setting, written plainly.

    Per image loadGt and loadDt in numpy and evalRes as a Python loop over the detections;
    then compRoc.
    """
    h_lo, h_hi, v_lo, overlap = 50.0, math.inf, 0.65, 0.5
    scores, flags, positives = [], [], 0
    for dt_t, gt in zip(dts, gts, strict=True):
        labels = gt["labels"]
        loaded = np.array([lbl == "person" or lbl in IGNORE_LABELS for lbl in labels], bool)
        person = np.array([lbl == "person" for lbl in labels], bool)[loaded]
        box = gt["boxes"].numpy()[loaded].copy()
        vis = gt["visible"].numpy()[loaded]
        x, y, w, h = box.T
        with np.errstate(invalid="ignore", divide="ignore"):
            vf = np.where((vis == 0).all(1), math.inf, vis[:, 2] * vis[:, 3] / (w * h))
        b = CALTECH_BOUNDS
        keep = person & (h >= h_lo) & (h < h_hi) & (vf >= v_lo)
        keep &= (x >= b[0]) & (x + w <= b[2]) & (y >= b[1]) & (y + h <= b[3])
        d = h * ASPECT_RATIO - w
        box[:, 0] = np.where(keep, x - d / 2, x)
        box[:, 2] = np.where(keep, w + d, w)
        ignore = ~keep
        order = np.argsort(ignore, kind="stable")
        box, ignore = box[order], ignore[order]
        dt = dt_t.numpy().copy()
        d = dt[:, 3] * ASPECT_RATIO - dt[:, 2]
        dt[:, 0] -= d / 2
        dt[:, 2] += d
        dt = dt[(dt[:, 3] >= h_lo * (1 / 1.25)) & (dt[:, 3] < h_hi * 1.25)]
        dt = dt[np.argsort(-dt[:, 4], kind="stable")]
        matched = np.zeros(len(box), bool)
        for row in dt:  # the loop the library avoids
            oa = _overlaps(row, box, ignore)
            free = (oa >= overlap) & ~ignore & ~matched
            if free.any():
                best = np.flatnonzero(free & (oa == oa[free].max()))[-1]
                matched[best] = True
                scores.append(row[4])
                flags.append(True)
            elif not ((oa >= overlap) & ignore).any():
                scores.append(row[4])
                flags.append(False)
        positives += int((~ignore).sum())
    order = np.argsort(-np.array(scores), kind="stable")
    tp = np.array(flags, bool)[order]
    fppi = np.cumsum(~tp) / len(gts)
    recall = np.cumsum(tp) / positives
    xs, ys = np.concatenate([[-math.inf], fppi]), np.concatenate([[0.0], recall])
    miss = [1 - ys[np.flatnonzero(xs <= r)[-1]] for r in FPPI_REFERENCE]
    return math.exp(sum(math.log(max(1e-10, m)) for m in miss) / len(miss))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4024)
    parser.add_argument("--detections", type=int, default=100, help="mean per frame")
    parser.add_argument("--objects", type=int, default=5, help="mean ground truth per frame")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the vectorised side")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's); on a machine whose cores are busy with other "
        "work, 1 avoids waiting for a busy core at every parallel tensor operation",
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dts, gts = make_frames(args.frames, args.detections, args.objects)
    log_average_miss_rate(dts[:10], gts[:10])  # warm-up
    (t_vec, lamr), (t_naive, ref) = interleaved_best(
        [lambda: log_average_miss_rate(dts, gts), lambda: naive(dts, gts)],
        repeats=[args.repeats, 1],
    )
    assert lamr == ref, (lamr, ref)
    n_dt = sum(len(d) for d in dts)
    n_gt = sum(len(g["labels"]) for g in gts)
    print(
        f"frames={args.frames} detections={n_dt} ({n_dt / args.frames:.1f}/frame) "
        f"ground truth={n_gt} ({n_gt / args.frames:.1f}/frame) threads={torch.get_num_threads()}"
    )
    print(f"LAMR (reasonable) {100 * lamr:.4f} % (identical in both)")
    print(f"per-detection Python loop: {t_naive * 1e3:9.1f} ms")
    print(f"vectorised (torch):        {t_vec * 1e3:9.1f} ms")
    print(f"speed-up: {t_naive / t_vec:.1f}x")


if __name__ == "__main__":
    main()
