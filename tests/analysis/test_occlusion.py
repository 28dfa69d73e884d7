import pytest
import torch

from lightning_deepvision.analysis import block_positions, occlude_blocks, occlude_bottom


def test_occlude_bottom_covers_the_lowest_rows() -> None:
    images = torch.ones(2, 3, 10, 8)
    out = occlude_bottom(images, 0.3, fill=-1.0)
    assert (out[..., 7:, :] == -1).all() and (out[..., :7, :] == 1).all()
    assert (images == 1).all()  # the input is kept
    assert torch.equal(occlude_bottom(images, 0.0), images)
    assert (occlude_bottom(images, 1.0) == 0).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        occlude_bottom(images, 1.5)


def test_blocks_cover_side_squared_pixels_inside_the_image() -> None:
    images = torch.ones(50, 1, 55, 47)
    keys = torch.arange(50)
    out = occlude_blocks(images, 0.5, keys, seed=3)
    side = round(0.5 * 47)
    assert ((out == 0).sum(dim=(1, 2, 3)) == side * side).all()
    top, left = block_positions(keys, side, 55, 47, seed=3)
    assert (top >= 0).all() and (top + side <= 55).all()
    assert (left >= 0).all() and (left + side <= 47).all()
    for i in (0, 17, 49):
        block = out[i, 0, top[i] : top[i] + side, left[i] : left[i] + side]
        assert (block == 0).all()
    # Positions are spread, not all the same.
    assert top.unique().numel() > 10 and left.unique().numel() > 10


def test_block_positions_depend_only_on_seed_and_key() -> None:
    state = torch.get_rng_state()
    keys = torch.tensor([5, 9, 123456789])
    top, left = block_positions(keys, 4, 20, 20, seed=1)
    one_by_one = [block_positions(keys[i : i + 1], 4, 20, 20, seed=1) for i in range(3)]
    assert top.tolist() == [int(t) for t, _ in one_by_one]
    assert left.tolist() == [int(x) for _, x in one_by_one]
    other, _ = block_positions(torch.arange(100), 4, 20, 20, seed=2)
    same, _ = block_positions(torch.arange(100), 4, 20, 20, seed=1)
    assert not torch.equal(other, same)
    assert torch.equal(torch.get_rng_state(), state)  # no global random number was drawn


def test_block_arguments() -> None:
    images = torch.ones(2, 3, 8, 8)
    with pytest.raises(ValueError, match="side_fraction"):
        occlude_blocks(images, 0.0, torch.arange(2))
    with pytest.raises(ValueError, match="keys"):
        occlude_blocks(images, 0.5, torch.arange(3))
    with pytest.raises(ValueError, match="non-negative"):
        block_positions(torch.tensor([-1]), 2, 8, 8)
    with pytest.raises(ValueError, match="side"):
        block_positions(torch.tensor([1]), 9, 8, 8)
