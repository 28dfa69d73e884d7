"""Public writers of tiny, seeded datasets in each official on-disk layout.

The library's own tests use them, and so can yours: point a data module of your own subclass at
a temporary directory filled by a writer and run ``Trainer(fast_dev_run=True)`` without any real
data. Writers are deterministic for a given ``seed``, take seconds, and never overwrite an
existing file (they raise :class:`FileExistsError` naming it before writing anything).

Example:
    >>> from lightning_deepvision.testing import write_lfw  # doctest: +SKIP
    >>> root = write_lfw(tmp_path / "lfw")  # doctest: +SKIP
    >>> LFWPairs(root)[0]["image1"].shape  # doctest: +SKIP
    torch.Size([3, 250, 250])
"""

from typing import TYPE_CHECKING

from lightning_deepvision._lazy import lazy_exports
from lightning_deepvision.testing.identity_folder import (
    refuse_existing,
    save_image,
    write_identity_folder,
)
from lightning_deepvision.testing.image_folder import class_image, write_image_folder
from lightning_deepvision.testing.imagenet import synthetic_synsets, write_imagenet
from lightning_deepvision.testing.lfw import lfw_person_name, write_lfw

if TYPE_CHECKING:
    from lightning_deepvision.testing.caltech import write_caltech, write_seq, write_vbb
    from lightning_deepvision.testing.celeba import write_celeba
    from lightning_deepvision.testing.digits import write_idx, write_mnist
    from lightning_deepvision.testing.helen import write_helen
    from lightning_deepvision.testing.identity_split import split_identity_folder
    from lightning_deepvision.testing.lfw_attributes import write_lfw_attributes
    from lightning_deepvision.testing.lfw_parts import write_lfw_parts
    from lightning_deepvision.testing.multipie import multipie_path, write_multipie
    from lightning_deepvision.testing.synthetic_pedestrians import write_synthetic_caltech
    from lightning_deepvision.testing.trainers import quiet_trainer

__all__ = [
    "class_image",
    "lfw_person_name",
    "multipie_path",
    "quiet_trainer",
    "refuse_existing",
    "save_image",
    "split_identity_folder",
    "synthetic_synsets",
    "write_caltech",
    "write_celeba",
    "write_helen",
    "write_identity_folder",
    "write_idx",
    "write_image_folder",
    "write_imagenet",
    "write_lfw",
    "write_lfw_attributes",
    "write_lfw_parts",
    "write_mnist",
    "write_multipie",
    "write_seq",
    "write_synthetic_caltech",
    "write_vbb",
]

# Lightning is imported only by the one helper that needs it; the Caltech writers (through the
# Caltech readers, which share the evaluation's rules) import torchmetrics.
_LAZY = {
    "quiet_trainer": "trainers",
    "write_caltech": "caltech",
    "write_seq": "caltech",
    "write_vbb": "caltech",
    "write_synthetic_caltech": "synthetic_pedestrians",
    "write_celeba": "celeba",
    "write_lfw_attributes": "lfw_attributes",
    "write_idx": "digits",
    "write_mnist": "digits",
    "write_helen": "helen",
    "write_lfw_parts": "lfw_parts",
    "multipie_path": "multipie",
    "write_multipie": "multipie",
    "split_identity_folder": "identity_split",
}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
