"""Stage protocols: what the runner expects of every stage.

A stage is a plain object. The runner calls ``configure`` once with the stream's
spec before any data, ``process`` for each item in order, and ``flush`` once at the
end. ``process``/``flush`` yield zero or more items; a stage holding ``latency``
items back returns them from later calls or from ``flush``. Stages never start
threads, print, or touch files: the runner owns those.

Pixel layout: a video stage may list the frame layouts it accepts in a ``pixel_formats``
attribute (a tuple of :data:`~mmpipe.media.frames.PIXEL_FORMATS`); a stage without one
gets ``"rgb24"``. When every stage accepts ``"yuv420p"`` (and the frame size is even),
frames stay in the decoder's planes, which saves two colour conversions per frame; the
spec given to ``configure`` says which layout (and, for YUV, which range) arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Protocol, runtime_checkable

from mmpipe.media.frames import AnalysisFrame, AudioBlock, VideoFrame


@dataclass(frozen=True, slots=True)
class VideoSpec:
    """What a stage needs to know about the video stream before the first frame."""

    width_px: int
    height_px: int
    time_base: Fraction
    average_rate: Fraction
    frame_count: int  # best estimate; 0 when unknown
    duration_s: float
    variable_frame_rate: bool
    pixel_format: str = "rgb24"  # the layout of the frames' ``image``
    full_range: bool = True  # yuv420p only: 0-255 levels (else 16-235 luma, 16-240 chroma)

    def with_size(self, width_px: int, height_px: int) -> VideoSpec:
        return replace(self, width_px=width_px, height_px=height_px)


@dataclass(frozen=True, slots=True)
class AudioSpec:
    """What an audio stage needs to know before the first block."""

    sample_rate: int
    channels: int


@runtime_checkable
class VideoStage(Protocol):
    """A streaming transform of video frames."""

    @property
    def latency(self) -> int:
        """How many frames the stage may hold back before yielding."""
        ...

    def configure(self, spec: VideoSpec) -> VideoSpec:
        """Prepare for a stream; return the spec of the frames this stage yields."""
        ...

    def process(self, frame: VideoFrame) -> Iterator[VideoFrame]: ...

    def flush(self) -> Iterator[VideoFrame]: ...


@runtime_checkable
class TwoPassVideoStage(VideoStage, Protocol):
    """A video stage that first sees the whole clip, downscaled and grey.

    The runner decodes the clip once, shrinks each frame to ``analysis_width_px`` wide
    (never enlarging), and hands the frames to ``analyze`` as one iterator before
    ``configure``/``process`` run on a second decode at full resolution.
    """

    analysis_width_px: int

    def analyze(self, frames: Iterator[AnalysisFrame], spec: VideoSpec) -> None: ...


@runtime_checkable
class AudioStage(Protocol):
    """A streaming transform of audio blocks (same rate and channels in and out)."""

    @property
    def latency(self) -> int:
        """How many samples the stage may hold back before yielding."""
        ...

    def configure(self, spec: AudioSpec) -> AudioSpec: ...

    def process(self, block: AudioBlock) -> Iterator[AudioBlock]: ...

    def flush(self) -> Iterator[AudioBlock]: ...
