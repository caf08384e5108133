"""The Stabilize stage end to end on generated clips with known shake."""

import numpy as np
import pytest

from mmpipe.errors import ConfigError
from mmpipe.metrics.stability import frame_jitter_px, path_jitter_px
from mmpipe.pipeline.stage import TwoPassVideoStage
from mmpipe.stages.stabilize import Stabilize
from mmpipe.vision.motion import MotionEstimator, MotionOptions
from mmpipe.vision.synthetic import render_shaken, textured_image
from mmpipe.vision.transforms import accumulate, frame_center, to_matrix
from mmpipe.vision.warp import warp_frame, warp_matrices
from tests.vision.helpers import (
    FPS,
    HEIGHT_PX,
    WIDTH_PX,
    analysis_frames,
    run_stabilize,
    shaken_clip,
    spec_for,
    video_frames,
)

CENTER = frame_center(WIDTH_PX, HEIGHT_PX)


def output_jitter_px(stage: Stabilize, path) -> float:
    warps = np.concatenate(
        [stage.warp_matrices, np.tile([[[0, 0, 1.0]]], (path.n_frames, 1, 1))], 1
    )
    camera = to_matrix(path.camera, CENTER)
    return path_jitter_px(
        warps @ camera, path.intentional, width_px=WIDTH_PX, height_px=HEIGHT_PX, fps=FPS
    )


def moving_average_jitter_px(images, path, radius_frames: int = 15) -> float:
    """Baseline: corner tracking + RANSAC similarity + moving average of the path."""
    estimator = MotionEstimator(WIDTH_PX, HEIGHT_PX, MotionOptions(grid_cells=1))
    for frame in analysis_frames(video_frames(images), WIDTH_PX):
        estimator.add(frame)
    raw = accumulate(estimator.finish().motions, CENTER)
    padded = np.concatenate(
        [np.repeat(raw[:1], radius_frames, 0), raw, np.repeat(raw[-1:], radius_frames, 0)]
    )
    kernel = np.ones(2 * radius_frames + 1) / (2 * radius_frames + 1)
    smooth = np.stack([np.convolve(padded[:, j], kernel, "valid") for j in range(4)], axis=1)
    correction = to_matrix(smooth, CENTER) @ np.linalg.inv(to_matrix(raw, CENTER))
    camera = to_matrix(path.camera, CENTER)
    return path_jitter_px(
        correction @ camera, path.intentional, width_px=WIDTH_PX, height_px=HEIGHT_PX, fps=FPS
    )


def test_it_is_a_two_pass_stage_without_latency():
    stage = Stabilize()
    assert isinstance(stage, TwoPassVideoStage)
    assert stage.latency == 0 and stage.analysis_width_px == 640 and stage.needs_analysis
    with pytest.raises(ConfigError, match="strength"):
        Stabilize(strength=2.0)
    with pytest.raises(ConfigError, match="unknown Stabilize options"):
        Stabilize(smoothing=10)
    with pytest.raises(ConfigError, match="motion plan"):
        Stabilize().configure(spec_for(3))


@pytest.mark.parametrize(
    ("kind", "texture", "moving_object", "baseline_share"),
    [
        ("walking", "scene", True, 0.5),
        ("vehicle", "wood", False, 0.5),
        ("pan", "scene", False, 0.25),  # the eased pan is followed, not cut into pieces
        ("tripod", "scene", False, 0.25),  # key frames: measurement noise does not pile up
        ("walking", "sky", False, 0.5),  # faint texture: roll is measured too
        # On a near-uniform sky the motion itself is measured by a whole-frame shift
        # (~0.1 px noise per frame) for both; that noise, not the smoothing, is the limit.
        ("tripod", "sky", False, 1.0),
    ],
)
def test_shake_is_removed_better_than_a_moving_average(
    kind, texture, moving_object, baseline_share
):
    path, _, images = shaken_clip(
        kind, n_frames=150, texture=texture, moving_object=moving_object, seed=2
    )
    stage = Stabilize(preset=kind)
    run_stabilize(stage, images)
    camera = to_matrix(path.camera, CENTER)
    input_jitter = path_jitter_px(
        camera, path.intentional, width_px=WIDTH_PX, height_px=HEIGHT_PX, fps=FPS
    )
    jitter = output_jitter_px(stage, path)
    assert jitter < 0.15 * input_jitter
    assert jitter < baseline_share * moving_average_jitter_px(images, path)


def test_the_pictures_are_steady_and_crop_hides_the_borders():
    path, source, images = shaken_clip("walking", n_frames=60, seed=3)
    ideal = list(render_shaken(source, path.intentional, out_size=(WIDTH_PX, HEIGHT_PX)))
    cropped = run_stabilize(Stabilize(fill="crop"), images)
    assert frame_jitter_px(cropped, ideal, fps=FPS) < 0.25 * frame_jitter_px(images, ideal, fps=FPS)
    assert min(f[[0, -1]][:, [0, -1]].max(axis=-1).min() for f in cropped) > 0  # no black corner
    uncropped_stage = Stabilize(fill="none")
    uncropped = run_stabilize(uncropped_stage, images)
    assert uncropped_stage.zoom == 1.0
    assert any(f[[0, -1]][:, [0, -1]].max(axis=-1).min() == 0 for f in uncropped)


def test_a_saved_plan_skips_analysis_and_renders_the_same(tmp_path):
    _, _, images = shaken_clip("pan", n_frames=30, seed=4)
    first = Stabilize(preset="pan")
    out = run_stabilize(first, images)
    first.save_plan(tmp_path / "plan.json")
    again = Stabilize(preset="pan", plan=str(tmp_path / "plan.json"))
    assert not again.needs_analysis
    np.testing.assert_array_equal(run_stabilize(again, images)[-1], out[-1])
    other = Stabilize(plan=str(tmp_path / "plan.json"))
    other.configure(spec_for(30))
    with pytest.raises(ConfigError, match="another clip"):
        list(other.process(video_frames(images + images)[30]))


def test_static_clip_is_left_alone():
    image = textured_image(HEIGHT_PX, WIDTH_PX, seed=5)
    stage = Stabilize()
    out = run_stabilize(stage, [image] * 20)
    assert stage.zoom == 1.0
    assert all(np.array_equal(o, image) for o in out)


def test_black_clip_does_not_crash_or_move():
    black = [np.zeros((HEIGHT_PX, WIDTH_PX, 3), np.uint8)] * 25
    stage = Stabilize()
    out = run_stabilize(stage, black)
    assert np.isfinite(stage.warp_matrices).all() and stage.zoom == 1.0
    assert all(o.max() == 0 for o in out)


@pytest.mark.parametrize("texture", ["scene", "sky"])
def test_scene_cut_and_black_gap_make_no_jump(texture):
    _, _, first = shaken_clip("walking", n_frames=40, texture=texture, seed=6)
    _, _, second = shaken_clip("walking", n_frames=40, texture="scene", seed=7)
    black = [np.zeros_like(first[0])] * 25
    stage = Stabilize()
    run_stabilize(stage, [*first, *black, *second])
    # Corrections stay within the crop margin everywhere, including at the cut.
    shifts = np.linalg.norm(stage.warp_matrices[:, :, 2] - stage.warp_matrices[0, :, 2], axis=1)
    assert np.isfinite(stage.warp_matrices).all()
    assert 1.0 <= stage.zoom < 1.25
    assert shifts.max() < 0.2 * WIDTH_PX


def test_strength_zero_changes_nothing():
    _, _, images = shaken_clip("walking", n_frames=20, seed=8)
    stage = Stabilize(strength=0.0)
    out = run_stabilize(stage, images)
    identity = warp_matrices(np.zeros((1, 4)), width_px=WIDTH_PX, height_px=HEIGHT_PX)[0]
    np.testing.assert_allclose(stage.warp_matrices, np.tile(identity, (20, 1, 1)), atol=1e-9)
    np.testing.assert_array_equal(out[5], warp_frame(images[5], identity))
