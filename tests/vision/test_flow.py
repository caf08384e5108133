"""Dense optical flow: sign convention, accuracy on a known shift, scale, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mmpipe.errors import ConfigError
from mmpipe.vision.flow import dense_flow
from mmpipe.vision.synthetic import textured_image


def shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` with its content moved by (dx, dy) px (sub-pixel, edges replicated)."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = image.shape[:2]
    return cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_flow_follows_the_content_in_full_resolution_pixels(scale: float) -> None:
    source = textured_image(180, 320, kind="scene", seed=5)
    target = shifted(source, 5.5, -3.25)
    flow = dense_flow(source, target, scale=scale)
    assert flow.shape == (180, 320, 2) and flow.dtype == np.float32
    inner = flow[30:-30, 40:-40].reshape(-1, 2)
    median = np.median(inner, axis=0)
    assert abs(median[0] - 5.5) < 0.3 and abs(median[1] + 3.25) < 0.3, median
    back = np.median(dense_flow(target, source, scale=scale)[30:-30, 40:-40].reshape(-1, 2), 0)
    assert abs(back[0] + 5.5) < 0.3 and abs(back[1] - 3.25) < 0.3, back


def test_flow_takes_grey_frames_and_is_deterministic() -> None:
    source = cv2.cvtColor(textured_image(120, 160, seed=2), cv2.COLOR_RGB2GRAY)
    target = shifted(source, -2.0, 1.0)
    first = dense_flow(source, target)
    assert np.array_equal(first, dense_flow(source, target))
    assert np.allclose(np.median(first[20:-20, 20:-20].reshape(-1, 2), 0), [-2.0, 1.0], atol=0.3)


@pytest.mark.parametrize(
    ("source", "target", "scale"),
    [
        (np.zeros((32, 32, 3), np.uint8), np.zeros((32, 40, 3), np.uint8), 0.5),
        (np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint8), 0.0),
        (np.zeros((32, 32, 3), np.float32), np.zeros((32, 32, 3), np.float32), 0.5),
        (np.zeros((32, 32, 4), np.uint8), np.zeros((32, 32, 4), np.uint8), 0.5),
    ],
)
def test_bad_inputs_are_config_errors(source, target, scale) -> None:
    with pytest.raises(ConfigError):
        dense_flow(source, target, scale=scale)


def test_flow_does_not_depend_on_the_thread_count() -> None:
    source = textured_image(180, 320, kind="scene", seed=4)
    target = shifted(source, 3.0, 2.0)
    default = dense_flow(source, target)
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        single = dense_flow(source, target)
    finally:
        cv2.setNumThreads(threads)
    assert np.array_equal(default, single)
