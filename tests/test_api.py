"""End-to-end runs of the public API on real files with awkward properties."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

import mmpipe
from mmpipe.vision.synthetic import render_shaken, shake_path, textured_image
from tests.clips import decoded_rgb, frame_times, write_clip


def shaky_images(n: int, width: int, height: int, seed: int = 5) -> list[np.ndarray]:
    path = shake_path(n, fps=30.0, kind="walking", amplitude_px=6.0, seed=seed)
    source = textured_image(height * 2, width * 2, kind="scene", seed=seed)
    return list(render_shaken(source, path.camera, out_size=(width, height)))


def mean_step(frames: list[np.ndarray]) -> float:
    """Mean absolute grey change between consecutive frames: lower is steadier."""
    grey = np.stack([f.mean(axis=2) for f in frames])
    return float(np.abs(np.diff(grey, axis=0)).mean())


def test_stabilize_a_rotated_variable_frame_rate_clip(tmp_path: Path) -> None:
    images = shaky_images(60, 192, 108)
    pts = np.cumsum([0] + [1001 if i % 7 else 2002 for i in range(59)]).tolist()
    src = write_clip(
        tmp_path / "portrait.mp4",
        images=images,
        pts=pts,
        time_base=Fraction(1, 30_000),
        rotation_deg=90,
        preset="veryfast",
    )
    out = tmp_path / "steady.mp4"
    report = mmpipe.stabilize(src, out, encode=mmpipe.EncodeSettings(crf=12, preset="veryfast"))
    assert report.frames_out == 60
    info = mmpipe.probe(out)
    assert (info.video.width_px, info.video.height_px) == (108, 192)
    assert info.video.variable_frame_rate
    assert frame_times(out) == frame_times(src) or np.allclose(frame_times(out), frame_times(src))
    steady, shaky = decoded_rgb(out), [np.rot90(i) for i in images]
    assert mean_step(steady) < 0.7 * mean_step(shaky)


def test_enhance_keeps_a_static_clip_still_and_black_frames_black(tmp_path: Path) -> None:
    still = textured_image(108, 192, kind="scene", seed=1)
    images = [still] * 20 + [np.zeros_like(still)] * 25 + [still] * 20
    src = write_clip(tmp_path / "static.mp4", images=images, preset="veryfast")
    out = tmp_path / "out.mp4"
    mmpipe.enhance(src, out, encode=mmpipe.EncodeSettings(crf=12, preset="veryfast"))
    frames = decoded_rgb(out)
    assert len(frames) == 65
    assert max(float(f.mean()) for f in frames[22:43]) < 3
    before = decoded_rgb(src)
    assert np.abs(frames[5].astype(int) - before[5].astype(int)).mean() < 4
