"""The FillBorders stage after Stabilize(fill="none"), on generated shaken clips."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

import mmpipe
from mmpipe.errors import ConfigError
from mmpipe.media.frames import VideoFrame
from mmpipe.pipeline.stage import VideoStage
from mmpipe.stages.fill import FillBorders, stabilize_stages
from mmpipe.stages.interpolate import Interpolate
from mmpipe.stages.stabilize import Stabilize
from mmpipe.vision.mosaic import Mosaic
from mmpipe.vision.transforms import frame_center, to_matrix
from mmpipe.vision.warp import warp_frame
from tests.clips import decoded_rgb, frame_times, write_clip
from tests.vision.helpers import (
    HEIGHT_PX,
    WIDTH_PX,
    shaken_clip,
    spec_for,
    stabilized,
    video_frames,
)


def fill(frames: list[VideoFrame], stage: FillBorders | None = None) -> list[VideoFrame]:
    stage = stage or FillBorders()
    assert stage.configure(spec_for(len(frames))) == spec_for(len(frames))
    out: list[VideoFrame] = []
    for count, frame in enumerate(frames, start=1):
        out.extend(stage.process(frame))
        assert len(out) == max(0, count - stage.latency)
    return out + list(stage.flush())


@pytest.fixture(scope="module")
def clip() -> tuple:
    path, source, images = shaken_clip(n_frames=30, amplitude_px=6.0, seed=4)
    stage, frames = stabilized(images)
    return path, source, images, stage, frames, fill(frames)


def test_it_is_a_streaming_stage_whose_latency_is_its_window() -> None:
    stage = FillBorders(window_frames=5)
    assert isinstance(stage, VideoStage)
    assert stage.latency == 5 and stage.pixel_formats == ("yuv420p", "rgb24")
    assert FillBorders().config.method == "mosaic" and FillBorders().latency == 12
    assert Stabilize(fill="none").latency == 0


def test_every_frame_comes_once_in_order_filled_and_without_its_view(clip) -> None:
    _, _, images, stage, frames, out = clip
    assert all(f.stabilized is not None for f in frames)
    assert [f.index for f in out] == list(range(len(images)))
    assert [f.pts for f in out] == [f.pts for f in frames]
    assert all(f.stabilized is None for f in out)
    ones = np.full((HEIGHT_PX, WIDTH_PX), 255, np.uint8)
    holes = 0
    for frame, warp in zip(out, stage.warp_matrices, strict=True):
        hole = cv2.warpAffine(ones, warp, (WIDTH_PX, HEIGHT_PX)) < 255
        holes += int(hole.sum())
        assert not np.any(np.all(frame.image[hole] == 0, axis=-1)), "a black pixel is left"
    assert holes > 10_000, "the clip must leave borders to fill"


def test_the_borders_show_what_the_camera_saw_and_the_rest_is_stabilize_s(clip) -> None:
    path, source, images, stage, frames, out = clip
    src_h, src_w = source.shape[:2]
    offset = [(src_w - WIDTH_PX) / 2.0, (src_h - HEIGHT_PX) / 2.0]
    to_reference = np.array([[1.0, 0, -offset[0]], [0, 1.0, -offset[1]], [0, 0, 1.0]])
    views = to_matrix(path.camera, frame_center(WIDTH_PX, HEIGHT_PX)) @ to_reference
    ones = np.full((HEIGHT_PX, WIDTH_PX), 255, np.uint8)
    filled_error, edge_error = [], []
    for i in range(4, len(images) - 4):
        warp = np.vstack([stage.warp_matrices[i], [0, 0, 1]])
        hole = cv2.warpAffine(ones, warp[:2], (WIDTH_PX, HEIGHT_PX)) < 255
        # far from the hole the frame is Stabilize's own picture, warped once, untouched
        inside = cv2.erode((~hole).astype(np.uint8), np.ones((31, 31), np.uint8)) > 0
        assert np.array_equal(out[i].image[inside], frames[i].image[inside])
        if hole.sum() < 50:
            continue
        truth = cv2.warpAffine(source, (warp @ views[i])[:2], (WIDTH_PX, HEIGHT_PX))[hole]
        edge = warp_frame(images[i], warp[:2], replicate_edges=True)[hole]
        filled_error.append(np.abs(out[i].image[hole].astype(float) - truth).mean())
        edge_error.append(np.abs(edge.astype(float) - truth).mean())
    assert len(filled_error) >= 10
    assert np.mean(filled_error) < 0.4 * np.mean(edge_error), (filled_error, edge_error)


def test_filling_stabilize_s_frames_equals_warping_the_decoded_pictures_here(clip) -> None:
    """The frame is not warped twice: compositing onto Stabilize's picture gives exactly
    what the mosaic gives when it warps the decoded picture itself."""
    _, _, _, _, frames, out = clip
    views = {f.index: f.stabilized for f in frames}

    def mosaic() -> Mosaic:  # a fresh one each time: DIS flow depends on its earlier calls
        return Mosaic(width_px=WIDTH_PX, height_px=HEIGHT_PX, pixel_format="rgb24", full_range=True)

    assert np.array_equal(out[0].image, mosaic().render(0, views))
    for i in (0, 7, 15, 29):
        here = mosaic().render(i, views)
        assert np.array_equal(mosaic().render(i, views, frames[i].image), here)


def test_the_window_stays_bounded() -> None:
    _, _, images = shaken_clip(n_frames=24, amplitude_px=6.0, seed=2)
    _, frames = stabilized(images)
    stage = FillBorders(window_frames=3)
    stage.configure(spec_for(len(frames)))
    assert stage._mosaic is not None
    render, held = stage._mosaic.render, []

    def counting(i, views, warped):  # how many frames are held while one is rendered
        held.append((len(stage._frames), len(views)))
        return render(i, views, warped)

    stage._mosaic.render = counting
    out = [o for f in frames for o in stage.process(f)] + list(stage.flush())
    assert len(out) == len(held) == len(frames)
    assert max(held) == (2 * 3 + 1, 2 * 3 + 1)
    assert len(stage._frames) == 0


def test_a_frame_without_its_view_is_a_config_error() -> None:
    _, _, images = shaken_clip(n_frames=5, amplitude_px=6.0, seed=2)
    stage = FillBorders()
    stage.configure(spec_for(5))
    bare = video_frames(images)[0]
    with pytest.raises(ConfigError, match=r"directly after Stabilize\(fill='none'\)"):
        list(stage.process(bare))
    _, frames = stabilized(images)
    with pytest.raises(ConfigError, match="without its view"):
        list(stage.process(replace(frames[1], stabilized=None)))


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown FillBorders options"):
        FillBorders(windows=3)
    with pytest.raises(ConfigError, match="unknown FillBorders method"):
        FillBorders(method="diffuse")
    with pytest.raises(ConfigError, match="steps"):
        FillBorders(method="generate", steps=0)
    with pytest.raises(ConfigError, match="backend"):
        FillBorders(method="generate", backend="tflite")
    with pytest.raises(ConfigError, match="window_frames"):
        FillBorders(window_frames=0)
    assert FillBorders(mmpipe.FillBordersConfig(window_frames=4)).latency == 4


def test_stabilize_no_longer_fills_and_says_what_to_use() -> None:
    with pytest.raises(ConfigError, match=r"FillBorders\(\) after Stabilize\(fill='none'\)"):
        Stabilize(fill="mosaic")


def test_the_fill_option_becomes_stages() -> None:
    none, fill_stage = stabilize_stages(fill="mosaic", preset="pan")
    assert isinstance(none, Stabilize) and isinstance(fill_stage, FillBorders)
    assert none.config.fill == "none" and none.config.preset == "pan"
    assert [s.config.fill for s in stabilize_stages(fill="crop")] == ["crop"]
    assert [type(s) for s in stabilize_stages(fill="none")] == [Stabilize]
    with pytest.raises(ConfigError, match="unknown fill"):
        stabilize_stages(fill="diffuse")
    _, generate = stabilize_stages(fill="generate")
    assert generate.config.method == "generate"


@pytest.mark.parametrize(
    "video",
    [
        lambda: [FillBorders()],
        lambda: [Stabilize(fill="none"), Interpolate(fps=60), FillBorders()],
        lambda: [FillBorders(), Stabilize(fill="none")],
    ],
)
def test_a_pipeline_refuses_fill_borders_without_stabilize_right_before(video) -> None:
    with pytest.raises(ConfigError, match=r"put a Stabilize directly before it"):
        mmpipe.Pipeline(video=video())
    mmpipe.Pipeline(video=[Stabilize(fill="none"), FillBorders(), Interpolate(fps=60)])


def test_a_stabilize_before_fill_borders_renders_the_full_frame() -> None:
    """DESIGN.md's ``[Stabilize(), FillBorders()]``: the Stabilize stops cropping."""
    stabilize = Stabilize()
    assert stabilize.config.fill == "crop"
    mmpipe.Pipeline(video=[stabilize, FillBorders()])
    assert stabilize.config.fill == "none" and stabilize.yields_stabilized


@pytest.mark.parametrize("method", ["mosaic", "generate"])
def test_a_pipeline_fills_a_file_with_every_frame_in_place(tmp_path: Path, method: str) -> None:
    _, _, images = shaken_clip(n_frames=24, amplitude_px=6.0, seed=3)
    src = write_clip(tmp_path / "shaky.mp4", images=images, preset="veryfast")
    progress: list[mmpipe.Progress] = []
    report = mmpipe.stabilize(
        src,
        tmp_path / "full.mp4",
        fill=method,
        encode=mmpipe.EncodeSettings(crf=12, preset="veryfast"),
        on_progress=progress.append,
    )
    assert report.frames_in == report.frames_out == 24
    assert frame_times(tmp_path / "full.mp4") == pytest.approx(frame_times(src))
    render = [p for p in progress if p.phase == "render"]
    assert render[-1].frames_done == render[-1].frames_total == 24
    out = decoded_rgb(tmp_path / "full.mp4")
    edges = np.concatenate(
        [f[:3].reshape(-1, 3) for f in out] + [f[-3:].reshape(-1, 3) for f in out]
    )
    assert np.percentile(edges.max(axis=1), 1) > 20, "black borders were left"


def test_generate_changes_only_what_no_neighbour_saw(clip) -> None:
    """With one neighbour on each side, part of the border is seen by none: generate fills
    it (the shipped inpainter) where mosaic repeats the edge; the rest is mosaic's output."""
    _, _, _, stage, frames, _ = clip
    mosaic = fill(frames, FillBorders(window_frames=1))
    generated = fill(frames, FillBorders(method="generate", window_frames=1))
    ones = np.full((HEIGHT_PX, WIDTH_PX), 255, np.uint8)
    changed_total = 0
    for i, (m, g) in enumerate(zip(mosaic, generated, strict=True)):
        hole = cv2.warpAffine(ones, stage.warp_matrices[i], (WIDTH_PX, HEIGHT_PX)) < 255
        assert not np.any(np.all(g.image[hole] == 0, axis=-1)), "a black pixel is left"
        changed = np.abs(g.image.astype(int) - m.image).max(axis=2) > 0
        near_hole = cv2.dilate(hole.astype(np.uint8), np.ones((21, 21), np.uint8)) > 0
        assert not (changed & ~near_hole).any(), f"frame {i} changed away from its border"
        changed_total += int(changed.sum())
    assert changed_total > 1000, "the generator had nothing to do: the test needs a harder clip"


def test_the_generator_is_never_told_that_black_is_known(clip, monkeypatch) -> None:
    """What the frame does not reach, around a strip, is not picture: the generator must
    see it as unknown (it once took the black corners of neighbouring strips as known)."""
    import mmpipe.vision.generated_border as generated_border

    _, _, images, _, frames, _ = clip
    assert not any(np.all(image == 0, axis=-1).any() for image in images)
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    original = generated_border.BorderGenerator.fill

    def recording(self, planes, known, side):
        seen.append((planes[0].copy(), known.copy()))
        return original(self, planes, known, side)

    monkeypatch.setattr(generated_border.BorderGenerator, "fill", recording)
    fill(frames, FillBorders(method="generate", window_frames=1))
    assert len(seen) > 10
    for picture, known in seen:
        assert not np.all(picture[known] == 0, axis=-1).any()
        assert not known.all()


def test_faint_frames_keep_the_repeated_edge(clip) -> None:
    """On a frame too faint to register (a sky, a wall) generate repeats the edge, as the
    mosaic does: the output is the mosaic's, byte for byte."""
    _, _, _, _, frames, _ = clip
    faint = [replace(f, stabilized=replace(f.stabilized, faint=True)) for f in frames]
    mosaic = fill(faint, FillBorders(window_frames=1))
    generated = fill(faint, FillBorders(method="generate", window_frames=1))
    assert all(np.array_equal(m.image, g.image) for m, g in zip(mosaic, generated, strict=True))


def test_the_shipped_inpainter_beats_telea_where_it_fills(clip) -> None:
    """On the pixels generate changes (what one neighbour each side did not see), the
    shipped inpainter is closer to the truth than OpenCV's Telea on the same frames
    (measured: RMSE 12.3 against 13.9 levels; an earlier model trained on upright strips
    only scored 15.0 and fails this)."""
    path, source, _, stage, frames, _ = clip
    mosaic = fill(frames, FillBorders(window_frames=1))
    generated = fill(frames, FillBorders(method="generate", window_frames=1))
    src_h, src_w = source.shape[:2]
    offset = [(src_w - WIDTH_PX) / 2.0, (src_h - HEIGHT_PX) / 2.0]
    to_reference = np.array([[1.0, 0, -offset[0]], [0, 1.0, -offset[1]], [0, 0, 1.0]])
    views = to_matrix(path.camera, frame_center(WIDTH_PX, HEIGHT_PX)) @ to_reference
    ones = np.full((HEIGHT_PX, WIDTH_PX), 255, np.uint8)
    squared = {"generate": [], "telea": []}
    for i, (m, g) in enumerate(zip(mosaic, generated, strict=True)):
        changed = np.abs(g.image.astype(int) - m.image).max(axis=2) > 0
        if changed.sum() < 50:
            continue
        warp = np.vstack([stage.warp_matrices[i], [0, 0, 1]])
        hole = cv2.warpAffine(ones, warp[:2], (WIDTH_PX, HEIGHT_PX)) < 255
        truth = cv2.warpAffine(source, (warp @ views[i])[:2], (WIDTH_PX, HEIGHT_PX))[changed]
        telea = cv2.inpaint(frames[i].image, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
        for name, image in (("generate", g.image), ("telea", telea)):
            squared[name].append(np.mean((image[changed].astype(float) - truth) ** 2))
    assert len(squared["generate"]) >= 5
    rmse = {k: float(np.sqrt(np.mean(v))) for k, v in squared.items()}
    assert rmse["generate"] < 0.95 * rmse["telea"], rmse
