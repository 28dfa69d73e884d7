"""CMU Multi-PIE in its official multi-view layout, for FIP and MVP.

Multi-PIE: Gross, Matthews, Cohn, Kanade, Baker, "Multi-PIE", Image and Vision Computing 28(5),
2010; FIP and MVP: Zhu, Luo, Wang, Tang, ICCV 2013 and NIPS 2014.

``ROOT/sessionNN/multiview/<subject>/<recording>/<XX_Y>/<subject>_<NN>_<recording>_<XXY>_<shot>.png``,
e.g. ``session01/multiview/001/01/05_1/001_01_01_051_07.png``: every field of the name is parsed
and checked against the directories holding the file. The data are licensed by CMU; nothing is
downloaded.
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from lightning_deepvision.datasets.bad_samples import OnBadSample, SkipsBadSamples
from lightning_deepvision.datasets.errors import DatasetNotFoundError, MissingImageError
from lightning_deepvision.datasets.image_io import read_image

__all__ = [
    "CAMERAS",
    "CAMERA_YAWS",
    "ELEVATED_CAMERAS",
    "EXPRESSIONS",
    "FIP_CAMERAS",
    "MULTIPIE_PROTOCOLS",
    "MultiPIE",
    "MultiPIEFileNameError",
    "expression_of",
]

#: Signed yaw (degrees) of each camera. Absolute values from public code (specs §9d); the sign
#: follows the convention 19_0 = +45°, 08_0 = −45° (positive: cameras 05_0, 04_1, 19_0, 20_0,
#: 01_0, 24_0 on one side of the frontal 05_1; negative: 14_0, 13_0, 08_0, 09_0, 12_0, 11_0 on
#: the other). Papers differ in the sign. The elevated cameras 08_1 and 19_1
#: (:data:`ELEVATED_CAMERAS`) are mounted above the others; their yaws here (the values of 08_0
#: and 19_0) are approximate and NOT CONFIRMED, so yaw-range filters leave them out unless asked.
CAMERA_YAWS: dict[str, float] = {
    "11_0": -90.0,
    "12_0": -75.0,
    "09_0": -60.0,
    "08_0": -45.0,
    "13_0": -30.0,
    "14_0": -15.0,
    "05_1": 0.0,
    "05_0": 15.0,
    "04_1": 30.0,
    "19_0": 45.0,
    "20_0": 60.0,
    "01_0": 75.0,
    "24_0": 90.0,
    "08_1": -45.0,
    "19_1": 45.0,
}
#: The 15 cameras, ordered by yaw, the two elevated ones last (the ``camera`` key indexes this).
CAMERAS: tuple[str, ...] = tuple(CAMERA_YAWS)
#: Cameras mounted above the 13 at head height.
ELEVATED_CAMERAS: frozenset[str] = frozenset({"08_1", "19_1"})
#: The seven poses −45° … +45° of the FIP protocol (specs §9d, [inferred]).
FIP_CAMERAS: tuple[str, ...] = ("08_0", "13_0", "14_0", "05_1", "05_0", "04_1", "19_0")

#: Expression names, in the order of the ``expression`` key.
EXPRESSIONS: tuple[str, ...] = ("neutral", "smile", "surprise", "squint", "disgust", "scream")
# (session, recording) -> expression, from Bob's Multi-PIE protocol code (specs §9d).
_EXPRESSION_OF: dict[tuple[int, int], str] = {
    (1, 1): "neutral",
    (2, 1): "neutral",
    (3, 1): "neutral",
    (4, 1): "neutral",
    (4, 2): "neutral",
    (1, 2): "smile",
    (3, 2): "smile",
    (2, 2): "surprise",
    (2, 3): "squint",
    (3, 3): "disgust",
    (4, 3): "scream",
}
#: Shots are the illumination ids: 20 shots per recording, 00 and 19 without flash.
NUM_SHOTS = 20

#: Named protocols: default values of :class:`MultiPIE`'s filters. ``"fip"`` is Zhu et al.'s
#: (ICCV 2013; specs §11): session 1, the 7 poses −45° … +45°, all 20 illuminations, the first
#: 100 subjects train and the others test, frontal images the gallery.
MULTIPIE_PROTOCOLS: dict[str, dict[str, Any]] = {
    "fip": {
        "sessions": [1],
        "cameras": list(FIP_CAMERAS),
        "illuminations": list(range(NUM_SHOTS)),
        "expressions": ["neutral"],
        "train_subjects": 100,
    }
}

Split = Literal["all", "train", "test"]
TargetView = Literal["canonical", "random", "random_canonical"]
#: The target modes (see :class:`MultiPIE`).
TARGET_VIEWS: tuple[str, ...] = ("canonical", "random", "random_canonical")

_SESSION = re.compile(r"session(\d{2})")
_CAMERA = re.compile(r"(\d{2})_(\d)")
_FILE = re.compile(r"(\d{3})_(\d{2})_(\d{2})_(\d{2})(\d)_(\d{2})\.png")
_HOW_TO_OBTAIN = (
    "Multi-PIE is licensed by Carnegie Mellon University "
    "(https://www.cs.cmu.edu/afs/cs/project/PIE/MultiPie/Multi-Pie/Home.html); point root at the "
    "directory holding session01/ ... session04/."
)
_SCHEME = "<subject>_<session>_<recording>_<camera XXY>_<shot>.png, e.g. 001_01_01_051_07.png"


class MultiPIEFileNameError(ValueError):
    """A file or directory of the Multi-PIE tree does not follow the official naming scheme.

    Args:
        path: The offending file or directory.
        expected: What its name should look like.
    """

    def __init__(self, path: str | Path, expected: str) -> None:
        self.path = Path(path)
        self.expected = expected
        super().__init__(f"{str(path)!r}: expected {expected}")


def expression_of(session: int, recording: int) -> str:
    """The expression of ``recording`` in ``session`` (Bob's table, specs §9d).

    Raises:
        KeyError: For a recording Multi-PIE does not have.
    """
    try:
        return _EXPRESSION_OF[(session, recording)]
    except KeyError:
        raise KeyError(
            f"Multi-PIE has no recording {recording:02d} in session {session:02d}"
        ) from None


@dataclass(frozen=True)
class _Record:
    subject: int
    session: int
    recording: int
    camera: str
    shot: int

    def key(
        self, camera: str | None = None, shot: int | None = None
    ) -> tuple[int, int, int, str, int]:
        return (
            self.subject,
            self.session,
            self.recording,
            self.camera if camera is None else camera,
            self.shot if shot is None else shot,
        )


def _dirs(path: Path) -> list[os.DirEntry[str]]:
    with os.scandir(path) as entries:
        return sorted(
            (e for e in entries if e.is_dir() and not e.name.startswith(".")), key=lambda e: e.name
        )


def _as_set(values: Iterable[Any] | None, kind: Callable[[Any], Any]) -> set[Any] | None:
    return None if values is None else {kind(v) for v in values}


class MultiPIE(SkipsBadSamples):
    """Multi-PIE multi-view images with their canonical view, filtered by any field.

    The tree is indexed at construction (directory listings only, no image decoded); each file
    name is parsed and checked against its directories. Cameras map to signed yaws
    (:data:`CAMERA_YAWS`), recordings to expressions (:data:`EXPRESSIONS`, by session), shots
    to illumination ids (0–19).

    Each sample: ``image`` (``tv_tensors.Image`` uint8 3xHxW), ``label`` (int64 index of the
    subject among the split's subjects), ``identity`` (int64 subject id), ``yaw`` (float32),
    ``illumination`` (int64 shot), ``expression`` (int64 index into :data:`EXPRESSIONS`),
    ``session``, ``camera`` (int64 index into :data:`CAMERAS`), ``target`` (the same subject,
    session and recording seen by ``target_camera`` under ``target_illumination``: the canonical
    view FIP reconstructs; with ``target_view="random"`` another selected camera, the same shot,
    for MVP; with ``"random_canonical"`` another selected camera under ``target_illumination``,
    MVP's identity-preserving target), ``target_yaw`` (float32) and ``path``.

    Args:
        root: Directory holding ``session01/`` … ``session04/``.
        split: ``"all"``, or ``"train"`` (the first ``train_subjects`` subjects by id) /
            ``"test"`` (the others).
        transforms: Applied once to the whole sample dict.
        protocol: A name of :data:`MULTIPIE_PROTOCOLS` (``"fip"``) giving defaults to the
            filters left ``None`` below.
        sessions: Keep these sessions (1–4).
        subjects: Keep these subject ids.
        cameras: Keep these cameras (``"05_1"``, ...).
        yaw_range: Keep cameras with ``low <= yaw <= high`` (the elevated ones only with
            ``include_elevated``).
        include_elevated: Let ``yaw_range`` keep 08_1 and 19_1.
        illuminations: Keep these shots (0–19).
        expressions: Keep these expressions (names of :data:`EXPRESSIONS`).
        train_subjects: Subjects (lowest ids first) of the ``"train"`` split.
        target_camera: Camera of the canonical view (frontal 05_1).
        target_illumination: Shot of the canonical view; ``None`` keeps the input's shot.
        target_view: ``"canonical"``, ``"random"`` or ``"random_canonical"`` (a selected
            camera drawn per sample; the input's shot, or ``target_illumination``).
        target_seed: With a random target view, draw each index's camera from this seed (the
            same every epoch, for evaluation); ``None`` draws anew each time from torch's generator.
        skip_invalid: Skip (and count in :attr:`skipped`) files whose name breaks the scheme
            and images without their canonical view, instead of raising.
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Attributes:
        records: The kept images, in index order.
        subjects: Subject ids of the split, sorted (``label`` indexes them).
        skipped: Counts of skipped files by reason (``"bad_name"``, ``"missing_target"``).

    Raises:
        DatasetNotFoundError: ``root`` or its ``sessionNN/multiview`` directories are missing,
            or no image is left after filtering.
        MultiPIEFileNameError: A name breaks the scheme (unless ``skip_invalid``).
        MissingImageError: An image's canonical view is missing (unless ``skip_invalid``).
    """

    def __init__(
        self,
        root: str | Path,
        split: Split = "all",
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        *,
        protocol: str | None = None,
        sessions: Sequence[int] | None = None,
        subjects: Sequence[int] | None = None,
        cameras: Sequence[str] | None = None,
        yaw_range: tuple[float, float] | None = None,
        include_elevated: bool = False,
        illuminations: Sequence[int] | None = None,
        expressions: Sequence[str] | None = None,
        train_subjects: int | None = None,
        target_camera: str = "05_1",
        target_illumination: int | None = 7,
        target_view: TargetView = "canonical",
        target_seed: int | None = None,
        skip_invalid: bool = False,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        if split not in ("all", "train", "test"):
            raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
        preset: dict[str, Any] = {}
        if protocol is not None:
            if protocol not in MULTIPIE_PROTOCOLS:
                raise ValueError(
                    f"unknown protocol {protocol!r}; known: {sorted(MULTIPIE_PROTOCOLS)}"
                )
            preset = MULTIPIE_PROTOCOLS[protocol]
        sessions = preset.get("sessions") if sessions is None else sessions
        cameras = preset.get("cameras") if cameras is None else cameras
        illuminations = preset.get("illuminations") if illuminations is None else illuminations
        expressions = preset.get("expressions") if expressions is None else expressions
        train_subjects = (
            preset.get("train_subjects", 100) if train_subjects is None else train_subjects
        )
        for camera in [*(cameras or ()), target_camera]:
            if camera not in CAMERA_YAWS:
                raise ValueError(f"unknown Multi-PIE camera {camera!r}; cameras: {list(CAMERAS)}")
        for name in expressions or ():
            if name not in EXPRESSIONS:
                raise ValueError(f"unknown expression {name!r}; expressions: {list(EXPRESSIONS)}")
        if target_view not in TARGET_VIEWS:
            raise ValueError(f"target_view must be one of {TARGET_VIEWS}, got {target_view!r}")
        if target_illumination is not None and not 0 <= target_illumination < NUM_SHOTS:
            raise ValueError(f"target_illumination must be in 0..{NUM_SHOTS - 1} or None")
        self.root = Path(root)
        self.split = split
        self.transforms = transforms
        self.target_camera = target_camera
        self.target_illumination = target_illumination
        self.target_view = target_view
        self.target_seed = target_seed
        self.skip_invalid = skip_invalid
        self.skipped: Counter[str] = Counter()
        keep_camera = _as_set(cameras, str)
        if yaw_range is not None:
            low, high = yaw_range
            in_range = {
                c
                for c, yaw in CAMERA_YAWS.items()
                if low <= yaw <= high and (include_elevated or c not in ELEVATED_CAMERAS)
            }
            keep_camera = in_range if keep_camera is None else keep_camera & in_range
        self._keep = {
            "session": _as_set(sessions, int),
            "subject": _as_set(subjects, int),
            "camera": keep_camera,
            "shot": _as_set(illuminations, int),
            "expression": _as_set(expressions, str),
        }
        files = self._index()
        self.records = self._select(files, split, int(train_subjects))
        self.subjects: list[int] = sorted({r.subject for r in self.records})
        self._label = {s: i for i, s in enumerate(self.subjects)}
        self._cameras = sorted({r.camera for r in self.records}, key=CAMERAS.index)
        self.on_bad_sample = on_bad_sample

    # -- indexing ----------------------------------------------------------------------------
    def _bad(self, path: Path, expected: str) -> None:
        if not self.skip_invalid:
            raise MultiPIEFileNameError(path, expected)
        self.skipped["bad_name"] += 1

    def _index(self) -> dict[tuple[int, int, int, str, int], Path]:
        """Every file of the kept sessions, subjects, recordings and cameras, by its fields."""
        if not self.root.is_dir():
            raise DatasetNotFoundError("Multi-PIE", self.root, self.root, _HOW_TO_OBTAIN)
        keep = self._keep
        sessions = [e for e in _dirs(self.root) if _SESSION.fullmatch(e.name)]
        if not sessions:
            raise DatasetNotFoundError(
                "Multi-PIE", self.root, self.root / "session01" / "multiview", _HOW_TO_OBTAIN
            )
        files: dict[tuple[int, int, int, str, int], Path] = {}
        for session_dir in sessions:
            session = int(session_dir.name[7:])
            if keep["session"] is not None and session not in keep["session"]:
                continue
            multiview = Path(session_dir.path) / "multiview"
            if not multiview.is_dir():
                raise DatasetNotFoundError("Multi-PIE", self.root, multiview, _HOW_TO_OBTAIN)
            for subject_dir in _dirs(multiview):
                if not re.fullmatch(r"\d{3}", subject_dir.name):
                    self._bad(Path(subject_dir.path), "a three-digit subject directory, e.g. 001")
                    continue
                subject = int(subject_dir.name)
                if keep["subject"] is not None and subject not in keep["subject"]:
                    continue
                for recording_dir in _dirs(Path(subject_dir.path)):
                    self._index_recording(session, subject, Path(recording_dir.path), files)
        return files

    def _index_recording(
        self,
        session: int,
        subject: int,
        path: Path,
        files: dict[tuple[int, int, int, str, int], Path],
    ) -> None:
        if not re.fullmatch(r"\d{2}", path.name):
            self._bad(path, "a two-digit recording directory, e.g. 01")
            return
        recording = int(path.name)
        # The target views may lie outside the kept cameras and shots: index those too.
        for camera_dir in _dirs(path):
            camera = camera_dir.name
            if not _CAMERA.fullmatch(camera) or camera not in CAMERA_YAWS:
                self._bad(Path(camera_dir.path), f"a camera directory, one of {list(CAMERAS)}")
                continue
            with os.scandir(camera_dir.path) as entries:
                names = sorted(
                    e.name for e in entries if e.is_file() and not e.name.startswith(".")
                )
            for name in names:
                file = Path(camera_dir.path) / name
                match = _FILE.fullmatch(name)
                if match is None:
                    self._bad(file, _SCHEME)
                    continue
                fields = (int(match[1]), int(match[2]), int(match[3]), f"{match[4]}_{match[5]}")
                shot = int(match[6])
                if fields != (subject, session, recording, camera) or shot >= NUM_SHOTS:
                    self._bad(
                        file,
                        f"the subject, session, recording and camera of its directories "
                        f"({subject:03d}_{session:02d}_{recording:02d}_{camera.replace('_', '')}"
                        f"_<shot 00-19>.png)",
                    )
                    continue
                files[(subject, session, recording, camera, shot)] = file

    def _select(
        self, files: dict[tuple[int, int, int, str, int], Path], split: str, train_subjects: int
    ) -> list[_Record]:
        keep = self._keep
        records = []
        for subject, session, recording, camera, shot in sorted(files):
            record = _Record(subject, session, recording, camera, shot)
            expression = _EXPRESSION_OF.get((session, recording))
            if (
                (keep["camera"] is not None and camera not in keep["camera"])
                or (keep["shot"] is not None and shot not in keep["shot"])
                or (keep["expression"] is not None and expression not in keep["expression"])
            ):
                continue
            if expression is None:
                self._bad(files[record.key()], "a recording of Multi-PIE's session (specs §9d)")
                continue
            if self._target_key(record) not in files:
                if not self.skip_invalid:
                    raise MissingImageError(
                        self._target_path(record), f"{files[record.key()]} (its canonical view)"
                    )
                self.skipped["missing_target"] += 1
                continue
            records.append(record)
        ordered = sorted({r.subject for r in records})
        chosen = set(ordered[:train_subjects] if split == "train" else ordered[train_subjects:])
        if split != "all":
            records = [r for r in records if r.subject in chosen]
        if not records:
            raise DatasetNotFoundError(
                "Multi-PIE",
                self.root,
                self.root / "session01" / "multiview",
                f"No image is left for split={split!r} after the filters. {_HOW_TO_OBTAIN}",
            )
        self._files = files
        return records

    def _target_key(
        self, record: _Record, camera: str | None = None
    ) -> tuple[int, int, int, str, int]:
        shot = record.shot if self.target_illumination is None else self.target_illumination
        return record.key(camera=camera or self.target_camera, shot=shot)

    def _view_key(self, record: _Record, camera: str) -> tuple[int, int, int, str, int]:
        """The key of ``record`` seen by ``camera`` in the random target modes."""
        if self.target_view == "random_canonical":
            return self._target_key(record, camera)
        return record.key(camera=camera)

    def _target_path(self, record: _Record) -> Path:
        subject, session, recording, camera, shot = self._target_key(record)
        name = f"{subject:03d}_{session:02d}_{recording:02d}_{camera.replace('_', '')}_{shot:02d}"
        return (
            self.root
            / f"session{session:02d}"
            / "multiview"
            / f"{subject:03d}"
            / f"{recording:02d}"
            / camera
            / f"{name}.png"
        )

    # -- samples -----------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of subjects in the split."""
        return len(self.subjects)

    @property
    def targets(self) -> list[int]:
        """``label`` of every index (no decoding; for samplers)."""
        return [self._label[r.subject] for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def _random_target(self, index: int, record: _Record) -> str:
        """A camera among the selected ones that saw the target's shot."""
        # The canonical camera's view was checked at construction: never an empty choice.
        choices = [c for c in self._cameras if self._view_key(record, c) in self._files] or [
            self.target_camera
        ]
        if self.target_seed is None:
            return choices[int(torch.randint(len(choices), ()).item())]
        return random.Random(self.target_seed * 1_000_003 + index).choice(choices)

    def get_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``, transforms applied (``__getitem__`` applies ``on_bad_sample``)."""
        record = self.records[index]
        path = self._files[record.key()]
        if self.target_view == "canonical":
            target_key = self._target_key(record)
        else:
            target_key = self._view_key(record, self._random_target(index, record))
        target_path = self._files[target_key]
        sample: dict[str, Any] = {
            "image": read_image(path),
            "label": torch.tensor(self._label[record.subject]),
            "identity": torch.tensor(record.subject),
            "yaw": torch.tensor(CAMERA_YAWS[record.camera], dtype=torch.float32),
            "illumination": torch.tensor(record.shot),
            "expression": torch.tensor(
                EXPRESSIONS.index(_EXPRESSION_OF[(record.session, record.recording)])
            ),
            "session": torch.tensor(record.session),
            "camera": torch.tensor(CAMERAS.index(record.camera)),
            "target": read_image(target_path, referenced_by=f"{path} (its target view)"),
            "target_yaw": torch.tensor(CAMERA_YAWS[target_key[3]], dtype=torch.float32),
            "path": str(path),
        }
        return sample if self.transforms is None else self.transforms(sample)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, "
            f"images={len(self)}, subjects={len(self.subjects)}, cameras={self._cameras})"
        )
