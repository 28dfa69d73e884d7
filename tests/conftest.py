"""Shared fixtures: the real data beside the checkout, and tiny datasets from the public writers.

The session-scoped roots (``lfw_root``, ``identity_folder_root``) are shared by many tests:
treat them as read-only. Tests that damage data on purpose write their own copy under
``tmp_path`` (see ``make_lfw``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# The checkout sits at <work>/main and the shared data at <work>/shared/data.
SHARED_DATA = Path(__file__).parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (AT&T faces, LFW pairs.txt); skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not present ({SHARED_DATA}): real-data checks skipped")
    return SHARED_DATA


def pytest_configure(config: pytest.Config) -> None:
    """Filter the warnings the tiny fixtures cause by design (each with its reason)."""
    # Tiny pair sets have a handful of mismatched pairs: no FAR of 1 % is resolvable there.
    # tests/metrics/test_verification.py checks that the warning is raised.
    config.addinivalue_line(
        "filterwarnings",
        "ignore::lightning_deepvision.metrics.verification.UnresolvableFARWarning",
    )


@pytest.fixture(autouse=True)
def _no_process_wide_allocator_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never change glibc's allocator in the test process (recipes list ``ReuseHostMemory``).

    The setting is process-wide and irreversible; the callback's own tests apply it in a child
    process.
    """
    from lightning_deepvision.callbacks import host_memory

    monkeypatch.setattr(host_memory, "reuse_freed_host_memory", lambda: False)


TINY_FACES: dict[str, Any] = {
    "num_train_identities": 12,
    "images_per_train_identity": 4,
    "num_eval_identities": 20,
    "images_per_eval_identity": 3,
    "num_folds": 4,
    "pairs_per_fold": 4,
    "identities_per_batch": 4,
    "images_per_identity": 2,
    "eval_batch_size": 8,
    "num_workers": 0,
}


@pytest.fixture
def tiny_faces() -> Callable[..., Any]:
    """Build a seconds-fast ``SyntheticFacesDataModule``; kwargs override :data:`TINY_FACES`."""
    from lightning_deepvision.datamodules import SyntheticFacesDataModule

    def make(**overrides: Any) -> SyntheticFacesDataModule:
        return SyntheticFacesDataModule(**{**TINY_FACES, **overrides})

    return make


@pytest.fixture(scope="session")
def lfw_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default ``write_lfw`` tree (20 people x 4 images, 10 folds x 4 pairs). Read-only."""
    from lightning_deepvision.testing import write_lfw

    return write_lfw(tmp_path_factory.mktemp("lfw"))


@pytest.fixture(scope="session")
def identity_folder_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default ``write_identity_folder`` tree (8 identities x 6 JPEGs, 64x56). Read-only."""
    from lightning_deepvision.testing import write_identity_folder

    return write_identity_folder(tmp_path_factory.mktemp("identities"))


@pytest.fixture
def make_lfw(tmp_path: Path) -> Callable[..., Path]:
    """Write a small private LFW tree under ``tmp_path`` (safe to modify); kwargs go to
    ``write_lfw``, whose defaults here are shrunk to 4 people x 2 images, 2 folds x 2 pairs
    (8 images: rendering faces is the slow part)."""
    from lightning_deepvision.testing import write_lfw

    def make(subdir: str = "lfw", **kwargs: Any) -> Path:
        options: dict[str, Any] = {
            "num_people": 4,
            "images_per_person": 2,
            "num_folds": 2,
            "pairs_per_fold": 2,
        }
        options.update(kwargs)
        return write_lfw(tmp_path / subdir, **options)

    return make


@pytest.fixture
def make_identity_folder(tmp_path: Path) -> Callable[..., Path]:
    """Write a small private identity folder under ``tmp_path`` (safe to modify)."""
    from lightning_deepvision.testing import write_identity_folder

    def make(subdir: str = "identities", **kwargs: Any) -> Path:
        options: dict[str, Any] = {"num_identities": 4, "images_per_identity": 3}
        options.update(kwargs)
        return write_identity_folder(tmp_path / subdir, **options)

    return make
