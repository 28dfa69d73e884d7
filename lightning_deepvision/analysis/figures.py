"""Pictures of the neuron analyses of DeepID2+ (Sun, Wang, Tang, CVPR 2015, §5–7).

Every figure is a :class:`matplotlib.figure.Figure` drawn by its own Agg canvas, never through
``pyplot``, so that plotting neither chooses a backend nor keeps figures alive in matplotlib's
global state, and works on headless hosts. :func:`figure_to_array` renders one to an RGB array
for the loggers. Matplotlib is imported when a figure is first drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "attribute_histograms_figure",
    "figure_to_array",
    "new_figure",
    "probes_figure",
    "robustness_figure",
    "selectivity_figure",
    "sparsity_figure",
    "top_images_figure",
]


def new_figure(
    width: float,
    height: float,
    dpi: int = 100,
    layout: Literal["constrained", "compressed", "tight"] | None = None,
) -> Figure:
    """A figure of ``width × height`` inches with an Agg canvas of its own.

    Args:
        width: Width in inches.
        height: Height in inches.
        dpi: Pixels per inch.
        layout: Matplotlib's layout engine (``"constrained"``, ``"tight"``, ``None``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi, layout=layout)
    FigureCanvasAgg(figure)  # attaches itself to the figure
    return figure


def figure_to_array(figure: Figure) -> np.ndarray:
    """Render ``figure`` to an ``H × W × 3`` ``uint8`` array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = figure.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _grid(count: int, columns: int) -> tuple[int, int]:
    columns = max(1, min(columns, count))
    return (count + columns - 1) // columns, columns


def sparsity_figure(
    active_histograms: Mapping[str, Tensor], neuron_fractions: Mapping[str, Tensor]
) -> Figure:
    """Histograms of the share of neurons active per image and of images per neuron.

    Args:
        active_histograms: Layer → ``[D + 1]`` counts of images with ``0..D`` active neurons.
        neuron_fractions: Layer → ``[D]`` fraction of images each neuron is active on.
    """
    layers = list(active_histograms)
    figure = new_figure(3.0 * len(layers), 5.2)
    axes = figure.subplots(2, len(layers), squeeze=False)
    for column, layer in enumerate(layers):
        histogram = active_histograms[layer].double()
        width = histogram.numel() - 1
        fractions = torch.arange(width + 1, dtype=torch.float64) / max(width, 1)
        images = float(histogram.sum())
        mean = float((histogram * fractions).sum() / max(images, 1.0))
        std = float(((histogram * (fractions - mean) ** 2).sum() / max(images, 1.0)).sqrt())
        top = axes[0, column]
        top.hist(
            fractions.numpy(), bins=min(40, width + 1), range=(0, 1), weights=histogram.numpy()
        )
        top.axvline(0.5, color="grey", linestyle=":", linewidth=1)
        top.set_title(f"{layer}: {mean:.2f} ± {std:.2f}", fontsize=9)
        top.set_xlabel("share of neurons active on an image", fontsize=8)
        per_neuron = neuron_fractions[layer].double()
        bottom = axes[1, column]
        bottom.hist(per_neuron.numpy(), bins=40, range=(0, 1), color="tab:orange")
        bottom.axvline(0.5, color="grey", linestyle=":", linewidth=1)
        bottom.set_title(
            f"{float(per_neuron.mean()):.2f} ± {float(per_neuron.std(unbiased=False)):.2f}",
            fontsize=9,
        )
        bottom.set_xlabel("share of images a neuron is active on", fontsize=8)
        if column == 0:
            top.set_ylabel("images")
            bottom.set_ylabel("neurons")
    figure.suptitle("Sparsity (DeepID2+ §5: about half active, each neuron on about half)")
    figure.tight_layout()
    return figure


def selectivity_figure(
    accuracy: Mapping[str, Tensor], excitatory: Mapping[str, Tensor], labels: Sequence[str]
) -> Figure:
    """Heat map of every neuron's single-neuron accuracy for every label, per layer.

    Colour is ``(accuracy - 0.5)``, red for excitatory and blue for inhibitory neurons. The
    neurons of each layer are grouped by the label they are most selective for, and sorted by
    that accuracy within each group, so that selective neurons show as blocks; neurons that
    classify nothing (a dead or constant neuron scores 0.5 everywhere) come last.

    Args:
        accuracy: Layer → ``[L, D]`` balanced accuracies.
        excitatory: Layer → ``[L, D]`` directions.
        labels: The ``L`` label names.
    """
    layers = list(accuracy)
    figure = new_figure(9.0, 0.9 + len(layers) * (0.6 + 0.16 * len(labels)), layout="constrained")
    axes = figure.subplots(len(layers), 1, squeeze=False)[:, 0]
    image: Any = None
    for ax, layer in zip(axes, layers, strict=True):
        acc = accuracy[layer].nan_to_num(0.5).double()
        signed = (acc - 0.5) * torch.where(excitatory[layer], 1.0, -1.0).double()
        best_label = acc.argmax(dim=0)
        best_value = acc.max(dim=0).values
        order = sorted(
            range(acc.shape[1]),
            key=lambda i: (
                float(best_value[i]) <= 0.5,
                int(best_label[i]),
                -float(best_value[i]),
            ),
        )
        image = ax.imshow(
            signed[:, order].numpy(),
            aspect="auto",
            cmap="RdBu_r",
            vmin=-0.5,
            vmax=0.5,
            interpolation="nearest",
        )
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_title(f"{layer}: neurons grouped by their best label", fontsize=9)
        ax.set_xlabel("neuron", fontsize=8)
    colorbar = figure.colorbar(image, ax=list(axes), shrink=0.8)
    colorbar.set_label("accuracy − 0.5 (red excitatory, blue inhibitory)", fontsize=8)
    figure.suptitle("Single-neuron selectivity (DeepID2+ §6)")
    return figure


def attribute_histograms_figure(
    layer: str,
    labels: Sequence[str],
    activations: Tensor,
    targets: Tensor,
    neurons: Sequence[int],
    accuracies: Sequence[float],
    excitatory: Sequence[bool],
    columns: int = 4,
) -> Figure:
    """For each label, its best neuron's activations on positive and on negative images.

    The lecture's gender, race, age and hair panels (DeepID2+ §6, Figs. 10–13): a selective
    neuron's histograms for the two classes barely overlap.

    Args:
        layer: Layer name, for the titles.
        labels: ``L`` label names.
        activations: ``[N, L]``: column ``l`` is the activation of ``neurons[l]``.
        targets: ``[N, L]`` boolean labels.
        neurons: Best neuron of each label.
        accuracies: Its accuracy.
        excitatory: Its direction.
        columns: Panels per row.
    """
    rows, columns = _grid(len(labels), columns)
    figure = new_figure(2.6 * columns, 2.1 * rows)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        if i >= len(labels):
            ax.set_visible(False)
            continue
        values = activations[:, i].double()
        positive = targets[:, i].bool()
        low, high = float(values.min()), float(values.max())
        edges = np.linspace(low, high if high > low else low + 1.0, 31)
        ax.hist(values[~positive].numpy(), bins=edges, alpha=0.6, density=True, label="without")
        ax.hist(values[positive].numpy(), bins=edges, alpha=0.6, density=True, label="with")
        kind = "exc." if excitatory[i] else "inh."
        ax.set_title(f"{labels[i]}: #{neurons[i]} ({accuracies[i]:.2f}, {kind})", fontsize=8)
        ax.tick_params(labelsize=6)
        if i == 0:
            ax.legend(fontsize=6)
    figure.suptitle(f"{layer}: activation of each attribute's best neuron")
    figure.tight_layout()
    return figure


def top_images_figure(rows: Sequence[tuple[str, Tensor]], columns: int) -> Figure:
    """A mosaic of images: one row per neuron, its top-activating images left to right.

    The images are tiled into one picture (one ``imshow``, not an axes per image), so that the
    figure stays quick to draw for many rows.

    Args:
        rows: ``(title, images)`` with ``images`` ``uint8`` ``[k, C, H, W]`` (``k <= columns``,
            same ``C × H × W`` for all rows).
        columns: Images per row.
    """
    shapes = [images.shape[1:] for _, images in rows if images.numel()]
    _, height, width = shapes[0] if shapes else (3, 8, 8)
    gap = 2
    mosaic = torch.full(
        (max(1, len(rows)) * (height + gap), columns * (width + gap), 3), 255, dtype=torch.uint8
    )
    for r, (_, images) in enumerate(rows):
        for c in range(min(columns, images.shape[0])):
            picture = images[c].permute(1, 2, 0)
            if picture.shape[-1] == 1:
                picture = picture.expand(-1, -1, 3)
            top, left = r * (height + gap), c * (width + gap)
            mosaic[top : top + height, left : left + width] = picture
    # Inches per mosaic pixel, the label column and the title band.
    scale, labels, title = 0.018, 1.6, 0.35
    inches_w = labels + scale * mosaic.shape[1] + 0.1
    inches_h = title + scale * mosaic.shape[0]
    figure = new_figure(inches_w, inches_h)
    ax = figure.add_axes(
        (
            labels / inches_w,
            0.0,
            scale * mosaic.shape[1] / inches_w,
            scale * mosaic.shape[0] / inches_h,
        )
    )
    ax.imshow(mosaic.numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([r * (height + gap) + height / 2 for r in range(len(rows))])
    ax.set_yticklabels([title for title, _ in rows], fontsize=7)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    figure.suptitle(
        "Top-activating images of each attribute's best excitatory neuron",
        fontsize=9,
        y=1.0 - 0.1 * title / inches_h,
        va="top",
    )
    return figure


def robustness_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]], levels: Mapping[str, Sequence[float]]
) -> Figure:
    """Verification accuracy of each layer against the amount of occlusion (DeepID2+ §7).

    Args:
        curves: Kind (``"area"``, ``"blocks"``) → layer → accuracy at each level.
        levels: Kind → the levels (fractions; drawn in per cent).
    """
    titles = {
        "area": "face area occluded from the bottom (%)",
        "blocks": "random block side (% of the image side)",
    }
    kinds = list(curves)
    figure = new_figure(4.2 * len(kinds), 3.6)
    axes = figure.subplots(1, len(kinds), squeeze=False)[0]
    for ax, kind in zip(axes, kinds, strict=True):
        x = [100 * level for level in levels[kind]]
        for layer, accuracy in curves[kind].items():
            ax.plot(x, list(accuracy), marker="o", markersize=3, label=layer)
        ax.set_xlabel(titles.get(kind, kind), fontsize=8)
        ax.set_ylabel("verification accuracy")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle("Robustness to test-time occlusion (DeepID2+ §7)")
    figure.tight_layout()
    return figure


def probes_figure(
    accuracy: Mapping[str, Sequence[float]], labels: Sequence[str], related: Sequence[bool]
) -> Figure:
    """Linear-probe accuracy of every attribute across layers, identity-related ones apart.

    Args:
        accuracy: Layer → accuracy of each label (NaN allowed).
        labels: Label names.
        related: Whether each label is identity-related.
    """
    layers = list(accuracy)
    values = np.array([list(accuracy[layer]) for layer in layers], dtype=np.float64)
    figure = new_figure(6.5, 4.0)
    ax = figure.add_subplot()
    x = np.arange(len(layers))
    for group, colour, name in (
        (True, "tab:red", "identity-related"),
        (False, "tab:blue", "other"),
    ):
        columns = [i for i, r in enumerate(related) if r == group]
        if not columns:
            continue
        for i in columns:
            ax.plot(x, values[:, i], color=colour, alpha=0.25, linewidth=1)
            ax.annotate(labels[i], (x[-1], values[-1, i]), fontsize=6, color=colour, alpha=0.7)
        ax.plot(
            x,
            np.nanmean(values[:, columns], axis=1),
            color=colour,
            linewidth=2.5,
            marker="o",
            label=f"{name} (mean)",
        )
    ax.set_xticks(x)
    ax.set_xticklabels(layers)
    ax.set_ylabel("linear-probe balanced accuracy")
    ax.set_title("Attributes per layer (identity-disjoint folds)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure
