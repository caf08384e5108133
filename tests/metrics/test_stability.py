"""Stability metrics on sanity cases: a static clip, the shaky input, the ideal output."""

import numpy as np
import pytest

from mmpipe.metrics.stability import (
    cropping_and_distortion,
    frame_jitter_px,
    path_jitter_px,
    residual_jitter_px,
    stability_score,
)
from mmpipe.vision.synthetic import render_shaken, textured_image
from mmpipe.vision.transforms import frame_center, to_matrix
from mmpipe.vision.warp import warp_frame, warp_matrices
from tests.vision.helpers import FPS, HEIGHT_PX, WIDTH_PX, shaken_clip


@pytest.fixture(scope="module")
def clip():
    path, source, frames = shaken_clip("vehicle", n_frames=48, amplitude_px=3.0, seed=3)
    ideal = list(render_shaken(source, path.intentional, out_size=(WIDTH_PX, HEIGHT_PX)))
    return path, frames, ideal


def test_static_clip_is_perfectly_stable_and_uncropped():
    frames = [textured_image(HEIGHT_PX, WIDTH_PX, seed=2)] * 12
    score = stability_score(frames)
    assert score.translation == score.rotation == score.score == 1.0
    cropping, distortion = cropping_and_distortion(frames, frames)
    assert cropping == pytest.approx(1.0, abs=1e-3)
    assert distortion == pytest.approx(1.0, abs=1e-3)


def test_ideal_clip_is_steadier_than_the_shaky_input(clip):
    _, shaky, ideal = clip
    shaky_score, ideal_score = stability_score(shaky), stability_score(ideal)
    assert ideal_score.score > 0.85
    assert shaky_score.score < ideal_score.score - 0.1


def test_cropping_ratio_and_distortion_see_a_zoom_and_a_stretch(clip):
    _, shaky, _ = clip
    zoom = warp_matrices(np.zeros((1, 4)), width_px=WIDTH_PX, height_px=HEIGHT_PX, zoom=1.25)[0]
    zoomed = [warp_frame(f, zoom) for f in shaky[:6]]
    cropping, distortion = cropping_and_distortion(shaky[:6], zoomed)
    assert cropping == pytest.approx(0.8, abs=0.01)
    assert distortion == pytest.approx(1.0, abs=0.01)
    stretch = np.array([[1.2, 0, -0.1 * WIDTH_PX], [0, 1.0, 0]])
    _, stretched = cropping_and_distortion(shaky[:6], [warp_frame(f, stretch) for f in shaky[:6]])
    assert stretched == pytest.approx(1 / 1.2, abs=0.02)


def test_residual_jitter_is_zero_for_the_ideal_and_the_shake_for_the_input(clip):
    path, shaky, ideal = clip
    center = frame_center(WIDTH_PX, HEIGHT_PX)
    exact = path_jitter_px(
        to_matrix(path.camera, center),
        path.intentional,
        width_px=WIDTH_PX,
        height_px=HEIGHT_PX,
        fps=FPS,
    )
    assert 2.0 < exact < 10.0
    assert frame_jitter_px(shaky, ideal, fps=FPS) == pytest.approx(exact, rel=0.05)
    assert frame_jitter_px(ideal, ideal, fps=FPS) < 0.05
    # A constant offset or a slow drift is not jitter; a 5 Hz wobble of 2 px is.
    t_s = np.arange(60) / FPS
    drift = np.array([to_matrix([3 + 2 * s, 1, 0, 0.01], center) for s in t_s])
    wobble = np.array([to_matrix([2 * np.sin(2 * np.pi * 5 * s), 0, 0, 0], center) for s in t_s])
    size = {"width_px": WIDTH_PX, "height_px": HEIGHT_PX, "fps": FPS}
    assert residual_jitter_px(drift, **size) < 0.05
    assert residual_jitter_px(wobble, **size) == pytest.approx(2 / np.sqrt(2), rel=0.1)
