"""Shake figures of a clip from its measured and smoothed camera paths, and their plot.

Paths are ``[n, 4]`` arrays of ``(dx_px, dy_px, angle_rad, log_scale)`` about the frame
centre (see :mod:`mmpipe.vision.transforms`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmpipe.errors import ConfigError
from mmpipe.metrics.stability import low_frequency_share
from mmpipe.vision.transforms import apply_points, frame_center, to_matrix


@dataclass(frozen=True)
class ShakeAnalysis:
    """What `mmpipe analyze` reports.

    - ``stability_score``: Liu et al.'s score of the *measured* camera path (1 is steady;
      handheld footage is typically 0.3-0.7); ``stabilized_score`` the same for the path
      the stabilizer would follow.
    - ``jitter_px``: RMS distance the frame corners must move to follow the smooth path;
      ``max_correction_px``: the largest such move.
    - ``crop_fraction``: share of the picture area ``fill="crop"`` would cut away.
    """

    frames: int
    duration_s: float
    width_px: int
    height_px: int
    stability_score: float
    stabilized_score: float
    jitter_px: float
    max_correction_px: float
    zoom: float
    crop_fraction: float
    scene_cuts: int
    unmeasured_frames: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def path_stability_score(path: np.ndarray) -> float:
    """Liu et al.'s stability score computed on a camera path instead of output frames."""
    if len(path) < 5:
        return 1.0
    translation = np.hypot(path[:, 0], path[:, 1])
    rotation = path[:, 2]
    return 0.5 * (
        low_frequency_share(translation, still=0.01) + low_frequency_share(rotation, still=1e-5)
    )


def analyze_shake(
    raw: np.ndarray,
    smooth: np.ndarray,
    *,
    width_px: int,
    height_px: int,
    duration_s: float,
    zoom: float,
    scene_cuts: int,
    unmeasured_frames: int,
) -> ShakeAnalysis:
    """The shake figures of one clip (see `ShakeAnalysis`)."""
    center = frame_center(width_px, height_px)
    corners = np.array(
        [[0, 0], [width_px - 1, 0], [0, height_px - 1], [width_px - 1, height_px - 1]], float
    )
    raw_m, smooth_m = to_matrix(raw, center), to_matrix(smooth, center)
    moves = np.stack(
        [
            np.linalg.norm(apply_points(s, corners) - apply_points(r, corners), axis=1)
            for r, s in zip(raw_m, smooth_m, strict=True)
        ]
    )
    return ShakeAnalysis(
        frames=len(raw),
        duration_s=duration_s,
        width_px=width_px,
        height_px=height_px,
        stability_score=path_stability_score(raw),
        stabilized_score=path_stability_score(smooth),
        jitter_px=float(np.sqrt(np.mean(moves**2))) if len(moves) else 0.0,
        max_correction_px=float(moves.max()) if len(moves) else 0.0,
        zoom=zoom,
        crop_fraction=1.0 - 1.0 / zoom**2,
        scene_cuts=scene_cuts,
        unmeasured_frames=unmeasured_frames,
    )


def plot_camera_path(
    raw: np.ndarray,
    smooth: np.ndarray,
    times_s: np.ndarray,
    path: str | os.PathLike[str],
    *,
    title: str,
    cuts_s: list[float] | None = None,
) -> None:
    """Write a PNG of the raw and smoothed camera path: x, y, rotation and scale over time."""
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ConfigError(f"{target}: the plot is a PNG; name it something.png")
    if not target.parent.is_dir():
        raise ConfigError(f"{target.parent}: the folder for the plot does not exist")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = [
        ("x (px)", raw[:, 0], smooth[:, 0]),
        ("y (px)", raw[:, 1], smooth[:, 1]),
        ("rotation (deg)", np.degrees(raw[:, 2]), np.degrees(smooth[:, 2])),
        ("scale (%)", 100 * np.expm1(raw[:, 3]), 100 * np.expm1(smooth[:, 3])),
    ]
    figure, axes = plt.subplots(len(rows), 1, sharex=True, figsize=(10, 8), dpi=100)
    for axis, (label, measured, smoothed) in zip(axes, rows, strict=True):
        axis.plot(times_s, measured, color="tab:red", linewidth=1, label="measured (shaky)")
        axis.plot(times_s, smoothed, color="tab:blue", linewidth=2, label="stabilized")
        for cut in cuts_s or []:
            axis.axvline(cut, color="grey", linestyle="--", linewidth=1)
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].legend(loc="upper right")
    axes[0].set_title(title)
    axes[-1].set_xlabel("time (s)")
    figure.tight_layout()
    tmp = target.with_name(f".{target.name}.partial.png")
    try:
        figure.savefig(tmp)
        os.replace(tmp, target)
    finally:
        plt.close(figure)
        tmp.unlink(missing_ok=True)
