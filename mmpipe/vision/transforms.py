"""Similarity transforms about the frame centre, as parameters and as matrices.

Every camera motion in mmpipe is a 2-D similarity written as four parameters
``(dx_px, dy_px, angle_rad, log_scale)`` about the frame centre ``c``:

    p' = exp(log_scale) * R(angle_rad) @ (p - c) + c + (dx_px, dy_px)

where ``p`` is a pixel position ``(x, y)`` (x right, y down, pixel centres at integers)
and ``R`` rotates by ``angle_rad`` in image coordinates. The parameters describe where
image content moves: a transform maps a point of one frame to the same scene point in
another. Parameter arrays have shape ``[..., 4]``; matrices are ``[..., 3, 3]``.
"""

from __future__ import annotations

import numpy as np

N_PARAMS = 4


def frame_center(width_px: int, height_px: int) -> np.ndarray:
    """The centre ``(x, y)`` of a ``width_px`` x ``height_px`` frame, in pixel coordinates."""
    return np.array([(width_px - 1) / 2.0, (height_px - 1) / 2.0])


def to_matrix(params: np.ndarray, center_xy: np.ndarray) -> np.ndarray:
    """3x3 matrices ``[..., 3, 3]`` of similarity parameters ``[..., 4]`` about ``center_xy``."""
    params = np.asarray(params, dtype=np.float64)
    dx, dy, angle, log_scale = np.moveaxis(params, -1, 0)
    scale = np.exp(log_scale)
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    cx, cy = float(center_xy[0]), float(center_xy[1])
    m = np.zeros((*params.shape[:-1], 3, 3))
    m[..., 0, 0], m[..., 0, 1] = cos, -sin
    m[..., 1, 0], m[..., 1, 1] = sin, cos
    m[..., 0, 2] = cx + dx - (cos * cx - sin * cy)
    m[..., 1, 2] = cy + dy - (sin * cx + cos * cy)
    m[..., 2, 2] = 1.0
    return m


def from_matrix(matrix: np.ndarray, center_xy: np.ndarray) -> np.ndarray:
    """Similarity parameters ``[..., 4]`` closest to affine matrices ``[..., 2|3, 3]``.

    The linear part is projected onto the nearest rotation-and-scale; the translation
    is read so that the centre maps exactly as the matrix maps it.
    """
    m = np.asarray(matrix, dtype=np.float64)
    a = 0.5 * (m[..., 0, 0] + m[..., 1, 1])
    b = 0.5 * (m[..., 1, 0] - m[..., 0, 1])
    angle = np.arctan2(b, a)
    log_scale = np.log(np.maximum(np.hypot(a, b), 1e-12))
    cx, cy = float(center_xy[0]), float(center_xy[1])
    mapped_x = m[..., 0, 0] * cx + m[..., 0, 1] * cy + m[..., 0, 2]
    mapped_y = m[..., 1, 0] * cx + m[..., 1, 1] * cy + m[..., 1, 2]
    return np.stack([mapped_x - cx, mapped_y - cy, angle, log_scale], axis=-1)


def accumulate(motions: np.ndarray, center_xy: np.ndarray) -> np.ndarray:
    """Absolute camera path ``[n, 4]`` from frame-to-frame motions ``[n, 4]``.

    ``motions[i]`` maps frame ``i - 1`` to frame ``i`` (``motions[0]`` is ignored and
    taken as identity); the result maps frame 0 to frame ``i``, composed exactly.
    """
    mats = to_matrix(motions, center_xy)
    path = np.empty_like(mats)
    path[0] = np.eye(3)
    for i in range(1, len(mats)):
        path[i] = mats[i] @ path[i - 1]
    params = from_matrix(path, center_xy)
    params[:, 2] = np.unwrap(params[:, 2])
    return params


def apply_points(matrix: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """Map points ``[k, 2]`` through one 2x3 or 3x3 matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    return points_xy @ m[:2, :2].T + m[:2, 2]
