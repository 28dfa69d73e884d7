"""Rendered data stays bit-identical: sha256 digests of renders, samples and pre-rendered sets.

The digests below were taken from the renderer as it was first released. Any change to the
random-number consumption, the drawing order or the arithmetic of the renderer changes them, and
with them every number the recipes report; a deliberate change must re-measure the recipes and
then regenerate this table (``python tests/datasets/synthetic/test_render_stability.py``).

The cases are chosen to reach every branch of the scene: long and short hair, bald, bangs, mole,
sunglasses, the random-block occluder, ambient and elevated light, each expression, both extreme
yaws, the canonical frontal view, and sizes from the minimum (16x16) up.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import torch

from lightning_deepvision.datasets.synthetic import (
    SyntheticFacePairs,
    SyntheticFaces,
    render_face,
    render_images,
)


def _digest(value: torch.Tensor) -> str:
    """Type, dtype, shape and bytes of ``value``, hashed (96 bits of sha256 are plenty here)."""
    plain = value.as_subclass(torch.Tensor).contiguous()
    h = hashlib.sha256(f"{type(value).__name__}|{plain.dtype}|{tuple(plain.shape)}|".encode())
    h.update(plain.numpy().tobytes())
    return h.hexdigest()[:24]


def _digests(sample: dict[str, Any]) -> dict[str, str]:
    return {key: _digest(value) for key, value in sample.items()}


# (identity, sample, (height, width), seed, frontal) and the branch each case exists for.
RENDER_CASES: dict[str, tuple[int, int, tuple[int, int], int, bool]] = {
    "long-hair-bangs-mole-ambient-yaw-45": (0, 0, (64, 56), 0, False),
    "sunglasses-elevated-light": (0, 1, (64, 56), 0, False),
    "block-occluder": (0, 6, (64, 56), 0, False),
    "surprise-55x47": (0, 8, (55, 47), 0, False),
    "smile-96x80": (0, 9, (96, 80), 0, False),
    "yaw+45": (0, 11, (64, 56), 0, False),
    "short-hair-scream": (1, 3, (64, 56), 0, False),
    "bald-squint-32x32": (2, 3, (32, 32), 0, False),
    "pale": (4, 2, (64, 56), 0, False),
    "minimum-size": (2, 0, (16, 16), 0, False),
    "seed-11-48x40": (7, 3, (48, 40), 11, False),
    "large-ids-seed-3": (12345, 67, (64, 56), 3, False),
    "frontal": (4, 0, (64, 56), 0, True),
    "frontal-bald-55x47": (2, 0, (55, 47), 0, True),
    "frontal-seed-5-100x64": (9, 0, (100, 64), 5, True),
}

# (split, num_identities, images_per_identity, image_size, seed) and the indices drawn.
FACES_CASES: dict[str, tuple[tuple[Any, ...], tuple[int, ...]]] = {
    "train": (("train", 4, 3, (64, 56), 0), (0, 5, 11)),
    "val": (("val", 3, 4, (55, 47), 2), (0, 6, 11)),
    "test": (("test", 5, 2, (64, 56), 7), (1, 4, 9)),
}

# (split, num_identities, images_per_identity, num_folds, pairs_per_fold, image_size, seed).
PAIRS_CASES: dict[str, tuple[tuple[Any, ...], tuple[int, ...]]] = {
    "val": (("val", 20, 3, 10, 4, (64, 56), 0), (0, 2, 39)),
    "test": (("test", 12, 4, 3, 6, (48, 40), 4), (0, 3, 17)),
}

RENDER_IMAGES_CASE = ("train", 3, 2, (40, 36), 2)


def _render_case(name: str) -> dict[str, str]:
    identity, sample, size, seed, frontal = RENDER_CASES[name]
    return _digests(render_face(identity, sample, size, seed, frontal=frontal))


def _faces_case(name: str) -> dict[str, str]:
    args, indices = FACES_CASES[name]
    dataset = SyntheticFaces(*args)
    return {f"{i}/{k}": v for i in indices for k, v in _digests(dataset[i]).items()}


def _pairs_case(name: str) -> dict[str, str]:
    args, indices = PAIRS_CASES[name]
    dataset = SyntheticFacePairs(*args)
    digests = {"pairs": _digest(dataset.pairs), "same": _digest(dataset.same)}
    digests["folds"] = _digest(dataset.folds)
    digests.update({f"{i}/{k}": v for i in indices for k, v in _digests(dataset[i]).items()})
    return digests


def _render_images_case() -> dict[str, str]:
    return {"images": _digest(render_images(SyntheticFaces(*RENDER_IMAGES_CASE)))}


EXPECTED_RENDERS: dict[str, dict[str, str]] = {
    "long-hair-bangs-mole-ambient-yaw-45": {
        "image": "3d7a202d5a1236c05a473862",
        "mask": "427331eb7ffd18b4e3bb6af7",
        "attributes": "67e0bdbeba15c398dac1bfe6",
        "yaw": "7801a992cca756e1c0c8a021",
        "illumination": "83dce3760676042270eb97aa",
    },
    "sunglasses-elevated-light": {
        "image": "9a6bf47cd798ca4ab9c59d00",
        "mask": "9d13ca31bcfccfb3981761bc",
        "attributes": "0da13c123f92d250d81375f9",
        "yaw": "166f1e60c91750d1c996d15b",
        "illumination": "1c2b851101a476fc2a5426cd",
    },
    "block-occluder": {
        "image": "642b568f813ae3f5c129524d",
        "mask": "f98706f6cb4421edb01f33a9",
        "attributes": "67e0bdbeba15c398dac1bfe6",
        "yaw": "db36ebb46107777e19c62853",
        "illumination": "692d2b9fede0f76aeee5dbc5",
    },
    "surprise-55x47": {
        "image": "b241b1eed71fa83a51f19e60",
        "mask": "a9f8449fb3e15e839ec8f79f",
        "attributes": "87e2a60c2d9cef07d9bcf1e5",
        "yaw": "8771bbe8049935334264bbe7",
        "illumination": "d0ca250bdc59f42eea1e721f",
    },
    "smile-96x80": {
        "image": "9f143234ce98f1331df826a5",
        "mask": "3a5a1e6e1bcff7a23ad66fa0",
        "attributes": "c708e96585ebd036cb86043b",
        "yaw": "db36ebb46107777e19c62853",
        "illumination": "1c2b851101a476fc2a5426cd",
    },
    "yaw+45": {
        "image": "326699d6a07662e13855b94a",
        "mask": "119797047a0004642e8be578",
        "attributes": "c708e96585ebd036cb86043b",
        "yaw": "a957ecbeb5fc2c55d41b2d4c",
        "illumination": "1c2b851101a476fc2a5426cd",
    },
    "short-hair-scream": {
        "image": "68e499ab6aafb535635c6bfe",
        "mask": "88abb1466720ce20f3d43f5d",
        "attributes": "6cdc392c129c067434851a72",
        "yaw": "54efef81706dbdc90584e908",
        "illumination": "269a0ad0675b7dd9f669d17f",
    },
    "bald-squint-32x32": {
        "image": "37f90dd0a137034b9ec12926",
        "mask": "bd561e7d47d983b8f24414e9",
        "attributes": "7140060059c3490203d9ba76",
        "yaw": "166f1e60c91750d1c996d15b",
        "illumination": "9ce31846d17d41359fbe4c60",
    },
    "pale": {
        "image": "7a76fe7030f7a1306766517e",
        "mask": "a24f08df7734a6aa0047065e",
        "attributes": "3d2c7c6b107b2959c3f2eccb",
        "yaw": "54efef81706dbdc90584e908",
        "illumination": "83dce3760676042270eb97aa",
    },
    "minimum-size": {
        "image": "4eaa44ceb5e5cd56460404b0",
        "mask": "8979956055b8e0196c48d809",
        "attributes": "069d36a1312b13f5bf89c886",
        "yaw": "8a6c6561cbffa85e2b0fd4f3",
        "illumination": "c5bf48e9390384fa9387291f",
    },
    "seed-11-48x40": {
        "image": "9db2bb803e1ab09afda2d720",
        "mask": "6c5ea9732651abf2daf4ced2",
        "attributes": "02a8d782d6c75a8eb1d30075",
        "yaw": "166f1e60c91750d1c996d15b",
        "illumination": "d0ca250bdc59f42eea1e721f",
    },
    "large-ids-seed-3": {
        "image": "f356a9ef4676c59195bc3950",
        "mask": "192ecc78a3b4ebe93e818977",
        "attributes": "b54f39ac42bc27c18b6a6bee",
        "yaw": "a957ecbeb5fc2c55d41b2d4c",
        "illumination": "70297bf6f83030368ce452ab",
    },
    "frontal": {
        "image": "521c2ed2d9b21d1105a300c9",
        "mask": "deb3351a4612880a3fbb2697",
        "attributes": "715bea223bac08dc4c4d4ade",
        "yaw": "8771bbe8049935334264bbe7",
        "illumination": "dda11c5aac50c42ea7f9558f",
    },
    "frontal-bald-55x47": {
        "image": "c21b85fc8a44759ca5af82a9",
        "mask": "8693d5cdca15bdf0b4aa2188",
        "attributes": "59912d034ac24e62e8bfbe0a",
        "yaw": "8771bbe8049935334264bbe7",
        "illumination": "dda11c5aac50c42ea7f9558f",
    },
    "frontal-seed-5-100x64": {
        "image": "6f6697251cab4f21cfb5547f",
        "mask": "f734c3a339cf5799775bd974",
        "attributes": "7e4e221d04617af8c6f46822",
        "yaw": "8771bbe8049935334264bbe7",
        "illumination": "dda11c5aac50c42ea7f9558f",
    },
}
EXPECTED_FACES: dict[str, dict[str, str]] = {
    "train": {
        "0/image": "827ec5f9298f3d0a8ef47443",
        "0/label": "83dce3760676042270eb97aa",
        "0/identity": "83dce3760676042270eb97aa",
        "0/attributes": "67e0bdbeba15c398dac1bfe6",
        "0/mask": "44e835cd785ec424f965c430",
        "0/yaw": "7801a992cca756e1c0c8a021",
        "0/illumination": "83dce3760676042270eb97aa",
        "0/target": "fdb88370c0bc70462a4d2edf",
        "5/image": "e96713654082ffbc93e76955",
        "5/label": "428816349fdbba59f09e549a",
        "5/identity": "9ce31846d17d41359fbe4c60",
        "5/attributes": "234111b10411173db4b94dfd",
        "5/mask": "b2190f6d45d90cb0f0a44e8a",
        "5/yaw": "8771bbe8049935334264bbe7",
        "5/illumination": "acb9b09b57b41c5bd49a5338",
        "5/target": "50eb804a5322d2c2e8f29696",
        "11/image": "a8b07964a1f48513a1996b6b",
        "11/label": "9ce31846d17d41359fbe4c60",
        "11/identity": "79f4d74342ff949726201629",
        "11/attributes": "8675c99720083253a5502f45",
        "11/mask": "79dcf6975a629be12a6c7a26",
        "11/yaw": "54efef81706dbdc90584e908",
        "11/illumination": "269a0ad0675b7dd9f669d17f",
        "11/target": "ab98f3a4b635ad6436777773",
    },
    "val": {
        "0/image": "9b960a29889d31a1e6577f29",
        "0/label": "83dce3760676042270eb97aa",
        "0/identity": "428816349fdbba59f09e549a",
        "0/attributes": "5e353da7a6de2b235ec7c3f7",
        "0/mask": "3aa553eb5bca50732f65c696",
        "0/yaw": "166f1e60c91750d1c996d15b",
        "0/illumination": "1c2b851101a476fc2a5426cd",
        "0/target": "f2e1afee586b8afb84a429b6",
        "6/image": "4ed67375ab020256b4189e38",
        "6/label": "428816349fdbba59f09e549a",
        "6/identity": "a52fb44ff7db3beca4e80391",
        "6/attributes": "9868085493cac78b92fb3c68",
        "6/mask": "9ebc2bd32ff8229e4ac0dbea",
        "6/yaw": "166f1e60c91750d1c996d15b",
        "6/illumination": "065e29bf066542a44ab6dc89",
        "6/target": "04e2e11f1e7cee87b726874c",
        "11/image": "9f2aa4e89f70d1c184bb61fa",
        "11/label": "70297bf6f83030368ce452ab",
        "11/identity": "dda11c5aac50c42ea7f9558f",
        "11/attributes": "b976dcd19c1cbebdc292d880",
        "11/mask": "fdad276e66f36f0e9bcf898e",
        "11/yaw": "54efef81706dbdc90584e908",
        "11/illumination": "d0ca250bdc59f42eea1e721f",
        "11/target": "19cba1153b3b3bbab1b99531",
    },
    "test": {
        "1/image": "22e89f3ebca7e018b36e2c38",
        "1/label": "83dce3760676042270eb97aa",
        "1/identity": "70297bf6f83030368ce452ab",
        "1/attributes": "a13dcfc113b6a52ddd77c8e9",
        "1/mask": "cd2025cc69a4b151a8f71db8",
        "1/yaw": "7801a992cca756e1c0c8a021",
        "1/illumination": "da3eca5632c44218fd5ebd91",
        "1/target": "cecbd3604681a70235c1871a",
        "4/image": "cd746075663cf7b20054122e",
        "4/label": "70297bf6f83030368ce452ab",
        "4/identity": "065e29bf066542a44ab6dc89",
        "4/attributes": "8640ffb35043029e4259cdfe",
        "4/mask": "bf24f3d98def3beabb91a28a",
        "4/yaw": "db36ebb46107777e19c62853",
        "4/illumination": "da3eca5632c44218fd5ebd91",
        "4/target": "bd611e008c1252c7f1f65596",
        "9/image": "3a8315c9c6d717ec0b8ef1d6",
        "9/label": "a52fb44ff7db3beca4e80391",
        "9/identity": "1c2b851101a476fc2a5426cd",
        "9/attributes": "6b134c77fb03cd4a31915bf2",
        "9/mask": "941e9e37eacdd126cf1d5546",
        "9/yaw": "8a6c6561cbffa85e2b0fd4f3",
        "9/illumination": "d0ca250bdc59f42eea1e721f",
        "9/target": "3ca50623585000830b838894",
    },
}
EXPECTED_PAIRS: dict[str, dict[str, str]] = {
    "val": {
        "pairs": "cef7fdf5dbaaeb92b3721850",
        "same": "bc8fe09ff9c525b28127f49b",
        "folds": "282c632876809d952e989743",
        "0/image1": "63634424a5237275a06828ac",
        "0/image2": "bd8b6443d48305e0cda7ff3e",
        "0/same": "428816349fdbba59f09e549a",
        "0/fold": "83dce3760676042270eb97aa",
        "0/index": "83dce3760676042270eb97aa",
        "2/image1": "bdbc03ff0a49e5b738471b41",
        "2/image2": "7e88ece959abf8299657cdd8",
        "2/same": "83dce3760676042270eb97aa",
        "2/fold": "83dce3760676042270eb97aa",
        "2/index": "70297bf6f83030368ce452ab",
        "39/image1": "d00b00c6da85cdf42d5a92e3",
        "39/image2": "cb2889b6f7a56cbf0f9d46df",
        "39/same": "83dce3760676042270eb97aa",
        "39/fold": "79f4d74342ff949726201629",
        "39/index": "746300fb7cb523ce83fc0000",
    },
    "test": {
        "pairs": "046e8633f9e4fa2c8715dd78",
        "same": "82d9eb75ed750b8c83dbd933",
        "folds": "f5c1f4bf5c8810bc053cb461",
        "0/image1": "5adfd994b1c40fa6854058a8",
        "0/image2": "dbaa253e4ed35171693a1a4c",
        "0/same": "428816349fdbba59f09e549a",
        "0/fold": "83dce3760676042270eb97aa",
        "0/index": "83dce3760676042270eb97aa",
        "3/image1": "15ac3e8e34986014de5178ba",
        "3/image2": "91a55cabf420cc30691cf75f",
        "3/same": "83dce3760676042270eb97aa",
        "3/fold": "83dce3760676042270eb97aa",
        "3/index": "9ce31846d17d41359fbe4c60",
        "17/image1": "20ebf1adc7242986a137203e",
        "17/image2": "3328b6d358bbe58f969e6b86",
        "17/same": "83dce3760676042270eb97aa",
        "17/fold": "70297bf6f83030368ce452ab",
        "17/index": "d0ca250bdc59f42eea1e721f",
    },
}
EXPECTED_RENDER_IMAGES: dict[str, str] = {"images": "2f098d39843be60ce4137608"}


@pytest.mark.parametrize("name", list(RENDER_CASES))
def test_render_face_is_bit_identical(name: str) -> None:
    assert _render_case(name) == EXPECTED_RENDERS[name]


@pytest.mark.parametrize("name", list(FACES_CASES))
def test_synthetic_faces_samples_are_bit_identical(name: str) -> None:
    assert _faces_case(name) == EXPECTED_FACES[name]


@pytest.mark.parametrize("name", list(PAIRS_CASES))
def test_synthetic_face_pairs_are_bit_identical(name: str) -> None:
    assert _pairs_case(name) == EXPECTED_PAIRS[name]


def test_render_images_is_bit_identical() -> None:
    assert _render_images_case() == EXPECTED_RENDER_IMAGES


if __name__ == "__main__":  # print the tables above from the current renderer
    for table, cases, compute in (
        ("EXPECTED_RENDERS", RENDER_CASES, _render_case),
        ("EXPECTED_FACES", FACES_CASES, _faces_case),
        ("EXPECTED_PAIRS", PAIRS_CASES, _pairs_case),
    ):
        print(f"{table}: dict[str, dict[str, str]] = {{")
        for name in cases:
            print(f"    {name!r}: {{")
            for key, value in compute(name).items():
                print(f"        {key!r}: {value!r},")
            print("    },")
        print("}")
    print(f"EXPECTED_RENDER_IMAGES: dict[str, str] = {_render_images_case()!r}")
