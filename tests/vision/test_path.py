"""Camera-path smoothing: shake removed, intent followed, corrections inside the crop."""

import numpy as np
import pytest

from mmpipe.errors import ConfigError
from mmpipe.metrics.stability import path_jitter_px
from mmpipe.vision.path import PRESETS, corrections, smooth_path
from mmpipe.vision.synthetic import shake_path
from mmpipe.vision.transforms import frame_center, from_matrix, to_matrix
from mmpipe.vision.warp import crop_zoom

WIDTH_PX, HEIGHT_PX, FPS = 1280, 720, 30.0
CENTER = frame_center(WIDTH_PX, HEIGHT_PX)


def measured_path(camera: np.ndarray) -> np.ndarray:
    """What pass 1 reports: the camera relative to the first frame."""
    matrices = to_matrix(camera, CENTER)
    return from_matrix(matrices @ np.linalg.inv(matrices[0]), CENTER)


def output_jitter_px(path, smooth) -> float:
    correction = to_matrix(
        corrections(measured_path(path.camera), smooth, width_px=WIDTH_PX, height_px=HEIGHT_PX),
        CENTER,
    )
    camera = to_matrix(path.camera, CENTER)
    return path_jitter_px(
        correction @ camera, path.intentional, width_px=WIDTH_PX, height_px=HEIGHT_PX, fps=FPS
    )


def moving_average(path: np.ndarray, radius_frames: int = 15) -> np.ndarray:
    """The classic baseline: a box filter over the cumulative path."""
    padded = np.concatenate(
        [np.repeat(path[:1], radius_frames, 0), path, np.repeat(path[-1:], radius_frames, 0)]
    )
    kernel = np.ones(2 * radius_frames + 1) / (2 * radius_frames + 1)
    return np.stack([np.convolve(padded[:, j], kernel, "valid") for j in range(4)], axis=1)


def smooth(raw, **options):
    return smooth_path(raw, width_px=WIDTH_PX, height_px=HEIGHT_PX, fps=FPS, **options)


@pytest.mark.parametrize("kind", PRESETS)
def test_l1_path_removes_shake_better_than_a_moving_average(kind):
    path = shake_path(240, fps=FPS, kind=kind, seed=11)
    raw = measured_path(path.camera)
    shaky = output_jitter_px(path, raw)
    l1 = output_jitter_px(path, smooth(raw, preset=kind))
    gaussian = output_jitter_px(path, smooth(raw, preset=kind, method="gaussian"))
    baseline = output_jitter_px(path, moving_average(raw))
    assert l1 < 0.1 * shaky
    assert l1 < 0.5 * baseline
    assert gaussian < 0.2 * shaky


@pytest.mark.parametrize("method", ["l1", "gaussian"])
def test_corrections_stay_inside_the_preset_margin(method):
    path = shake_path(200, fps=FPS, kind="vehicle", amplitude_px=25, seed=2)
    raw = measured_path(path.camera)
    correction = corrections(
        raw, smooth(raw, method=method), width_px=WIDTH_PX, height_px=HEIGHT_PX
    )
    zoom = crop_zoom(correction, width_px=WIDTH_PX, height_px=HEIGHT_PX)
    margin = PRESETS["walking"].margin_frac
    assert 1.0 < zoom <= 1.02 / (1 - 2 * margin)


def test_pan_is_followed_and_strength_zero_changes_nothing():
    path = shake_path(240, fps=FPS, kind="pan", seed=3)
    raw = measured_path(path.camera)
    smoothed = smooth(raw, preset="pan")
    assert abs(smoothed[-1, 0] - raw[-1, 0]) < 0.1 * abs(raw[-1, 0])
    np.testing.assert_array_equal(smooth(raw, strength=0.0), raw)
    still = np.zeros((50, 4))
    np.testing.assert_allclose(smooth(still), still, atol=1e-6)


def test_long_clips_are_solved_in_windows_without_seams():
    path = shake_path(700, fps=FPS, kind="walking", seed=4)
    raw = measured_path(path.camera)
    windowed = smooth(raw, window_frames=200, overlap_frames=40)
    whole = smooth(raw, window_frames=1000)
    acceleration = np.abs(np.diff(windowed[:, :2], 2, axis=0)).max()
    assert acceleration < 0.5  # px per frame^2: no jump where windows meet
    assert np.abs(windowed[:, :2] - whole[:, :2]).max() < 0.2 * np.abs(raw[:, :2]).max()


def test_segments_are_smoothed_apart_and_bad_options_are_refused():
    first = measured_path(shake_path(60, kind="tripod", seed=1).camera)
    second = measured_path(shake_path(60, kind="tripod", seed=2).camera) + np.array([200, 0, 0, 0])
    raw = np.concatenate([first, second])
    smoothed = smooth(raw, preset="tripod", segment_starts=[60])
    assert np.abs(smoothed[:60, 0]).max() < 20 and np.abs(smoothed[60:, 0] - 200).max() < 20
    with pytest.raises(ConfigError, match="preset"):
        smooth(raw, preset="jogging")
    with pytest.raises(ConfigError, match="strength"):
        smooth(raw, strength=1.5)
