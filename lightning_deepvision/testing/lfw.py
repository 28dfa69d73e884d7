"""Write a tiny seeded LFW tree in the official layout, readable by ``LFWPairs``/``LFWPeople``.

Huang et al., "Labeled Faces in the Wild", UMass TR 07-49, 2007: images
``<dir>/<Name>/<Name>_NNNN.jpg`` (250x250 JPEG), View 2 ``pairs.txt`` / ``people.txt`` with
people split disjointly across folds, and the View 1 development files.
"""

from __future__ import annotations

import os
import random
from itertools import combinations
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from lightning_deepvision.datasets.lfw import IMAGE_SETS, lfw_image_path
from lightning_deepvision.datasets.synthetic import render_face
from lightning_deepvision.testing.identity_folder import refuse_existing, save_image

__all__ = ["lfw_person_name", "write_lfw"]

_FIRST = (
    "Alice", "Bruno", "Carla", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Keiko", "Luis", "Maya", "Nikolai", "Olga", "Pedro", "Quinn", "Rosa", "Sami", "Tara",
    "Umar", "Vera", "Wen", "Xavier", "Yara", "Zoltan",
)  # fmt: skip
_LAST = (
    "Abara", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Novak", "Okafor", "Petrov", "Quispe", "Rossi",
    "Silva", "Tanaka", "Ueda", "Vargas", "Weber", "Xu", "Yilmaz", "Zhang",
)  # fmt: skip
_IMAGE_SIZE = (250, 250)  # every LFW image is 250x250
# LFW frames each face in its Viola-Jones box enlarged 2.2 times, so the face fills about the
# central half of the image (hence the data modules' centre crop of ~0.5). The rendered face is
# an aligned, face-filling crop: render it at half size and put it in the middle.
_FACE_SIZE = (125, 125)
# Above this many candidate pairs, draw by rejection instead of enumerating them all.
_ENUMERATE_LIMIT = 50_000

Matched = tuple[int, int, int]  # (person, n1, n2)
Mismatched = tuple[int, int, int, int]  # (person1, n1, person2, n2)


def lfw_person_name(index: int) -> str:
    """A unique LFW-style name of letters and underscores, e.g. ``Alice_Abara``.

    Real LFW names are ``First_Last`` (no digits), so the written names are too; beyond
    26x26 people a letters-only suffix keeps them unique.
    """
    first, rest = _FIRST[index % len(_FIRST)], index // len(_FIRST)
    last, rest = _LAST[rest % len(_LAST)], rest // len(_LAST)
    name = f"{first}_{last}"
    suffix = ""
    while rest:
        rest, digit = divmod(rest - 1, 26)
        suffix = chr(ord("a") + digit) + suffix
    return f"{name}_{suffix.capitalize()}" if suffix else name


def _sample_matched(rng: random.Random, people: list[int], k: int, n: int) -> list[Matched]:
    image_pairs = list(combinations(range(1, k + 1), 2))
    total = len(people) * len(image_pairs)
    if total <= _ENUMERATE_LIMIT:
        candidates = [(p, a, b) for p in people for a, b in image_pairs]
        return rng.sample(candidates, n)
    chosen: set[Matched] = set()
    while len(chosen) < n:
        a, b = rng.choice(image_pairs)
        chosen.add((rng.choice(people), a, b))
    return list(chosen)


def _sample_mismatched(rng: random.Random, people: list[int], k: int, n: int) -> list[Mismatched]:
    person_pairs = list(combinations(sorted(people), 2))
    total = len(person_pairs) * k * k
    if total <= _ENUMERATE_LIMIT:
        candidates = [
            (p, a, q, b) for p, q in person_pairs for a in range(1, k + 1) for b in range(1, k + 1)
        ]
        return rng.sample(candidates, n)
    chosen: set[Mismatched] = set()
    while len(chosen) < n:
        p, q = rng.choice(person_pairs)
        chosen.add((p, rng.randint(1, k), q, rng.randint(1, k)))
    return list(chosen)


def _lfw_image(identity: int, sample: int, seed: int) -> torch.Tensor:
    """A 250x250 uint8 image with a synthetic face in the central half, framed like LFW."""
    face = render_face(identity=identity, sample=sample, size=_FACE_SIZE, seed=seed)["image"]
    face_pil = Image.fromarray(np.ascontiguousarray(face.permute(1, 2, 0).numpy()))
    # The surround continues the face crop's own background colours, blurred, so the frame has
    # no hard edge; rendering the full 250x250 would cost ~4x more for no test value.
    canvas = face_pil.resize(_IMAGE_SIZE[::-1], Image.Resampling.BILINEAR)
    canvas = canvas.filter(ImageFilter.GaussianBlur(radius=16))
    top = (_IMAGE_SIZE[0] - _FACE_SIZE[0]) // 2
    left = (_IMAGE_SIZE[1] - _FACE_SIZE[1]) // 2
    canvas.paste(face_pil, (left, top))
    return torch.from_numpy(np.array(canvas)).permute(2, 0, 1).contiguous()


def _capacity(num_people: int, k: int) -> int:
    """Distinct matched and mismatched pairs a group of people can form (the smaller)."""
    matched = num_people * k * (k - 1) // 2
    mismatched = num_people * (num_people - 1) // 2 * k * k
    return min(matched, mismatched)


def _pairs_block(
    rng: random.Random, names: list[str], people: list[int], k: int, n: int
) -> list[str]:
    """``n`` matched then ``n`` mismatched lines over ``people``, sorted by name like LFW."""
    matched = sorted((names[p], a, b) for p, a, b in _sample_matched(rng, people, k, n))
    mismatched = sorted(
        # LFW lists the alphabetically first name first.
        (min((names[p], a), (names[q], b)), max((names[p], a), (names[q], b)))
        for p, a, q, b in _sample_mismatched(rng, people, k, n)
    )
    lines = [f"{name}\t{a}\t{b}" for name, a, b in matched]
    lines += [f"{n1}\t{a}\t{n2}\t{b}" for (n1, a), (n2, b) in mismatched]
    return lines


def _people_rows(names: list[str], people: list[int], k: int) -> list[str]:
    return [f"{name}\t{k}" for name in sorted(names[p] for p in people)]


def write_lfw(
    root: str | os.PathLike[str],
    num_people: int = 20,
    images_per_person: int = 4,
    num_folds: int = 10,
    pairs_per_fold: int = 4,
    image_set: str = "original",
    with_people_file: bool = True,
    view1: bool = True,
    seed: int = 0,
) -> Path:
    r"""Write a tiny LFW in the official layout under ``root``.

    Writes ``<root>/<dir>/<Name>/<Name>_NNNN.jpg`` (250x250 JPEG; ``<dir>`` is ``lfw``,
    ``lfw_funneled`` or ``lfw-deepfunneled`` after ``image_set``). Each holds a synthetic face
    from :func:`~lightning_deepvision.datasets.synthetic.render_face` (identity = person
    index, sample = image number - 1) in the central 125x125, framed like LFW where the face
    box is about 1/2.2 of the frame, so the usual centre crop of half the side returns the
    rendered face exactly. Also writes:

    - ``pairs.txt``: header ``<num_folds>\t<pairs_per_fold>``, then per fold ``pairs_per_fold``
      matched lines ``name\tn1\tn2`` followed by as many mismatched lines
      ``name1\tn1\tname2\tn2``. People are split disjointly across folds, as in LFW, and each
      fold's pairs use only that fold's people;
    - ``people.txt`` (if ``with_people_file``): the fold count, then per fold a count line and
      ``name\tcount`` rows;
    - View 1 (if ``view1``): ``pairsDevTrain.txt`` (``2 * pairs_per_fold`` pairs per side) and
      ``pairsDevTest.txt`` (``pairs_per_fold``) over a disjoint 70/30 split of the people, each
      headed by its single count, plus ``peopleDevTrain.txt`` / ``peopleDevTest.txt`` if
      ``with_people_file`` (View 1 pair counts shrink when too few people allow them).

    Deterministic for a given ``seed``; a few seconds at the defaults.

    Args:
        root: Directory to write into (created if needed; may already hold other files).
        num_people: Number of people (at least ``2 * num_folds`` so every fold has a
            mismatched pair).
        images_per_person: Images per person (at least 2 so matched pairs exist).
        num_folds: Folds of View 2 (LFW has 10).
        pairs_per_fold: Matched (and mismatched) pairs per fold (LFW has 300).
        image_set: ``"original"``, ``"funneled"`` or ``"deepfunneled"``.
        with_people_file: Also write the people files.
        view1: Also write the View 1 files.
        seed: Seed of the face renderer and of the pair and fold draws.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: A file to write already exists (nothing is written).
        ValueError: Impossible sizes (too few people or images for the requested pairs) or an
            unknown ``image_set``.
    """
    if image_set not in IMAGE_SETS:
        raise ValueError(f"image_set must be one of {list(IMAGE_SETS)}, got {image_set!r}")
    if num_folds < 1 or pairs_per_fold < 1:
        raise ValueError(
            f"num_folds and pairs_per_fold must be >= 1, got {num_folds}, {pairs_per_fold}"
        )
    if images_per_person < 2:
        raise ValueError(
            f"images_per_person must be >= 2 for matched pairs, got {images_per_person}"
        )
    if num_people < 2 * num_folds:
        raise ValueError(
            f"num_people must be >= 2 * num_folds = {2 * num_folds} so that every fold has "
            f"two people for its mismatched pairs, got {num_people}"
        )
    if view1 and num_people < 4:
        raise ValueError(f"view1 needs num_people >= 4 (two per View 1 split), got {num_people}")

    root = Path(root)
    k = images_per_person
    rng = random.Random(seed)
    names = [lfw_person_name(i) for i in range(num_people)]
    order = list(range(num_people))
    rng.shuffle(order)
    folds = [order[f::num_folds] for f in range(num_folds)]
    for f, people in enumerate(folds):
        if _capacity(len(people), k) < pairs_per_fold:
            raise ValueError(
                f"fold {f + 1} has {len(people)} people with {k} images each: not enough for "
                f"{pairs_per_fold} distinct matched and mismatched pairs; raise num_people or "
                "images_per_person, or lower pairs_per_fold"
            )

    texts: dict[str, list[str]] = {}
    pairs = [f"{num_folds}\t{pairs_per_fold}"]
    for people in folds:
        pairs += _pairs_block(rng, names, people, k, pairs_per_fold)
    texts["pairs.txt"] = pairs
    if with_people_file:
        people_lines = [str(num_folds)]
        for people in folds:
            people_lines += [str(len(people)), *_people_rows(names, people, k)]
        texts["people.txt"] = people_lines
    if view1:
        dev = list(range(num_people))
        rng.shuffle(dev)
        cut = min(max(2, round(0.7 * num_people)), num_people - 2)
        for split, people, wanted in (
            ("Train", dev[:cut], 2 * pairs_per_fold),
            ("Test", dev[cut:], pairs_per_fold),
        ):
            n = min(wanted, _capacity(len(people), k))
            texts[f"pairsDev{split}.txt"] = [str(n), *_pairs_block(rng, names, people, k, n)]
            if with_people_file:
                rows = _people_rows(names, people, k)
                texts[f"peopleDev{split}.txt"] = [str(len(rows)), *rows]

    image_dir = root / IMAGE_SETS[image_set]
    images = [
        (i, n, lfw_image_path(image_dir, names[i], n))
        for i in range(num_people)
        for n in range(1, k + 1)
    ]
    refuse_existing([*(root / name for name in texts), *(path for _, _, path in images)])
    for person, number, path in images:
        path.parent.mkdir(parents=True, exist_ok=True)
        # LFW numbers images from 1; the renderer's sample index starts at 0.
        save_image(_lfw_image(person, number - 1, seed), path)
    root.mkdir(parents=True, exist_ok=True)
    for name, lines in texts.items():
        with open(root / name, "x", encoding="utf-8", newline="\n") as handle:
            handle.write("\n".join(lines) + "\n")
    return root
