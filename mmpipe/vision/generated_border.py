"""Generated border: what no neighbouring frame saw, made up by the learned inpainter.

The mosaic (``mmpipe.vision.mosaic``) hands over one strip along one side of the output
frame, widened into the picture, with a mask of what is known there (the frame itself and
what its neighbours filled). The strip goes to the inpainter (``mmpipe.runtime.inpainter``)
as the network was trained: YUV at half the luma resolution (4:2:0 chroma as it is, luma
shrunk; RGB converted), turned so that the frame's edge is the top row, and cut down to the
run of columns that has something to generate (plus ``context_px`` on each side). The
result comes back in the frame's layout at full resolution (luma upsampled bilinearly).
"""

from __future__ import annotations

import cv2
import numpy as np

from mmpipe.runtime.inpainter import Inpainter, yuv_half

SIDES = ("top", "bottom", "left", "right")


class BorderGenerator:
    """Fills the unknown part of border strips with ``inpainter``."""

    def __init__(self, inpainter: Inpainter, *, context_px: int = 16) -> None:
        self.inpainter, self.context_px = inpainter, context_px

    def fill(self, planes: list[np.ndarray], known: np.ndarray, side: str) -> list[np.ndarray]:
        """``planes`` (RGB ``[H, W, 3]``, or Y ``[H, W]``, U, V ``[H/2, W/2]``; uint8, even
        ``H`` and ``W``) with the pixels outside ``known`` (bool ``[H, W]``) generated; the
        frame's edge is on ``side``. Returns float32 planes of the same shapes."""
        picture = yuv_half(planes[0] if len(planes) == 1 else (planes[0], planes[1], planes[2]))
        half = (picture.shape[1], picture.shape[0])
        seen = cv2.resize(known.astype(np.float32), half, interpolation=cv2.INTER_AREA) >= 0.999
        picture, seen = _to_top(picture, side), _to_top(seen, side)
        columns = np.flatnonzero(~seen.all(axis=0))
        if len(columns):
            lo = max(int(columns[0]) - self.context_px, 0)
            hi = min(int(columns[-1]) + 1 + self.context_px, seen.shape[1])
            picture = picture.copy()
            picture[:, lo:hi] = self.inpainter.inpaint(
                np.ascontiguousarray(picture[:, lo:hi]), np.ascontiguousarray(seen[:, lo:hi])
            )
        picture = _from_top(picture, side)
        height_px, width_px = known.shape
        if len(planes) == 1:
            full = cv2.resize(picture, (width_px, height_px), interpolation=cv2.INTER_LINEAR)
            return [cv2.cvtColor(full, cv2.COLOR_YUV2RGB).astype(np.float32)]
        luma = cv2.resize(picture[..., 0], (width_px, height_px), interpolation=cv2.INTER_LINEAR)
        return [luma.astype(np.float32), *(picture[..., c].astype(np.float32) for c in (1, 2))]


def _to_top(image: np.ndarray, side: str) -> np.ndarray:
    """``image`` turned so that its ``side`` edge is the top row."""
    if side == "top":
        return image
    if side == "bottom":
        return image[::-1]
    turned = np.swapaxes(image, 0, 1)  # the left edge becomes the top row
    return turned if side == "left" else turned[::-1]


def _from_top(image: np.ndarray, side: str) -> np.ndarray:
    """The inverse of :func:`_to_top`."""
    if side == "top":
        return image
    if side == "bottom":
        return image[::-1]
    return np.swapaxes(image if side == "left" else image[::-1], 0, 1)
