"""The FIP and MVP recipes' default data: synthetic faces at Multi-PIE's poses, no download."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

from torch.utils.data import Dataset

from lightning_deepvision.datamodules.multipie import ViewReconstructionDataModule
from lightning_deepvision.datasets.synthetic.face_model import YAW_ANGLES
from lightning_deepvision.datasets.synthetic.multiview import SyntheticMultiView

__all__ = ["SyntheticMultiViewDataModule"]


class SyntheticMultiViewDataModule(ViewReconstructionDataModule):
    """:class:`~lightning_deepvision.datasets.synthetic.multiview.SyntheticMultiView` splits.

    The stand-in for :class:`~lightning_deepvision.datamodules.MultiPIEDataModule`: disjoint
    people for training, validation and test, each seen at the seven poses −45° … +45° as many
    times, under drawn light, expression and clutter, with their canonical frontal view (FIP)
    or the same image from another pose (MVP) as target.

    Args:
        train_identities: People of the training split.
        eval_identities: People of each of the validation and test splits.
        images_per_identity: Images of each person (spread evenly over the poses).
        yaws: The poses, in degrees.
        render_size: Side of the rendering, resized to ``image_size`` (rendering larger keeps
            thin face parts).
        cache_renders: Keep each rendered input in memory after its first epoch (see
            :class:`~lightning_deepvision.datasets.synthetic.multiview.SyntheticMultiView`'s
            ``cache``): later epochs cost only the training step and the targets.
        **kwargs: The options of
            :class:`~lightning_deepvision.datamodules.multipie.ViewReconstructionDataModule`
            (``image_size``, ``in_chans``, ``target_view``, ``lda_reference_images``, ``seed``)
            and the loader options.
    """

    def __init__(
        self,
        train_identities: int = 150,
        eval_identities: int = 60,
        images_per_identity: int = 21,
        yaws: Sequence[float] = YAW_ANGLES,
        render_size: int = 64,
        cache_renders: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.train_identities = train_identities
        self.eval_identities = eval_identities
        self.images_per_identity = images_per_identity
        self.yaws = [float(y) for y in yaws]
        self.render_size = render_size
        self.cache_renders = cache_renders

    def view_dataset(
        self, split: str, transforms: Callable[[Any], Any], target_seed: int | None
    ) -> Dataset[dict[str, Any]]:
        """The people of ``split`` with their targets."""
        return SyntheticMultiView(
            split=cast(Literal["train", "val", "test"], split),
            num_identities=self.train_identities if split == "train" else self.eval_identities,
            images_per_identity=self.images_per_identity,
            yaws=self.yaws,
            image_size=(self.render_size, self.render_size),
            seed=self.seed,
            target_view=self.target_view,
            target_seed=target_seed,
            transforms=transforms,
            cache=self.cache_renders,
        )
