import math

import torch

from lightning_deepvision.analysis import pack_codes
from lightning_deepvision.analysis.report import (
    NeuronReport,
    default_attribute_names,
    json_safe,
    robustness_levels,
    scalars,
)


def test_binary_codes_and_sparsity_from_columns() -> None:
    # Matched pairs have equal codes, mismatched ones complementary codes.
    g = torch.Generator().manual_seed(0)
    first = torch.rand(20, 10, generator=g) > 0.5
    same = (torch.arange(20) % 2).long()
    second = torch.where(same.bool().unsqueeze(1), first, ~first)
    pairs = {
        "index": torch.arange(20),
        "same": same,
        "fold": torch.arange(20) % 5,
        "score/L": same.float() + 0.01 * torch.rand(20, generator=g),
        "code1/L": pack_codes(first),
        "code2/L": pack_codes(second),
    }
    report = NeuronReport({"L": 10}, pictures=False)
    codes = report.binary_codes(["L"], pairs)
    assert codes["pairs"] == 20
    assert codes["L"]["real_accuracy"] == 1.0 and codes["L"]["hamming_accuracy"] == 1.0
    sparsity = report.sparsity(["L"], pairs, {}, {})["L"]
    expected = torch.cat([first, second]).double().mean().item()
    assert math.isclose(sparsity["active_fraction_per_image_mean"], expected, rel_tol=1e-9)
    assert sparsity["images"] == 40 and report.figures == {}


def test_robustness_from_columns() -> None:
    levels = robustness_levels([0.1, 0.5], [0.2])
    assert levels == [("clean", 0.0), ("area", 0.1), ("area", 0.5), ("blocks", 0.2)]
    same = (torch.arange(12) % 2).long()
    # Perfect until half the face is covered, then chance (every score equal).
    scores = same.float().unsqueeze(1).repeat(1, 4)
    scores[:, 2] = 0.0
    robust = {"index": torch.arange(12), "same": same, "fold": torch.arange(12) % 3}
    robust["robust/L"] = scores
    report = NeuronReport({"L": 3}, occlusion_fractions=[0.1, 0.5], block_fractions=[0.2])
    out = report.robustness(["L"], robust, levels)
    assert out["area"] == {"levels": [0.0, 0.1, 0.5], "L": [1.0, 1.0, 0.5]}
    assert out["blocks"] == {"levels": [0.0, 0.2], "L": [1.0, 1.0]}
    assert set(report.figures) == {"robustness"}


def test_scalars_and_json() -> None:
    results = {
        "layers": {"L": "fc"},
        "sparsity": {
            "L": {
                "active_fraction_per_image_mean": 0.5,
                "active_fraction_per_image_std": 0.1,
                "image_fraction_per_neuron_mean": 0.5,
                "image_fraction_per_neuron_std": None,
            }
        },
        "robustness": {"area": {"levels": [0.0, 0.4], "L": [0.9, 0.8]}},
    }
    out = scalars("val", results)
    assert out == {
        "neurons/val/L/active_fraction_per_image": 0.5,
        "neurons/val/L/active_fraction_per_image_std": 0.1,
        "neurons/val/L/image_fraction_per_neuron": 0.5,
        "neurons/val/L/occlusion_0": 0.9,
        "neurons/val/L/occlusion_40": 0.8,
    }
    assert json_safe({"a": (1.0, math.nan), 2: {"b": math.inf}}) == {
        "a": [1.0, None],
        "2": {"b": None},
    }
    assert default_attribute_names({"attributes": torch.zeros(3, 2)}) == [
        "attribute_0",
        "attribute_1",
    ]
