"""The Caltech miss-rate/FPPI figure, drawn as the toolbox's ``dbEval.m`` draws it.

Dollár, Wojek, Schiele, Perona, "Pedestrian Detection: An Evaluation of the State of the Art",
IEEE TPAMI 2012 (the figures of the paper and of the benchmark's web page); ``plotExps`` in
``dbEval.m`` (Caltech Pedestrian Dataset code 3.2.1): miss rate against false positives per
image on log-log axes limited to ``[2e-4, 50] x [0.035, 1]``, miss-rate ticks ``.05 .10 .20
.30 .40 .50 .64 .80 1``, no minor ticks, a major grid, lines 2 points wide in the toolbox's
colours, solid and dashed in turn, and the legend in the lower left listing each curve as
``LAMR% name``, worst first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from lightning_deepvision.metrics.miss_rate import MissRateCurve

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_miss_rate_curves", "toolbox_color"]

# dbEval's axis limits (lims) and miss-rate ticks (yt and their labels '.05' ... '1').
_LIMITS = (2e-4, 50.0, 0.035, 1.0)
_MISS_TICKS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.64, 0.8, 1.0)
_MISS_LABELS = (".05", ".10", ".20", ".30", ".40", ".50", ".64", ".80", "1")


def toolbox_color(i: int) -> tuple[float, float, float]:
    """The ``i``-th (1-based) algorithm colour of ``dbEval.m``.

    ``clrs(i,:) = max(.3, mod([78 121 42]*(i+1), 255)/255)``: distinct, never too dark.
    """
    r, g, b = (max(0.3, (c * (i + 1)) % 255 / 255) for c in (78, 121, 42))
    return (r, g, b)


def plot_miss_rate_curves(
    curves: MissRateCurve | Mapping[str, MissRateCurve],
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    decimals: int = 2,
) -> Figure:
    """Draw miss rate against FPPI for one or more detectors, as the toolbox's figure.

    The figure is built without ``pyplot`` and drawn by the Agg canvas, so plotting never
    touches matplotlib's global state (backend, open figures) and works on headless hosts.
    Points at FPPI 0 or miss rate 0 have no place on log axes and are left out, as MATLAB's
    log axes leave them out.

    Args:
        curves: A :class:`~lightning_deepvision.metrics.MissRateCurve`, or several by name
            (e.g. ``{"UDN": ..., "HOG": ...}``).
        path: If given, the figure is also saved there as a PNG.
        title: Optional title above the axes (the toolbox's figures have none).
        decimals: Decimals of the LAMR percentages in the legend (the toolbox writes whole
            percents, ``decimals=0``).

    Returns:
        The figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullLocator

    named = {"": curves} if isinstance(curves, MissRateCurve) else dict(curves)
    figure = Figure(figsize=(6.0, 4.8), dpi=100)
    FigureCanvasAgg(figure)  # attaches itself to the figure
    axes = figure.add_subplot()
    # dbEval lists the worst detector first (its legend reads from the highest LAMR down).
    order = sorted(named, key=lambda name: -_sortable(named[name].log_average_miss_rate))
    for i, name in enumerate(order, start=1):
        curve = named[name]
        fppi = curve.fppi.detach().cpu().double()
        miss = curve.miss_rate.detach().cpu().double()
        shown = (fppi > 0) & (miss > 0)
        percent = f"{100 * curve.log_average_miss_rate:.{decimals}f}%"
        label = f"{percent} {name}" if name else f"{percent} log-average miss rate"
        axes.plot(
            fppi[shown].numpy(),
            miss[shown].numpy(),
            color=toolbox_color(i),
            linestyle="-" if i % 2 else "--",
            linewidth=2,
            label=label,
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(*_LIMITS[:2])
    axes.set_ylim(*_LIMITS[2:])
    axes.yaxis.set_major_locator(FixedLocator(list(_MISS_TICKS)))
    axes.set_yticklabels(list(_MISS_LABELS))
    axes.xaxis.set_minor_locator(NullLocator())
    axes.yaxis.set_minor_locator(NullLocator())
    axes.grid(True, which="major", linestyle=":", color="0.6")
    axes.set_xlabel("false positives per image", fontsize=14)
    axes.set_ylabel("miss rate", fontsize=14)
    if title:
        axes.set_title(title)
    axes.legend(loc="lower left", fontsize=10)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, format="png")
    return figure


def _sortable(value: float) -> float:
    # NaN (no positives) sorts last.
    return -1.0 if value != value else value
