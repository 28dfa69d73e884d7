"""Synthetic faces seen from Multi-PIE's poses, with canonical and other-view targets.

The built-in stand-in for Multi-PIE in the FIP and MVP recipes (Zhu, Luo, Wang, Tang, ICCV 2013
and NIPS 2014): every person is rendered at each of the seven poses −45° … +45° under drawn
illuminations, expressions, occluders and clutter, so identification across poses is hard from
pixels, and each image comes with its person's canonical frontal view under neutral light
(FIP's target), with the same image seen from another pose, or with the person seen from another
pose under the canonical conditions (MVP's targets).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from lightning_deepvision.datasets.synthetic._checks import (
    check_index,
    check_item,
    check_positive,
    check_size,
    check_split,
    check_transforms,
)
from lightning_deepvision.datasets.synthetic.face_model import YAW_ANGLES
from lightning_deepvision.datasets.synthetic.face_renderer import frontal_image, render_face
from lightning_deepvision.datasets.synthetic.faces import SPLITS, global_identity

__all__ = ["TARGET_VIEWS", "SyntheticMultiView"]

#: The target modes: the canonical frontal view, the same image from a drawn pose, or the
#: person from a drawn pose under the canonical conditions.
TARGET_VIEWS: tuple[str, ...] = ("canonical", "random", "random_canonical")
TargetView = Literal["canonical", "random", "random_canonical"]


@functools.lru_cache(maxsize=4096)
def canonical_view(identity: int, yaw: float, height: int, width: int, seed: int) -> torch.Tensor:
    """``identity`` seen from ``yaw`` under the canonical conditions (cached per person and pose).

    Callers that hand the tensor out must clone it, so that nobody edits the cached copy.
    """
    return render_face(identity, 0, (height, width), seed, frontal=True, yaw=yaw)["image"]


class SyntheticMultiView(Dataset[dict[str, Any]]):
    """``num_identities`` rendered people, ``images_per_identity`` images each, at set poses.

    Image ``s`` of a person is seen at yaw ``yaws[s % len(yaws)]`` (every pose equally often,
    as Multi-PIE's cameras); the rest of its nuisance (illumination, expression, occlusion,
    in-plane pose, background, noise) is drawn as for
    :class:`~lightning_deepvision.datasets.synthetic.SyntheticFaces`, whose people (global
    identities, disjoint between splits) these are. Nothing is rendered at construction.

    Samples carry the keys of :class:`~lightning_deepvision.datasets.MultiPIE`: ``image``
    (``tv_tensors.Image`` uint8 3xHxW), ``label``, ``identity``, ``yaw`` (float32),
    ``illumination`` (int64), ``target`` and ``target_yaw``. With ``target_view="canonical"``
    the target is the frontal view under neutral light (yaw 0); with ``"random"`` it is the
    same image (same light, expression, background and noise) seen from a pose drawn from
    ``yaws``; with ``"random_canonical"`` it is the person seen from a pose drawn from
    ``yaws`` under the canonical conditions (neutral light and expression, plain background, no
    occluder or noise): the identity-preserving target of MVP's identity neurons, which then
    need not carry the image's nuisance to render the other view.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        num_identities: People in the split.
        images_per_identity: Images per person.
        yaws: Poses in degrees.
        image_size: ``(height, width)`` of the rendering, each at least 16.
        seed: Generator seed of the people and images.
        target_view: ``"canonical"``, ``"random"`` or ``"random_canonical"``.
        target_seed: With a random target view, draw each index's pose from this seed (the
            same every epoch, for evaluation); ``None`` draws anew each time from torch's generator.
        transforms: Applied once to the whole sample dict.
        cache: Keep each index's rendered input in memory after its first use (about
            ``len × 3 × height × width`` bytes per process: each loader worker keeps its own
            copy, which persistent workers carry from epoch to epoch). An input is a pure
            function of its index, so later epochs skip its rendering, the cost of a
            synthetic epoch; random target views are still drawn and rendered every time.

    Attributes:
        targets: ``label`` of every index.
        identities: Global identity of every label.
    """

    def __init__(
        self,
        split: Literal["train", "val", "test"] = "train",
        num_identities: int = 100,
        images_per_identity: int = 28,
        yaws: Sequence[float] = YAW_ANGLES,
        image_size: tuple[int, int] = (64, 64),
        seed: int = 0,
        target_view: TargetView = "canonical",
        target_seed: int | None = None,
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        cache: bool = False,
    ) -> None:
        self.split = check_split(split, SPLITS)
        self.num_identities = check_positive("num_identities", num_identities)
        self.images_per_identity = check_positive("images_per_identity", images_per_identity)
        if not yaws:
            raise ValueError("yaws must name at least one pose")
        self.yaws = tuple(float(y) for y in yaws)
        self.image_size = check_size(image_size)
        self.seed = check_index("seed", seed)
        if target_view not in TARGET_VIEWS:
            raise ValueError(f"target_view must be one of {TARGET_VIEWS}, got {target_view!r}")
        self.target_view = target_view
        self.target_seed = target_seed
        check_transforms(transforms)
        self.transforms = transforms
        self.cache = cache
        self._rendered: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.identities = [global_identity(self.split, label) for label in range(num_identities)]
        self.targets = [
            label for label in range(num_identities) for _ in range(images_per_identity)
        ]

    @property
    def num_classes(self) -> int:
        """Number of people in the split."""
        return self.num_identities

    def __len__(self) -> int:
        return self.num_identities * self.images_per_identity

    def _target_yaw(self, index: int) -> float:
        if self.target_seed is None:
            return self.yaws[int(torch.randint(len(self.yaws), ()).item())]
        return random.Random(self.target_seed * 1_000_003 + index).choice(self.yaws)

    def _render_input(
        self, index: int, identity: int, image_index: int, yaw: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(image, yaw, illumination)`` of ``index``, from the cache when it is on."""
        cached = self._rendered.get(index)
        if cached is not None:
            return cached
        out = render_face(identity, image_index, self.image_size, self.seed, yaw=yaw)
        rendered = (out["image"], out["yaw"], out["illumination"])
        if self.cache:
            self._rendered[index] = rendered
        return rendered

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_item(index, len(self))
        label, image_index = divmod(index, self.images_per_identity)
        identity = self.identities[label]
        yaw = self.yaws[image_index % len(self.yaws)]
        rendered = self._render_input(index, identity, image_index, yaw)
        if self.target_view == "canonical":
            height, width = self.image_size
            target = frontal_image(identity, height, width, self.seed).clone()
            target_yaw = 0.0
        elif self.target_view == "random_canonical":
            target_yaw = self._target_yaw(index)
            target = canonical_view(identity, target_yaw, *self.image_size, self.seed).clone()
        else:
            target_yaw = self._target_yaw(index)
            target = render_face(identity, image_index, self.image_size, self.seed, yaw=target_yaw)[
                "image"
            ]
        sample: dict[str, Any] = {
            "image": tv_tensors.Image(rendered[0].clone()),
            "label": torch.tensor(label, dtype=torch.int64),
            "identity": torch.tensor(identity, dtype=torch.int64),
            "yaw": rendered[1].clone(),
            "illumination": rendered[2].clone(),
            "target": tv_tensors.Image(target),
            "target_yaw": torch.tensor(target_yaw, dtype=torch.float32),
        }
        return sample if self.transforms is None else self.transforms(sample)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, num_identities={self.num_identities}, "
            f"images_per_identity={self.images_per_identity}, yaws={self.yaws}, "
            f"image_size={self.image_size}, seed={self.seed}, target_view={self.target_view!r})"
        )
