"""The parsing networks: shapes, timm's contract, the shared code and the shape prior."""

from __future__ import annotations

import pytest
import torch

from lightning_deepvision.models import create_model
from lightning_deepvision.models.parsing import (
    CrossModalityParsingNet,
    LabelMapAutoencoder,
    conv_block,
)


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("size", [(32, 28), (31, 27)])
def test_cross_modality_shapes_and_classifier(size: tuple[int, int]) -> None:
    net = CrossModalityParsingNet(num_classes=5, widths=(8, 16, 32), code_channels=12)
    images = torch.randn(2, 3, *size)
    assert net(images).shape == (2, 5, *size)
    pyramid = net.encode(images)
    # The code sits at 1/4 resolution (two stride-2 levels), with code_channels channels.
    assert pyramid[-1].shape == (2, 12, (size[0] + 3) // 4, (size[1] + 3) // 4)
    net.reset_classifier(0)
    assert net(images).shape == (2, net.num_features, *size) and net.num_features == 8
    net.reset_classifier(3)
    assert net.get_classifier().out_channels == 3


def test_parameter_count_is_the_blocks_arithmetic() -> None:
    def block(cin: int, cout: int) -> int:  # two 3x3 convolutions without bias, two BNs
        return 9 * cin * cout + 9 * cout * cout + 4 * cout

    net = CrossModalityParsingNet(
        num_classes=4, widths=(8, 16), code_channels=6, skip_connections=True
    )
    encoder = block(3, 8) + block(8, 16) + (16 * 6 + 6)
    decoder = block(6 + 8, 8)  # the code upsampled, concatenated with the first level
    classifier = 8 * 4 + 4
    assert _parameters(net) == encoder + decoder + classifier
    assert _parameters(conv_block(3, 8)) == block(3, 8)


def test_without_skips_everything_passes_through_the_code() -> None:
    net = CrossModalityParsingNet(
        num_classes=3, widths=(4, 8), code_channels=4, skip_connections=False
    )
    net.eval()
    images = torch.randn(1, 3, 16, 16, requires_grad=True)
    code = net.encode(images)[-1]
    # The output depends on the input only through the code: same code, same output.
    restored = net.decode([torch.zeros(1, 4, 16, 16), code])
    torch.testing.assert_close(restored, net.forward_features(images))


def test_label_autoencoder_code_matches_the_image_code_and_learns() -> None:
    image_net = CrossModalityParsingNet(widths=(8, 16), code_channels=6)
    prior = LabelMapAutoencoder(4, widths=(8, 16), code_channels=6)
    masks = torch.randint(0, 4, (2, 15, 13))
    one_hot = torch.nn.functional.one_hot(masks, 4).permute(0, 3, 1, 2).float()
    assert prior.encode(one_hot).shape == image_net.encode(torch.randn(2, 3, 15, 13))[-1].shape
    assert prior(one_hot).shape == (2, 4, 15, 13)
    optimizer = torch.optim.Adam(prior.parameters(), lr=0.02)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(prior(one_hot), masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_registry_names_and_timm_baseline() -> None:
    tiny = create_model("cross_modality_parsing_tiny", num_classes=11)
    assert tiny(torch.randn(1, 3, 24, 20)).shape == (1, 11, 24, 20)
    timm_net = create_model("timm_parsing_tiny", num_classes=3)
    out = timm_net(torch.randn(1, 3, 32, 32))
    # The finest pyramid level of ResNet-10-T is at stride 2.
    assert out.shape == (1, 3, 32 // timm_net.reduction, 32 // timm_net.reduction)
    assert timm_net.num_features == 16


def test_invalid_sizes() -> None:
    with pytest.raises(ValueError, match="two or more positive levels"):
        CrossModalityParsingNet(widths=(8,))
    with pytest.raises(ValueError, match="at least 2 classes"):
        LabelMapAutoencoder(1)
