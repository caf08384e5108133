"""The contract every shipped stage must keep (one parametrized test per stage).

Each stage, fed a short synthetic clip through its protocol (analysis first when it is a
two-pass stage), must: return a spec that matches the frames it yields; yield uint8 RGB
frames; keep every frame's timestamp (unless it declares that it retimes); hold back no
more than its declared latency; give the same output twice (deterministic); and leave
its input frames untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import cv2
import numpy as np
import pytest

from mmpipe.media.frames import AnalysisFrame, AudioBlock, VideoFrame
from mmpipe.pipeline.stage import (
    AudioSpec,
    AudioStage,
    TwoPassVideoStage,
    VideoSpec,
    VideoStage,
)
from mmpipe.stages.denoise import Denoise
from mmpipe.stages.stabilize import Stabilize
from mmpipe.vision.synthetic import render_shaken, shake_path, textured_image

VIDEO_STAGES: dict[str, Callable[[], VideoStage]] = {
    "stabilize-l1-crop": lambda: Stabilize(),
    "stabilize-gaussian-none": lambda: Stabilize(method="gaussian", fill="none"),
    "stabilize-tripod-half": lambda: Stabilize(preset="tripod", strength=0.5),
}

WIDTH, HEIGHT, FRAMES = 320, 180, 40
TIME_BASE = Fraction(1, 30_000)


def clip() -> list[VideoFrame]:
    path = shake_path(FRAMES, fps=30.0, kind="walking", amplitude_px=4.0, seed=7)
    source = textured_image(HEIGHT * 2, WIDTH * 2, kind="scene", seed=3)
    images = list(render_shaken(source, path.camera, out_size=(WIDTH, HEIGHT)))
    return [VideoFrame(image, i * 1001, TIME_BASE, i) for i, image in enumerate(images)]


def spec() -> VideoSpec:
    return VideoSpec(WIDTH, HEIGHT, TIME_BASE, Fraction(30_000, 1001), FRAMES, 1.33, False)


def run(stage: VideoStage, frames: list[VideoFrame]) -> tuple[VideoSpec, list[VideoFrame]]:
    if isinstance(stage, TwoPassVideoStage):
        width = min(stage.analysis_width_px, WIDTH)
        analysis = (
            AnalysisFrame(
                cv2.resize(
                    cv2.cvtColor(f.image, cv2.COLOR_RGB2GRAY), (width, HEIGHT * width // WIDTH)
                ),
                f.pts,
                f.time_base,
                f.index,
                width / WIDTH,
            )
            for f in frames
        )
        stage.analyze(analysis, spec())
    out_spec = stage.configure(spec())
    out: list[VideoFrame] = []
    for count, frame in enumerate(frames, start=1):
        out.extend(stage.process(frame))
        assert len(out) >= count - stage.latency, "held back more than its declared latency"
    out.extend(stage.flush())
    return out_spec, out


@pytest.mark.parametrize("name", VIDEO_STAGES)
def test_video_stage_contract(name: str) -> None:
    frames = clip()
    originals = [f.image.copy() for f in frames]
    stage = VIDEO_STAGES[name]()
    assert isinstance(stage, VideoStage)
    out_spec, out = run(stage, frames)
    assert len(out) == len(frames)
    assert [f.pts for f in out] == [f.pts for f in frames]
    for frame in out:
        assert frame.image.dtype == np.uint8
        assert frame.image.shape == (out_spec.height_px, out_spec.width_px, 3)
    for frame, original in zip(frames, originals, strict=True):
        assert np.array_equal(frame.image, original), "the stage changed its input in place"
    _, again = run(VIDEO_STAGES[name](), clip())
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
