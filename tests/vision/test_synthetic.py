"""Synthetic shaky clips: known paths, deterministic, rendered without borders."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from mmpipe.vision.synthetic import (
    SHAKE_KINDS,
    render_shaken,
    required_margin_px,
    shake_path,
    textured_image,
    to_video_frames,
)


@pytest.mark.parametrize("kind", SHAKE_KINDS)
def test_path_is_deterministic_and_separable(kind):
    path = shake_path(150, fps=30, kind=kind, seed=7)
    again = shake_path(150, fps=30, kind=kind, seed=7)
    other = shake_path(150, fps=30, kind=kind, seed=8)
    np.testing.assert_array_equal(path.camera, again.camera)
    assert not np.allclose(path.camera, other.camera)
    np.testing.assert_allclose(path.camera, path.intentional + path.shake)
    # The shake is fast: a 1 s Gaussian keeps little of it; the intent is slow.
    shake_x = path.shake[:, 0]
    assert np.std(gaussian_filter1d(shake_x, 30)) < 0.3 * np.std(shake_x)
    intent_x = path.intentional[:, 0]
    assert np.abs(intent_x - gaussian_filter1d(intent_x, 3, mode="nearest")).max() < 0.5


def test_render_moves_content_as_the_path_says():
    source = textured_image(80, 120, seed=1)
    params = np.array([[0.0, 0, 0, 0], [5.0, 0, 0, 0], [0.0, -3, 0, 0]])
    frames = list(render_shaken(source, params, out_size=(100, 60)))
    reference = source[10:70, 10:110]
    np.testing.assert_array_equal(frames[0], reference)
    np.testing.assert_array_equal(frames[1][:, 5:], reference[:, :-5])  # content moved right
    np.testing.assert_array_equal(frames[2][:-3], reference[3:])  # content moved up


def test_render_refuses_a_source_without_enough_margin():
    path = shake_path(30, kind="walking", seed=0)
    margin_x, _ = required_margin_px(path.camera, (100, 60))
    assert margin_x > 1
    with pytest.raises(ValueError, match="too small"):
        list(render_shaken(textured_image(62, 102), path.camera, out_size=(100, 60)))


def test_textures_and_video_frames():
    scene, sky = textured_image(90, 160, seed=3), textured_image(90, 160, kind="sky", seed=3)
    assert scene.dtype == np.uint8 and scene.shape == (90, 160, 3)
    assert (
        np.abs(np.diff(scene.astype(int), axis=1)).mean()
        > 4 * np.abs(np.diff(sky.astype(int), axis=1)).mean()
    )
    frames = list(to_video_frames([scene, sky, scene], fps=25))
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.time_s for f in frames] == pytest.approx([0, 0.04, 0.08])
