"""Decode a file into frames, analysis frames, audio blocks and packets to copy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mmpipe.errors import MediaError
from mmpipe.media.convert import ColorConversion
from mmpipe.media.frames import AnalysisFrame, AudioBlock, VideoFrame
from mmpipe.media.probe import MediaInfo, open_input


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """An audio block from input stream ``stream_index``."""

    stream_index: int
    block: AudioBlock


class _FrameTimer:
    """Presentation timestamps as decoded; only a frame that has none gets one derived."""

    def __init__(self, time_base: Fraction, rate: Fraction) -> None:
        self.step = max(1, round(1 / (rate * time_base))) if rate else 1
        self.last: int | None = None

    def pts(self, frame: av.VideoFrame) -> int:
        pts = frame.pts
        if pts is None:
            pts = 0 if self.last is None else self.last + self.step
        self.last = pts
        return pts


def read_analysis_frames(path: Path, info: MediaInfo, *, width_px: int) -> Iterator[AnalysisFrame]:
    """Decode the video once more as small grey frames for motion analysis."""
    assert info.video is not None
    colour = ColorConversion(info.video)
    scale = min(1.0, width_px / info.video.display_width_px)
    with open_input(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        timer = _FrameTimer(info.video.time_base, info.video.average_rate)
        for index, frame in enumerate(_decode(container, stream, path)):
            yield AnalysisFrame(
                grey=colour.to_grey(frame, width_px),
                pts=timer.pts(frame),
                time_base=info.video.time_base,
                index=index,
                scale=scale,
            )


def read_media(
    path: Path,
    info: MediaInfo,
    *,
    decode_video: bool,
    decode_audio: set[int],
    copy: set[int],
    pixel_format: str = "rgb24",
) -> Iterator[VideoFrame | DecodedAudio | av.Packet]:
    """Demux ``path`` once, in file order.

    Yields `VideoFrame`s of the first video stream in ``pixel_format`` ("rgb24", or
    "yuv420p" for an even display size) when ``decode_video``, decoded
    `DecodedAudio` blocks for the audio streams in ``decode_audio``, and raw packets of the
    streams in ``copy``, to be muxed unchanged.
    """
    convert = None
    if info.video is not None:
        colour = ColorConversion(info.video)
        convert = colour.to_yuv420p if pixel_format == "yuv420p" else colour.to_rgb
    with open_input(path) as container:
        wanted = [s for s in container.streams if s.index in copy or s.index in decode_audio]
        video = container.streams.video[0] if decode_video else None
        if video is not None:
            video.thread_type = "AUTO"
            wanted.append(video)
        timer = _FrameTimer(info.video.time_base, info.video.average_rate) if info.video else None
        audio_state = {i: _AudioDecoder(container.streams[i]) for i in decode_audio}
        index = 0
        for packet in _demux(container, wanted, path):
            stream_index = packet.stream_index
            if video is not None and stream_index == video.index:
                for frame in _decode_packet(video, packet, path):
                    assert convert is not None and timer is not None
                    image = convert(frame)
                    yield VideoFrame(image, timer.pts(frame), video.time_base, index, pixel_format)
                    index += 1
            elif stream_index in audio_state:
                for block in audio_state[stream_index].decode(packet, path):
                    yield DecodedAudio(stream_index, block)
            elif stream_index in copy and packet.size:
                yield packet


class _AudioDecoder:
    """Decode one audio stream into float32 planar blocks with sample-exact starts.

    Samples past the end the packets declare (``pts + duration`` of the last packet: the
    encoder's padding of the final frame, e.g. up to 1023 samples of AAC) are dropped, so the
    decoded length is the stream's length; without packet durations nothing is dropped.
    """

    def __init__(self, stream: av.audio.stream.AudioStream) -> None:
        self.stream = stream
        ctx = stream.codec_context
        self.rate = ctx.sample_rate
        self.resampler = av.AudioResampler(format="fltp", layout=ctx.layout, rate=self.rate)
        self.next_start: int | None = None
        self.end: int | None = None  # in samples; None while any packet lacks a duration
        self.end_known = True

    def decode(self, packet: av.Packet, path: Path) -> Iterator[AudioBlock]:
        self._note_end(packet)
        for frame in _decode_packet(self.stream, packet, path):
            for planar in self.resampler.resample(frame):
                yield from self._block(planar)
        if packet.size == 0:  # the flush packet at the end of the stream
            for planar in self.resampler.resample(None):
                yield from self._block(planar)

    def _note_end(self, packet: av.Packet) -> None:
        if packet.size == 0 or not self.end_known:
            return
        if packet.pts is None or not packet.duration or packet.time_base is None:
            self.end_known, self.end = False, None
            return
        end = round((packet.pts + packet.duration) * packet.time_base * self.rate)
        self.end = end if self.end is None else max(self.end, end)

    def _block(self, frame: av.AudioFrame) -> Iterator[AudioBlock]:
        samples = frame.to_ndarray().astype(np.float32, copy=False)
        if self.next_start is None:
            pts, tb = frame.pts, frame.time_base
            self.next_start = round(pts * tb * self.rate) if pts is not None and tb else 0
        if self.end is not None:
            samples = samples[:, : max(0, self.end - self.next_start)]
        if samples.shape[1]:
            yield AudioBlock(samples, self.rate, self.next_start)
            self.next_start += samples.shape[1]


def _demux(container: av.container.InputContainer, streams: list, path: Path) -> Iterator:
    try:
        yield from container.demux(streams)
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: the file is corrupt or truncated ({exc}); re-copy it") from None


def _decode(container: av.container.InputContainer, stream, path: Path) -> Iterator:
    for packet in _demux(container, [stream], path):
        yield from _decode_packet(stream, packet, path)


def _decode_packet(stream, packet: av.Packet, path: Path) -> list:
    try:
        return packet.decode()
    except av.error.FFmpegError as exc:
        raise MediaError(
            f"{path}: stream #{stream.index} cannot be decoded at "
            f"{float(packet.pts * packet.time_base) if packet.pts is not None else 0:.2f}s "
            f"({exc}); the file is corrupt or truncated"
        ) from None
