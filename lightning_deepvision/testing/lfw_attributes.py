"""Write a tiny LFW with Kumar et al.'s ``lfw_attributes.txt`` beside it (LFWA-style data)."""

from __future__ import annotations

import os
import random
from pathlib import Path

from lightning_deepvision.datasets.lfw_attributes import ATTRIBUTES_FILE, LFW_ATTRIBUTE_NAMES
from lightning_deepvision.datasets.synthetic import ATTRIBUTE_NAMES, render_face
from lightning_deepvision.testing.identity_folder import refuse_existing
from lightning_deepvision.testing.lfw import _FACE_SIZE, lfw_person_name, write_lfw

__all__ = ["write_lfw_attributes"]

# Synthetic attributes that LFW's file names the same way (after spaces → underscores).
_DRAWN = {name.replace("_", " "): i for i, name in enumerate(ATTRIBUTE_NAMES)}


def write_lfw_attributes(
    root: str | os.PathLike[str],
    num_people: int = 8,
    images_per_person: int = 2,
    seed: int = 0,
) -> Path:
    r"""Write a tiny LFW (:func:`~lightning_deepvision.testing.write_lfw`) and its attributes.

    ``<root>/lfw_attributes.txt`` follows the released file: two ``#`` comment lines, the
    second being the tab-separated header ``#\tperson\timagenum\t<73 names>``, then a row per
    image with the person's name in spaces, the image number and 73 real-valued scores. The
    attributes the synthetic faces draw (``Male``, ``Smiling``, ``Eyeglasses``, ...) score
    positive exactly when drawn; the others are seeded random scores.

    Args:
        root: Directory to write into.
        num_people: People (at least 4).
        images_per_person: Images per person (at least 2).
        seed: Seed of the renderer and of the scores.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.
    """
    root = Path(root)
    refuse_existing([root / ATTRIBUTES_FILE])
    write_lfw(
        root,
        num_people=num_people,
        images_per_person=images_per_person,
        num_folds=2,
        pairs_per_fold=1,
        view1=False,
        seed=seed,
    )
    rng = random.Random(seed)
    lines = [
        "# Attribute values for LFW images (synthetic, written by lightning_deepvision.testing)",
        "#\tperson\timagenum\t" + "\t".join(LFW_ATTRIBUTE_NAMES),
    ]
    for person in range(num_people):
        name = lfw_person_name(person).replace("_", " ")
        for number in range(1, images_per_person + 1):
            drawn = render_face(person, number - 1, _FACE_SIZE, seed)["attributes"].tolist()
            scores = []
            for attribute in LFW_ATTRIBUTE_NAMES:
                magnitude = rng.uniform(0.2, 2.0)
                if attribute in _DRAWN:
                    scores.append(magnitude if drawn[_DRAWN[attribute]] else -magnitude)
                else:
                    scores.append(rng.uniform(-2.0, 2.0))
            lines.append(f"{name}\t{number}\t" + "\t".join(f"{v:.6f}" for v in scores))
    with open(root / ATTRIBUTES_FILE, "x", encoding="utf-8", newline="\n") as handle:
        handle.write("\n".join(lines) + "\n")
    return root
