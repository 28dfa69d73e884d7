from __future__ import annotations

import pytest
import timm
import timm.models._builder
import torch

from lightning_deepvision.models import DeepID, create_model, list_models, register_model, registry


def test_builtin_models_are_listed():
    names = list_models()
    assert {"deepid2", "deepid2plus", "deepid2_tiny", "deepid2plus_tiny"} <= set(names)
    assert names == sorted(names)


def test_create_registered_model_with_overrides():
    model = create_model("deepid2plus_tiny", num_classes=3, feature_dim=8, dropout=0.1)
    assert isinstance(model, DeepID)
    assert model.num_classes == 3 and model.num_features == 8 and model.drop.p == 0.1
    assert model.level_features == [8, 8, 8, 8]
    assert model(torch.randn(2, 3, 55, 47)).shape == (2, 3)


def test_unknown_name_falls_back_to_timm_without_download(monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("create_model tried to load pretrained weights")

    monkeypatch.setattr(timm.models._builder, "load_pretrained", no_download)
    model = create_model("resnet18", num_classes=0)
    assert isinstance(model, timm.models.ResNet)
    assert model.num_features == 512
    assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 512)


def test_bogus_name_raises_value_error():
    with pytest.raises(ValueError, match=r"unknown model 'no_such_net_42'.*deepid2plus"):
        create_model("no_such_net_42")


def test_register_model_adds_and_rejects_duplicates(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_model("unit_test_linear")
    def build(**kwargs):
        return torch.nn.Linear(2, kwargs.get("out", 1))

    assert "unit_test_linear" in list_models()
    assert create_model("unit_test_linear", out=5).out_features == 5
    with pytest.raises(ValueError, match="already registered"):
        register_model("unit_test_linear")(build)
    with pytest.raises(ValueError, match="already registered"):
        register_model("deepid2")(build)
