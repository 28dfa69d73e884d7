from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lightning_deepvision.models.layers import (
    LocallyConnected2d,
    LocallySharedConv2d,
    RegionFilterBank,
)


def _pad(x: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    ph, pw = padding
    return F.pad(x, (pw, pw, ph, ph))


def lc_reference(layer: LocallyConnected2d, x: torch.Tensor) -> torch.Tensor:
    """Loop over output positions, one F.conv2d per position on its input patch."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    xp = _pad(x, layer.padding)
    out_h, out_w = layer.out_size
    rows = []
    for i in range(out_h):
        cols = []
        for j in range(out_w):
            patch = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            bias = None if layer.bias is None else layer.bias[i, j]
            cols.append(F.conv2d(patch, layer.weight[i, j], bias))
        rows.append(torch.cat(cols, dim=3))
    return torch.cat(rows, dim=2)


def ls_reference(layer: LocallySharedConv2d, x: torch.Tensor) -> torch.Tensor:
    """Loop over grid cells, one F.conv2d per cell on the input under it (with halo)."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    gh, gw = layer.grid
    xp = _pad(x, layer.padding)
    out_h, out_w = layer.output_size(*x.shape[-2:])
    row_cells = torch.arange(out_h).tensor_split(gh)
    col_cells = torch.arange(out_w).tensor_split(gw)
    rows = []
    for i, r in enumerate(row_cells):
        cols = []
        for j, c in enumerate(col_cells):
            r0, r1, c0, c1 = int(r[0]), int(r[-1]) + 1, int(c[0]), int(c[-1]) + 1
            window = xp[:, :, r0 * sh : (r1 - 1) * sh + kh, c0 * sw : (c1 - 1) * sw + kw]
            bias = None if layer.bias is None else layer.bias[i, j]
            cols.append(F.conv2d(window, layer.weight[i, j], bias, stride=layer.stride))
        rows.append(torch.cat(cols, dim=3))
    return torch.cat(rows, dim=2)


def _assert_same_fn_and_grads(layer: nn.Module, reference, x: torch.Tensor) -> None:
    x = x.clone().requires_grad_()
    params = [p for p in layer.parameters()]
    out = layer(x)
    ref = reference(layer, x)
    torch.testing.assert_close(out, ref)
    probe = torch.randn_like(ref)
    grads = torch.autograd.grad((out * probe).sum(), [x, *params])
    ref_grads = torch.autograd.grad((ref * probe).sum(), [x, *params])
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want)


LC_CASES = [
    dict(in_size=(6, 5), kernel_size=2),
    dict(in_size=(7, 6), kernel_size=3, stride=2, padding=1),
    dict(in_size=(5, 8), kernel_size=(2, 3), stride=(1, 2), padding=(0, 1), bias=False),
]


@pytest.mark.parametrize("cfg", LC_CASES)
def test_locally_connected_matches_reference(cfg):
    torch.manual_seed(0)
    layer = LocallyConnected2d(3, 4, **cfg)
    x = torch.randn(2, 3, *layer.in_size)
    _assert_same_fn_and_grads(layer, lc_reference, x)


def test_locally_connected_channels_last_input():
    torch.manual_seed(0)
    layer = LocallyConnected2d(3, 4, (6, 5), 2, padding=1)
    x = torch.randn(2, 3, 6, 5)
    torch.testing.assert_close(layer(x.to(memory_format=torch.channels_last)), layer(x))


def test_locally_connected_shapes_and_sizes():
    layer = LocallyConnected2d(60, 80, in_size=(5, 4), kernel_size=2)
    assert layer.out_size == (4, 3)
    assert layer.weight.shape == (4, 3, 80, 60, 2, 2)
    assert layer.bias is not None and layer.bias.shape == (4, 3, 80)
    assert layer(torch.randn(2, 60, 5, 4)).shape == (2, 80, 4, 3)


def test_locally_connected_weights_are_not_shared():
    # The same patch content at two positions must give different responses.
    torch.manual_seed(0)
    layer = LocallyConnected2d(1, 2, in_size=(2, 4), kernel_size=2, stride=2)
    x = torch.ones(1, 1, 2, 4)
    out = layer(x)
    assert not torch.allclose(out[..., 0, 0], out[..., 0, 1])


def test_locally_connected_init_is_conv_like_per_position():
    torch.manual_seed(0)
    layer = LocallyConnected2d(8, 4, in_size=(6, 6), kernel_size=3)
    bound = 1.0 / (8 * 3 * 3) ** 0.5
    assert layer.weight.abs().max() <= bound
    assert layer.weight.std() > 0.4 * bound  # uniform(-b, b) has std b/sqrt(3) ~ 0.58 b
    assert not torch.equal(layer.weight[0, 0], layer.weight[0, 1])


@pytest.mark.parametrize("shape", [(2, 3, 6, 6), (2, 4, 6, 5), (3, 6, 5), (2, 3, 5, 6)], ids=str)
def test_locally_connected_rejects_wrong_input_shape(shape):
    layer = LocallyConnected2d(3, 4, in_size=(6, 5), kernel_size=2)
    with pytest.raises(ValueError, match=r"expects input of shape \(B, 3, 6, 5\)"):
        layer(torch.randn(*shape))


def test_locally_connected_rejects_too_small_input_size():
    with pytest.raises(ValueError, match="smaller than kernel"):
        LocallyConnected2d(3, 4, in_size=(2, 5), kernel_size=3)


def test_locally_connected_gradcheck(single_thread):
    torch.manual_seed(0)
    layer = LocallyConnected2d(2, 3, in_size=(4, 3), kernel_size=2, padding=(1, 0)).double()
    x = torch.randn(2, 2, 4, 3, dtype=torch.float64, requires_grad=True)

    def fn(inp, weight, bias):
        return torch.func.functional_call(layer, {"weight": weight, "bias": bias}, (inp,))

    assert torch.autograd.gradcheck(fn, (x, layer.weight, layer.bias))


LS_CASES = [
    # (kernel_size, grid, stride, padding, input H, W)
    (3, (2, 2), 1, 0, 12, 10),  # DeepID2 conv3: 10x8 output, even 5x4 cells
    (3, (3, 2), 1, 0, 12, 11),  # uneven rows (10 -> 4,3,3) and cols (9 -> 5,4)
    (3, (2, 3), 2, 1, 9, 11),  # stride and padding, uneven
    ((2, 3), (3, 3), (2, 1), (1, 0), 10, 9),  # rectangular kernel, mixed stride
    (3, (2, 2), 2, 0, 10, 10),  # even 2x2 cells of 2x2 with stride 2
]


@pytest.mark.parametrize("kernel, grid, stride, padding, height, width", LS_CASES)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_locally_shared_matches_reference(
    kernel, grid, stride, padding, height, width, channels_last, bias
):
    torch.manual_seed(0)
    layer = LocallySharedConv2d(3, 4, kernel, grid=grid, stride=stride, padding=padding, bias=bias)
    x = torch.randn(2, 3, height, width)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    _assert_same_fn_and_grads(layer, ls_reference, x)


def test_locally_shared_keeps_channels_last():
    layer = LocallySharedConv2d(3, 4, 3, grid=(2, 2))
    x = torch.randn(2, 3, 12, 10).to(memory_format=torch.channels_last)
    assert layer(x).is_contiguous(memory_format=torch.channels_last)
    assert layer(x.contiguous()).is_contiguous()


def test_locally_shared_grid_1x1_is_conv2d():
    torch.manual_seed(0)
    layer = LocallySharedConv2d(3, 5, 3, grid=(1, 1), stride=2, padding=1)
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    with torch.no_grad():
        conv.weight.copy_(layer.weight[0, 0])
        conv.bias.copy_(layer.bias[0, 0])
    x = torch.randn(2, 3, 9, 8)
    torch.testing.assert_close(layer(x), conv(x))


def test_locally_shared_with_one_cell_per_position_is_locally_connected():
    torch.manual_seed(0)
    shared = LocallySharedConv2d(3, 4, 2, grid=(4, 3))
    connected = LocallyConnected2d(3, 4, in_size=(5, 4), kernel_size=2)
    with torch.no_grad():
        connected.weight.copy_(shared.weight)
        connected.bias.copy_(shared.bias)
    x = torch.randn(2, 3, 5, 4)
    torch.testing.assert_close(shared(x), connected(x))


def test_locally_shared_cells_have_their_own_filters():
    torch.manual_seed(0)
    layer = LocallySharedConv2d(1, 1, 1, grid=(2, 2), bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]).view(2, 2, 1, 1, 1, 1))
    out = layer(torch.ones(1, 1, 5, 4))
    # tensor_split: rows 0-2 | 3-4, cols 0-1 | 2-3.
    expected = torch.tensor(
        [[1, 1, 2, 2], [1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]], dtype=out.dtype
    )
    torch.testing.assert_close(out[0, 0], expected)


def test_locally_shared_accepts_any_input_size():
    torch.manual_seed(0)
    layer = LocallySharedConv2d(3, 4, 3, grid=(2, 2))
    for height, width in [(12, 10), (9, 13), (4, 4)]:
        x = torch.randn(1, 3, height, width)
        torch.testing.assert_close(layer(x), ls_reference(layer, x))


def test_locally_shared_costs_one_convolution():
    layer = LocallySharedConv2d(16, 32, 3, grid=(2, 2))
    conv = nn.Conv2d(16, 32, 3)
    x = torch.randn(2, 16, 12, 10)
    counts = []
    for module in (layer, conv):
        # Forward only: torch's FlopCounterMode ignores `groups` in convolution_backward
        # (torch 2.14), while the backward here is that of the same single grouped convolution.
        with FlopCounterMode(display=False) as counter:
            module(x)
        counts.append(counter.get_total_flops())
    assert counts[0] == counts[1] > 0


def test_locally_shared_rejects_output_smaller_than_grid():
    layer = LocallySharedConv2d(3, 4, 3, grid=(2, 2))
    with pytest.raises(ValueError, match=r"output map 1x4 .* smaller than the grid 2x2"):
        layer(torch.randn(1, 3, 3, 6))


def test_locally_shared_rejects_wrong_channels():
    layer = LocallySharedConv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"expects input of shape \(B, 3, H, W\)"):
        layer(torch.randn(1, 2, 8, 8))


def test_locally_shared_gradcheck(single_thread):
    torch.manual_seed(0)
    layer = LocallySharedConv2d(2, 2, 2, grid=(2, 2), padding=1).double()
    x = torch.randn(1, 2, 4, 3, dtype=torch.float64, requires_grad=True)

    def fn(inp, weight, bias):
        return torch.func.functional_call(layer, {"weight": weight, "bias": bias}, (inp,))

    assert torch.autograd.gradcheck(fn, (x, layer.weight, layer.bias))


def test_seeded_initial_weights_are_unchanged(state_digest):
    # Recorded before the two layers shared their weight set-up.
    torch.manual_seed(1)
    digests = [
        state_digest(LocallyConnected2d(3, 4, (6, 5), 2)),
        state_digest(LocallyConnected2d(3, 4, (6, 5), 3, bias=False)),
        state_digest(LocallySharedConv2d(3, 4, 2, grid=(2, 3))),
        state_digest(LocallySharedConv2d(3, 4, 3, bias=False)),
    ]
    assert digests == [
        "0db63bde64f7b6869814215b47f3df7ee1e1780cb887cf803b90c35a4d649f6f",
        "0e4a94a6c6f27f839d370d3195313e754c9a2ad079af04822077bc4db79309a3",
        "e31058194c45a262deb8c7208cbcd29aaec224b9fcd3e042c32e6bed887f7d83",
        "96238319d3ae29ad714d9a1b5d9d66e6276b6b3c5286af5b91769d0277283af3",
    ]
    assert float(torch.rand(())) == 0.5762922763824463


def test_layers_share_the_region_filter_bank():
    lc = LocallyConnected2d(3, 4, (6, 5), 2)
    ls = LocallySharedConv2d(3, 4, 2, grid=(2, 3))
    assert isinstance(lc, RegionFilterBank) and isinstance(ls, RegionFilterBank)
    assert lc.weight.shape == (5, 4, 4, 3, 2, 2) and ls.weight.shape == (2, 3, 4, 3, 2, 2)
    assert lc.fan_in == ls.fan_in == 12
    with pytest.raises(ValueError, match="kernel_size and stride must be positive"):
        LocallySharedConv2d(3, 4, 0)
    with pytest.raises(ValueError, match="padding non-negative"):
        LocallyConnected2d(3, 4, 6, 2, padding=-1)
    with pytest.raises(ValueError, match="grid must be positive"):
        LocallySharedConv2d(3, 4, 2, grid=(0, 2))
    with pytest.raises(ValueError, match="in_channels and out_channels must be positive"):
        LocallyConnected2d(0, 4, 6, 2)
