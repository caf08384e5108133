"""Shared fixtures for the recipe tests: a tiny generated picture folder."""

from __future__ import annotations

from pathlib import Path

import cv2

from mmpipe.train.interpolator_data import PACKAGES
from mmpipe.vision.synthetic import textured_image


def picture_folder(root: Path) -> Path:
    """The layout ``mmpipe.train.interpolator_data.acquire`` leaves under ``root``: every
    package unpacked, with three generated wallpapers (Alpha, Beta and the held-out Kite).
    Returns the ``images`` folder."""
    images = root / "images"
    for package in PACKAGES:
        (images / package).mkdir(parents=True)
        (images / package / ".unpacked").write_text("test\n")
    for i, name in enumerate(("Alpha", "Beta", "Kite")):
        path = images / "plasma-workspace-wallpapers" / "usr/share/wallpapers"
        path = path / name / "contents/images/1024x768.png"
        path.parent.mkdir(parents=True)
        cv2.imwrite(str(path), textured_image(400, 520, kind="scene", seed=i))
    return images
