"""Full-frame fill: the borders a stabilizing warp leaves are filled from neighbouring frames.

Synthetic clips are views of a larger image, so what lies beyond each frame's border is
known: the output of frame ``i`` should show the source through ``B_i M_i`` (its warp
after the view that made it).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mmpipe.stages.stabilize import Stabilize
from mmpipe.vision.transforms import frame_center, to_matrix
from mmpipe.vision.warp import warp_frame
from tests.vision.helpers import HEIGHT_PX, WIDTH_PX, run_stabilize, shaken_clip


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(error, 1e-12)))


@pytest.mark.parametrize("moving_object", [False, True])
def test_mosaic_fills_the_borders_with_what_the_camera_saw(moving_object: bool) -> None:
    path, source, images = shaken_clip(
        n_frames=45, amplitude_px=6.0, seed=4, moving_object=moving_object
    )
    stage = Stabilize(fill="mosaic")
    filled = run_stabilize(stage, images)
    assert stage.zoom == 1.0
    src_h, src_w = source.shape[:2]
    offset = np.array([(src_w - WIDTH_PX) / 2.0, (src_h - HEIGHT_PX) / 2.0])
    to_reference = np.array([[1.0, 0, -offset[0]], [0, 1.0, -offset[1]], [0, 0, 1.0]])
    views = to_matrix(path.camera, frame_center(WIDTH_PX, HEIGHT_PX)) @ to_reference
    ones = np.full((HEIGHT_PX, WIDTH_PX), 255, np.uint8)
    hole_pixels, scores = 0, {"mosaic": [], "edge": [], "telea": []}
    for i in range(5, len(images) - 5):
        warp = np.vstack([stage.warp_matrices[i], [0, 0, 1]])
        truth = cv2.warpAffine(source, (warp @ views[i])[:2], (WIDTH_PX, HEIGHT_PX))
        hole = cv2.warpAffine(ones, warp[:2], (WIDTH_PX, HEIGHT_PX)) < 255
        if hole.sum() < 50:
            continue
        hole_pixels += int(hole.sum())
        black = warp_frame(images[i], warp[:2])
        edge = warp_frame(images[i], warp[:2], replicate_edges=True)
        telea = cv2.inpaint(black, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
        for name, image in (("mosaic", filled[i]), ("edge", edge), ("telea", telea)):
            scores[name].append(_psnr(image[hole], truth[hole]))
    assert hole_pixels > 10_000, "the clip must leave borders to fill"
    mosaic, edge, telea = (float(np.mean(scores[k])) for k in ("mosaic", "edge", "telea"))
    assert mosaic >= max(edge, telea) + 5.0, (mosaic, edge, telea)


def test_mosaic_does_not_borrow_across_a_scene_cut() -> None:
    _, _, first = shaken_clip(n_frames=20, amplitude_px=6.0, seed=5)
    _, _, second = shaken_clip(n_frames=20, amplitude_px=6.0, seed=6, texture="wood")
    stage = Stabilize(fill="mosaic")
    filled = run_stabilize(stage, first + second)
    assert 20 in stage.plan.segment_starts()
    mosaic = stage._mosaic
    assert mosaic is not None
    assert not mosaic.trusted(19, 20) and not mosaic.trusted(25, 15)
    assert mosaic.trusted(21, 30) and mosaic.trusted(3, 12)
    assert len(filled) == 40
