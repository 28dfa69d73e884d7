"""The recipes' default data: procedurally generated faces, no download needed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset

from lightning_deepvision.datamodules.base import KeepKeys
from lightning_deepvision.datamodules.verification import VerificationDataModule
from lightning_deepvision.datasets.synthetic import (
    RenderedFaces,
    SyntheticFacePairs,
    SyntheticFaces,
    render_images,
)


class SyntheticFacesDataModule(VerificationDataModule):
    """Train on :class:`SyntheticFaces` identities, verify on pairs of unseen identities.

    Training, validation and test identities are disjoint, as CelebFaces+ and LFW are in
    DeepID2 (Sun, Wang, Tang, NIPS 2014), so the reported accuracy measures generalisation to
    new people.

    Args:
        num_train_identities: Identities in the identification softmax.
        images_per_train_identity: Rendered images per training identity.
        num_eval_identities: Identities in each of the validation and test pair sets.
        images_per_eval_identity: Rendered images per evaluation identity.
        num_folds: Folds of the pair sets (10 as in LFW).
        pairs_per_fold: Pairs per fold (half matched, half mismatched).
        image_size: ``(height, width)`` of the rendered images.
        seed: Seed of the generator and of the sampler.
        prerender_train_images: Render the training images once, when the training set is
            first built (in ``num_workers`` processes when there are several), and hold them in
            memory (``3·H·W`` bytes an image: 107 MB at the defaults) instead of re-rendering
            every image every epoch; the loader workers then only run the transforms. Rendering
            is about two thirds of a sample's cost, and on few cores every worker's CPU second
            comes out of the training step.
        **kwargs: The options of :class:`VerificationDataModule` (``input_size``,
            ``center_crop_fraction``, ``grayscale``, ``identities_per_batch``,
            ``images_per_identity``) and the loader options (``eval_batch_size``,
            ``num_workers``, ``pin_memory``, ``persistent_workers``).
    """

    def __init__(
        self,
        num_train_identities: int = 500,
        images_per_train_identity: int = 20,
        num_eval_identities: int = 200,
        images_per_eval_identity: int = 10,
        num_folds: int = 10,
        pairs_per_fold: int = 60,
        image_size: tuple[int, int] = (64, 56),
        seed: int = 0,
        prerender_train_images: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.num_train_identities = num_train_identities
        self.images_per_train_identity = images_per_train_identity
        self.num_eval_identities = num_eval_identities
        self.images_per_eval_identity = images_per_eval_identity
        self.num_folds = num_folds
        self.pairs_per_fold = pairs_per_fold
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.prerender_train_images = prerender_train_images
        self._train_images: Tensor | None = None

    def build_train_dataset(self, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """Training identities of :class:`SyntheticFaces` (pre-rendered per the option)."""
        faces = SyntheticFaces(
            split="train",
            num_identities=self.num_train_identities,
            images_per_identity=self.images_per_train_identity,
            image_size=self.image_size,
            seed=self.seed,
            transforms=None if self.prerender_train_images else transforms,
        )
        if not self.prerender_train_images:
            return faces
        if self._train_images is None:
            # One worker would only move the rendering out of this (otherwise idle) process.
            workers = self.num_workers if self.num_workers > 1 else 0
            self._train_images = render_images(faces, num_workers=workers)
        return RenderedFaces(self._train_images, faces.targets, faces.num_classes, transforms)

    def build_pairs_dataset(self, stage: str, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """Pairs over the (disjoint) validation or test identities."""
        return SyntheticFacePairs(
            split="val" if stage == "val" else "test",
            num_identities=self.num_eval_identities,
            images_per_identity=self.images_per_eval_identity,
            num_folds=self.num_folds,
            pairs_per_fold=self.pairs_per_fold,
            image_size=self.image_size,
            seed=self.seed,
            transforms=transforms,
        )

    def labelled_images(self, stage: str, max_images: int) -> Dataset[Any]:
        """Identity- and attribute-labelled faces of the people of the ``stage`` pairs.

        Implements :class:`~lightning_deepvision.callbacks.LabelledImagesData` for
        :class:`~lightning_deepvision.callbacks.NeuronProperties`: whole people (all their
        ``images_per_eval_identity`` images, the first people of the split) up to
        ``max_images`` images, never training identities, with evaluation transforms. Samples
        hold ``image``, ``identity`` and ``attributes``; ``attribute_names`` names the columns.

        Args:
            stage: ``"val"`` or ``"test"`` (``"predict"`` reads the test people).
            max_images: Upper bound on the number of images (at least one person's).
        """
        people = min(self.num_eval_identities, max(1, max_images // self.images_per_eval_identity))
        return SyntheticFaces(
            split="val" if stage == "val" else "test",
            num_identities=people,
            images_per_identity=self.images_per_eval_identity,
            image_size=self.image_size,
            seed=self.seed,
            transforms=KeepKeys(
                ("image", "identity", "attributes"), self.image_transforms(train=False)
            ),
        )
