from __future__ import annotations

import numpy as np
import pytest

from lightning_deepvision.datasets.synthetic._checks import (
    check_index,
    check_item,
    check_positive,
    check_size,
    check_split,
    check_transforms,
)


def test_integers() -> None:
    assert check_index("seed", 0) == 0 and check_index("seed", np.int64(7)) == 7
    assert type(check_index("seed", np.int64(7))) is int
    assert check_positive("n", 2, 2) == 2
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, got -1"):
        check_index("seed", -1)
    with pytest.raises(ValueError, match=r"n must be an integer >= 2, got 1"):
        check_positive("n", 1, 2)
    for bad in (True, 1.0, "3", None):
        with pytest.raises(ValueError, match="n must be"):
            check_positive("n", bad)


def test_size_split_transforms() -> None:
    assert check_size([16, np.int32(20)]) == (16, 20)
    for bad in ((15, 20), (20,), 20, (20.0, 20), None):
        with pytest.raises(ValueError, match=r"image size must be \(height, width\)"):
            check_size(bad)
    assert check_size((8, 8), minimum=8) == (8, 8)
    assert check_split("val", ("val", "test")) == "val"
    with pytest.raises(ValueError, match=r"split must be one of \('val', 'test'\)"):
        check_split("train", ("val", "test"))
    check_transforms(None)
    check_transforms(len)
    with pytest.raises(ValueError, match="transforms must be callable or None, got int"):
        check_transforms(3)


def test_item() -> None:
    assert check_item(0, 3) == 0 and check_item(-1, 3) == 2 and check_item(np.int64(2), 3) == 2
    for bad in (3, -4):
        with pytest.raises(IndexError, match="out of range for a dataset of 3 samples"):
            check_item(bad, 3)
    with pytest.raises(TypeError, match="index must be an integer, got float"):
        check_item(1.0, 3)
