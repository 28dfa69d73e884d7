from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import timm.models._builder
import torch

import lightning_deepvision.models as models
from lightning_deepvision.models import (
    DeepID,
    create_model,
    list_models,
    model_accepts,
    register_model,
    registry,
)
from lightning_deepvision.models.deepid import deepid2plus_tiny


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


def _run(code: str) -> None:
    """Run ``code`` in a fresh interpreter (imports already made here cannot hide anything)."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_listing_imports_every_model_module() -> None:
    package = Path(models.__file__).parent
    modules = sorted(
        path.stem for path in package.glob("*.py") if path.stem not in {"__init__", "registry"}
    )
    assert {"deepid", "joint_bayesian"} <= set(modules)
    _run(
        "import sys\n"
        "from lightning_deepvision.models import list_models\n"
        "list_models()\n"
        f"names = [f'lightning_deepvision.models.{{m}}' for m in {modules!r}]\n"
        "missing = [name for name in names if name not in sys.modules]\n"
        "assert not missing, missing\n"
    )


def test_a_new_model_module_is_found_before_timm(monkeypatch, tmp_path) -> None:
    # A module that nothing imports, registering a name timm also knows: the registry must
    # find it by walking the package, not fall back to timm's resnet18.
    (tmp_path / "unit_test_shadow.py").write_text(
        "import torch\n"
        "from lightning_deepvision.models.registry import register_model\n"
        "@register_model('resnet18')\n"
        "def resnet18(num_classes: int = 1):\n"
        "    return torch.nn.Linear(2, num_classes)\n"
    )
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(models, "__path__", [*models.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "lightning_deepvision.models.unit_test_shadow", raising=False)
    try:
        model = create_model("resnet18", num_classes=3)
        assert isinstance(model, torch.nn.Linear) and model.out_features == 3
        assert "resnet18" in list_models()
    finally:
        sys.modules.pop("lightning_deepvision.models.unit_test_shadow", None)


def test_undeclared_argument_is_a_type_error_naming_model_and_arguments() -> None:
    with pytest.raises(TypeError, match=r"'deepid2_tiny'.*\['drop_rate'\].*'feature_dim'"):
        create_model("deepid2_tiny", drop_rate=0.1)
    with pytest.raises(TypeError, match=r"\['bogus', 'input_sise'\]"):
        create_model("deepid2plus_tiny", input_sise=(55, 47), bogus=1)


def test_builder_signature_shows_the_variants_defaults() -> None:
    parameters = inspect.signature(deepid2plus_tiny).parameters
    assert parameters["conv_channels"].default == (8, 8, 8, 8)
    assert parameters["deep_supervision"].default is True
    assert parameters["input_size"].default == (55, 47)
    assert next(iter(parameters)) == "pretrained"
    # The signature is the truth: what it lists, the builder takes.
    kwargs = {name: p.default for name, p in parameters.items()}
    assert isinstance(deepid2plus_tiny(**kwargs), DeepID)


def test_model_accepts() -> None:
    assert model_accepts("deepid2plus", "input_size")
    assert model_accepts("deepid2plus", "num_classes")
    assert not model_accepts("deepid2plus", "drop_rate")
    # timm names: only the arguments every timm model takes
    assert model_accepts("resnet18", "drop_rate") and model_accepts("resnet18", "in_chans")
    assert not model_accepts("resnet18", "input_size")
    # an unknown name accepts nothing; create_model is the one to report it
    assert not model_accepts("no_such_net_42", "num_classes")


def test_builder_with_var_keyword_accepts_anything(monkeypatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_model("unit_test_open")
    def build(width: int = 1, **kwargs):
        return torch.nn.Linear(2, width + len(kwargs))

    assert model_accepts("unit_test_open", "anything")
    assert create_model("unit_test_open", width=2, extra=1).out_features == 3


def test_importing_models_does_not_import_timm() -> None:
    _run(
        "import sys\n"
        "import lightning_deepvision.models as models\n"
        "from lightning_deepvision.models import registry\n"
        "assert set(models.__all__) <= set(dir(models))\n"
        "models.list_models(); models.create_model('deepid2_tiny'); models.DeepID\n"
        "assert 'timm' not in sys.modules, 'timm was imported'\n"
        "models.create_model('resnet18')\n"
        "assert 'timm' in sys.modules\n"
    )
