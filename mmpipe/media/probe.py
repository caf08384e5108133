"""Describe a media file: its streams, timing, rotation and colour, without decoding it all."""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from mmpipe.errors import MediaError

# A frame interval further than 2 % (plus one tick of time-base rounding) from the median
# makes the clip variable frame rate.
_VFR_TOLERANCE = 0.02


@dataclass(frozen=True)
class VideoStreamInfo:
    """The video stream mmpipe processes (the first one in the file)."""

    index: int
    codec: str
    width_px: int  # as coded
    height_px: int
    rotation_deg: int  # counter-clockwise display rotation, a multiple of 90
    display_width_px: int  # after rotation
    display_height_px: int
    average_rate: Fraction
    variable_frame_rate: bool
    frame_count: int
    time_base: Fraction
    start_s: float
    duration_s: float
    pixel_format: str
    bit_depth: int
    color_primaries: int
    color_trc: int
    colorspace: int
    color_range: int


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str
    start_s: float
    duration_s: float
    language: str | None


@dataclass(frozen=True)
class OtherStreamInfo:
    index: int
    kind: str  # "subtitle", "data", "attachment", or a second "video"
    codec: str
    language: str | None


@dataclass(frozen=True)
class MediaInfo:
    """What `mmpipe info` prints; `probe` returns it."""

    path: str
    container: str
    size_bytes: int
    duration_s: float
    metadata: dict[str, str]
    video: VideoStreamInfo | None
    audio: list[AudioStreamInfo] = field(default_factory=list)
    other: list[OtherStreamInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (fractions as "num/den" strings)."""

        def plain(value: Any) -> Any:
            if isinstance(value, Fraction):
                return f"{value.numerator}/{value.denominator}"
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        return plain(asdict(self))


def open_input(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open a media file for reading, turning every failure into a `MediaError`."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not a media file; pass a video or audio file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes); pass a complete media file")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise MediaError(
            f"{path}: not a readable media file ({exc.strerror or exc}); "
            "it may be truncated or not audio/video at all"
        ) from None


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Read a file's streams, frame timing (VFR or not), rotation, colour tags and duration.

    Scans packet timestamps (no decoding except the first video frame, for rotation).
    Raises `MediaError` if the file is missing, not media, or has no audio/video stream.
    """
    with open_input(path) as container:
        video = next(iter(container.streams.video), None)
        video_info = _video_info(container, video) if video is not None else None
        audio = [_audio_info(s) for s in container.streams.audio]
        other = [
            OtherStreamInfo(s.index, s.type, _codec_name(s), s.metadata.get("language"))
            for s in container.streams
            if s.type not in ("audio",) and (video is None or s.index != video.index)
        ]
        if video_info is None and not audio:
            raise MediaError(
                f"{path}: has no video or audio stream (or they hold no data); "
                "pass a video or audio file"
            )
        duration_s = (container.duration or 0) / av.time_base
        if video_info is not None:
            duration_s = max(duration_s, video_info.start_s + video_info.duration_s)
        return MediaInfo(
            path=str(path),
            container=container.format.name,
            size_bytes=Path(path).stat().st_size,
            duration_s=duration_s,
            metadata=dict(container.metadata),
            video=video_info,
            audio=audio,
            other=other,
        )


def _codec_name(stream: av.stream.Stream) -> str:
    try:
        return stream.codec_context.name
    except (AttributeError, av.error.FFmpegError):
        return "unknown"


def _audio_info(stream: av.audio.stream.AudioStream) -> AudioStreamInfo:
    ctx = stream.codec_context
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
    return AudioStreamInfo(
        index=stream.index,
        codec=ctx.name,
        sample_rate=ctx.sample_rate,
        channels=ctx.channels,
        layout=ctx.layout.name,
        start_s=start,
        duration_s=duration,
        language=stream.metadata.get("language"),
    )


def _video_info(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> VideoStreamInfo:
    ctx = stream.codec_context
    time_base = stream.time_base or Fraction(1, 90_000)
    pts_list = sorted(
        packet.pts for packet in container.demux(stream) if packet.pts is not None and packet.size
    )
    container.seek(0)
    rotation, first = _first_frame(container, stream)
    intervals = [b - a for a, b in itertools.pairwise(pts_list) if b > a]
    variable = False
    average_rate = stream.average_rate or stream.guessed_rate or Fraction(0)
    if intervals:
        median = sorted(intervals)[len(intervals) // 2]
        variable = any(abs(d - median) > 1 + _VFR_TOLERANCE * median for d in intervals)
        if not average_rate:
            average_rate = 1 / (median * time_base)
    start_s = float(pts_list[0] * time_base) if pts_list else 0.0
    if len(pts_list) > 1:
        duration_s = float((pts_list[-1] - pts_list[0]) * time_base) + 1 / float(average_rate)
    else:
        duration_s = float(stream.duration * time_base) if stream.duration else 0.0
    fmt = first.format if first is not None else ctx.format
    bit_depth = max((c.bits for c in fmt.components), default=8) if fmt is not None else 8
    width, height = ctx.width, ctx.height
    swap = rotation % 180 != 0
    return VideoStreamInfo(
        index=stream.index,
        codec=ctx.name,
        width_px=width,
        height_px=height,
        rotation_deg=rotation,
        display_width_px=height if swap else width,
        display_height_px=width if swap else height,
        average_rate=Fraction(average_rate),
        variable_frame_rate=variable,
        frame_count=len(pts_list),
        time_base=Fraction(time_base),
        start_s=start_s,
        duration_s=duration_s,
        pixel_format=fmt.name if fmt is not None else "unknown",
        bit_depth=bit_depth,
        color_primaries=int(first.color_primaries) if first is not None else 2,
        color_trc=int(first.color_trc) if first is not None else 2,
        colorspace=int(first.colorspace) if first is not None else 2,
        color_range=int(first.color_range) if first is not None else 0,
    )


def _first_frame(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> tuple[int, av.VideoFrame | None]:
    try:
        for frame in container.decode(stream):
            return display_rotation(frame), frame
    except av.error.FFmpegError:
        pass  # a file whose first frame cannot be decoded is reported by the runner, with context
    return 0, None


def display_rotation(frame: av.VideoFrame) -> int:
    """The frame's counter-clockwise display rotation, rounded to a multiple of 90 degrees."""
    try:
        degrees = frame.rotation or 0
    except (AttributeError, ValueError):
        degrees = 0
    return round(degrees / 90.0) * 90 % 360
