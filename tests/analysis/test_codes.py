import pytest
import torch

from lightning_deepvision.analysis import SparsityStats, hamming_distance, pack_codes, unpack_codes
from lightning_deepvision.metrics import pair_scores


@pytest.mark.parametrize("width", [1, 8, 13, 512])
def test_pack_unpack_round_trip(width: int) -> None:
    g = torch.Generator().manual_seed(width)
    code = torch.rand(5, 3, width, generator=g) > 0.5
    packed = pack_codes(code)
    assert packed.dtype == torch.uint8 and packed.shape == (5, 3, (width + 7) // 8)
    assert torch.equal(unpack_codes(packed, width), code)


def test_pack_bit_order() -> None:
    code = torch.tensor([[True, False, True] + [False] * 5 + [True]])
    assert pack_codes(code).tolist() == [[5, 1]]
    with pytest.raises(ValueError, match="hold at most 16"):
        unpack_codes(pack_codes(code), 17)


def test_hamming_distance_matches_pair_scores() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(20, 37, generator=g), torch.randn(20, 37, generator=g)
    distance = hamming_distance(pack_codes(a > 0), pack_codes(b > 0))
    assert distance.dtype == torch.int64
    assert torch.equal(distance, ((a > 0) != (b > 0)).sum(dim=1))
    torch.testing.assert_close(-distance.float() / 37, pair_scores(a, b, "hamming"))
    with pytest.raises(ValueError, match="same shape"):
        hamming_distance(pack_codes(a > 0), pack_codes(b[:3] > 0))


def test_constant_zeros_have_no_active_neuron() -> None:
    stats = SparsityStats(6)
    stats.update(torch.zeros(10, 6) > 0)
    summary = stats.summary()
    assert summary["active_fraction_per_image_mean"] == 0.0
    assert summary["image_fraction_per_neuron_mean"] == 0.0
    assert summary["dead_neurons"] == 6 and summary["always_active_neurons"] == 0
    assert summary["images"] == 10 and summary["neurons"] == 6


def test_all_active() -> None:
    stats = SparsityStats(4)
    stats.update(torch.ones(3, 4, dtype=torch.bool))
    summary = stats.summary()
    assert summary["active_fraction_per_image_mean"] == 1.0
    assert summary["active_fraction_per_image_std"] == 0.0
    assert summary["always_active_neurons"] == 4 and summary["dead_neurons"] == 0


def test_known_counts() -> None:
    # Image i activates neurons 0..i: 1, 2, 3, 4 of 4 neurons; neuron j fires on 4 - j images.
    active = torch.tril(torch.ones(4, 4, dtype=torch.bool))
    stats = SparsityStats(4)
    stats.update(active)
    summary = stats.summary()
    per_image = torch.tensor([1.0, 2, 3, 4])
    per_neuron = torch.tensor([4.0, 3, 2, 1])
    assert summary["active_per_image_mean"] == pytest.approx(2.5)
    assert summary["active_per_image_std"] == pytest.approx(float(per_image.std(unbiased=False)))
    assert summary["images_per_neuron_mean"] == pytest.approx(2.5)
    assert summary["images_per_neuron_std"] == pytest.approx(float(per_neuron.std(unbiased=False)))
    assert summary["image_fraction_per_neuron_mean"] == pytest.approx(2.5 / 4)
    assert stats.active_histogram.tolist() == [0, 1, 1, 1, 1]
    torch.testing.assert_close(stats.active_fraction_per_neuron, per_neuron.double() / 4)


def test_half_active_like_deepid2plus() -> None:
    # Every image activates exactly half the neurons, and every neuron fires on half the images.
    active = (torch.arange(8).unsqueeze(1) + torch.arange(6).unsqueeze(0)) % 2 == 0
    stats = SparsityStats(6)
    stats.update(active)
    summary = stats.summary()
    assert summary["active_fraction_per_image_mean"] == 0.5
    assert summary["active_fraction_per_image_std"] == 0.0
    assert summary["image_fraction_per_neuron_mean"] == 0.5
    assert summary["image_fraction_per_neuron_std"] == 0.0


def test_streaming_and_packed_updates_match_one_shot() -> None:
    g = torch.Generator().manual_seed(1)
    active = torch.rand(101, 21, generator=g) > 0.7
    whole, streamed, packed = SparsityStats(21), SparsityStats(21), SparsityStats(21)
    whole.update(active)
    for part in active.split(17):
        streamed.update(part)
    packed.update_packed(pack_codes(active), chunk=10)
    assert whole.summary() == streamed.summary() == packed.summary()
    assert torch.equal(whole.neuron_counts, active.sum(dim=0))


def test_empty_and_bad_input() -> None:
    stats = SparsityStats(3)
    summary = stats.summary()
    assert (
        summary["images"] == 0
        and summary["active_fraction_per_image_mean"] != summary["active_fraction_per_image_mean"]
    )  # NaN
    with pytest.raises(ValueError, match=r"\[B, 3\]"):
        stats.update(torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="positive"):
        SparsityStats(0)
