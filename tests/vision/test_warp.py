"""Warps and the crop that hides borders."""

import numpy as np

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
