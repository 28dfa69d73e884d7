from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile
from torchvision import tv_tensors

from lightning_deepvision.datasets.errors import CorruptImageError, MissingImageError
from lightning_deepvision.datasets.image_io import has_image_extension, read_image


def _rgb(h: int = 20, w: int = 16) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _jpeg(path: Path) -> Path:
    Image.fromarray(_rgb(40, 32)).save(path, format="JPEG", quality=90)
    return path


@pytest.mark.parametrize("ext", ["png", "ppm", "bmp", "tif", "webp"])
def test_lossless_rgb_formats_round_trip_exactly(tmp_path: Path, ext: str) -> None:
    array = _rgb()
    path = tmp_path / f"x.{ext}"
    options = {"lossless": True} if ext == "webp" else {}
    Image.fromarray(array).save(path, **options)
    image = read_image(path)
    assert isinstance(image, tv_tensors.Image)
    assert image.dtype == torch.uint8
    assert image.shape == (3, 20, 16)
    assert torch.equal(image.permute(1, 2, 0), torch.from_numpy(array))


@pytest.mark.parametrize("ext", ["jpg", "jpeg"])
def test_jpeg_decodes_to_rgb(tmp_path: Path, ext: str) -> None:
    image = read_image(_jpeg(tmp_path / f"x.{ext}"))
    assert image.shape == (3, 40, 32)
    assert image.dtype == torch.uint8


@pytest.mark.parametrize("ext", ["pgm", "png"])
def test_grey_becomes_three_equal_channels(tmp_path: Path, ext: str) -> None:
    grey = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    path = tmp_path / f"g.{ext}"
    Image.fromarray(grey, mode="L").save(path)
    image = read_image(path)
    assert image.shape == (3, 12, 10)
    for c in range(3):
        assert torch.equal(image[c], torch.from_numpy(grey))


def test_rgba_and_palette_with_transparency_become_rgb(tmp_path: Path) -> None:
    rgba = np.dstack([_rgb(), np.full((20, 16), 7, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image.shape == (3, 20, 16)
    assert torch.equal(image.permute(1, 2, 0), torch.from_numpy(rgba[:, :, :3]))

    palette = Image.new("P", (5, 4))
    palette.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    palette.putpixel((1, 1), 1)
    # Per-entry alpha (tRNS as bytes) is the case PIL warns about on a direct RGB conversion.
    palette.save(tmp_path / "p.png", transparency=b"\x00\x80")
    with warnings.catch_warnings():
        # PIL warns when a palette with transparency is converted straight to RGB.
        warnings.simplefilter("error")
        image = read_image(tmp_path / "p.png")
    assert image.shape == (3, 4, 5)
    assert image[:, 1, 1].tolist() == [0, 255, 0]


def test_sixteen_bit_grey_is_rescaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I;16")
    image = read_image(tmp_path / "d.png")
    assert image[0, 0].tolist() == [0, 100, 255]


def test_truncated_jpeg_raises_corrupt_image_error_naming_file(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "t.jpg")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptImageError, match="truncated") as info:
        read_image(path)
    assert type(info.value) is CorruptImageError
    assert info.value.path == path
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\xff\xd8\xff\xe0garbage"])
def test_non_image_content_raises_corrupt_image_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(CorruptImageError) as info:
        read_image(path)
    assert type(info.value) is CorruptImageError
    assert str(path) in str(info.value)


def test_truncated_png_raises_corrupt_image_error(tmp_path: Path) -> None:
    path = tmp_path / "t.png"
    Image.fromarray(_rgb(64, 64)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptImageError, match=r"t\.png"):
        read_image(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.jpg"
    with pytest.raises(FileNotFoundError, match=r"absent\.jpg") as info:
        read_image(path)
    assert not isinstance(info.value, MissingImageError)
    with pytest.raises(MissingImageError, match=r"pairs\.txt:7.*absent\.jpg") as info2:
        read_image(path, referenced_by="pairs.txt:7")
    assert info2.value.image == path


def test_directory_is_reported_as_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(CorruptImageError, match="directory"):
        read_image(tmp_path)


def test_corrupt_error_mentions_reference(tmp_path: Path) -> None:
    path = tmp_path / "bad.png"
    path.write_text("text")
    with pytest.raises(CorruptImageError, match=r"referenced by list\.txt:3"):
        read_image(path, referenced_by="list.txt:3")


def test_truncated_images_flag_left_at_pil_default() -> None:
    import lightning_deepvision.datasets  # noqa: F401  (importing must not flip the flag)

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_has_image_extension_is_case_insensitive() -> None:
    assert has_image_extension("A/B.JPG", (".jpg",))
    assert has_image_extension(Path("x.Pgm"), (".pgm", ".png"))
    assert not has_image_extension("x.jpg.txt", (".jpg",))


def test_real_att_pgm_decodes_to_three_channels(shared_data: Path) -> None:
    image = read_image(shared_data / "att_faces" / "s1" / "1.pgm")
    assert image.shape == (3, 112, 92)
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])
    assert image.float().std() > 10  # a real face, not a blank decode
