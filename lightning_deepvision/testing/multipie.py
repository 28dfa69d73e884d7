"""Write a tiny seeded Multi-PIE tree in the official multi-view layout.

``ROOT/sessionNN/multiview/<subject>/<recording>/<XX_Y>/<subject>_<NN>_<recording>_<XXY>_<shot>.png``
(specs §9d). The faces are rendered by
:func:`~lightning_deepvision.datasets.synthetic.render_face`: one image per (subject, session,
recording, shot), seen by every camera at that camera's yaw and lit by the shot's illumination,
so a recording's views show the same face, as Multi-PIE's simultaneous cameras do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from lightning_deepvision.datasets.multipie import CAMERA_YAWS, FIP_CAMERAS, NUM_SHOTS
from lightning_deepvision.datasets.synthetic import NUM_ILLUMINATIONS, render_face
from lightning_deepvision.testing.identity_folder import refuse_existing, save_image

__all__ = ["multipie_path", "write_multipie"]


def multipie_path(
    root: str | os.PathLike[str], subject: int, session: int, recording: int, camera: str, shot: int
) -> Path:
    """The official path of one image.

    E.g. ``session01/multiview/001/01/05_1/001_01_01_051_07.png``.
    """
    name = f"{subject:03d}_{session:02d}_{recording:02d}_{camera.replace('_', '')}_{shot:02d}.png"
    return (
        Path(root)
        / f"session{session:02d}"
        / "multiview"
        / f"{subject:03d}"
        / f"{recording:02d}"
        / camera
        / name
    )


def write_multipie(
    root: str | os.PathLike[str],
    subjects: Sequence[int] = (1, 2, 3, 4),
    sessions: Sequence[int] = (1,),
    recordings: Sequence[int] = (1,),
    cameras: Sequence[str] = FIP_CAMERAS,
    shots: Sequence[int] = (0, 7, 12),
    image_size: tuple[int, int] = (40, 32),
    seed: int = 0,
) -> Path:
    """Write Multi-PIE images readable by :class:`~lightning_deepvision.datasets.MultiPIE`.

    Args:
        root: Directory to write into (created if needed).
        subjects: Subject ids (1–999).
        sessions: Session numbers (1–4).
        recordings: Recording numbers of each session (see
            :func:`~lightning_deepvision.datasets.multipie.expression_of`).
        cameras: Camera names of :data:`~lightning_deepvision.datasets.multipie.CAMERA_YAWS`
            (the seven FIP poses by default; include ``"05_1"`` and shot 7 for the canonical
            view).
        shots: Shot (illumination) ids, 0–19.
        image_size: ``(height, width)`` of each image (Multi-PIE's are 480x640).
        seed: Seed of the face renderer.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: One of the files already exists (nothing is written).
        ValueError: An unknown camera or a shot out of range.
    """
    for camera in cameras:
        if camera not in CAMERA_YAWS:
            raise ValueError(f"unknown camera {camera!r}; cameras: {list(CAMERA_YAWS)}")
    for shot in shots:
        if not 0 <= shot < NUM_SHOTS:
            raise ValueError(f"shots must be in 0..{NUM_SHOTS - 1}, got {shot}")
    plan = [
        (subject, session, recording, camera, shot)
        for subject in subjects
        for session in sessions
        for recording in recordings
        for camera in cameras
        for shot in shots
    ]
    refuse_existing(multipie_path(root, *fields) for fields in plan)
    size = (int(image_size[0]), int(image_size[1]))
    for subject, session, recording, camera, shot in plan:
        path = multipie_path(root, subject, session, recording, camera, shot)
        path.parent.mkdir(parents=True, exist_ok=True)
        # One image per recording and shot, seen from each camera.
        face = render_face(
            identity=subject,
            sample=100 * session + recording,
            size=size,
            seed=seed,
            yaw=CAMERA_YAWS[camera],
            illumination=shot % NUM_ILLUMINATIONS,
        )
        save_image(face["image"], path)
    return Path(root)
