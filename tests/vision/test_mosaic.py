"""Full-frame fill: the borders a stabilizing warp leaves are filled from neighbouring frames.

Synthetic clips are views of a larger image, so what lies beyond each frame's border is
known: the output of frame ``i`` should show the source through ``B_i M_i`` (its warp
after the view that made it). The fill runs as the product does: ``Stabilize(fill="none")``
then ``FillBorders``; :class:`Mosaic` is also driven directly with views built here.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mmpipe.media.frames import StabilizedView
from mmpipe.stages.fill import FillBorders
from mmpipe.stages.stabilize import Stabilize
from mmpipe.vision.mosaic import Mosaic, MosaicOptions, _strips, trust_epochs, trusted
from mmpipe.vision.transforms import frame_center, to_matrix
from mmpipe.vision.warp import warp_frame
from tests.vision.helpers import HEIGHT_PX, WIDTH_PX, shaken_clip, spec_for, stabilized


def _filled(images: list[np.ndarray]) -> tuple[Stabilize, list[np.ndarray]]:
    """The full-frame output (Stabilize(fill="none") then FillBorders) and the Stabilize."""
    stage, frames = stabilized(images)
    fill = FillBorders()
    fill.configure(spec_for(len(images)))
    out = [o for f in frames for o in fill.process(f)] + list(fill.flush())
    assert [o.pts for o in out] == [f.pts for f in frames]
    return stage, [o.image for o in out]


def _views(
    stage: Stabilize, images: dict[int, np.ndarray], raw: np.ndarray | None = None
) -> dict[int, StabilizedView]:
    """Views of ``images`` on the stage's paths (``raw`` instead of the measured path)."""
    center = frame_center(WIDTH_PX, HEIGHT_PX)
    to_output = to_matrix(stage.smooth_path, center)
    from_input = np.linalg.inv(to_matrix(stage.camera_path if raw is None else raw, center))
    epochs = trust_epochs(stage.plan.flags)
    return {
        j: StabilizedView(image, to_output[j], from_input[j], int(epochs[j]))
        for j, image in images.items()
    }


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(error, 1e-12)))


@pytest.mark.parametrize("moving_object", [False, True])
def test_mosaic_fills_the_borders_with_what_the_camera_saw(moving_object: bool) -> None:
    path, source, images = shaken_clip(
        n_frames=45, amplitude_px=6.0, seed=4, moving_object=moving_object
    )
    stage, filled = _filled(images)
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
    stage, frames = stabilized(first + second)
    assert 20 in stage.plan.segment_starts()
    views = [f.stabilized for f in frames]
    assert not trusted(views[19], views[20]) and not trusted(views[25], views[15])
    assert trusted(views[21], views[30]) and trusted(views[3], views[12])
    assert len(_filled(first + second)[1]) == 40


def test_mosaic_on_yuv_planes_matches_the_rgb_result() -> None:
    _, _, images = shaken_clip(n_frames=30, amplitude_px=6.0, seed=8)
    stage, rgb = _filled(images)
    planes = Mosaic(width_px=WIDTH_PX, height_px=HEIGHT_PX, pixel_format="yuv420p", full_range=True)
    yuv = {j: cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420) for j, image in enumerate(images)}
    views = _views(stage, yuv)
    for i in (5, 15, 25):
        back = cv2.cvtColor(planes.render(i, views), cv2.COLOR_YUV2RGB_I420)
        expected = cv2.cvtColor(
            cv2.cvtColor(rgb[i], cv2.COLOR_RGB2YUV_I420), cv2.COLOR_YUV2RGB_I420
        )
        assert np.abs(back.astype(int) - expected.astype(int)).mean() < 2.5  # chroma at half size


@pytest.mark.parametrize("seed", range(6))
def test_strips_hold_every_empty_pixel(seed: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = cv2.getRotationMatrix2D((79.5, 59.5), rng.uniform(-4, 4), rng.uniform(0.97, 1.02))
    matrix[:, 2] += rng.uniform(-9, 9, 2)
    empty = cv2.warpAffine(np.ones((120, 160), np.float32), matrix, (160, 120)) < 1.0
    boxes = _strips(matrix, (160, 120), feather_px=4.0)
    held = np.zeros_like(empty)
    for x0, y0, x1, y1 in boxes:
        assert all(c % 2 == 0 for c in (x0, y0, x1, y1))
        held[y0:y1, x0:x1] = True
    assert held[empty].all()
    assert held.mean() < 0.5  # thin strips, not the whole frame


def test_a_warp_that_covers_the_frame_needs_no_strips() -> None:
    zoom_in = cv2.getRotationMatrix2D((79.5, 59.5), 0.5, 1.05)
    assert _strips(zoom_in, (160, 120), feather_px=4.0) == []


def _hole_psnr_by_frame(
    raw: np.ndarray, refine: bool, stage: Stabilize, images: list, truth: dict
) -> float:
    mosaic = Mosaic(
        width_px=WIDTH_PX,
        height_px=HEIGHT_PX,
        pixel_format="rgb24",
        full_range=True,
        options=MosaicOptions(refine=refine),
    )
    frames = _views(stage, dict(enumerate(images)), raw)
    return float(
        np.mean([_psnr(mosaic.render(i, frames)[hole], want) for i, (hole, want) in truth.items()])
    )


def test_per_pixel_refinement_fixes_what_the_global_motion_misplaces() -> None:
    path, source, images = shaken_clip(n_frames=30, amplitude_px=6.0, seed=4)
    stage, _ = stabilized(images)
    src_h, src_w = source.shape[:2]
    offset = np.array([(src_w - WIDTH_PX) / 2.0, (src_h - HEIGHT_PX) / 2.0])
    to_reference = np.array([[1.0, 0, -offset[0]], [0, 1.0, -offset[1]], [0, 0, 1.0]])
    views = to_matrix(path.camera, frame_center(WIDTH_PX, HEIGHT_PX)) @ to_reference
    ones = np.full((HEIGHT_PX, WIDTH_PX), 255, np.uint8)
    truth = {}
    for i in range(6, 24, 2):
        warp = np.vstack([stage.warp_matrices[i], [0, 0, 1]])
        hole = cv2.warpAffine(ones, warp[:2], (WIDTH_PX, HEIGHT_PX)) < 255
        if hole.sum() >= 50:
            want = cv2.warpAffine(source, (warp @ views[i])[:2], (WIDTH_PX, HEIGHT_PX))
            truth[i] = (hole, want[hole])
    assert len(truth) >= 4
    exact = stage.camera_path
    # the motion of every odd frame measured 3 px off (as parallax does to a global model)
    wrong = exact.copy()
    wrong[1::2, 0] += 3.0
    wrong[1::2, 1] -= 2.0
    global_only = _hole_psnr_by_frame(wrong, False, stage, images, truth)
    refined = _hole_psnr_by_frame(wrong, True, stage, images, truth)
    assert refined >= global_only + 3.0, (refined, global_only)
    # where the global motion is right, the refinement costs nothing
    right = _hole_psnr_by_frame(exact, False, stage, images, truth)
    assert _hole_psnr_by_frame(exact, True, stage, images, truth) >= right - 0.5
