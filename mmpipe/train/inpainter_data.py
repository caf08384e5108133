"""Training strips for the border inpainter, cut from real photos.

A strip is what the runtime hands the network (``mmpipe.runtime.inpainter``): YUV at half
the luma resolution, oriented so that the frame's outer edge is the top row, the part to
generate along that edge. Here a strip is a ``height x width`` crop of a photo shrunk by a
random factor (``0.3..0.6``, as a 720p frame at half resolution sees its scene), converted
to YUV (BT.601 full range, or squeezed to video range half the time), in any of the eight
orientations (cut along or across the photo, flipped either way: the runtime turns every
side of a frame to the top, so no side may look like the sky); a share ``p_smooth`` of
training strips is blurred (Gaussian, sigma 2-12 px) so that the network also sees skies
and walls, where the best fill adds nothing. What is hidden: the rows above a slanted line
(``2..max_depth`` px deep, slope up to 0.08), and on a third of the strips also a slanted
band along the left or right end (the frame's corner).

Photos come from the interpolator's sources (``mmpipe.train.interpolator_data``: scikit-
image's photos and Debian's wallpapers, fetched on first use), split by name: the held-out
photos make the fixed validation set; the pictures ``benchmarks/fill.py`` measures on (its
photos and the city footage) are used by neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mmpipe.train.interpolator_data import DEFAULT_DATA_DIR, PACKAGES, acquire, load_photos

BENCHMARK_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # benchmarks/devset.PHOTOS
STRIP_SIZE = (32, 128)  # height, width at half luma resolution
MAX_DEPTH_PX = 20


@dataclass
class Strip:
    """One example: the true YUV strip and the mask of the pixels the network sees."""

    picture: np.ndarray  # uint8 [H, W, 3] YUV
    known: np.ndarray  # bool [H, W]


class StripSampler:
    """Draws strips from a list of RGB photos."""

    def __init__(
        self,
        photos: list[np.ndarray],
        size: tuple[int, int] = STRIP_SIZE,
        max_depth_px: int = MAX_DEPTH_PX,
        p_smooth: float = 0.0,
    ) -> None:
        self.photos, self.size, self.max_depth_px = photos, size, max_depth_px
        self.p_smooth = p_smooth

    def draw(self, rng: np.random.Generator) -> Strip:
        photo = self.photos[int(rng.integers(len(self.photos)))]
        turned = rng.random() < 0.5  # cut across the photo, then turn it to lie along
        height, width = self.size[::-1] if turned else self.size
        scale = rng.uniform(0.3, 0.6)
        crop_h = min(photo.shape[0], int(np.ceil(height / scale)) + 2)
        crop_w = min(photo.shape[1], int(np.ceil(width / scale)) + 2)
        y = int(rng.integers(photo.shape[0] - crop_h + 1))
        x = int(rng.integers(photo.shape[1] - crop_w + 1))
        rgb = cv2.resize(
            photo[y : y + crop_h, x : x + crop_w], (width, height), interpolation=cv2.INTER_AREA
        )
        if turned:
            rgb = rgb.transpose(1, 0, 2)
        if rng.random() < 0.5:
            rgb = rgb[:, ::-1]
        if rng.random() < 0.5:  # photos are brighter on top: no side may be "up"
            rgb = rgb[::-1]
        if self.p_smooth and rng.random() < self.p_smooth:
            rgb = cv2.GaussianBlur(np.ascontiguousarray(rgb), (0, 0), rng.uniform(2, 12))
        yuv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV)
        if rng.random() < 0.5:  # video range
            yuv = yuv.astype(np.float32)
            yuv[..., 0] = 16 + yuv[..., 0] * (219 / 255)
            yuv[..., 1:] = 128 + (yuv[..., 1:] - 128) * (224 / 255)
            yuv = np.rint(yuv).astype(np.uint8)
        return Strip(yuv, self._mask(rng))

    def _mask(self, rng: np.random.Generator) -> np.ndarray:
        height, width = self.size
        rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
        depth = rng.uniform(2, self.max_depth_px)
        slope = rng.uniform(-0.08, 0.08)
        hidden = rows < depth + slope * (cols - width / 2)
        if rng.random() < 1 / 3:
            side = rng.uniform(2, 16) + rng.uniform(-0.08, 0.08) * rows
            hidden |= (cols < side) if rng.random() < 0.5 else (cols >= width - side)
        hidden[height - 8 :] = False  # always some picture to continue
        hidden[0] = True  # and always something to generate
        return ~hidden


def sampler(
    data_dir: Path = DEFAULT_DATA_DIR, *, validation: bool, p_smooth: float = 0.0
) -> StripSampler:
    """A ``StripSampler`` over one split of the photos (fetched if missing)."""
    root = data_dir / "images"
    if not all((root / p / ".unpacked").exists() for p in PACKAGES):
        acquire(data_dir)
    photos = load_photos(root, validation=validation, exclude=BENCHMARK_PHOTOS)
    return StripSampler(photos, p_smooth=p_smooth)


def validation_strips(
    data_dir: Path = DEFAULT_DATA_DIR, *, count: int = 96, seed: int = 1234
) -> list[Strip]:
    """The fixed held-out set: ``count`` strips from the held-out photos."""
    held_out = sampler(data_dir, validation=True)
    return [held_out.draw(np.random.default_rng([seed, i])) for i in range(count)]
