"""Render corrections: one affine warp per full-resolution frame.

``fill="none"`` leaves black where the warped frame does not reach; ``fill="crop"``
zooms every frame by one fixed factor about the centre, the smallest that keeps the
borders out of the picture on every frame of the clip (see :func:`crop_zoom`). Filling
the borders instead (full frame, from neighbouring frames) is a stage of its own after
``fill="none"``: ``FillBorders``, with :mod:`mmpipe.vision.mosaic`.
"""

from __future__ import annotations

import cv2
import numpy as np

from mmpipe.media.frames import pack_yuv420p, yuv420p_planes
from mmpipe.vision.transforms import frame_center, to_matrix

FILLS = ("none", "crop")


def warp_matrices(
    corrections: np.ndarray, *, width_px: int, height_px: int, zoom: float = 1.0
) -> np.ndarray:
    """2x3 matrices ``[n, 2, 3]`` mapping input pixels to output pixels.

    ``corrections`` are similarity parameters ``[n, 4]`` (from
    :func:`mmpipe.vision.path.corrections`); ``zoom`` (>= 1) is applied about the
    centre after the correction.
    """
    center = frame_center(width_px, height_px)
    zoom_params = np.array([0.0, 0.0, 0.0, np.log(zoom)])
    matrices = to_matrix(zoom_params, center) @ to_matrix(corrections, center)
    return matrices[:, :2, :]


def crop_zoom(
    corrections: np.ndarray, *, width_px: int, height_px: int, max_zoom: float = 2.0
) -> float:
    """The smallest zoom about the centre that hides all borders, for the whole clip.

    For each frame the output window, shrunk by ``1 / zoom`` about the centre, must map
    back (through the inverse correction) inside the input frame; each corner gives a
    linear bound on ``1 / zoom``, so the answer is exact, not searched. Capped at
    ``max_zoom``.
    """
    center = frame_center(width_px, height_px)
    half = np.array([(width_px - 1) / 2.0, (height_px - 1) / 2.0])
    inverse = np.linalg.inv(to_matrix(corrections, center))
    linear = inverse[:, :2, :2]
    shift = inverse[:, :2, :2] @ center + inverse[:, :2, 2] - center  # where the centre goes
    corners = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]]) * half  # [4, 2]
    reach = np.einsum("nij,kj->nki", linear, corners)  # corner offsets at zoom 1, [n, 4, 2]
    room = half - np.abs(shift)  # [n, 2]
    if np.any(room <= 0):
        return max_zoom
    with np.errstate(divide="ignore"):
        # a * g <= half - shift for a > 0, and a * g >= -half - shift for a < 0
        bound = np.where(
            reach > 0,
            (half - shift)[:, None, :] / reach,
            np.where(reach < 0, (-half - shift)[:, None, :] / reach, np.inf),
        )
    inverse_zoom = float(min(1.0, bound.min()))
    return float(min(max_zoom, 1.0 / max(inverse_zoom, 1.0 / max_zoom)))


def warp_frame(
    image: np.ndarray,
    matrix: np.ndarray,
    *,
    pixel_format: str = "rgb24",
    full_range: bool = True,
    replicate_edges: bool = False,
) -> np.ndarray:
    """Warp a frame's ``image`` by a 2x3 ``matrix`` (in luma pixels); black outside.

    ``pixel_format`` is the image's layout (see :class:`~mmpipe.media.frames.VideoFrame`);
    for ``yuv420p`` each plane is warped at its own resolution, and ``full_range`` picks
    the black level of the luma plane. ``replicate_edges`` fills the outside with the
    frame's edge pixels instead of black.
    """
    border = cv2.BORDER_REPLICATE if replicate_edges else cv2.BORDER_CONSTANT
    if pixel_format == "rgb24":
        return _warp(image, matrix, (0, 0, 0), border)
    luma, u, v = yuv420p_planes(image)
    chroma = chroma_matrix(matrix)
    black = 0 if full_range else 16
    return pack_yuv420p(
        _warp(luma, matrix, black, border),
        _warp(u, chroma, 128, border),
        _warp(v, chroma, 128, border),
    )


def chroma_matrix(matrix: np.ndarray) -> np.ndarray:
    """The luma-pixel warp expressed on a half-resolution chroma plane.

    Chroma sample ``c`` sits at luma position ``2c + 0.5`` (centred siting), so
    ``c' = A c + (A 0.5 + t - 0.5) / 2`` for the luma warp ``p' = A p + t``.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    linear, shift = matrix[:, :2], matrix[:, 2]
    return np.column_stack([linear, (linear @ [0.5, 0.5] + shift - 0.5) / 2.0])


def _warp(
    plane: np.ndarray, matrix: np.ndarray, black: int | tuple[int, ...], border: int
) -> np.ndarray:
    height_px, width_px = plane.shape[:2]
    return cv2.warpAffine(
        plane,
        np.asarray(matrix, dtype=np.float64),
        (width_px, height_px),
        flags=cv2.INTER_LINEAR,
        borderMode=border,
        borderValue=black,
    )
