"""One-layer auto-encoders (Linear and Conv2d, tied or not) and the DBN / deep auto-encoder nets."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lightning_deepvision.models import create_model
from lightning_deepvision.models.layers.autoencoder import AutoencoderLayer
from lightning_deepvision.models.mlp import MLP, DeepAutoencoder


def test_tied_linear_decoder_is_the_encoder_transpose_and_shares_the_layer() -> None:
    encoder = nn.Linear(6, 4)
    layer = AutoencoderLayer(encoder, tied=True)
    assert layer.encoder is encoder and layer.decoder is None
    x = torch.rand(3, 6)
    code = torch.sigmoid(encoder(x))
    expected = torch.sigmoid(code @ encoder.weight + layer.decoder_bias)
    torch.testing.assert_close(layer.reconstruct(x), expected)
    loss = layer(x)
    logits = code @ encoder.weight + layer.decoder_bias
    reference = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 3
    torch.testing.assert_close(loss, reference)
    loss.backward()
    assert encoder.weight.grad is not None and encoder.weight.grad.abs().sum() > 0


def test_untied_decoder_starts_as_the_transpose_and_is_its_own_parameter() -> None:
    layer = AutoencoderLayer.linear(5, 3, tied=False, loss="mse", activation="identity")
    assert layer.decoder is not None
    torch.testing.assert_close(layer.decoder.weight, layer.encoder.weight.T)
    assert layer.decoder.weight is not layer.encoder.weight
    x = torch.randn(4, 5)
    reconstruction = layer.reconstruct(x)
    torch.testing.assert_close(layer(x), ((reconstruction - x) ** 2).sum(1).mean())


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("size", [11, 12])
def test_convolutional_autoencoder_reconstructs_the_input_shape(tied: bool, size: int) -> None:
    layer = AutoencoderLayer.conv(3, 5, 3, stride=2, padding=1, tied=tied)
    x = torch.rand(2, 3, size, size)
    reconstruction = layer.reconstruct(x)
    assert reconstruction.shape == x.shape
    if tied:
        code = torch.sigmoid(layer.encoder(x))
        reference = F.conv_transpose2d(
            code,
            layer.encoder.weight,
            layer.decoder_bias,
            stride=2,
            padding=1,
            output_padding=(size + 1) % 2,
        )
        torch.testing.assert_close(reconstruction, torch.sigmoid(reference))


def test_denoising_masks_inputs_and_training_lowers_the_error() -> None:
    torch.manual_seed(0)
    layer = AutoencoderLayer.linear(16, 8, noise_level=0.3, tied=True)
    x = (torch.rand(64, 16) > 0.5).float()
    corrupted = layer.corrupt(x, torch.Generator().manual_seed(0))
    assert bool((corrupted <= x).all()) and corrupted.sum() < x.sum()
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.05, momentum=0.9)
    first = layer.reconstruction_error(x)
    for _ in range(200):
        optimizer.zero_grad()
        layer(x).backward()
        optimizer.step()
    assert layer.reconstruction_error(x) < 0.7 * first
    with pytest.raises(ValueError, match="noise_level"):
        AutoencoderLayer.linear(4, 2, noise_level=1.0)
    with pytest.raises(TypeError, match=r"nn\.Linear or nn\.Conv2d"):
        AutoencoderLayer(nn.Conv1d(1, 1, 1))  # type: ignore[arg-type]


def test_dbn_mlp_has_the_papers_sizes_and_timm_contract() -> None:
    model = create_model("dbn_mlp", num_classes=10)
    assert isinstance(model, MLP)
    assert [layer.out_features for layer in model.layers] == [500, 500, 2000]
    expected = 784 * 500 + 500 + 500 * 500 + 500 + 500 * 2000 + 2000 + 2000 * 10 + 10
    assert sum(p.numel() for p in model.parameters()) == expected
    x = torch.rand(2, 1, 28, 28)
    features = model.forward_features(x)
    h = x.flatten(1)
    for layer in model.layers:
        h = torch.sigmoid(layer(h))
    torch.testing.assert_close(features, h)
    model.reset_classifier(0)
    assert model(x).shape == (2, 2000)
    tiny = create_model("dbn_mlp_tiny", num_classes=0)
    assert tiny(x).shape == (2, 64)


def test_deep_autoencoder_mirrors_the_encoder_with_a_linear_code() -> None:
    model = create_model("deep_autoencoder")
    assert isinstance(model, DeepAutoencoder)
    assert [layer.out_features for layer in model.encoder] == [1000, 500, 250, 30]
    assert [layer.out_features for layer in model.decoder] == [250, 500, 1000, 784]
    x = torch.rand(3, 1, 28, 28)
    code = model.encode(x)
    h = x.flatten(1)
    for layer in list(model.encoder)[:-1]:
        h = torch.sigmoid(layer(h))
    torch.testing.assert_close(code, model.encoder[-1](h))  # linear code
    assert model(x).shape == x.shape
    assert create_model("deep_autoencoder_tiny").encode(x).shape == (3, 8)
    with pytest.raises(ValueError, match="pretrained"):
        create_model("deep_autoencoder", pretrained=True)
