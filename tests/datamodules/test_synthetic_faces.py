import pytest
import torch

from lightning_deepvision.datamodules import SyntheticFacesDataModule
from lightning_deepvision.datamodules.base import default_num_workers
from lightning_deepvision.datasets import IdentityBalancedSampler


@pytest.fixture
def small(tiny_faces):
    """The tiny data module with 8 training identities and evaluation batches of 6."""
    return lambda **overrides: tiny_faces(
        **{"num_train_identities": 8, "eval_batch_size": 6, **overrides}
    )


def test_train_batches_are_identity_balanced_and_preprocessed(small) -> None:
    data = small()
    data.setup("fit")
    loader = data.train_dataloader()
    assert isinstance(loader.sampler, IdentityBalancedSampler)
    batch = next(iter(loader))
    assert set(batch) == {"image", "label"}  # masks and views are not carried along
    assert batch["image"].shape == (8, 3, 55, 47)
    assert batch["image"].dtype == torch.float32
    counts = torch.bincount(batch["label"])
    assert sorted(counts[counts > 0].tolist()) == [2, 2, 2, 2]
    assert data.num_classes == 8


def test_eval_pairs_and_stages(small) -> None:
    data = small()
    data.setup("validate")
    batch = next(iter(data.val_dataloader()))
    assert batch["image1"].shape == (6, 3, 55, 47)
    assert set(batch) >= {"image2", "same", "fold", "index"}
    data.setup("test")
    test_batch = next(iter(data.test_dataloader()))
    predict_batch = next(iter(data.predict_dataloader()))
    torch.testing.assert_close(test_batch["image1"], predict_batch["image1"])
    # validation and test use different (disjoint) identities
    assert not torch.equal(batch["image1"], test_batch["image1"])


def test_embedding_fit_loader_uses_eval_transforms(small) -> None:
    data = small()
    loader = data.embedding_fit_dataloader(max_images=10)
    batches = list(loader)
    images = torch.cat([b["image"] for b in batches])
    assert images.shape[0] == 10
    again = torch.cat([b["image"] for b in data.embedding_fit_dataloader(max_images=10)])
    torch.testing.assert_close(images, again)  # deterministic: no augmentation


def test_loader_defaults_follow_the_machine(small) -> None:
    data = SyntheticFacesDataModule()
    assert data.num_workers == default_num_workers()
    assert data.pin_memory == torch.cuda.is_available()
    assert data.batch_size == 32 * 4
    assert small(input_size=(47, 47)).input_size == (47, 47)


def test_prerendered_training_images_match_lazy_rendering(small) -> None:
    lazy = small(prerender_train_images=False)
    eager = small()
    lazy_set = lazy.build_train_dataset(lazy.sample_transforms(train=False))
    eager_set = eager.build_train_dataset(eager.sample_transforms(train=False))
    assert len(lazy_set) == len(eager_set) == 32
    for index in (0, 5, 31):
        a, b = lazy_set[index], eager_set[index]
        torch.testing.assert_close(a["image"], b["image"], rtol=0, atol=0)
        assert int(a["label"]) == int(b["label"])
    assert eager.train_labels() == lazy.train_labels()
    assert eager.num_classes == lazy.num_classes == 8
    # Rendered once: the evaluation-transform view (Joint Bayesian fitting) shares the images.
    images = eager._train_images
    eager.embedding_fit_dataloader(max_images=4)
    assert eager._train_images is images


def test_prerendering_in_worker_processes_keeps_the_order() -> None:
    from lightning_deepvision.datasets.synthetic import SyntheticFaces, render_images

    faces = SyntheticFaces("train", num_identities=3, images_per_identity=3, image_size=(32, 28))
    rendered = render_images(faces, num_workers=2, batch_size=2)
    assert rendered.dtype == torch.uint8 and rendered.shape == (9, 3, 32, 28)
    for index in range(9):
        assert torch.equal(rendered[index], faces[index]["image"].as_subclass(torch.Tensor))


def test_rendered_faces_checks_its_images() -> None:
    from lightning_deepvision.datasets import RenderedFaces

    with pytest.raises(ValueError, match=r"N = len\(targets\) = 3"):
        RenderedFaces(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), [0, 1, 1], num_classes=2)
    faces = RenderedFaces(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), [0, 1], num_classes=2)
    assert set(faces[1]) == {"image", "label"} and int(faces[1]["label"]) == 1


def test_prerendering_leaves_the_global_random_state_alone(small) -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    small().build_train_dataset(lambda sample: sample)
    torch.testing.assert_close(torch.rand(3), expected)
