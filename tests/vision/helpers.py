"""Shared fixtures for the stabilization tests: small shaken clips with known paths."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from mmpipe.media.frames import AnalysisFrame, VideoFrame
from mmpipe.pipeline.stage import VideoSpec
from mmpipe.stages.stabilize import Stabilize
from mmpipe.vision.synthetic import (
    SYNTHETIC_TIME_BASE,
    ShakePath,
    render_shaken,
    required_margin_px,
    shake_path,
    textured_image,
    to_video_frames,
)

WIDTH_PX, HEIGHT_PX, FPS = 320, 180, 30.0


def shaken_clip(
    kind: str = "walking",
    *,
    n_frames: int = 60,
    amplitude_px: float = 3.0,
    texture: str = "scene",
    seed: int = 1,
    moving_object: bool = False,
) -> tuple[ShakePath, np.ndarray, list[np.ndarray]]:
    """A shaken clip: its path, its source image and its RGB frames."""
    path = shake_path(n_frames, fps=FPS, kind=kind, amplitude_px=amplitude_px, seed=seed)
    margin_x, margin_y = required_margin_px(path.camera, (WIDTH_PX, HEIGHT_PX))
    source = textured_image(
        HEIGHT_PX + 2 * int(margin_y) + 8, WIDTH_PX + 2 * int(margin_x) + 8, kind=texture, seed=seed
    )
    frames = list(
        render_shaken(
            source, path.camera, out_size=(WIDTH_PX, HEIGHT_PX), moving_object=moving_object
        )
    )
    return path, source, frames


def analysis_frames(frames: list[VideoFrame], width_px: int = 160) -> list[AnalysisFrame]:
    """What the runner hands to pass 1: downscaled grey frames."""
    out = []
    for frame in frames:
        height, width = frame.image.shape[:2]
        size = (width_px, round(height * width_px / width))
        grey = cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY)
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        out.append(AnalysisFrame(small, frame.pts, frame.time_base, frame.index, width_px / width))
    return out


def video_frames(images: list[np.ndarray]) -> list[VideoFrame]:
    return list(to_video_frames(images, fps=FPS))


def spec_for(n_frames: int) -> VideoSpec:
    return VideoSpec(
        width_px=WIDTH_PX,
        height_px=HEIGHT_PX,
        time_base=SYNTHETIC_TIME_BASE,
        average_rate=Fraction(30),
        frame_count=n_frames,
        duration_s=n_frames / FPS,
        variable_frame_rate=False,
    )


def stabilized(images: list[np.ndarray]) -> tuple[Stabilize, list[VideoFrame]]:
    """Stabilize(fill="none") over the clip: the stage and the frames it yields (views
    attached), for a FillBorders or a Mosaic to take."""
    stage = Stabilize(fill="none")
    frames = video_frames(images)
    spec = spec_for(len(frames))
    stage.analyze(iter(analysis_frames(frames, WIDTH_PX)), spec)
    stage.configure(spec)
    out = [o for f in frames for o in stage.process(f)]
    return stage, out + list(stage.flush())


def run_stabilize(stage: Stabilize, images: list[np.ndarray]) -> list[np.ndarray]:
    """What the runner does: analyse (never enlarging), configure, process, flush."""
    frames = video_frames(images)
    spec = spec_for(len(frames))
    if stage.needs_analysis:
        width_px = min(stage.analysis_width_px, WIDTH_PX)
        stage.analyze(iter(analysis_frames(frames, width_px)), spec)
    assert stage.configure(spec) == spec
    out = [o for f in frames for o in stage.process(f)]
    out += list(stage.flush())
    assert [o.pts for o in out] == [f.pts for f in frames]
    return [o.image for o in out]
