"""Per-pose identification against a frontal gallery, with and without LDA; the table."""

from __future__ import annotations

import pytest
import torch

from lightning_deepvision.metrics.identification import (
    PoseIdentification,
    format_identification_table,
    pose_identification,
    yaw_key,
)


def test_rates_per_pose_by_the_nearest_gallery_image() -> None:
    # Two people; gallery: one frontal image each. Probes at -15 (both right) and +30 (one
    # right, one nearer the other person).
    features = torch.tensor(
        [[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9], [1.0, 0.2], [1.0, 0.1]]
    )
    identities = torch.tensor([0, 1, 0, 1, 0, 1])
    yaws = torch.tensor([0.0, 0.0, -15.0, -15.0, 30.0, 30.0])
    gallery = torch.tensor([True, True, False, False, False, False])
    rates = pose_identification(features, identities, yaws, gallery)
    assert set(rates) == {"identification_-15", "identification_30", "identification_mean"}
    assert float(rates["identification_-15"]) == 1.0
    assert float(rates["identification_30"]) == 0.5
    assert float(rates["identification_mean"]) == 0.75


def test_probes_of_people_without_gallery_image_are_left_out() -> None:
    features = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    rates = pose_identification(
        features, torch.tensor([0, 0, 7]), torch.tensor([0.0, 15.0, 15.0]), torch.tensor([1, 0, 0])
    )
    assert float(rates["identification_15"]) == 1.0
    assert (
        pose_identification(features, torch.tensor([0, 0, 7]), torch.zeros(3), torch.ones(3)) == {}
    )


def nuisance_data(people: int, per_pose: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Identity in 4 weak dimensions, a strong pose-dependent nuisance in 16 others."""
    generator = torch.Generator().manual_seed(seed)
    poses = torch.tensor([-30.0, 0.0, 30.0])
    identity = torch.randn(people, 4, generator=generator)
    rows, ids, yaws = [], [], []
    for person in range(people):
        for pose in poses:
            for _ in range(per_pose):
                nuisance = 3.0 * torch.randn(16, generator=generator)
                signal = identity[person] + 0.1 * torch.randn(4, generator=generator)
                rows.append(torch.cat((signal, nuisance)))
                ids.append(person)
                yaws.append(float(pose))
    return torch.stack(rows), torch.tensor(ids), torch.tensor(yaws)


def test_lda_fitted_on_other_people_removes_the_nuisance() -> None:
    features, identities, yaws = nuisance_data(people=20, per_pose=2, seed=0)
    reference, reference_ids, _ = nuisance_data(people=30, per_pose=3, seed=1)
    gallery = yaws == 0
    plain = pose_identification(features, identities, yaws, gallery)
    lda = pose_identification(features, identities, yaws, gallery, reference, reference_ids + 1000)
    assert float(plain["identification_mean"]) < 0.5
    assert float(lda["identification_mean"]) > 0.9


def test_lda_needs_two_reference_people() -> None:
    features, identities, yaws = nuisance_data(people=3, per_pose=1, seed=0)
    with pytest.raises(ValueError, match="at least two training identities"):
        pose_identification(
            features, identities, yaws, yaws == 0, features[:3], torch.zeros(3, dtype=torch.long)
        )


def test_metric_accumulates_and_keeps_reference_rows_out() -> None:
    features, identities, yaws = nuisance_data(people=20, per_pose=2, seed=0)
    reference, reference_ids, reference_yaws = nuisance_data(people=30, per_pose=3, seed=1)
    metric = PoseIdentification(lda=True)
    half = features.shape[0] // 2
    metric.update(features[:half], identities[:half], yaws[:half])
    metric.update(features[half:], identities[half:], yaws[half:])
    metric.update(
        reference,
        reference_ids + 1000,
        reference_yaws,
        reference=torch.ones(reference.shape[0], dtype=torch.bool),
    )
    expected = pose_identification(
        features, identities, yaws, yaws == 0, reference, reference_ids + 1000
    )
    result = metric.compute()
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(result[key], value)


def test_gallery_illumination_selects_the_gallery() -> None:
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.1]])
    identities = torch.tensor([0, 1, 0, 0])
    yaws = torch.tensor([0.0, 0.0, 0.0, 15.0])
    illuminations = torch.tensor([7, 7, 3, 3])
    metric = PoseIdentification(gallery_illumination=7)
    metric.update(features, identities, yaws, illuminations)
    result = metric.compute()
    # The frontal image under light 3 is neither gallery nor a probe of any pose.
    assert set(result) == {"identification_15", "identification_mean"}
    assert float(result["identification_15"]) == 1.0
    everything = PoseIdentification()
    everything.update(features, identities, yaws, illuminations)
    assert everything.compute()["identification_15"] == 1.0


def test_table_has_one_column_per_pose_and_the_average() -> None:
    rows = {
        "FIP": {"identification_-15": 0.5, "identification_15": 1.0, "identification_mean": 0.75},
        "raw pixels": {"identification_-15": 0.25, "identification_mean": 0.25},
    }
    lines = format_identification_table(rows).splitlines()
    assert lines[0].split() == ["method", "-15°", "+15°", "avg"]
    assert lines[1].split() == ["FIP", "50.0", "100.0", "75.0"]
    assert lines[2].split() == ["raw", "pixels", "25.0", "-", "25.0"]
    assert format_identification_table({}) == ""
    assert yaw_key(-45.0) == "-45" and yaw_key(15.2) == "15"


def test_metric_reports_no_lda_rates_without_two_reference_people() -> None:
    features, identities, yaws = nuisance_data(people=4, per_pose=1, seed=0)
    metric = PoseIdentification(lda=True)
    metric.update(features, identities, yaws)
    metric.update(features[:3], torch.zeros(3), yaws[:3], reference=torch.ones(3, dtype=torch.bool))
    with pytest.warns(UserWarning, match="fewer than two people"):
        assert metric.compute() == {}
