"""The contract every shipped stage must keep (one parametrized test per stage).

Each stage, fed a short synthetic clip through its protocol (analysis first when it is a
two-pass stage), must: return a spec that matches the frames it yields; yield uint8
frames in the layout it was given (RGB, and 4:2:0 planes when it lists them); keep every
frame's timestamp (unless it declares ``retimes``: then its frames are evenly spaced at the
spec's rate and time base, as many as the spec says, to within one); hold back no more than
its declared latency (in input frames); give the same output twice (deterministic); and
leave its input frames untouched. Stages that only work after another one (FillBorders
after ``Stabilize(fill="none")``) are checked as the chain a Pipeline runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction

import cv2
import numpy as np
import pytest

from mmpipe.media.frames import (
    PIXEL_FORMATS,
    AnalysisFrame,
    AudioBlock,
    VideoFrame,
    yuv420p_planes,
)
from mmpipe.pipeline.runner import _flush, _through
from mmpipe.pipeline.stage import (
    AudioSpec,
    AudioStage,
    TwoPassVideoStage,
    VideoSpec,
    VideoStage,
)
from mmpipe.stages.denoise import Denoise
from mmpipe.stages.fill import FillBorders
from mmpipe.stages.interpolate import Interpolate
from mmpipe.stages.stabilize import Stabilize
from mmpipe.vision.synthetic import render_shaken, shake_path, textured_image


class Chain:
    """A two-pass stage followed by others, driven as the runner drives them (one stage)."""

    def __init__(self, first: Stabilize, *rest: VideoStage) -> None:
        self.stages: list = [first, *rest]
        self.analysis_width_px = first.analysis_width_px
        formats = [set(getattr(s, "pixel_formats", ("rgb24",))) for s in self.stages]
        self.pixel_formats = tuple(sorted(set.intersection(*formats)))

    @property
    def latency(self) -> int:
        return sum(s.latency for s in self.stages)

    def analyze(self, frames: Iterator[AnalysisFrame], spec: VideoSpec) -> None:
        self.stages[0].analyze(frames, spec)

    def configure(self, spec: VideoSpec) -> VideoSpec:
        for stage in self.stages:
            spec = stage.configure(spec)
        return spec

    def process(self, frame: VideoFrame) -> Iterator[VideoFrame]:
        return _through(self.stages, frame)

    def flush(self) -> Iterator[VideoFrame]:
        return _flush(self.stages)


VIDEO_STAGES: dict[str, Callable[[], VideoStage]] = {
    "stabilize-l1-crop": lambda: Stabilize(),
    "stabilize-gaussian-none": lambda: Stabilize(method="gaussian", fill="none"),
    "stabilize-tripod-half": lambda: Stabilize(preset="tripod", strength=0.5),
    "stabilize-none-fill-mosaic": lambda: Chain(Stabilize(fill="none"), FillBorders()),
    "interpolate-60": lambda: Interpolate(fps=60),
    "interpolate-24": lambda: Interpolate(fps=24),
}

WIDTH, HEIGHT, FRAMES = 320, 180, 40
TIME_BASE = Fraction(1, 30_000)


def clip(pixel_format: str = "rgb24") -> list[VideoFrame]:
    path = shake_path(FRAMES, fps=30.0, kind="walking", amplitude_px=4.0, seed=7)
    source = textured_image(HEIGHT * 2, WIDTH * 2, kind="scene", seed=3)
    images = list(render_shaken(source, path.camera, out_size=(WIDTH, HEIGHT)))
    if pixel_format == "yuv420p":
        images = [cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420) for image in images]
    return [
        VideoFrame(image, i * 1001, TIME_BASE, i, pixel_format) for i, image in enumerate(images)
    ]


def spec(pixel_format: str = "rgb24") -> VideoSpec:
    rate = Fraction(30_000, 1001)
    return VideoSpec(WIDTH, HEIGHT, TIME_BASE, rate, FRAMES, 1.33, False, pixel_format)


def grey(frame: VideoFrame) -> np.ndarray:
    if frame.pixel_format == "yuv420p":
        return yuv420p_planes(frame.image)[0]
    return cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY)


def run(stage: VideoStage, frames: list[VideoFrame]) -> tuple[VideoSpec, list[VideoFrame]]:
    in_spec = spec(frames[0].pixel_format)
    if isinstance(stage, TwoPassVideoStage):
        width = min(stage.analysis_width_px, WIDTH)
        analysis = (
            AnalysisFrame(
                cv2.resize(grey(f), (width, HEIGHT * width // WIDTH)),
                f.pts,
                f.time_base,
                f.index,
                width / WIDTH,
            )
            for f in frames
        )
        stage.analyze(analysis, in_spec)
    out_spec = stage.configure(in_spec)
    out: list[VideoFrame] = []
    for count, frame in enumerate(frames, start=1):
        out.extend(stage.process(frame))
        if getattr(stage, "retimes", False):  # every output time up to the held-back input
            if count > stage.latency:
                covered = frames[count - 1 - stage.latency].time_s - 1 / out_spec.average_rate
                assert out and out[-1].time_s >= covered, "held back more than its latency"
            continue
        assert len(out) >= count - stage.latency, "held back more than its declared latency"
    out.extend(stage.flush())
    return out_spec, out


@pytest.mark.parametrize("pixel_format", PIXEL_FORMATS)
@pytest.mark.parametrize("name", VIDEO_STAGES)
def test_video_stage_contract(name: str, pixel_format: str) -> None:
    stage = VIDEO_STAGES[name]()
    assert isinstance(stage, VideoStage)
    if pixel_format not in getattr(stage, "pixel_formats", ("rgb24",)):
        pytest.skip(f"{name} does not take {pixel_format} frames")
    frames = clip(pixel_format)
    originals = [f.image.copy() for f in frames]
    out_spec, out = run(stage, frames)
    assert out_spec.pixel_format == pixel_format
    if getattr(stage, "retimes", False):
        assert abs(len(out) - out_spec.frame_count) <= 1
        assert all(f.time_base == out_spec.time_base for f in out)
        step = 1 / (out_spec.average_rate * out_spec.time_base)
        assert [f.pts - out[0].pts for f in out] == [i * step for i in range(len(out))]
        assert out[0].pts * out_spec.time_base == frames[0].pts * frames[0].time_base
    else:
        assert len(out) == len(frames)
        assert [f.pts for f in out] == [f.pts for f in frames]
    height, width = out_spec.height_px, out_spec.width_px
    shape = (height, width, 3) if pixel_format == "rgb24" else (height * 3 // 2, width)
    for frame in out:
        assert frame.pixel_format == pixel_format
        assert frame.image.dtype == np.uint8
        assert frame.image.shape == shape
    for frame, original in zip(frames, originals, strict=True):
        assert np.array_equal(frame.image, original), "the stage changed its input in place"
    _, again = run(VIDEO_STAGES[name](), clip(pixel_format))
    for a, b in zip(out, again, strict=True):
        assert np.array_equal(a.image, b.image), "two runs differ"


AUDIO_STAGES: dict[str, Callable[[], AudioStage]] = {
    "denoise": lambda: Denoise(),
    "denoise-limited": lambda: Denoise(attenuation_limit_db=12),
}


def run_audio(stage: AudioStage, blocks: list[AudioBlock], spec: AudioSpec) -> np.ndarray:
    assert stage.configure(spec) == spec
    out: list[AudioBlock] = []
    received = 0
    for block in blocks:
        out.extend(stage.process(block))
        received += block.n_samples
        assert sum(b.n_samples for b in out) >= received - stage.latency
    out.extend(stage.flush())
    starts = [b.start for b in out]
    assert starts == sorted(starts), "blocks out of order"
    return np.concatenate([b.samples for b in out], axis=1)


@pytest.mark.parametrize("name", AUDIO_STAGES)
@pytest.mark.parametrize(("rate", "channels"), [(48_000, 1), (16_000, 2)])
def test_audio_stage_contract(name: str, rate: int, channels: int) -> None:
    rng = np.random.default_rng(1)
    samples = (0.1 * rng.standard_normal((channels, rate // 2))).astype(np.float32)
    blocks = [AudioBlock(samples[:, s : s + 1000], rate, s) for s in range(0, rate // 2, 1000)]
    spec = AudioSpec(sample_rate=rate, channels=channels)
    out = run_audio(AUDIO_STAGES[name](), blocks, spec)
    assert out.shape == samples.shape and out.dtype == np.float32
    assert np.array_equal(out, run_audio(AUDIO_STAGES[name](), blocks, spec)), "two runs differ"
