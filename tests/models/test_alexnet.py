from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from lightning_deepvision.models import create_model, model_accepts
from lightning_deepvision.models.alexnet import PAPER_CHANNELS, AlexNet, alexnet, alexnet_tiny
from lightning_deepvision.models.layers.response_norm import LocalResponseNorm

# (H, W) of every map for the paper's 227x227 input.
PAPER_MAPS = {
    "conv1": (55, 55),
    "pool1": (27, 27),
    "conv2": (27, 27),
    "pool2": (13, 13),
    "conv3": (13, 13),
    "conv4": (13, 13),
    "conv5": (13, 13),
    "pool5": (6, 6),
}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def paper_lrn(a: torch.Tensor, n: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    """The formula of Krizhevsky et al. (NIPS 2012, §3.3), one kernel map at a time."""
    maps = a.shape[1]
    out = []
    for i in range(maps):
        lo, hi = max(0, i - n // 2), min(maps - 1, i + n // 2)
        total = (a[:, lo : hi + 1] ** 2).sum(dim=1)
        out.append(a[:, i] / (k + alpha * total) ** beta)
    return torch.stack(out, dim=1)


@pytest.fixture(scope="module")
def paper_model() -> AlexNet:
    torch.manual_seed(0)
    return alexnet()


# -- parameter counts -----------------------------------------------------------------------
def test_single_tower_parameter_count_matches_paper_arithmetic(paper_model):
    conv1 = 11 * 11 * 3 * 96 + 96
    conv2 = 5 * 5 * 96 * 256 + 256
    conv3 = 3 * 3 * 256 * 384 + 384
    conv4 = 3 * 3 * 384 * 384 + 384
    conv5 = 3 * 3 * 384 * 256 + 256
    fc6 = 6 * 6 * 256 * 4096 + 4096
    fc7 = 4096 * 4096 + 4096
    fc8 = 4096 * 1000 + 1000
    expected = conv1 + conv2 + conv3 + conv4 + conv5 + fc6 + fc7 + fc8
    assert n_params(paper_model) == expected == 62_378_344


def test_two_gpu_parameter_count_matches_paper_arithmetic():
    model = create_model("alexnet", groups=2)
    # Fig. 2: conv2 kernels are 5x5x48, conv4 and conv5 kernels 3x3x192 (one GPU's maps);
    # conv3 (3x3x256) and the FC layers are connected across the GPUs.
    conv1 = 11 * 11 * 3 * 96 + 96
    conv2 = 5 * 5 * 48 * 256 + 256
    conv3 = 3 * 3 * 256 * 384 + 384
    conv4 = 3 * 3 * 192 * 384 + 384
    conv5 = 3 * 3 * 192 * 256 + 256
    fc = (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert n_params(model) == conv1 + conv2 + conv3 + conv4 + conv5 + fc == 60_965_224
    assert tuple(model.features.conv2.weight.shape) == (256, 48, 5, 5)
    assert tuple(model.features.conv3.weight.shape) == (384, 256, 3, 3)
    assert tuple(model.features.conv4.weight.shape) == (384, 192, 3, 3)
    assert tuple(model.features.conv5.weight.shape) == (256, 192, 3, 3)


# -- topology -------------------------------------------------------------------------------
def test_layer_order_and_hyperparameters_follow_the_paper(paper_model):
    names = [name for name, _ in paper_model.features.named_children()]
    assert names == [
        "conv1", "relu1", "norm1", "pool1",
        "conv2", "relu2", "norm2", "pool2",
        "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5",
    ]  # fmt: skip
    f = paper_model.features
    geometry = {
        name: (conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.groups)
        for name, conv in f.named_children()
        if isinstance(conv, nn.Conv2d)
    }
    assert geometry == {
        "conv1": (96, (11, 11), (4, 4), (0, 0), 1),
        "conv2": (256, (5, 5), (1, 1), (2, 2), 1),
        "conv3": (384, (3, 3), (1, 1), (1, 1), 1),
        "conv4": (384, (3, 3), (1, 1), (1, 1), 1),
        "conv5": (256, (3, 3), (1, 1), (1, 1), 1),
    }
    for pool in (f.pool1, f.pool2, f.pool5):
        assert (pool.kernel_size, pool.stride) == (3, 2)  # overlapping pooling, §3.4
    for norm in (f.norm1, f.norm2):
        assert isinstance(norm, LocalResponseNorm)
        assert (norm.size, norm.alpha, norm.beta, norm.k, norm.groups) == (5, 1e-4, 0.75, 2.0, 1)
    p = paper_model.pre_logits
    assert [name for name, _ in p.named_children()] == [
        "flatten", "fc6", "relu6", "drop6", "fc7", "relu7", "drop7",
    ]  # fmt: skip
    assert (p.fc6.in_features, p.fc6.out_features, p.fc7.out_features) == (9216, 4096, 4096)
    assert p.drop6.p == p.drop7.p == 0.5
    assert paper_model.head.in_features == 4096 and paper_model.head.out_features == 1000


def test_map_sizes_of_the_227_input():
    model = alexnet_tiny().eval()
    assert model.map_sizes == PAPER_MAPS
    shapes: dict[str, tuple[int, ...]] = {}
    for name, layer in model.features.named_children():
        if name in PAPER_MAPS:
            layer.register_forward_hook(lambda m, a, o, n=name: shapes.update({n: tuple(o.shape)}))
    model(torch.randn(2, 3, 227, 227))
    assert {name: shape[2:] for name, shape in shapes.items()} == PAPER_MAPS
    assert shapes["pool5"][1] == 16


def test_paper_model_forward_shapes(paper_model):
    model = paper_model.eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, 227, 227))
        assert features.shape == (1, 4096)
        assert model.forward_head(features).shape == (1, 1000)


def test_smallest_and_non_square_inputs():
    model = alexnet_tiny(input_size=67, num_classes=3).eval()
    assert model.map_sizes["pool5"] == (1, 1)
    assert model(torch.randn(2, 3, 67, 67)).shape == (2, 3)
    model = alexnet_tiny(input_size=(227, 131), in_chans=1).eval()
    assert model.map_sizes["pool5"] == (6, 3)
    assert model.pre_logits.fc6.in_features == 16 * 6 * 3
    assert model(torch.randn(1, 1, 227, 131)).shape == (1, 1000)
    with pytest.raises(ValueError, match=r"too small for AlexNet: pool5 would be 0x0"):
        alexnet_tiny(input_size=66)


# -- local response normalisation ------------------------------------------------------------
@pytest.mark.parametrize("n, alpha, beta, k", [(5, 1e-4, 0.75, 2.0), (3, 0.05, 0.5, 1.0)])
def test_response_norm_equals_the_paper_formula(n, alpha, beta, k):
    torch.manual_seed(0)
    # Activities of the size ReLU outputs reach, so that the denominator matters.
    a = (torch.randn(2, 11, 4, 5, dtype=torch.float64) * 60).relu().requires_grad_(True)
    b = a.detach().clone().requires_grad_(True)
    out = LocalResponseNorm(n, alpha, beta, k)(a)
    expected = paper_lrn(b, n, alpha, beta, k)
    torch.testing.assert_close(out, expected)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad, b.grad)
    assert not torch.allclose(out, a / k**beta)  # the neighbours did change the result


def test_torch_local_response_norm_is_weaker_by_n():
    # torch (Caffe) divides alpha by n: with the paper's constants it is not the paper's layer.
    a = (torch.randn(1, 8, 3, 3, dtype=torch.float64) * 60).relu()
    paper = paper_lrn(a, 5, 1e-4, 0.75, 2.0)
    assert not torch.allclose(nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)(a), paper)
    torch.testing.assert_close(nn.LocalResponseNorm(5, 5e-4, 0.75, 2.0)(a), paper)


def test_grouped_response_norm_normalises_each_half_alone():
    a = (torch.randn(2, 12, 3, 4, dtype=torch.float64) * 60).relu()
    out = LocalResponseNorm(5, 1e-3, 0.75, 2.0, groups=2)(a)
    halves = [paper_lrn(h, 5, 1e-3, 0.75, 2.0) for h in a.split(6, dim=1)]
    torch.testing.assert_close(out, torch.cat(halves, dim=1))
    assert not torch.allclose(out, paper_lrn(a, 5, 1e-3, 0.75, 2.0))


def test_response_norm_rejects_bad_arguments():
    with pytest.raises(ValueError, match="odd"):
        LocalResponseNorm(4)
    with pytest.raises(ValueError, match="groups"):
        LocalResponseNorm(5, groups=0)
    with pytest.raises(ValueError, match="do not divide"):
        LocalResponseNorm(5, groups=2)(torch.randn(1, 5, 2, 2))


def test_two_gpu_connectivity():
    torch.manual_seed(0)
    model = alexnet_tiny(groups=2).eval()
    f = model.features
    assert f.norm1.groups == f.norm2.groups == 2
    assert (f.conv1.groups, f.conv2.groups, f.conv3.groups) == (1, 2, 1)
    assert (f.conv4.groups, f.conv5.groups) == (2, 2)
    # conv2's first half of outputs reads only the first half of pool1's maps (one GPU).
    pool1 = torch.randn(1, 8, 27, 27).relu()
    changed = pool1.clone()
    changed[:, 4:] += 1.0
    with torch.no_grad():
        a, b = f.conv2(pool1), f.conv2(changed)
    torch.testing.assert_close(a[:, :8], b[:, :8])
    assert not torch.allclose(a[:, 8:], b[:, 8:])


# -- initialisation ---------------------------------------------------------------------------
def test_paper_initialisation(paper_model):
    layers = {
        **{n: m for n, m in paper_model.features.named_children() if isinstance(m, nn.Conv2d)},
        "fc6": paper_model.pre_logits.fc6,
        "fc7": paper_model.pre_logits.fc7,
        "fc8": paper_model.head,
    }
    for name, layer in layers.items():
        weight = layer.weight.detach()
        assert abs(weight.mean().item()) < 1e-3, name
        assert weight.std().item() == pytest.approx(0.01, rel=0.05), name
        # §5: biases 1 in conv2, conv4, conv5 and the fully-connected hidden layers, else 0.
        expected = 1.0 if name in {"conv2", "conv4", "conv5", "fc6", "fc7"} else 0.0
        assert torch.equal(layer.bias.detach(), torch.full_like(layer.bias, expected)), name


def test_kaiming_initialisation():
    torch.manual_seed(0)
    model = alexnet_tiny(init="kaiming")
    conv2 = model.features.conv2
    fan_in = conv2.weight[0].numel()
    assert conv2.weight.std().item() == pytest.approx((2.0 / fan_in) ** 0.5, rel=0.1)
    assert all(not m.bias.any() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    with pytest.raises(ValueError, match="init"):
        alexnet_tiny(init="xavier")


# -- timm contract ------------------------------------------------------------------------------
def test_timm_contract():
    torch.manual_seed(0)
    model = create_model("alexnet_tiny", num_classes=7).eval()
    x = torch.randn(2, 3, 227, 227)
    assert model.num_features == 64 and model.num_classes == 7
    features = model.forward_features(x)
    assert features.shape == (2, 64) and (features >= 0).all()
    assert model.forward_head(features, pre_logits=True) is features
    torch.testing.assert_close(model.forward_head(features), model(x))
    assert model.features(x).shape == (2, 16, 6, 6)  # pool5 maps
    assert model.get_classifier() is model.head and model.head.out_features == 7
    model.reset_classifier(3)
    assert model.num_classes == 3 and model(x).shape == (2, 3)
    assert model.head.weight.std().item() == pytest.approx(0.01, rel=0.3)
    assert not model.head.bias.any()
    model.reset_classifier(0)
    assert isinstance(model.get_classifier(), nn.Identity)
    torch.testing.assert_close(model(x), model.forward_features(x))
    with pytest.raises(ValueError, match="num_classes"):
        model.reset_classifier(-1)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    model = alexnet_tiny(init="kaiming")
    x = torch.randn(4, 3, 227, 227)
    model.train()
    a, b = model.forward_features(x), model.forward_features(x)
    assert not torch.equal(a, b)
    model.eval()
    torch.testing.assert_close(model.forward_features(x), model.forward_features(x))
    assert alexnet_tiny(dropout=0.0).pre_logits.drop7.p == 0.0


def test_channels_last_gives_same_output():
    torch.manual_seed(0)
    model = alexnet_tiny(num_classes=4, init="kaiming").eval()
    x = torch.randn(2, 3, 227, 227)
    expected = model(x)
    model = model.to(memory_format=torch.channels_last)
    got = model(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_wrong_input_shape_raises_clear_error():
    model = alexnet_tiny()
    with pytest.raises(ValueError, match=r"expects input of shape \(B, 3, 227, 227\)"):
        model(torch.randn(1, 3, 224, 224))


def test_invalid_configurations_raise():
    with pytest.raises(ValueError, match="5 positive entries"):
        AlexNet(channels=(96, 256, 384, 384))
    with pytest.raises(ValueError, match="divide every entry"):
        alexnet_tiny(groups=3)
    with pytest.raises(ValueError, match="dropout"):
        alexnet_tiny(dropout=1.0)
    with pytest.raises(ValueError, match="different network"):
        create_model("alexnet", pretrained=True)


# -- registry -----------------------------------------------------------------------------------
def test_registry_declares_every_argument():
    assert model_accepts("alexnet", "groups") and model_accepts("alexnet_tiny", "lrn_alpha")
    assert model_accepts("alexnet_tiny", "input_size")
    assert not model_accepts("alexnet_tiny", "feature_dim")
    with pytest.raises(TypeError, match=r"'alexnet_tiny'.*\['lrn_aplha'\]"):
        create_model("alexnet_tiny", lrn_aplha=1e-3)
    tiny = inspect.signature(alexnet_tiny).parameters
    full = inspect.signature(alexnet).parameters
    assert list(tiny) == list(full)
    assert full["channels"].default == PAPER_CHANNELS and tiny["hidden_features"].default == 64
    model = create_model("alexnet_tiny", lrn_alpha=1e-3, groups=2)
    assert model.features.norm2.alpha == 1e-3 and model.groups == 2
