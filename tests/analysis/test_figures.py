import subprocess
import sys

import torch

CODE = """
import torch
from lightning_deepvision.analysis import figures
from lightning_deepvision.analysis.figures import figure_to_array

g = torch.Generator().manual_seed(0)
made = [
    figures.sparsity_figure(
        {"FC-1": torch.tensor([0, 3, 5, 2, 0]), "FC-2": torch.tensor([1, 1, 1, 1, 1])},
        {"FC-1": torch.rand(4, generator=g), "FC-2": torch.rand(4, generator=g)},
    ),
    figures.selectivity_figure(
        {"FC-1": torch.rand(3, 6, generator=g)},
        {"FC-1": torch.rand(3, 6, generator=g) > 0.5},
        ["a", "b", "c"],
    ),
    figures.attribute_histograms_figure(
        "FC-1", ["a", "b", "c"], torch.rand(20, 3, generator=g),
        torch.rand(20, 3, generator=g) > 0.5, [1, 2, 3], [0.9, 0.8, 0.7], [True, False, True],
    ),
    figures.top_images_figure(
        [("a", torch.zeros(4, 3, 11, 9, dtype=torch.uint8)),
         ("b", torch.full((2, 1, 11, 9), 255, dtype=torch.uint8))], 4,
    ),
    figures.robustness_figure(
        {"area": {"FC-1": [0.9, 0.8]}, "blocks": {"FC-1": [0.9, 0.7]}},
        {"area": [0.0, 0.1], "blocks": [0.0, 0.1]},
    ),
    figures.probes_figure({"FC-1": [0.6, float("nan")], "FC-2": [0.7, 0.8]}, ["a", "b"],
                          [True, False]),
]
for figure in made:
    image = figure_to_array(figure)
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype.name == "uint8"
    assert image.min() < 128 < image.max(), "something is drawn on a light background"
import matplotlib.pyplot as plt
assert plt.get_fignums() == [], plt.get_fignums()
print("ok", len(made))
"""


def test_every_figure_draws_without_pyplot() -> None:
    # A fresh interpreter: no figure may be registered with pyplot by drawing.
    result = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok 6"


def test_top_images_mosaic_places_each_row() -> None:
    from lightning_deepvision.analysis.figures import top_images_figure

    rows = [("dark", torch.zeros(2, 3, 10, 10, dtype=torch.uint8))]
    rows.append(("light", torch.full((3, 3, 10, 10), 200, dtype=torch.uint8)))
    figure = top_images_figure(rows, 3)
    mosaic = figure.axes[0].images[0].get_array()
    assert mosaic.shape == (2 * 12, 3 * 12, 3)
    assert (mosaic[:10, :10] == 0).all() and (mosaic[12:22, 24:34] == 200).all()
    assert (mosaic[:10, 24:34] == 255).all()  # the missing third image of row one stays blank
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["dark", "light"]
