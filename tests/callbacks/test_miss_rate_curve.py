import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from lightning_deepvision.callbacks import plot_miss_rate_curves
from lightning_deepvision.callbacks.miss_rate_curve import toolbox_color
from lightning_deepvision.metrics import MissRateCurve, miss_rate_curve


def _scenes(quality: float, seed: int = 0, frames: int = 200):
    """Frames with 0-3 pedestrians; a detector that finds each with probability ``quality``
    (scored high) and fires on clutter (scored low)."""
    g = torch.Generator().manual_seed(seed)
    detections, ground_truth = [], []
    for _ in range(frames):
        n = int(torch.randint(0, 4, (1,), generator=g))
        h = 50 + 150 * torch.rand(n, generator=g, dtype=torch.float64)
        x = 10 + 500 * torch.rand(n, generator=g, dtype=torch.float64)
        y = 10 + (460 - h) * torch.rand(n, generator=g, dtype=torch.float64)
        boxes = torch.stack([x, y, 0.41 * h, h], 1)
        found = torch.rand(n, generator=g) < quality
        hits = torch.cat(
            [boxes[found], 0.5 + 0.5 * torch.rand(int(found.sum()), 1, generator=g)], 1
        )
        k = int(torch.randint(0, 6, (1,), generator=g))
        ch = 40 + 100 * torch.rand(k, generator=g, dtype=torch.float64)
        clutter = torch.stack(
            [
                600 * torch.rand(k, generator=g, dtype=torch.float64),
                300 * torch.rand(k, generator=g, dtype=torch.float64),
                0.41 * ch,
                ch,
                0.7 * torch.rand(k, generator=g, dtype=torch.float64),
            ],
            1,
        )
        detections.append(torch.cat([hits, clutter]))
        ground_truth.append(
            {"boxes": boxes, "visible": torch.zeros(n, 4), "labels": ["person"] * n}
        )
    return detections, ground_truth


def _curves() -> dict[str, MissRateCurve]:
    return {
        name: miss_rate_curve(*_scenes(quality, seed=1))
        for name, quality in (("good", 0.9), ("poor", 0.5))
    }


def test_toolbox_figure(tmp_path: Path) -> None:
    curves = _curves()
    assert curves["good"].log_average_miss_rate < curves["poor"].log_average_miss_rate
    path = tmp_path / "roc.png"
    figure = plot_miss_rate_curves(curves, path)
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    assert (axes.get_xscale(), axes.get_yscale()) == ("log", "log")
    assert axes.get_xlim() == (2e-4, 50.0) and axes.get_ylim() == (0.035, 1.0)
    assert [t.get_text() for t in axes.get_yticklabels()] == [
        ".05",
        ".10",
        ".20",
        ".30",
        ".40",
        ".50",
        ".64",
        ".80",
        "1",
    ]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("false positives per image", "miss rate")
    # Legend: LAMR% name, worst first, lines in the toolbox's colours and styles.
    texts = [t.get_text() for t in axes.get_legend().get_texts()]
    poor, good = (100 * curves[k].log_average_miss_rate for k in ("poor", "good"))
    assert texts == [f"{poor:.2f}% poor", f"{good:.2f}% good"]
    lines = axes.get_lines()
    assert [line.get_linestyle() for line in lines] == ["-", "--"]
    assert lines[0].get_color() == toolbox_color(1)
    assert toolbox_color(1) == (156 / 255, 242 / 255, 84 / 255)  # mod([78 121 42]*2, 255)/255
    assert toolbox_color(3) == (0.3, 229 / 255, 168 / 255)  # 312 mod 255 = 57, floored at .3
    # The drawn points are the curve's, less those log axes cannot show.
    x, y = lines[1].get_data()
    c = curves["good"]
    shown = (c.fppi > 0) & (c.miss_rate > 0)
    assert np.array_equal(x, c.fppi[shown].numpy()) and np.array_equal(
        y, c.miss_rate[shown].numpy()
    )
    assert len(x) > 50
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == (480, 600, 3)
    assert image.min() < 100 < 250 < image.max()  # drawn on a light background


def test_single_curve_and_whole_percents(tmp_path: Path) -> None:
    curve = miss_rate_curve(*_scenes(0.7, seed=2, frames=50))
    figure = plot_miss_rate_curves(curve, decimals=0, title="Reasonable")
    text = figure.axes[0].get_legend().get_texts()[0].get_text()
    assert text == f"{100 * curve.log_average_miss_rate:.0f}% log-average miss rate"
    assert figure.axes[0].get_title() == "Reasonable"


def test_no_pyplot_figures_and_lazy_export() -> None:
    # (torchmetrics itself imports pyplot; what matters is that no figure is registered there)
    code = (
        "import matplotlib\n"
        "backend = matplotlib.get_backend().lower()\n"
        "import sys, lightning_deepvision.callbacks as c\n"
        "assert 'lightning_deepvision.callbacks.miss_rate_curve' not in sys.modules\n"
        "from lightning_deepvision.metrics import miss_rate_curve\n"
        "import torch\n"
        "curve = miss_rate_curve([torch.tensor([[10., 10, 41, 100, 1]])],"
        " [{'boxes': torch.tensor([[10., 10, 41, 100]]), 'labels': ['person']}])\n"
        "c.plot_miss_rate_curves(curve)\n"
        "import matplotlib, matplotlib.pyplot as plt\n"
        "assert plt.get_fignums() == [], plt.get_fignums()\n"
        "assert matplotlib.get_backend().lower() == backend, matplotlib.get_backend()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
