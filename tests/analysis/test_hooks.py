import pytest
import torch
from torch import nn

from lightning_deepvision.analysis import ActivationRecorder
from lightning_deepvision.models.registry import create_model
from lightning_deepvision.tasks import VerificationTask

LEVELS = {
    "FC-1": "backbone.aux_fcs.0",
    "FC-2": "backbone.aux_fcs.1",
    "FC-3": "backbone.aux_fcs.2",
    "FC-4": "backbone.fc",
}


def _images(n: int = 3) -> torch.Tensor:
    return torch.randn(n, 3, 55, 47, generator=torch.Generator().manual_seed(0))


def test_relu_of_the_fc_layers_is_forward_levels() -> None:
    torch.manual_seed(0)
    model = nn.Module()
    model.backbone = create_model("deepid2plus_tiny")
    model.eval()
    recorder = ActivationRecorder(model, LEVELS)
    recorder.attach()
    images = _images()
    with torch.no_grad(), recorder.record("x"):
        levels = model.backbone.forward_levels(images)
    records = recorder.take()["x"]
    for name, level in zip(LEVELS, levels, strict=True):
        torch.testing.assert_close(records[name], level, rtol=0, atol=0)


def test_watch_records_the_batch_tensor_and_not_its_mirror() -> None:
    torch.manual_seed(0)
    task = VerificationTask(backbone="deepid2plus_tiny", num_identities=3, flip_test="concat")
    task.eval()
    recorder = ActivationRecorder(task, LEVELS)
    recorder.attach()
    image1, image2 = _images(2), _images(2).flip(0)
    recorder.watch({"image1": image1, "image2": image2, "same": torch.tensor([1, 0])})
    with torch.no_grad():
        task.embed(image1)  # the image and its mirror
        task.embed(image2.clone())  # a copy: not the watched tensor
        task.embed(image2)
        expected1 = task.forward_levels(image1)
        expected2 = task.forward_levels(image2)
    records = recorder.take()
    assert set(records) == {"image1", "image2"}
    for i, name in enumerate(LEVELS):
        torch.testing.assert_close(records["image1"][name], expected1[i])
        torch.testing.assert_close(records["image2"][name], expected2[i])
    # take() forgets the watched tensors: nothing is recorded any more.
    with torch.no_grad():
        task.embed(image1)
    assert recorder.take() == {}


def test_watch_through_the_backbone() -> None:
    # A task that calls its backbone directly still has its watched batch recorded.
    model = nn.Module()
    model.backbone = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    recorder = ActivationRecorder(model, {"fc": "backbone.1"}, activation="none")
    recorder.attach()
    x = torch.tensor([[1.0, -2.0, 3.0, 0.5]])
    recorder.watch({"image": x})
    with torch.no_grad():
        out = model.backbone(x)
    torch.testing.assert_close(recorder.take()["image"]["fc"], out)  # negative values kept


def test_detach_removes_every_hook_and_bad_names() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    recorder = ActivationRecorder(model, {"a": "0"})
    recorder.attach()
    recorder.attach()  # idempotent
    assert recorder.attached
    recorder.detach()
    assert not recorder.attached
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
    with recorder.record("x"):
        model(torch.zeros(1, 2))
    assert recorder.take() == {}
    with pytest.raises(ValueError, match=r"no module named \['fc'\].*0, 1"):
        ActivationRecorder(model, {"a": "fc"})
    with pytest.raises(ValueError, match="activation"):
        ActivationRecorder(model, {"a": "0"}, activation="tanh")  # type: ignore[arg-type]
