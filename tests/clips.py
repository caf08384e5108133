"""Generated media fixtures: small clips with known content, timing and streams."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """A frame whose content identifies its index and orientation (a bright top-left corner)."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (x * 255 // max(1, width - 1)).astype(np.uint8)
    image[..., 1] = (y * 255 // max(1, height - 1)).astype(np.uint8)
    image[..., 2] = (index * 8) % 256
    image[: height // 4, : width // 4] = 255
    return image


def write_clip(
    path: Path,
    *,
    size: tuple[int, int] = (64, 48),
    frames: int = 12,
    rate: Fraction = Fraction(30),
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    rotation_deg: int = 0,
    audio_tracks: int = 1,
    audio_rate: int = 48_000,
    audio_channels: int = 2,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    metadata: dict[str, str] | None = None,
    subtitles: bool = False,
    preset: str = "ultrafast",
    images: Sequence[np.ndarray] | None = None,
) -> Path:
    """Write a clip: ``images`` (default: pattern frames) at ``pts`` (default: one per
    1/rate), sine-tone audio. ``size`` and ``frames`` follow ``images`` when given."""
    if images is not None:
        frames, size = len(images), (images[0].shape[1], images[0].shape[0])
    width, height = size
    time_base = time_base or Fraction(1, rate.numerator * 1000 // rate.denominator or 1)
    if pts is None:
        step = 1 / (rate * time_base)
        pts = [round(i * step) for i in range(frames)]
    with av.open(str(path), "w") as container:
        container.metadata.update(metadata or {})
        video = container.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = time_base
        video.codec_context.time_base = time_base
        if codec == "libx264":
            video.options = {"preset": preset, "crf": "18"}
        if rotation_deg:
            video.set_display_rotation(rotation_deg)
        audio_streams = [
            container.add_stream(
                "aac", rate=audio_rate, layout="stereo" if audio_channels == 2 else "mono"
            )
            for _ in range(audio_tracks)
        ]
        for i, stream in enumerate(audio_streams):
            stream.metadata["language"] = ["eng", "fra", "deu"][i % 3]
        subtitle = None
        if subtitles:
            subtitle = container.add_mux_stream("mov_text" if path.suffix == ".mp4" else "subrip")
            subtitle.time_base = Fraction(1, 1000)
        for i, p in enumerate(pts):
            image = images[i] if images is not None else pattern(i, width, height)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts, frame.time_base = p, time_base
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        duration_s = float(pts[-1] * time_base) + 1 / float(rate) if len(pts) else 0.0
        for track, stream in enumerate(audio_streams):
            _write_tone(container, stream, duration_s, 440.0 * (track + 1), audio_channels)
        if subtitle is not None:
            _write_subtitle(container, subtitle)
    return path


def _write_tone(container, stream, duration_s: float, hz: float, channels: int) -> None:
    rate = stream.codec_context.sample_rate
    total = int(duration_s * rate)
    t = np.arange(total) / rate
    tone = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    samples = np.repeat(tone[None], channels, axis=0)
    layout = "stereo" if channels == 2 else "mono"
    for start in range(0, total, 1024):
        chunk = np.ascontiguousarray(samples[:, start : start + 1024])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate, frame.pts = rate, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def _write_subtitle(container, stream) -> None:
    """A single subtitle cue, muxed as a raw packet."""
    text = b"\x00\x05hello" if container.format.name == "mp4" else b"hello"
    packet = av.Packet(text)
    packet.stream = stream
    packet.pts, packet.dts, packet.duration = 0, 0, 500
    packet.time_base = Fraction(1, 1000)
    container.mux(packet)


def write_audio_only(path: Path, *, seconds: float = 0.5) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48_000, layout="mono")
        _write_tone(container, stream, seconds, 440.0, 1)
    return path


def decoded_rgb(path: Path) -> list[np.ndarray]:
    """Every frame of the first video stream, RGB, as coded (no rotation applied)."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


def packet_bytes(path: Path, stream_index: int) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = container.streams[stream_index]
        return [bytes(p) for p in container.demux(stream) if p.size]
