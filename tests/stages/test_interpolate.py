"""The Interpolate stage: in-between frames, cuts held, duplicates retimed, files in sync."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

import mmpipe
from mmpipe.errors import ConfigError
from mmpipe.media.frames import VideoFrame
from mmpipe.pipeline.stage import VideoSpec
from mmpipe.stages.interpolate import Interpolate, output_time_base
from mmpipe.vision.synthetic import textured_image
from tests.clips import frame_times, write_clip

W, H = 192, 112
SPEED_PX_S = 120.0  # background pan
SQUARE_PX_S = 300.0  # a square crossing it, faster


def render(time_s: float, *, seed: int = 1, square: bool = True) -> np.ndarray:
    """The scene at ``time_s``: a textured background panning left, a square moving right."""
    background = textured_image(H, W + 200, kind="scene", seed=seed)
    shift = np.float32([[1, 0, -SPEED_PX_S * time_s], [0, 1, 0]])
    image = cv2.warpAffine(background, shift, (W, H), flags=cv2.INTER_CUBIC)
    if square:
        patch = textured_image(32, 32, kind="scene", seed=seed + 50)[..., ::-1]
        left = round(20 + SQUARE_PX_S * time_s)
        if left + 32 <= W:
            image[40:72, left : left + 32] = patch
    return image


def to_layout(image: np.ndarray, pixel_format: str) -> np.ndarray:
    if pixel_format == "yuv420p":
        return cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420)
    return image


def to_rgb(frame: VideoFrame) -> np.ndarray:
    if frame.pixel_format == "yuv420p":
        return cv2.cvtColor(frame.image, cv2.COLOR_YUV2RGB_I420)
    return frame.image


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-12))


TB = Fraction(1, 30_000)


def run(
    stage: Interpolate,
    images: list[np.ndarray],
    pts: list[int],
    *,
    pixel_format: str = "rgb24",
    rate: Fraction = Fraction(30),
) -> tuple[VideoSpec, list[VideoFrame], list[VideoFrame]]:
    frames = [
        VideoFrame(to_layout(image, pixel_format), p, TB, i, pixel_format)
        for i, (image, p) in enumerate(zip(images, pts, strict=True))
    ]
    duration = float((pts[-1] + (pts[-1] - pts[-2])) * TB)
    height, width = images[0].shape[:2]
    spec = VideoSpec(width, height, TB, rate, len(images), duration, False, pixel_format)
    out_spec = stage.configure(spec)
    out = [o for f in frames for o in stage.process(f)]
    out.extend(stage.flush())
    return out_spec, frames, out


@pytest.mark.parametrize("pixel_format", ["rgb24", "yuv420p"])
def test_in_between_frames_follow_the_motion(pixel_format: str) -> None:
    times = [i / 30 for i in range(8)]
    stage = Interpolate(fps=60)
    spec, _, out = run(
        stage, [render(t) for t in times], [i * 1000 for i in range(8)], pixel_format=pixel_format
    )
    assert len(out) == spec.frame_count == 16
    assert [f.pts for f in out] == [i * 500 for i in range(16)]
    assert stage.stats["synthesized"] == 7 and stage.stats["shown"] == 9

    def seen(image: np.ndarray) -> np.ndarray:  # what the layout can hold of an image
        return to_rgb(VideoFrame(to_layout(image, pixel_format), 0, TB, 0, pixel_format))

    gains = []
    for k in range(1, 15, 2):  # the synthesized ones
        truth = seen(render(k / 60))
        blend = (seen(render((k - 1) / 60)).astype(np.float32) + seen(render((k + 1) / 60))) / 2
        got = to_rgb(out[k])
        assert psnr(got, truth) > 24.0
        gains.append(psnr(got, truth) - psnr(blend.astype(np.uint8), truth))
    assert np.mean(gains) > 6.0, gains


def test_an_accelerating_pan_is_followed_along_its_curve() -> None:
    """A pan at ``x(s) = 3 s + s^2`` px (frame s): a straight path between two frames
    misses the in-between picture by 0.25 px (39 dB); the stream bends each path with the
    frames around the pair, the first and the last pair with the one neighbour they have
    (measured 48-74 dB)."""
    background = textured_image(H, W + 120, kind="scene", seed=4)

    def pan(s: float) -> np.ndarray:
        shift = np.float32([[1, 0, -(3 * s + s * s)], [0, 1, 0]])
        return cv2.warpAffine(background, shift, (W, H), flags=cv2.INTER_CUBIC)

    stage = Interpolate(factor=2)
    _, _, out = run(stage, [pan(s) for s in range(8)], [i * 1000 for i in range(8)])
    assert stage.stats["synthesized"] == 7
    made = [psnr(out[k].image[:, 8:-8], pan(k / 2)[:, 8:-8]) for k in range(1, 15, 2)]
    assert min(made) > 45.0, made


def test_lowering_the_rate_computes_no_flows_for_neighbours_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """60 -> 25 fps skips some pairs: only the pairs frames are made from get flows."""
    import mmpipe.stages.interpolate as module

    calls: list[int] = []
    flow = module.dense_flow_small

    def counted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        calls.append(1)
        return flow(a, b)

    monkeypatch.setattr(module, "dense_flow_small", counted)
    stage = Interpolate(fps=25)
    times = [i / 60 for i in range(24)]
    _, _, out = run(stage, [render(t) for t in times], [i * 500 for i in range(24)])
    assert len(out) == 10
    made = {k for k, f in enumerate(out) if round(k * 60 / 25, 6) % 1}
    assert stage.stats["synthesized"] == len(made) == 8
    assert len(calls) == 2 * len(made)  # two flows per pair made from, none for neighbours


@pytest.mark.parametrize("pixel_format", ["rgb24", "yuv420p"])
@pytest.mark.parametrize("kind", ["new-colours", "same-colours"])
def test_a_scene_cut_is_never_blended(pixel_format: str, kind: str) -> None:
    """Shot A for 10 frames, then shot B: output frames are an input frame as it is, or
    synthesized from frames of one shot (close to that shot's truth)."""
    seed_b = 7
    if kind == "new-colours":  # the histogram test catches it

        def shot_b(t: float) -> np.ndarray:
            return 255 - render(t, seed=seed_b)
    else:  # same texture statistics, another place: the flow consistency test catches it

        def shot_b(t: float) -> np.ndarray:
            return np.ascontiguousarray(render(t, seed=seed_b)[::-1, ::-1])

    times = [i / 24 for i in range(20)]
    images = [render(t) if i < 10 else shot_b(t) for i, t in enumerate(times)]
    stage = Interpolate(fps=60)
    _, frames, out = run(stage, images, [i * 1250 for i in range(20)], pixel_format=pixel_format)
    assert len(out) == 50
    inputs = [to_rgb(f) for f in frames]
    for frame in out:
        s = frame.time_s
        got = to_rgb(frame)
        exact = [i for i, image in enumerate(inputs) if np.array_equal(got, image)]
        if times[9] < s < times[10]:  # between the shots: one of the two sides, exactly
            assert exact and exact[0] in (9, 10), s
        elif not exact:  # synthesized within a shot: close to that shot's truth
            truth = render(s) if s < times[9] else shot_b(s)
            assert psnr(got, truth) > 22.0, (s, psnr(got, truth))
    assert stage.stats["synthesized"] > 30


def test_duplicated_frames_are_retimed() -> None:
    """A phone repeated frame 5 (frame 4 again): the output shows the motion at 5 instead."""
    times = [i / 30 for i in range(12)]
    images = [render(t) for t in times]
    images[5] = images[4].copy()
    stage = Interpolate(fps=30)
    _, _, out = run(stage, images, [i * 1000 for i in range(12)])
    assert stage.stats["duplicates"] == 1 and len(out) == 12
    assert not np.array_equal(out[5].image, images[4])
    assert psnr(out[5].image, render(5 / 30)) > psnr(images[4], render(5 / 30)) + 6.0
    for k in (0, 3, 4, 6, 11):
        assert np.array_equal(out[k].image, images[k])


def test_large_frames_use_reduced_scale_flow_without_seams() -> None:
    big_w, big_h = 1920, 1080
    base = textured_image(big_h, big_w + 64, kind="scene", seed=3)
    images = [np.ascontiguousarray(base[:, 8 * i : 8 * i + big_w]) for i in range(3)]
    stage = Interpolate(factor=2)
    _, _, out = run(stage, images, [0, 1000, 2000])
    assert stage.scale == pytest.approx(640 / 1920)
    assert len(out) == 6 and out[1].image.shape == (big_h, big_w, 3)
    truth = np.ascontiguousarray(base[:, 4 : 4 + big_w])
    got = out[1].image
    assert psnr(got, truth) > 40.0
    blocks = [  # every part of the picture is right: no seams, no band left behind
        psnr(got[y : y + 120, x : x + 120], truth[y : y + 120, x : x + 120])
        for y in range(0, big_h, 120)
        for x in range(0, big_w, 120)
    ]
    assert min(blocks) > 30.0, min(blocks)


def test_output_time_base_holds_both_rates_exactly() -> None:
    assert output_time_base(Fraction(1, 24000), Fraction(60)) == Fraction(1, 24000)
    assert output_time_base(Fraction(1, 90000), Fraction(60000, 1001)) == Fraction(1, 180000)
    assert output_time_base(Fraction(1, 1000), Fraction(24000, 1001)) == Fraction(1, 24000)
    assert output_time_base(Fraction(1001, 30000), Fraction(60)) == Fraction(1, 60)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"fps": 60, "factor": 2},
        {"fps": 0},
        {"fps": "x"},
        {"factor": 100},
        {"slowmo": 1},
        {"fps": 60, "method": "magic"},
        {"fps": 60, "colour": 1},
    ],
)
def test_bad_options_are_config_errors(options: dict) -> None:
    with pytest.raises(ConfigError):
        Interpolate(**options)


def audio_samples(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)


def test_24000_1001_file_to_60_keeps_duration_and_audio(tmp_path: Path) -> None:
    period = Fraction(1001, 24000)
    images = [render(float(i * period)) for i in range(24)]
    src = write_clip(
        tmp_path / "in.mp4", images=images, rate=Fraction(24000, 1001), time_base=Fraction(1, 24000)
    )
    progress: list[mmpipe.Progress] = []
    report = mmpipe.interpolate(
        src,
        tmp_path / "out.mp4",
        fps="60",
        encode=mmpipe.EncodeSettings(preset="ultrafast"),
        on_progress=progress.append,
    )
    assert progress[-1].frames_done == progress[-1].frames_total == 24  # input frames
    info = mmpipe.probe(tmp_path / "out.mp4")
    duration = 24 * period
    assert report.frames_in == 24 and report.frames_out == info.video.frame_count == 60
    assert info.video.average_rate == 60 and not info.video.variable_frame_rate
    times = frame_times(tmp_path / "out.mp4")
    assert times[0] == pytest.approx(frame_times(src)[0], abs=1e-6)
    assert np.allclose(np.diff(times), 1 / 60, atol=1e-6)
    assert abs(len(times) / 60 - float(duration)) <= 1 / 60
    # the sound is the input's, sample for sample, and starts where it started
    assert np.array_equal(audio_samples(src), audio_samples(tmp_path / "out.mp4"))
    assert info.audio[0].duration_s == pytest.approx(mmpipe.probe(src).audio[0].duration_s)


def test_variable_frame_rate_file_is_retimed_by_its_timestamps(tmp_path: Path) -> None:
    pts_ms = [0, 33, 70, 100, 150, 166, 200, 233, 270, 300, 333, 380, 400, 433, 466, 500]
    images = [render(ms / 1000, square=False) for ms in pts_ms]
    src = write_clip(
        tmp_path / "vfr.mp4",
        images=images,
        pts=pts_ms,
        time_base=Fraction(1, 1000),
        preset="medium",
    )
    assert mmpipe.probe(src).video.variable_frame_rate
    mmpipe.interpolate(src, tmp_path / "out.mp4", fps=60, encode=mmpipe.EncodeSettings(crf=10))
    with av.open(str(tmp_path / "out.mp4")) as container:
        decoded = [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    assert len(decoded) == round(0.533 * 60)
    reference = cv2.cvtColor(images[0], cv2.COLOR_RGB2GRAY).astype(np.float32)
    window = cv2.createHanningWindow((W, H), cv2.CV_32F)
    for time_s, image in decoded:
        if time_s > 0.5:  # after the last frame: held
            break
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        (dx, _), _ = cv2.phaseCorrelate(reference, grey, window)
        assert dx == pytest.approx(-SPEED_PX_S * time_s, abs=0.75), time_s


def test_slow_motion_plays_longer_and_drops_the_sound_with_a_note(tmp_path: Path) -> None:
    images = [render(i / 30) for i in range(10)]
    src = write_clip(tmp_path / "in.mp4", images=images, rate=Fraction(30))
    report = mmpipe.interpolate(src, tmp_path / "slow.mp4", slowmo=4)
    info = mmpipe.probe(tmp_path / "slow.mp4")
    assert info.video.frame_count == 40 and info.video.average_rate == 30
    assert info.video.duration_s == pytest.approx(4 * 10 / 30, abs=1 / 30)
    assert not info.audio
    assert any("audio stream #1" in note and "not written" in note for note in report.notes)


def test_a_video_only_pipeline_takes_no_audio_stages() -> None:
    with pytest.raises(ConfigError, match="video_only"):
        mmpipe.Pipeline(video=[Interpolate(slowmo=2)], audio=[mmpipe.Denoise()], video_only=True)


def test_a_frame_whose_timestamp_goes_back_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    times = [i / 30 for i in range(6)]
    images = [render(t) for t in times]
    stage = Interpolate(fps=30)
    pts = [0, 1000, 2000, 2000, 3000, 4000]  # frame 3 repeats frame 2's timestamp
    _, _, out = run(stage, images, pts)
    assert stage.stats["out_of_order"] == 1
    assert [f.pts for f in out] == [i * 1000 for i in range(5)]
    assert np.array_equal(out[3].image, images[4]) and np.array_equal(out[2].image, images[2])
    assert any("not after the previous frame" in r.getMessage() for r in caplog.records)
