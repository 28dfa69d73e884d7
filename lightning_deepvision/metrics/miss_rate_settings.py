"""Caltech Pedestrian evaluation settings: the constants and experiments of ``dbEval.m``.

Dollár, Wojek, Schiele, Perona, "Pedestrian Detection: An Evaluation of the State of the Art",
IEEE TPAMI 34(4), 2012, and the benchmark's evaluation code (Caltech Pedestrian Dataset code
3.2.1: ``dbEval.m``, ``vbb.m`` ``frameAnn``). The pipeline that uses them is described in
:mod:`lightning_deepvision.metrics.miss_rate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Width / height every positive and every detection is resized to (``dbEval``: aspectRatio).
ASPECT_RATIO = 0.41
#: ``[x0, y0, x1, y1]``: ground truth not inside is ignored (``dbEval``: bnds, 640x480 frames).
CALTECH_BOUNDS = (5.0, 5.0, 635.0, 475.0)
#: The 9 reference FPPI ``10.^(-2:.25:0)`` (``dbEval``: samples); ``-2 + k / 4`` is exact.
FPPI_REFERENCE: tuple[float, ...] = tuple(10.0 ** (k / 4 - 2) for k in range(9))
#: Miss rates are floored here before the logarithm, so that a miss rate of 0 stays finite.
MISS_RATE_FLOOR = 1e-10
#: The only label that can be a positive.
PERSON_LABEL = "person"
#: The other labels ``dbEval`` loads; objects with them are always ignore regions.
IGNORE_LABELS = ("person?", "people", "ignore")

# 0 = candidate positive, 1 = ignore region; labels missing here are not loaded (frameAnn).
_LABEL_CODES = {PERSON_LABEL: 0, **dict.fromkeys(IGNORE_LABELS, 1)}


@dataclass(frozen=True)
class EvaluationSetting:
    """One experiment of ``dbEval.m``: which ground truth counts, and how matches are judged.

    Args:
        height: ``[low, high)`` range of annotated heights (pixels) a positive must fall in.
        visibility: ``[low, high]`` range of the visible fraction ``area(visible) /
            area(box)``; an object whose visible box is all zeros (not occluded) has visible
            fraction ``inf``, so ``(inf, inf)`` selects exactly the unoccluded objects.
        overlap: Overlap a match needs (``>=``).
        expand: Detections are kept if their height lies in ``height`` widened by this factor
            (``[low / expand, high * expand)``), so that a detection slightly smaller than the
            smallest positive can still match it (TPAMI 2012, section 3.3).
    """

    height: tuple[float, float]
    visibility: tuple[float, float]
    overlap: float = 0.5
    expand: float = 1.25

    @property
    def detection_height(self) -> tuple[float, float]:
        """``[low, high)`` height range of the detections kept, ``hr .* [1/filter filter]``."""
        return (self.height[0] * (1 / self.expand), self.height[1] * self.expand)


_INF = math.inf

#: The toolbox's experiments by name: ``reasonable`` (the headline number), ``all``, the
#: occlusion settings ``none`` / ``partial`` / ``heavy`` and the scale settings ``large`` /
#: ``near`` / ``medium`` / ``far`` (``Reasonable``, ``All``, ``Occ=...``, ``Scale=...``).
CALTECH_SETTINGS: dict[str, EvaluationSetting] = {
    "reasonable": EvaluationSetting((50.0, _INF), (0.65, _INF)),
    "all": EvaluationSetting((20.0, _INF), (0.2, _INF)),
    "none": EvaluationSetting((50.0, _INF), (_INF, _INF)),
    "partial": EvaluationSetting((50.0, _INF), (0.65, 1.0)),
    "heavy": EvaluationSetting((50.0, _INF), (0.2, 0.65)),
    "large": EvaluationSetting((100.0, _INF), (_INF, _INF)),
    "near": EvaluationSetting((80.0, _INF), (_INF, _INF)),
    "medium": EvaluationSetting((30.0, 80.0), (_INF, _INF)),
    "far": EvaluationSetting((20.0, 30.0), (_INF, _INF)),
}


def _as_setting(setting: str | EvaluationSetting) -> EvaluationSetting:
    if isinstance(setting, EvaluationSetting):
        return setting
    try:
        return CALTECH_SETTINGS[setting]
    except KeyError:
        raise ValueError(
            f"unknown evaluation setting {setting!r}; expected one of "
            f"{sorted(CALTECH_SETTINGS)} or an EvaluationSetting"
        ) from None
