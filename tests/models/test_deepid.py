from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_deepvision.models import (
    DeepID,
    LocallyConnected2d,
    LocallySharedConv2d,
    create_model,
)
from lightning_deepvision.models.deepid import deepid2, deepid2_tiny, deepid2plus, deepid2plus_tiny

PAPER_MAPS = {
    "conv1": (52, 44),
    "pool1": (26, 22),
    "conv2": (24, 20),
    "pool2": (12, 10),
    "conv3": (10, 8),
    "pool3": (5, 4),
    "conv4": (4, 3),
}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def stage_shapes(model: DeepID, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Record the conv and pooled map shapes with forward hooks."""
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []
    for i, stage in enumerate(model.trunk):
        name = f"pool{i + 1}" if i < 3 else "conv4"
        hooks.append(
            stage.register_forward_hook(lambda m, a, o, n=name: shapes.update({n: o.shape}))
        )
        if i < 3:
            hooks.append(
                stage[0].register_forward_hook(
                    lambda m, a, o, n=f"conv{i + 1}": shapes.update({n: o.shape})
                )
            )
    model(x)
    for hook in hooks:
        hook.remove()
    return {k: tuple(v) for k, v in shapes.items()}


def test_deepid2_parameter_count_matches_paper_arithmetic():
    conv1 = 4 * 4 * 3 * 20 + 20
    conv2 = 3 * 3 * 20 * 40 + 40
    conv3 = 4 * (3 * 3 * 40 * 60 + 60)  # locally shared: one filter bank per 2x2 cell
    conv4 = (4 * 3) * (2 * 2 * 60 * 80 + 80)  # locally connected: one per output position
    fc = (5 * 4 * 60 + 4 * 3 * 80) * 160 + 160  # fed by pool3 (1200) and conv4 (960)
    assert n_params(deepid2()) == conv1 + conv2 + conv3 + conv4 + fc == 671_980
    classifier = 160 * 8192 + 8192
    assert n_params(deepid2(num_classes=8192)) == 671_980 + classifier


def test_deepid2plus_parameter_count_matches_paper_arithmetic():
    conv1 = 4 * 4 * 3 * 128 + 128
    conv2 = 3 * 3 * 128 * 128 + 128
    conv3 = 4 * (3 * 3 * 128 * 128 + 128)
    conv4 = 12 * (2 * 2 * 128 * 128 + 128)
    fc1 = 26 * 22 * 128 * 512 + 512  # on pool1
    fc2 = 12 * 10 * 128 * 512 + 512  # on pool2
    fc3 = 5 * 4 * 128 * 512 + 512  # on pool3
    fc4 = (5 * 4 * 128 + 4 * 3 * 128) * 512 + 512  # on pool3 + conv4
    expected = conv1 + conv2 + conv3 + conv4 + fc1 + fc2 + fc3 + fc4
    assert n_params(deepid2plus()) == expected == 50_292_992


def test_ordinary_conv3_and_conv4_parameter_counts():
    model = deepid2(local_grid=None, conv4_locally_connected=False)
    assert type(model.trunk[2][0]) is nn.Conv2d and type(model.trunk[3][0]) is nn.Conv2d
    conv3 = 3 * 3 * 40 * 60 + 60
    conv4 = 2 * 2 * 60 * 80 + 80
    rest = (4 * 4 * 3 * 20 + 20) + (3 * 3 * 20 * 40 + 40) + (1200 + 960) * 160 + 160
    assert n_params(model) == conv3 + conv4 + rest


def test_layer_types_follow_the_paper():
    model = deepid2()
    assert isinstance(model.trunk[2][0], LocallySharedConv2d)
    assert model.trunk[2][0].grid == (2, 2)
    assert isinstance(model.trunk[3][0], LocallyConnected2d)
    assert deepid2(local_grid=(1, 2)).trunk[2][0].grid == (1, 2)


def test_paper_map_sizes():
    model = deepid2_tiny().eval()
    assert model.map_sizes == PAPER_MAPS
    shapes = stage_shapes(model, torch.randn(2, 3, 55, 47))
    assert {k: v[2:] for k, v in shapes.items()} == PAPER_MAPS
    assert shapes["pool3"][1] == 8 and shapes["conv4"][1] == 8


@pytest.mark.parametrize(
    "input_size, in_chans, expected",
    [
        ((47, 47), 3, {"conv1": (44, 44), "pool3": (4, 4), "conv4": (3, 3)}),
        ((39, 31), 1, {"conv1": (36, 28), "pool3": (3, 2), "conv4": (2, 1)}),  # DeepID1 style
    ],
)
def test_other_input_sizes(input_size, in_chans, expected):
    model = deepid2plus_tiny(input_size=input_size, in_chans=in_chans, num_classes=5).eval()
    x = torch.randn(2, in_chans, *input_size)
    shapes = stage_shapes(model, x)
    for name, size in expected.items():
        assert model.map_sizes[name] == size
        assert shapes[name][2:] == size
    assert model(x).shape == (2, 5)
    assert [t.shape for t in model.forward_levels(x)] == [(2, 16)] * 4


@pytest.mark.parametrize(
    "builder, dim, levels",
    [(deepid2, 160, 1), (deepid2plus, 512, 4), (deepid2_tiny, 16, 1), (deepid2plus_tiny, 16, 4)],
)
def test_builder_shapes_and_levels(builder, dim, levels):
    model = builder(num_classes=7).eval()
    x = torch.randn(2, 3, 55, 47)
    assert model.num_features == dim and model.num_classes == 7
    assert model.level_features == [dim] * levels
    assert model(x).shape == (2, 7)
    features = model.forward_features(x)
    assert features.shape == (2, dim)
    assert model.forward_head(features, pre_logits=True) is features
    out = model.forward_levels(x)
    assert [tuple(t.shape) for t in out] == [(2, dim)] * levels
    torch.testing.assert_close(out[-1], features)
    torch.testing.assert_close(model.forward_head(features), model(x))


def test_features_are_relu_outputs():
    model = deepid2plus_tiny().eval()
    levels = model.forward_levels(torch.randn(4, 3, 55, 47))
    assert all((level >= 0).all() for level in levels)


def test_dropout_defaults_and_training_behaviour():
    assert deepid2().drop.p == 0.0
    model = deepid2plus_tiny()
    assert model.drop.p == 0.5
    x = torch.randn(4, 3, 55, 47)
    model.train()
    torch.manual_seed(0)
    a = model.forward_levels(x)
    assert all((level == 0).float().mean() > 0.2 for level in a)  # ReLU zeros + dropped units
    torch.manual_seed(1)
    b = model.forward_levels(x)
    assert not torch.equal(a[-1], b[-1])
    model.eval()
    torch.testing.assert_close(model.forward_levels(x)[-1], model.forward_levels(x)[-1])


def test_reset_classifier():
    model = deepid2_tiny(num_classes=3)
    assert isinstance(model.get_classifier(), nn.Linear)
    model.reset_classifier(11)
    assert model.num_classes == 11
    assert model.get_classifier().out_features == 11
    assert model(torch.randn(2, 3, 55, 47)).shape == (2, 11)
    model.reset_classifier(0)
    assert isinstance(model.get_classifier(), nn.Identity) and model.num_classes == 0
    model.eval()
    x = torch.randn(2, 3, 55, 47)
    torch.testing.assert_close(model(x), model.forward_features(x))
    with pytest.raises(ValueError, match="num_classes"):
        model.reset_classifier(-1)


@pytest.mark.parametrize("builder", [deepid2_tiny, deepid2plus_tiny])
def test_channels_last_gives_same_output(builder):
    torch.manual_seed(0)
    model = builder(num_classes=4).eval()
    x = torch.randn(3, 3, 55, 47)
    expected = model.forward_levels(x)
    model = model.to(memory_format=torch.channels_last)
    assert model.trunk[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    got = model.forward_levels(x.to(memory_format=torch.channels_last))
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_wrong_input_size_raises_clear_error():
    model = deepid2_tiny()
    with pytest.raises(ValueError, match=r"expects input of shape \(B, 3, 55, 47\)"):
        model(torch.randn(1, 3, 47, 47))
    with pytest.raises(ValueError, match=r"expects input of shape \(B, 3, 55, 47\)"):
        model(torch.randn(1, 1, 55, 47))


def test_invalid_configurations_raise():
    with pytest.raises(ValueError, match="too small"):
        DeepID(input_size=(20, 20))
    with pytest.raises(ValueError, match="one entry per conv layer"):
        DeepID(conv_channels=(20, 40, 60))
    with pytest.raises(ValueError, match="smaller than local_grid"):
        DeepID(input_size=(39, 31), local_grid=(7, 2))
    with pytest.raises(ValueError, match="dropout"):
        DeepID(dropout=1.0)
    with pytest.raises(ValueError, match="no pretrained weights"):
        deepid2(pretrained=True)


def test_constructor_takes_plain_yaml_types():
    # What a YAML config yields: lists instead of tuples.
    model = DeepID(
        input_size=[47, 47],
        conv_channels=[4, 4, 4, 4],
        kernel_sizes=[4, [3, 3], 3, 2],
        feature_dim=8,
        local_grid=[2, 2],
        deep_supervision=True,
    )
    assert model.input_size == (47, 47) and model.local_grid == (2, 2)
    assert model(torch.randn(1, 3, 47, 47)).shape == (1, 8)


def test_init_is_kaiming_with_zero_biases():
    torch.manual_seed(0)
    model = deepid2plus()
    conv2 = model.trunk[1][0]
    fan_in = 128 * 3 * 3
    assert conv2.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.05)
    conv4 = model.trunk[3][0]
    assert conv4.weight.std().item() == pytest.approx((2 / (128 * 2 * 2)) ** 0.5, rel=0.05)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear, LocallyConnected2d, LocallySharedConv2d)):
            assert module.bias is not None and not module.bias.any()


def test_tiny_model_overfits_a_tiny_batch(single_thread):
    torch.manual_seed(0)
    model = deepid2plus_tiny(num_classes=4, dropout=0.0)
    heads = nn.ModuleList(nn.Linear(d, 4) for d in model.level_features[:-1])
    x = torch.randn(8, 3, 55, 47)
    y = torch.arange(8) % 4
    optimizer = torch.optim.Adam([*model.parameters(), *heads.parameters()], lr=3e-3)

    def loss_fn() -> torch.Tensor:
        levels = model.forward_levels(x)
        logits = [head(level) for head, level in zip(heads, levels, strict=False)]
        logits.append(model.forward_head(levels[-1]))
        return sum(nn.functional.cross_entropy(z, y) for z in logits)

    initial = loss_fn().item()
    for _ in range(20):
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
    assert all(p.grad is not None for p in model.parameters())
    assert loss_fn().item() < 0.4 * initial


# Digests of the seeded initial weights, recorded before the layers' set-up was shared: the
# same init calls in the same order give bit-identical models (and leave the generator at the
# same state, checked by the next draw).
SEEDED_WEIGHTS = {
    "deepid2plus": (
        {},
        "09c14a0bd5352a37a50edf7260ef3a71ade0aed8af32981e1ea63136802ec026",
        0.0166623592376709,
    ),
    "deepid2": (
        {},
        "0fffe2a02685d2b2130ce86a30fc92d583e29d9be1a178a5ef79ee1fc3da0512",
        0.3998074531555176,
    ),
    "deepid2plus_tiny": (
        {"num_classes": 5},
        "fe396df8b30a063f2bbfe052ecfd3473cd47172746b16e260892cf006c0401ae",
        0.2140498161315918,
    ),
    "deepid2_tiny": (
        {"local_grid": None, "conv4_locally_connected": False},
        "c2bbe003072927af26d5f0509b0823bfc5dee0c9ae431864a8387c786e487d6e",
        0.948503315448761,
    ),
}


@pytest.mark.parametrize("name", sorted(SEEDED_WEIGHTS))
def test_seeded_weights_are_unchanged(name, state_digest):
    kwargs, digest, next_draw = SEEDED_WEIGHTS[name]
    torch.manual_seed(0)
    model = create_model(name, **kwargs)
    assert state_digest(model) == digest
    assert float(torch.rand(())) == next_draw
