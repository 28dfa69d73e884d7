import math
import random

import pytest
import torch

from lightning_deepvision.metrics import (
    CALTECH_SETTINGS,
    EvaluationSetting,
    LogAverageMissRate,
    log_average_miss_rate,
    miss_rate_curve,
    miss_rate_matching,
)
from lightning_deepvision.metrics import functional as F
from lightning_deepvision.metrics import miss_rate as M

INF = math.inf
FLOOR = 1e-10


# --- a straightforward reference: dbEval.m / bbGt.m line by line, in Python floats -------------


def ref_load_gt(gt, setting, bounds=(5.0, 5.0, 635.0, 475.0), ar=0.41):
    """loadGt: vbb frameAnn with filterGtFun, then resize of the rows that are not ignored."""
    rows = []
    objects = zip(gt["boxes"].tolist(), gt["visible"].tolist(), gt["labels"], strict=True)
    for box, vis, label in objects:
        if label not in ("person", "person?", "people", "ignore"):
            continue  # frameAnn does not load other labels
        x, y, w, h = box
        p = label == "person"
        p = p and setting.height[0] <= h < setting.height[1]
        vf = INF if all(v == 0 for v in vis) else vis[2] * vis[3] / (w * h)
        p = p and setting.visibility[0] <= vf <= setting.visibility[1]
        p = p and x >= bounds[0] and x + w <= bounds[2]
        p = p and y >= bounds[1] and y + h <= bounds[3]
        if p:  # bbApply('resize', bb, 1, 0, ar)
            d = h * ar - w
            x = x - d / 2
            w = w + d
        rows.append([x, y, w, h, 0.0 if p else 1.0])
    return rows


def ref_load_dt(dt, setting, ar=0.41):
    """loadDt's resize, then evalAlgs' height filter."""
    rows = []
    lo, hi = setting.height[0] * (1 / setting.expand), setting.height[1] * setting.expand
    for x, y, w, h, s in dt.tolist():
        d = h * ar - w
        x = x - d / 2
        w = w + d
        if lo <= h < hi:
            rows.append([x, y, w, h, s])
    return rows


def ref_comp_oa(dt, gt, ig):
    w = min(dt[0] + dt[2], gt[0] + gt[2]) - max(dt[0], gt[0])
    if w <= 0:
        return 0.0
    h = min(dt[1] + dt[3], gt[1] + gt[3]) - max(dt[1], gt[1])
    if h <= 0:
        return 0.0
    t = w * h
    u = dt[2] * dt[3] if ig else dt[2] * dt[3] + gt[2] * gt[3] - t
    return t / u


def ref_eval_res(gt0, dt0, thr):
    """bbGt evalRes, mul=0."""
    dt = sorted(dt0, key=lambda r: -r[4])  # Python's sort is stable, as MATLAB's
    gt = sorted(gt0, key=lambda r: r[4])
    gt = [[*r[:4], -r[4]] for r in gt]
    dt = [[*r, 0.0] for r in dt]
    for d in range(len(dt)):
        bst_oa, bstg, bstm = thr, -1, 0
        for g in range(len(gt)):
            m = gt[g][4]
            if m == 1:
                continue
            if bstm != 0 and m == -1:
                break
            oa = ref_comp_oa(dt[d], gt[g], m == -1)
            if oa < bst_oa:
                continue
            bst_oa, bstg, bstm = oa, g, (1 if m == 0 else -1)
        if bstm == -1:
            dt[d][5] = -1.0
        elif bstm == 1:
            gt[bstg][4] = 1.0
            dt[d][5] = 1.0
    return gt, dt


def ref_comp_roc(gts, dts, ref):
    """bbGt compRoc (roc=1) and plotExps' score with the 1e-10 floor."""
    n_img = len(gts)
    gt = [r for g in gts for r in g if r[4] != -1]
    dt = [r for d in dts for r in d if r[5] != -1]
    if not dt:
        return [0.0], [0.0], [0.0] * len(ref)
    dt = sorted(dt, key=lambda r: -r[4])
    fp = tp = 0
    xs, ys = [], []
    for r in dt:
        tp += r[5] == 1
        fp += r[5] != 1
        xs.append(fp / n_img)
        ys.append(tp / len(gt))
    xs1, ys1 = [-INF, *xs], [0.0, *ys]
    recall = []
    for r in ref:
        j = max(i for i in range(len(xs1)) if xs1[i] <= r)
        recall.append(ys1[j])
    return xs, ys, recall


def ref_lamr(detections, ground_truth, setting):
    gts = [ref_load_gt(g, setting) for g in ground_truth]
    dts = [ref_load_dt(d, setting) for d in detections]
    results = [ref_eval_res(g, d, setting.overlap) for g, d in zip(gts, dts, strict=True)]
    _, _, recall = ref_comp_roc([g for g, _ in results], [d for _, d in results], M.FPPI_REFERENCE)
    miss = [1 - r for r in recall]
    return math.exp(sum(math.log(max(FLOOR, m)) for m in miss) / len(miss)), results


# --- random scenes that hit the rules' edges ----------------------------------------------------


def random_scene(rng: random.Random, max_gt: int = 8, max_dt: int = 30):
    """One image: pedestrians (some occluded, some outside the bounds, some too small),
    ignore-type labels, unloaded labels; detections near them and elsewhere, on a coarse grid
    of positions, sizes and scores so that equal overlaps and equal scores are common."""
    boxes, visible, labels = [], [], []
    for _ in range(rng.randint(0, max_gt)):
        h = rng.choice([20.0, 30.0, 40.0, 49.0, 50.0, 60.0, 80.0, 100.0, 100.0, 150.0, 200.0])
        w = h * rng.choice([0.3, 0.41, 0.41, 0.5, 0.6])
        x = float(rng.randrange(-20, 660, 2))
        y = float(rng.randrange(-20, 480, 2))
        boxes.append([x, y, w, h])
        kind = rng.random()
        if kind < 0.5:
            visible.append([0.0, 0.0, 0.0, 0.0])
        else:
            fraction = rng.choice([0.1, 0.2, 0.5, 0.65, 0.8, 1.0])
            visible.append([x, y, w, h * fraction])
        labels.append(rng.choice(["person"] * 6 + ["person?", "people", "ignore", "person-fa"]))
    detections = []
    for _ in range(rng.randint(0, max_dt)):
        if boxes and rng.random() < 0.6:
            x, y, w, h = rng.choice(boxes)
            x += rng.choice([-8, -4, -2, 0, 0, 2, 4, 8])
            y += rng.choice([-10, -4, 0, 0, 4, 10])
            h *= rng.choice([0.8, 1.0, 1.0, 1.25])
        else:
            h = rng.choice([30.0, 39.0, 40.0, 50.0, 80.0, 120.0])
            x, y = float(rng.randrange(0, 640, 4)), float(rng.randrange(0, 480, 4))
            w = 0.41 * h
        w *= rng.choice([0.8, 1.0, 1.2])
        score = rng.choice([0.1, 0.2, 0.3, 0.5, 0.5, 0.7, 0.9, 0.95])
        detections.append([x, y, w, h, score])
    gt = {
        "boxes": torch.tensor(boxes).reshape(-1, 4),
        "visible": torch.tensor(visible).reshape(-1, 4),
        "labels": labels,
    }
    return torch.tensor(detections).reshape(-1, 5), gt


def random_set(seed: int, n: int):
    rng = random.Random(seed)
    scenes = [random_scene(rng) for _ in range(n)]
    return [d for d, _ in scenes], [g for _, g in scenes]


@pytest.mark.parametrize("name", ["reasonable", "all", "none", "partial", "heavy", "medium"])
def test_matches_reference_on_random_images(name: str) -> None:
    detections, ground_truth = random_set(seed=hash(name) % 1000, n=300)
    setting = CALTECH_SETTINGS[name]
    expected, ref_results = ref_lamr(detections, ground_truth, setting)
    # Step by step: regions, kept detections and evalRes rows are identical, not just close.
    regions = [M.ground_truth_regions(g, name) for g in ground_truth]
    kept = [M.filter_detections(d, name) for d in detections]
    for mine, g in zip(regions, ground_truth, strict=True):
        assert mine.tolist() == ref_load_gt(g, setting)
    results = M.evaluate_images(regions, kept, setting.overlap)
    for mine, (ref_gt, ref_dt) in zip(results, ref_results, strict=True):
        assert mine.ground_truth.tolist() == ref_gt
        assert mine.detections.tolist() == ref_dt
    curve = M.compute_roc(results)
    xs, ys, _ = ref_comp_roc([g for g, _ in ref_results], [d for _, d in ref_results], [1.0])
    assert curve.fppi.tolist() == xs
    assert curve.miss_rate.tolist() == [1 - y for y in ys]
    assert curve.log_average_miss_rate == expected
    assert log_average_miss_rate(detections, ground_truth, name) == expected
    assert 0.0 < expected < 1.0  # the scenes are neither hopeless nor perfect
    # Enough of every kind of outcome that the comparison means something.
    flags = torch.cat([r.detections[:, 5] for r in results])
    assert min(int((flags == v).sum()) for v in (-1, 0, 1)) >= 20


def test_pair_slices_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    detections, ground_truth = random_set(seed=3, n=60)
    whole = miss_rate_curve(detections, ground_truth)
    monkeypatch.setattr(miss_rate_matching, "_PAIR_BUDGET", 50)
    sliced = miss_rate_curve(detections, ground_truth)
    assert torch.equal(whole.fppi, sliced.fppi) and torch.equal(whole.miss_rate, sliced.miss_rate)
    assert whole.log_average_miss_rate == sliced.log_average_miss_rate


# --- hand-computed cases, one per rule ----------------------------------------------------------


def gt_of(*objects):
    """objects: (label, [x, y, w, h]) or (label, [x, y, w, h], [xv, yv, wv, hv])."""
    boxes = [o[1] for o in objects]
    visible = [o[2] if len(o) > 2 else [0, 0, 0, 0] for o in objects]
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4),
        "visible": torch.tensor(visible, dtype=torch.float64).reshape(-1, 4),
        "labels": [o[0] for o in objects],
    }


def dt_of(*rows):
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 5)


def lamr_of(miss):
    return math.exp(sum(math.log(max(FLOOR, m)) for m in miss) / len(miss))


def test_settings_table_is_dbeval() -> None:
    s = CALTECH_SETTINGS
    assert s["reasonable"] == EvaluationSetting((50, INF), (0.65, INF), 0.5, 1.25)
    assert s["all"] == EvaluationSetting((20, INF), (0.2, INF))
    assert s["none"].visibility == (INF, INF)
    assert s["partial"].visibility == (0.65, 1) and s["heavy"].visibility == (0.2, 0.65)
    assert s["reasonable"].detection_height == (40.0, INF)
    assert s["medium"].detection_height == (24.0, 100.0)
    assert M.FPPI_REFERENCE[0] == 0.01 and M.FPPI_REFERENCE[4] == 0.1
    assert M.FPPI_REFERENCE[-1] == 1.0 and len(M.FPPI_REFERENCE) == 9
    with pytest.raises(ValueError, match="unknown evaluation setting 'Reasonable'"):
        log_average_miss_rate([], [], "Reasonable")


def test_settings_height_visibility_and_bounds() -> None:
    gt = gt_of(
        ("person", [100, 100, 41, 100]),  # A: unoccluded, tall
        ("person", [200, 100, 20, 49.9]),  # B: below 50
        ("person", [300, 100, 40, 100], [300, 100, 40, 65]),  # C: visible exactly 0.65
        ("person", [400, 100, 40, 100], [400, 100, 40, 50]),  # D: visible 0.5
        ("person", [500, 100, 40, 100], [500, 100, 40, 10]),  # E: visible 0.1
        ("person", [4, 200, 41, 100]),  # F: left of x = 5
        ("person", [594, 200, 41, 100]),  # G: right edge exactly 635
        ("person", [100, 376, 41, 100]),  # H: bottom 476 > 475
        ("person", [200, 300, 41, 60]),  # I: 60 tall (medium: < 80)
    )
    ignored = {
        name: M.ground_truth_regions(gt, name)[:, 4].int().tolist()
        for name in ("reasonable", "all", "none", "partial", "heavy", "medium")
    }
    #                          A  B  C  D  E  F  G  H  I
    assert ignored["reasonable"] == [0, 1, 0, 1, 1, 1, 0, 1, 0]
    assert ignored["all"] == [0, 0, 0, 0, 1, 1, 0, 1, 0]
    assert ignored["none"] == [0, 1, 1, 1, 1, 1, 0, 1, 0]
    assert ignored["partial"] == [1, 1, 0, 1, 1, 1, 1, 1, 1]
    assert ignored["heavy"] == [1, 1, 0, 0, 1, 1, 1, 1, 1]
    assert ignored["medium"] == [1, 0, 1, 1, 1, 1, 1, 1, 0]


def test_other_labels_are_ignore_regions_and_unknown_labels_are_not_loaded() -> None:
    gt = gt_of(
        ("people", [100, 100, 41, 100]),
        ("person?", [200, 100, 41, 100]),
        ("ignore", [300, 100, 41, 100]),
        ("person-fa", [400, 100, 41, 100]),
        ("person", [500, 100, 41, 100]),
    )
    regions = M.ground_truth_regions(gt)
    assert regions[:, 0].tolist() == [100, 200, 300, 500]  # person-fa is not loaded at all
    assert regions[:, 4].tolist() == [1, 1, 1, 0]
    # A detection on each: three ignored, one false positive (person-fa), one true positive.
    dts = dt_of(*[[x, 100, 41, 100, 0.9 - x / 1000] for x in (100, 200, 300, 400, 500)])
    result = M.evaluate_image(regions, M.filter_detections(dts))
    assert result.detections[:, 5].tolist() == [-1, -1, -1, 0, 1]


def test_aspect_ratio_standardisation() -> None:
    gt = gt_of(("person", [100, 50, 20, 100]), ("people", [300, 50, 20, 100]))
    regions = M.ground_truth_regions(gt)
    # width 0.41 * 100 = 41 about the same centre (x 110); the ignore region keeps its shape
    assert regions.tolist() == [[89.5, 50, 41, 100, 0], [300, 50, 20, 100, 1]]
    assert M.filter_detections(dt_of([0, 0, 100, 200, 1])).tolist() == [[9, 0, 82, 200, 1]]
    # Raw IoU 20 * 100 / (41 * 100) = 0.49 would miss; standardised, the boxes coincide.
    detections = [dt_of([89.5, 50, 41, 100, 0.9])]
    assert log_average_miss_rate(detections, [gt]) == lamr_of([0] * 9)
    # The same detection drawn narrower is standardised too.
    detections = [dt_of([105, 50, 10, 100, 0.9])]
    assert log_average_miss_rate(detections, [gt]) == lamr_of([0] * 9)


def test_detections_below_the_expanded_height_are_dropped() -> None:
    gt = gt_of(("person", [100, 100, 41, 100]))
    small = [dt_of([300, 100, 16, 39.99, 0.9], [400, 100, 16, 40, 0.8])]
    curve = miss_rate_curve(small, [gt])
    assert curve.scores.tolist() == [0.8]  # only the 40-pixel one is evaluated: one FP
    assert curve.fppi.tolist() == [1.0]
    # Under "far" ([20, 30) widened to [16, 37.5)) both are dropped.
    curve = miss_rate_curve(small, [gt_of(("person", [100, 100, 10.25, 25]))], "far")
    assert curve.scores.tolist() == [0.0] and curve.log_average_miss_rate == 1.0


def test_greedy_matching_by_descending_score() -> None:
    g1, g2 = ("person", [100, 100, 41, 100]), ("person", [108, 100, 41, 100])
    regions = M.ground_truth_regions(gt_of(g1, g2))
    # high at x 106: IoU 35/47 with g1, 39/43 with g2 -> takes g2. low at x 116: IoU 25/57 with
    # g1 (< 0.5), 33/49 with g2 (taken) -> false positive. g1 is missed, although an optimal
    # assignment would have matched both.
    high, low = [106, 100, 41, 100, 0.9], [116, 100, 41, 100, 0.8]
    result = M.evaluate_image(regions, dt_of(low, high))
    assert result.detections[:, 4].tolist() == [0.9, 0.8]  # score order
    assert result.detections[:, 5].tolist() == [1, 0]
    assert result.ground_truth[:, 4].tolist() == [0, 1]
    # Scores swapped: low goes first and takes g2, high then takes g1.
    high[4], low[4] = 0.8, 0.9
    result = M.evaluate_image(regions, dt_of(low, high))
    assert result.detections[:, 5].tolist() == [1, 1]
    assert result.ground_truth[:, 4].tolist() == [1, 1]


def test_equal_overlaps_go_to_the_last_ground_truth() -> None:
    g1, g2 = ("person", [100, 100, 41, 100]), ("person", [110, 100, 41, 100])
    dt = dt_of([105, 100, 41, 100, 0.9])  # IoU 36/46 with both
    result = M.evaluate_image(M.ground_truth_regions(gt_of(g1, g2)), dt)
    assert result.ground_truth[:, :5].tolist() == [[100, 100, 41, 100, 0], [110, 100, 41, 100, 1]]
    result = M.evaluate_image(M.ground_truth_regions(gt_of(g2, g1)), dt)
    assert result.ground_truth[:, 4].tolist() == [0, 1]
    assert result.ground_truth[1, 0] == 100


def test_overlap_threshold_is_inclusive() -> None:
    gt = M.ground_truth_regions(gt_of(("person", [100, 100, 41, 100])))
    dt = dt_of([101, 100, 41, 100, 0.9])
    iou = (40 * 100) / ((41 * 100 + 41 * 100) - 40 * 100)  # the toolbox's operation order
    assert M.evaluate_image(gt, dt, overlap=iou).detections[0, 5] == 1
    above = math.nextafter(iou, 1.0)
    assert M.evaluate_image(gt, dt, overlap=above).detections[0, 5] == 0


def test_positives_are_preferred_to_ignore_regions() -> None:
    # The ignore region comes first in the annotation and covers the detection exactly
    # (overlap 1); the person overlaps it by IoU 37/45. evalRes sorts ignore regions last and
    # prefers the person.
    gt = gt_of(("people", [104, 100, 41, 100]), ("person", [100, 100, 41, 100]))
    result = M.evaluate_image(M.ground_truth_regions(gt), dt_of([104, 100, 41, 100, 0.9]))
    assert result.detections[0, 5] == 1
    assert result.ground_truth[:, 4].tolist() == [1, -1]  # the person first, matched


def test_ignore_overlap_is_intersection_over_detection_area() -> None:
    person = ("person", [500, 100, 41, 100])
    region = ("ignore", [100, 100, 300, 200])
    inside = [[x, 150, 41, 100, s] for x, s in ((120, 0.9), (200, 0.8), (300, 0.7))]
    half = [150, 250, 41, 100, 0.6]  # its upper half lies in the region: 0.5, ignored
    less = [250, 251, 41, 100, 0.55]  # 0.49 inside: a false positive
    tp = [500, 100, 41, 100, 0.5]
    result = M.evaluate_image(
        M.ground_truth_regions(gt_of(person, region)), dt_of(*inside, half, less, tp)
    )
    # IoU of an inside detection with the region is 4100 / 60000, far below 0.5, yet the one
    # region absorbs all four: they are neither true nor false positives.
    assert result.detections[:, 5].tolist() == [-1, -1, -1, -1, 0, 1]
    curve = miss_rate_curve([dt_of(*inside, half, tp)], [gt_of(person, region)])
    assert curve.fppi.tolist() == [0.0] and curve.miss_rate.tolist() == [0.0]
    assert curve.log_average_miss_rate == lamr_of([0] * 9)


def test_step_rule_with_minus_infinity_prepended() -> None:
    # 10 images, one pedestrian in image 0. A false positive (image 1) scoring above the true
    # positive puts the first curve point at FPPI 0.1: the references below it read the
    # prepended (-inf, 0), recall 0; those from 0.1 on read recall 1 (miss 0, floored).
    gts = [gt_of(("person", [100, 100, 41, 100]))] + [gt_of() for _ in range(9)]
    tp, fp = [100, 100, 41, 100, 0.5], [300, 100, 41, 100, 0.9]
    dts = [dt_of(tp), dt_of(fp)] + [dt_of() for _ in range(8)]
    curve = miss_rate_curve(dts, gts)
    assert curve.fppi.tolist() == [0.1, 0.1] and curve.miss_rate.tolist() == [1.0, 0.0]
    assert curve.reference_miss_rate.tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert curve.log_average_miss_rate == lamr_of([1] * 4 + [0] * 5)
    # The true positive scoring higher: recall 1 from FPPI 0 on.
    tp[4], fp[4] = 0.9, 0.5
    dts = [dt_of(tp), dt_of(fp)] + [dt_of() for _ in range(8)]
    assert log_average_miss_rate(dts, gts) == lamr_of([0] * 9)


def test_miss_rate_is_read_off_the_last_point_not_interpolated() -> None:
    # 100 images, 2 pedestrians in image 0. Points: TP (0, .5), five FPs (.01 ... .05, .5),
    # then TP (.05, 1). At .0316 the last point with FPPI <= .0316 has recall .5; at .0562 it
    # is (.05, 1). Interpolating towards the next point would not give these numbers.
    gts = [gt_of(("person", [100, 100, 41, 100]), ("person", [300, 100, 41, 100]))]
    gts += [gt_of() for _ in range(99)]
    dts = [dt_of([100, 100, 41, 100, 0.9], [300, 100, 41, 100, 0.3])]
    dts += [dt_of([200, 200, 41, 100, 0.8 - k / 100]) for k in range(5)]
    dts += [dt_of() for _ in range(94)]
    curve = miss_rate_curve(dts, gts)
    assert curve.fppi.tolist() == [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.05]
    assert curve.reference_miss_rate.tolist() == [0.5, 0.5, 0.5, 0, 0, 0, 0, 0, 0]
    by_hand = math.exp((3 * math.log(0.5) + 6 * math.log(1e-10)) / 9)
    assert curve.log_average_miss_rate == pytest.approx(by_hand, rel=1e-12)
    assert curve.log_average_miss_rate == lamr_of([0.5] * 3 + [0] * 6)


def test_sorting_is_stable_as_matlab() -> None:
    gt = gt_of(("person", [100, 100, 41, 100]))
    tp, fp = [100, 100, 41, 100, 0.5], [300, 100, 41, 100, 0.5]
    # Within an image: equal scores keep their input order.
    assert log_average_miss_rate([dt_of(tp, fp)], [gt]) == lamr_of([0] * 9)
    assert log_average_miss_rate([dt_of(fp, tp)], [gt]) == lamr_of([1] * 8 + [0])
    # Across images: equal scores keep image order.
    empty = gt_of()
    assert log_average_miss_rate([dt_of(tp), dt_of(fp)], [gt, empty]) == lamr_of([0] * 9)
    assert log_average_miss_rate([dt_of(fp), dt_of(tp)], [empty, gt]) == lamr_of([1] * 7 + [0] * 2)


def test_floor_before_the_log_and_edge_cases() -> None:
    gt = gt_of(("person", [100, 100, 41, 100]))
    perfect = log_average_miss_rate([dt_of([100, 100, 41, 100, 0.9])], [gt])
    assert perfect == lamr_of([0] * 9) == pytest.approx(1e-10, rel=1e-12)
    # No detection at all: compRoc's early return, miss rate 1 everywhere.
    assert log_average_miss_rate([dt_of()], [gt]) == 1.0
    # No positive: the miss rate is undefined.
    assert math.isnan(log_average_miss_rate([dt_of([1, 1, 41, 100, 0.9])], [gt_of()]))
    assert math.isnan(log_average_miss_rate([], []))


def test_functional_home_and_exports() -> None:
    assert F.log_average_miss_rate is M.log_average_miss_rate is log_average_miss_rate


def test_bad_input_errors() -> None:
    gt = gt_of(("person", [100, 100, 41, 100]))
    with pytest.raises(ValueError, match=r"detections\[1\] must have shape \[k, 5\]"):
        log_average_miss_rate([dt_of(), torch.zeros(3, 4)], [gt, gt])
    with pytest.raises(ValueError, match=r"detections\[0\] contains NaN"):
        log_average_miss_rate([dt_of([1, 1, 41, 100, math.nan])], [gt])
    with pytest.raises(ValueError, match="2 images, ground_truth has 1"):
        log_average_miss_rate([dt_of(), dt_of()], [gt])
    with pytest.raises(ValueError, match=r"ground_truth\[0\]\['boxes'\] must have shape"):
        log_average_miss_rate([dt_of()], [{"boxes": torch.zeros(2, 5), "labels": ["a", "b"]}])
    bad = dict(gt, labels=["person", "person"])
    with pytest.raises(ValueError, match=r"ground_truth\[0\]\['labels'\] must be a list of 1"):
        log_average_miss_rate([dt_of()], [bad])
    with pytest.raises(ValueError, match="must hold strings"):
        log_average_miss_rate([dt_of()], [dict(gt, labels=[1])])
    with pytest.raises(ValueError, match=r"\['visible'\] must have shape \[1, 4\]"):
        log_average_miss_rate([dt_of()], [dict(gt, visible=torch.zeros(2, 4))])
    # "visible" may be left out when nothing is occluded.
    no_visible = {"boxes": gt["boxes"], "labels": gt["labels"]}
    assert log_average_miss_rate([dt_of()], [no_visible]) == 1.0


# --- the metric ---------------------------------------------------------------------------------


def test_metric_equals_functional_over_batches() -> None:
    detections, ground_truth = random_set(seed=11, n=200)
    expected = log_average_miss_rate(detections, ground_truth)
    metric = LogAverageMissRate()
    for start in range(0, 200, 32):
        part = slice(start, start + 32)
        metric.update(detections[part], ground_truth[part], torch.arange(200)[part])
    assert metric.compute().item() == expected
    assert metric.compute().dtype == torch.float64
    curve = metric.curve()
    reference = miss_rate_curve(detections, ground_truth)
    assert torch.equal(curve.fppi, reference.fppi)
    assert torch.equal(curve.miss_rate, reference.miss_rate)


@pytest.mark.parametrize(("n", "ranks"), [(201, 2), (203, 4)])
def test_padded_shuffled_ranks_merge_to_single_process_result(n: int, ranks: int) -> None:
    # DistributedSampler-style shards: pad by repeating the head, rank r takes every
    # ranks-th index; each rank sees its images in a scrambled order. The merged states must
    # give the one-process number exactly, i.e. the functional one on images in index order.
    detections, ground_truth = random_set(seed=12, n=n)
    expected = log_average_miss_rate(detections, ground_truth, "all")
    padded = list(range(n)) + list(range(n))[: (-n) % ranks]
    metrics = [LogAverageMissRate("all") for _ in range(ranks)]
    for r, metric in enumerate(metrics):
        shard = padded[r::ranks]
        random.Random(r).shuffle(shard)
        for start in range(0, len(shard), 16):
            batch = shard[start : start + 16]
            metric.update([detections[i] for i in batch], [ground_truth[i] for i in batch], batch)
    for other in metrics[1:]:
        metrics[0].merge_state(other)
    assert metrics[0].compute().item() == expected


def test_metric_counts_duplicates_once_and_resets() -> None:
    detections, ground_truth = random_set(seed=13, n=50)
    once, twice = LogAverageMissRate(), LogAverageMissRate()
    index = torch.arange(50)
    once.update(detections, ground_truth, index)
    twice.update(detections, ground_truth, index)
    twice.update(detections[:10], ground_truth[:10], index[:10])
    assert once.compute().item() == twice.compute().item()
    clone = once.clone()
    once.reset()
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert math.isnan(once.compute().item())
    with pytest.raises(ValueError, match="needs at least one update"):
        once.curve()
    assert clone.compute().item() == log_average_miss_rate(detections, ground_truth)
    with pytest.raises(ValueError, match="indices has 3 elements, 2 images"):
        once.update(detections[:2], ground_truth[:2], [0, 1, 2])


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device on this machine: GPU miss-rate check skipped",
)
def test_cuda_matches_cpu() -> None:
    detections, ground_truth = random_set(seed=14, n=200)
    expected = log_average_miss_rate(detections, ground_truth)
    on_gpu = [d.cuda() for d in detections]
    assert log_average_miss_rate(on_gpu, ground_truth) == expected
    metric = LogAverageMissRate().cuda()
    metric.update(on_gpu, ground_truth, torch.arange(200).cuda())
    assert metric.compute().item() == expected
