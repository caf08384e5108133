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


def best_moving_average_jitter_px(path, raw) -> float:
    """The baseline at its best radius for this clip (0.5 s, 1 s or 1.5 s)."""
    return min(output_jitter_px(path, moving_average(raw, r)) for r in (15, 30, 45))


@pytest.mark.parametrize("kind", PRESETS)
@pytest.mark.parametrize(("n_frames", "share"), [(240, 0.25), (90, 0.3)])
def test_l1_beats_the_best_moving_average_also_on_short_clips(kind, n_frames, share):
    path = shake_path(n_frames, fps=FPS, kind=kind, seed=21)
    raw = measured_path(path.camera)
    l1 = output_jitter_px(path, smooth(raw, preset=kind))
    assert l1 < share * best_moving_average_jitter_px(path, raw)


def test_an_eased_pan_without_shake_is_kept_as_it_is():
    t = np.linspace(0.0, 1.0, 120)
    raw = np.zeros((120, 4))
    raw[:, 0] = 400.0 * t * t * (3 - 2 * t)  # start, glide, stop: a cubic
    raw[:, 1] = -0.05 * raw[:, 0]
    for n_frames in (120, 60):
        smoothed = smooth(raw[:n_frames], preset="pan")
        assert np.abs(smoothed[:, :2] - raw[:n_frames, :2]).max() < 0.5  # of 400 px


def test_variable_frame_rate_is_smoothed_over_time_not_frames():
    """Bursts at 60 fps and 20 fps: a path smoothed per frame index is squeezed in time."""
    dense = shake_path(480, fps=60.0, kind="walking", seed=1)
    steps = np.where(np.arange(200) // 20 % 2 == 0, 1, 3)
    index = np.concatenate([[0], np.cumsum(steps)])
    index = index[index < 480]
    times_s = index / 60.0
    raw_dense = measured_path(dense.camera)
    raw = raw_dense[index]
    dense_times_s = np.arange(index[-1] + 1) / 60.0

    def jitter(smoothed: np.ndarray) -> float:
        at_60 = np.stack([np.interp(dense_times_s, times_s, c) for c in smoothed.T], axis=1)
        n = len(dense_times_s)
        correction = corrections(raw_dense[:n], at_60, width_px=WIDTH_PX, height_px=HEIGHT_PX)
        outputs = to_matrix(correction, CENTER) @ to_matrix(dense.camera[:n], CENTER)
        return path_jitter_px(
            outputs, dense.intentional[:n], width_px=WIDTH_PX, height_px=HEIGHT_PX, fps=60.0
        )

    options = {"width_px": WIDTH_PX, "height_px": HEIGHT_PX, "fps": 30.0, "preset": "walking"}
    by_time = jitter(smooth_path(raw, times_s=times_s, **options))
    by_index = jitter(smooth_path(raw, **options))
    assert by_time < 0.15 and by_time < 0.1 * by_index
    # Evenly spaced or non-increasing times change nothing.
    even = smooth_path(raw[:60], times_s=np.arange(60) / 30.0, **options)
    np.testing.assert_allclose(even, smooth_path(raw[:60], **options))
    stuck = smooth_path(raw[:60], times_s=np.zeros(60), **options)
    np.testing.assert_allclose(stuck, smooth_path(raw[:60], **options))
    with pytest.raises(ConfigError, match="times_s"):
        smooth_path(raw, times_s=times_s[:-1], **options)
