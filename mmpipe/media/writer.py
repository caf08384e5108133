"""Encode and mux an output file: H.264 video, copied or re-encoded audio, copied extras."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mmpipe.errors import ConfigError, MediaError
from mmpipe.media.convert import ColorConversion
from mmpipe.media.frames import AudioBlock, VideoFrame

VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
AUDIO_SUFFIXES = {".wav": "wav", ".flac": "flac", ".m4a": "ipod"}
AUDIO_FORMATS = frozenset(AUDIO_SUFFIXES.values())
PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
# Container-level tags that describe the old file rather than its content.
_DROPPED_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}


@dataclass(frozen=True)
class EncodeSettings:
    """x264 settings for the output video."""

    crf: float = 18.0
    preset: str = "medium"
    threads: int = 0  # x264 threads; 0: x264's own choice from the CPUs (batch jobs set it)

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ConfigError(f"threads {self.threads} is negative; use 0 (automatic) or more")
        if not 0 <= self.crf <= 51:
            raise ConfigError(f"crf {self.crf} is out of range; use 0 (lossless) to 51")
        if self.preset not in PRESETS:
            raise ConfigError(
                f"unknown x264 preset {self.preset!r}; use one of {', '.join(PRESETS)}"
            )


def output_format(path: Path) -> str:
    """The container format for an output path, from its suffix."""
    suffixes = VIDEO_SUFFIXES | AUDIO_SUFFIXES
    try:
        return suffixes[path.suffix.lower()]
    except KeyError:
        raise ConfigError(
            f"{path}: cannot write {path.suffix or 'files without a suffix'}; "
            f"name the output {' / '.join(suffixes)}"
        ) from None


def audio_codec(format_name: str, template: av.audio.stream.AudioStream) -> str:
    """The codec for re-encoded audio: PCM/FLAC of the source's depth, else AAC."""
    if format_name == "flac":
        return "flac"
    if format_name == "wav":
        source = template.codec_context
        if source.name.startswith("pcm_s16") or source.name.startswith("pcm_u8"):
            return "pcm_s16le"
        if source.name.startswith(("pcm_s24", "pcm_s32")) or source.name == "flac":
            return "pcm_s24le" if source.format.bytes > 2 else "pcm_s16le"
        if source.name.startswith("pcm_f"):
            return "pcm_f32le"
        return "pcm_s16le"  # from a lossy codec, 16 bits hold everything there is
    return "aac"


def even_size(width_px: int, height_px: int) -> tuple[int, int]:
    """The size H.264 4:2:0 can store: odd sizes lose their last row or column."""
    return width_px - width_px % 2, height_px - height_px % 2


class MediaFileWriter:
    """One output file: call the `add_*` methods, then write in any order, then `close`."""

    def __init__(self, path: Path, *, format_name: str, metadata: dict[str, str]) -> None:
        try:
            self.container = av.open(str(path), "w", format=format_name)
        except (OSError, av.error.FFmpegError) as exc:
            raise MediaError(
                f"{path}: cannot create the output ({exc}); choose a writable folder"
            ) from None
        self.container.metadata.update(
            {k: v for k, v in metadata.items() if k not in _DROPPED_TAGS}
        )
        self.format_name = format_name
        self.video: av.video.stream.VideoStream | None = None
        self.colour: ColorConversion | None = None
        self.copied: dict[int, av.stream.Stream] = {}
        self.audio: dict[int, av.audio.stream.AudioStream] = {}
        self._even_size: tuple[int, int] = (0, 0)

    @property
    def holds_audio_only(self) -> bool:
        return self.format_name in AUDIO_FORMATS

    def can_store(self, codec: str) -> bool:
        return codec in self.container.supported_codecs

    def add_video(
        self,
        *,
        width_px: int,
        height_px: int,
        rate: Fraction,
        time_base: Fraction,
        colour: ColorConversion,
        settings: EncodeSettings,
        language: str | None,
    ) -> None:
        """Add the H.264 stream. Odd sizes lose their last row/column (4:2:0 needs even)."""
        even_w, even_h = even_size(width_px, height_px)
        self._even_size = (even_w, even_h)
        stream = self.container.add_stream("libx264", rate=rate)
        stream.width, stream.height = even_w, even_h
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        stream.codec_context.color_range = 2 if colour.full_range else 1
        stream.codec_context.colorspace = colour.info.colorspace
        stream.codec_context.color_primaries = colour.info.color_primaries
        stream.codec_context.color_trc = colour.info.color_trc
        stream.options = {"crf": f"{settings.crf:g}", "preset": settings.preset}
        # Frame threads, as the ffmpeg command line uses (PyAV's default, slice threads,
        # makes x264 split every picture, which is slower and compresses worse).
        stream.codec_context.thread_type = "FRAME"
        if settings.threads:
            stream.codec_context.thread_count = settings.threads
        if language:
            stream.metadata["language"] = language
        self.video, self.colour = stream, colour

    def add_copy(self, template: av.stream.Stream) -> None:
        """Add a stream whose packets are copied unchanged (bit-exact)."""
        stream = self.container.add_stream_from_template(template)
        stream.metadata.update(template.metadata)
        self.copied[template.index] = stream

    def add_audio(self, template: av.audio.stream.AudioStream) -> None:
        """Add an encoded audio stream at the template's sample rate and channel layout."""
        ctx = template.codec_context
        codec = audio_codec(self.format_name, template)
        stream = self.container.add_stream(codec, rate=ctx.sample_rate, layout=ctx.layout.name)
        if codec == "flac" and template.codec_context.format.bytes > 2:
            stream.codec_context.format = "s32"  # 24-bit sources stay 24 bit
        if codec == "aac":
            stereo = 96_000 * max(1, min(ctx.channels, 2))
            stream.bit_rate = stereo + 64_000 * max(0, ctx.channels - 2)
        stream.metadata.update(template.metadata)
        self.audio[template.index] = stream

    def write_video(self, frame: VideoFrame) -> None:
        assert self.video is not None and self.colour is not None
        if frame.pixel_format == "yuv420p":  # always even-sized
            encoded = self.colour.from_yuv420p(frame.image)
        else:
            w, h = self._even_size
            image = frame.image
            if image.shape[1] != w or image.shape[0] != h:
                image = np.ascontiguousarray(image[:h, :w])
            encoded = self.colour.from_rgb(image)
        encoded.pts = frame.pts
        encoded.time_base = frame.time_base
        self._mux(self.video.encode(encoded))

    def write_packet(self, packet: av.Packet) -> None:
        """Mux a packet from the input stream it was demuxed from (a copied stream)."""
        packet.stream = self.copied[packet.stream_index]
        self.container.mux(packet)

    def write_audio(self, stream_index: int, block: AudioBlock) -> None:
        stream = self.audio[stream_index]
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block.samples, dtype=np.float32),
            format="fltp",
            layout=stream.codec_context.layout.name,
        )
        frame.sample_rate = block.sample_rate
        frame.pts = block.start
        frame.time_base = Fraction(1, block.sample_rate)
        self._mux(stream.encode(frame))

    def close(self) -> None:
        """Flush every encoder and finish the file."""
        if self.video is not None:
            self._mux(self.video.encode(None))
        for stream in self.audio.values():
            self._mux(stream.encode(None))
        self.container.close()

    def abort(self) -> None:
        """Close without finishing (the caller deletes the file)."""
        # The file is being thrown away: an error closing it adds nothing to the real one.
        with contextlib.suppress(OSError, av.error.FFmpegError):
            self.container.close()

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self.container.mux(packet)
