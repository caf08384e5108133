"""Real files through a pass-through pipeline: timing, rotation, streams, colour, metadata."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

import mmpipe
from mmpipe.media.frames import PIXEL_FORMATS
from mmpipe.media.reader import read_analysis_frames, read_media
from mmpipe.pipeline.stage import VideoSpec
from tests.clips import decoded_rgb, frame_times, packet_bytes, pattern, write_clip


class RgbIdentity:
    """A stage that declares no ``pixel_formats``: the runner hands it RGB frames."""

    latency = 0

    def configure(self, spec: VideoSpec) -> VideoSpec:
        assert spec.pixel_format == "rgb24"
        return spec

    def process(self, frame: mmpipe.VideoFrame) -> Iterator[mmpipe.VideoFrame]:
        assert frame.pixel_format == "rgb24" and frame.image.shape[2] == 3
        yield frame

    def flush(self) -> Iterator[mmpipe.VideoFrame]:
        return iter(())


def passthrough(
    src: Path, out: Path, *, crf: float = 18, pixel_format: str = "yuv420p"
) -> mmpipe.RunReport:
    """Decode, carry every frame through an identity chain, encode.

    With no stage the frames stay in 4:2:0 planes; an RGB-only stage makes the runner
    convert to RGB and back.
    """
    stages = [] if pixel_format == "yuv420p" else [RgbIdentity()]
    return mmpipe.Pipeline(stages, encode=mmpipe.EncodeSettings(crf=crf)).run(src, out)


def test_constant_29_97_stays_30000_over_1001(tmp_path: Path) -> None:
    src = write_clip(
        tmp_path / "ntsc.mp4", rate=Fraction(30000, 1001), time_base=Fraction(1, 30000)
    )
    out = tmp_path / "out.mp4"
    passthrough(src, out)
    info = mmpipe.probe(out)
    assert info.video.average_rate == Fraction(30000, 1001)
    assert not info.video.variable_frame_rate
    assert frame_times(out) == pytest.approx(frame_times(src), abs=1e-6)


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_variable_frame_rate_timestamps_survive(tmp_path: Path, suffix: str) -> None:
    pts = [0, 1000, 2000, 4500, 5000, 8000, 9000, 9500, 12000, 13000]
    src = write_clip(tmp_path / "vfr.mp4", pts=pts, time_base=Fraction(1, 30000))
    assert mmpipe.probe(src).video.variable_frame_rate
    out = tmp_path / f"out{suffix}"
    passthrough(src, out)
    assert mmpipe.probe(out).video.variable_frame_rate
    before, after = np.array(frame_times(src)), np.array(frame_times(out))
    if suffix == ".mkv":
        # Matroska cannot store the negative decode times of B-frames: the muxer shifts
        # every stream by the same small offset, so intervals and A/V sync are kept.
        assert 0 <= after[0] - before[0] < 0.1
        after -= after[0] - before[0]
    assert after == pytest.approx(before, abs=1e-3)


@pytest.mark.parametrize("pixel_format", PIXEL_FORMATS)
@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_is_applied_to_pixels(tmp_path: Path, rotation: int, pixel_format: str) -> None:
    src = write_clip(tmp_path / "rot.mp4", size=(64, 48), rotation_deg=rotation)
    assert mmpipe.probe(src).video.rotation_deg == rotation
    out = tmp_path / "out.mp4"
    passthrough(src, out, crf=0, pixel_format=pixel_format)
    video = mmpipe.probe(out).video
    assert video.rotation_deg == 0
    expected = np.rot90(pattern(3, 64, 48), rotation // 90).astype(int)
    assert (video.width_px, video.height_px) == (expected.shape[1], expected.shape[0])
    assert np.abs(decoded_rgb(out)[3].astype(int) - expected).mean() < 6


def test_audio_is_copied_bit_exact_and_extras_kept(tmp_path: Path) -> None:
    meta = {"creation_time": "2024-05-06T07:08:09.000000Z", "location": "+48.8577+002.2950/"}
    src = write_clip(tmp_path / "in.mp4", audio_tracks=2, subtitles=True, metadata=meta)
    out = tmp_path / "out.mp4"
    report = passthrough(src, out)
    assert report.notes == []
    info = mmpipe.probe(out)
    assert [a.language for a in info.audio] == ["eng", "fra"]
    assert [o.kind for o in info.other] == ["subtitle"]
    for key, value in meta.items():
        assert info.metadata[key] == value
    for index in (1, 2):
        assert packet_bytes(out, index) == packet_bytes(src, index)
    source_info = mmpipe.probe(src)
    assert abs(info.audio[0].start_s - source_info.audio[0].start_s) < 1 / 30
    assert abs(info.video.start_s - source_info.video.start_s) < 1 / 30


def test_unstorable_stream_is_reported_not_silently_lost(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mkv", subtitles=True)  # subrip cannot go into mp4
    report = passthrough(src, tmp_path / "out.mp4")
    assert any("subtitle stream #2" in note and ".mkv" in note for note in report.notes)


@pytest.mark.parametrize("source_format", ["yuv420p", "yuvj420p"])
@pytest.mark.parametrize("pixel_format", PIXEL_FORMATS)
def test_colours_survive_a_pass_through(
    tmp_path: Path, pixel_format: str, source_format: str
) -> None:
    src = write_clip(tmp_path / "in.mp4", size=(128, 96), pix_fmt=source_format)
    assert mmpipe.probe(src).video.pixel_format == source_format
    out = tmp_path / "out.mp4"
    passthrough(src, out, crf=0, pixel_format=pixel_format)
    before, after = decoded_rgb(src), decoded_rgb(out)
    assert len(before) == len(after)
    error = np.abs(np.stack(before).astype(int) - np.stack(after).astype(int)).mean()
    assert error < 1.5


def test_ten_bit_input_is_written_at_eight_bit_with_a_note(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "hdr.mkv", codec="libx264", pix_fmt="yuv420p10le")
    assert mmpipe.probe(src).video.bit_depth == 10
    report = passthrough(src, tmp_path / "out.mp4")
    assert any("10-bit" in note and "8 bit" in note for note in report.notes)
    assert mmpipe.probe(tmp_path / "out.mp4").video.bit_depth == 8


def test_odd_dimensions_are_made_even_with_a_note(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "odd.mkv", size=(63, 47), codec="ffv1", pix_fmt="yuv444p")
    report = passthrough(src, tmp_path / "out.mp4")
    assert any("odd frame size 63x47" in note for note in report.notes)
    video = mmpipe.probe(tmp_path / "out.mp4").video
    assert (video.width_px, video.height_px) == (62, 46)


def test_probe_describes_streams(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mov", audio_channels=1, audio_rate=44_100, frames=30)
    info = mmpipe.probe(src)
    assert info.video.codec == "h264"
    assert info.video.frame_count == 30
    assert info.audio[0].sample_rate == 44_100 and info.audio[0].channels == 1
    assert info.duration_s == pytest.approx(1.0, abs=0.05)
    assert info.to_dict()["video"]["average_rate"] == "30/1"


@pytest.mark.parametrize(
    ("codec", "pix_fmt"),
    [("libx264", "yuv420p"), ("libx264", "yuvj420p"), ("ffv1", "yuv444p")],
)
def test_analysis_frames_are_full_range_grey_of_the_display_picture(
    tmp_path: Path, codec: str, pix_fmt: str
) -> None:
    src = write_clip(
        tmp_path / "in.mkv", size=(128, 96), frames=3, codec=codec, pix_fmt=pix_fmt, rotation_deg=90
    )
    info = mmpipe.probe(src)
    frames = list(read_analysis_frames(src, info, width_px=48))
    assert [f.index for f in frames] == [0, 1, 2]
    coded = cv2.cvtColor(decoded_rgb(src)[1], cv2.COLOR_RGB2GRAY)
    upright = np.ascontiguousarray(np.rot90(coded, 1))  # 96 wide, 128 high
    expected = cv2.resize(upright, (48, 64), interpolation=cv2.INTER_AREA)
    assert frames[1].grey.shape == (64, 48) and frames[1].scale == pytest.approx(0.5)
    assert np.abs(frames[1].grey.astype(int) - expected).mean() < 3


def test_decoded_audio_ends_where_the_stream_does_and_keeps_its_length(tmp_path: Path) -> None:
    # 13 frames at 30 fps: not a whole number of 1,024-sample AAC frames, so the encoder pads
    # the last frame; the packets declare where the real samples end
    src = write_clip(tmp_path / "in.mp4", frames=13, audio_channels=1)
    written = int(13 / 30 * 48_000)  # the tone's length (tests/clips.py)
    assert written % 1024
    info = mmpipe.probe(src)
    decoded = sum(
        item.block.samples.shape[1]
        for item in read_media(src, info, decode_video=False, decode_audio={1}, copy=set())
    )
    assert decoded == written  # the padding of the last AAC frame is not audio
    out = tmp_path / "out.mp4"
    mmpipe.denoise(src, out)
    assert mmpipe.probe(out).audio[0].duration_s == mmpipe.probe(src).audio[0].duration_s
