"""Warps and the crop that hides borders."""

import cv2
import numpy as np

from mmpipe.media.frames import yuv420p_planes
from mmpipe.vision.synthetic import textured_image
from mmpipe.vision.transforms import apply_points
from mmpipe.vision.warp import crop_zoom, warp_frame, warp_matrices


def test_crop_zoom_is_the_smallest_that_hides_borders():
    corrections = np.array([[6.0, -3.0, 0.01, 0.0], [-4.0, 2.0, -0.005, 0.01], [0, 0, 0, 0]])
    zoom = crop_zoom(corrections, width_px=320, height_px=180)
    corners = np.array([[0, 0], [319, 0], [0, 179], [319, 179]], dtype=float)
    worst_inside = np.inf
    for matrix in warp_matrices(corrections, width_px=320, height_px=180, zoom=zoom):
        seen = apply_points(np.linalg.inv(np.vstack([matrix, [0, 0, 1]])), corners)
        inside = np.minimum(seen, [319, 179] - seen).min()
        assert inside > -1e-6
        worst_inside = min(worst_inside, inside)
    assert worst_inside < 1e-6  # one corner touches the edge: no smaller zoom would do


def test_identity_keeps_the_frame_and_a_shift_leaves_a_black_border():
    image = textured_image(60, 80, seed=1)
    assert crop_zoom(np.zeros((3, 4)), width_px=80, height_px=60) == 1.0
    identity = warp_matrices(np.zeros((1, 4)), width_px=80, height_px=60)[0]
    np.testing.assert_array_equal(warp_frame(image, identity), image)
    shifted = warp_frame(
        image, warp_matrices(np.array([[4.0, 0, 0, 0]]), width_px=80, height_px=60)[0]
    )
    assert shifted[:, :4].max() == 0
    np.testing.assert_array_equal(shifted[:, 4:], image[:, :-4])


def test_yuv420p_planes_move_each_at_their_own_resolution():
    image = textured_image(60, 80, seed=1)
    packed = cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420)
    shift = warp_matrices(np.array([[4.0, 2.0, 0, 0]]), width_px=80, height_px=60)[0]
    for full_range, black in ((False, 16), (True, 0)):
        warped = warp_frame(packed, shift, pixel_format="yuv420p", full_range=full_range)
        assert warped.shape == packed.shape
        (y0, u0, v0), (y1, u1, v1) = yuv420p_planes(packed), yuv420p_planes(warped)
        np.testing.assert_array_equal(y1[2:, 4:], y0[:-2, :-4])
        np.testing.assert_array_equal(u1[1:, 2:], u0[:-1, :-2])
        np.testing.assert_array_equal(v1[1:, 2:], v0[:-1, :-2])
        assert (y1[:, :4] == black).all() and (u1[:, :2] == 128).all() and (v1[:1] == 128).all()


def test_yuv420p_warp_agrees_with_the_rgb_warp():
    image = textured_image(120, 160, seed=2)
    matrix = warp_matrices(np.array([[5.3, -2.7, 0.02, 0.03]]), width_px=160, height_px=120)[0]
    expected = yuv420p_planes(cv2.cvtColor(warp_frame(image, matrix), cv2.COLOR_RGB2YUV_I420))
    packed = cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420)
    got = yuv420p_planes(warp_frame(packed, matrix, pixel_format="yuv420p"))
    inside = (slice(10, -10), slice(10, -10))
    errors = [
        np.abs(a[inside].astype(int) - b[inside].astype(int)).mean()
        for a, b in zip(expected, got, strict=True)
    ]
    assert errors[0] < 0.5 and max(errors[1:]) < 2.5
