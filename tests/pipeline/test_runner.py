"""The runner: stage chains, audio re-encoding, atomic output, bounded memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import mmpipe
from mmpipe.pipeline.runner import _Worker
from mmpipe.pipeline.stage import AudioSpec, VideoSpec
from tests.clips import decoded_rgb, frame_times, packet_bytes, write_clip


class Invert:
    """A video stage for tests: inverts every frame, holding ``latency`` frames back."""

    def __init__(self, latency: int = 0) -> None:
        self.latency = latency
        self.held: list[mmpipe.VideoFrame] = []

    def configure(self, spec: VideoSpec) -> VideoSpec:
        return spec

    def process(self, frame: mmpipe.VideoFrame) -> Iterator[mmpipe.VideoFrame]:
        self.held.append(replace(frame, image=255 - frame.image))
        while len(self.held) > self.latency:
            yield self.held.pop(0)

    def flush(self) -> Iterator[mmpipe.VideoFrame]:
        yield from self.held
        self.held = []


class Gain:
    """An audio stage for tests: scales the samples."""

    latency = 0

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def configure(self, spec: AudioSpec) -> AudioSpec:
        return spec

    def process(self, block: mmpipe.AudioBlock) -> Iterator[mmpipe.AudioBlock]:
        yield replace(block, samples=block.samples * self.factor)

    def flush(self) -> Iterator[mmpipe.AudioBlock]:
        return iter(())


class Explode(Invert):
    def process(self, frame: mmpipe.VideoFrame) -> Iterator[mmpipe.VideoFrame]:
        if frame.index == 5:
            raise mmpipe.MediaError("stage failed on purpose")
        yield frame


def test_stages_with_latency_keep_every_frame_and_timestamp(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=20)
    out = tmp_path / "out.mp4"
    report = mmpipe.Pipeline(video=[Invert(latency=3), Invert(latency=2)]).run(src, out)
    assert report.frames_in == report.frames_out == 20
    assert frame_times(out) == pytest.approx(frame_times(src))
    inverted_twice = np.stack(decoded_rgb(out)).astype(int)
    assert np.abs(inverted_twice - np.stack(decoded_rgb(src)).astype(int)).mean() < 3


def test_output_gets_the_mode_of_an_ordinary_new_file(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=3)
    out = tmp_path / "out.mp4"
    mmpipe.Pipeline(video=[Invert()]).run(src, out)
    (tmp_path / "plain").touch()
    assert out.stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777


def test_audio_stage_reencodes_at_source_rate_and_channels(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", audio_rate=44_100, audio_channels=1, frames=30)
    out = tmp_path / "out.mp4"
    mmpipe.Pipeline(audio=[Gain(0.5)]).run(src, out)
    before, after = mmpipe.probe(src).audio[0], mmpipe.probe(out).audio[0]
    assert (after.sample_rate, after.channels) == (44_100, 1)
    assert abs(after.start_s - before.start_s) < 1 / 30
    assert abs(after.duration_s - before.duration_s) < 1 / 30


def test_audio_stage_on_a_clip_without_audio_is_skipped_with_a_note(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", audio_tracks=0)
    report = mmpipe.Pipeline(audio=[Gain(0.5)]).run(src, tmp_path / "out.mp4")
    assert any("no audio stream" in note for note in report.notes)
    assert (tmp_path / "out.mp4").exists()


def test_a_failing_stage_leaves_no_output_and_keeps_an_existing_one(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=20)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    with pytest.raises(mmpipe.MediaError, match="on purpose"):
        mmpipe.Pipeline(video=[Explode()]).run(src, out)
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


def test_something_that_is_not_a_stage_is_a_config_error() -> None:
    with pytest.raises(mmpipe.ConfigError, match="is not a stage"):
        mmpipe.Pipeline(video=["stabilize"])


MEMORY_SCRIPT = """
import json, resource, sys
import mmpipe
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
mmpipe.Pipeline(encode=mmpipe.EncodeSettings(preset="ultrafast")).run(sys.argv[1], sys.argv[2])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kib": before, "peak_kib": peak}))
"""


def test_peak_memory_does_not_grow_with_clip_length(tmp_path: Path) -> None:
    frames, width, height = 3000, 1280, 720
    src = write_clip(tmp_path / "long.mp4", size=(width, height), frames=frames, audio_tracks=1)
    out = tmp_path / "out.mp4"
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(src), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    usage = json.loads(result.stdout)
    holding_all_frames_kib = frames * width * height * 3 // 1024
    assert mmpipe.probe(out).video.frame_count == frames
    assert usage["peak_kib"] < holding_all_frames_kib / 10, usage


class CountingTwoPass(Invert):
    """A two-pass stage for tests: records what the analysis pass saw."""

    analysis_width_px = 32

    def analyze(self, frames: Iterator[mmpipe.AnalysisFrame], spec: VideoSpec) -> None:
        self.seen = [(f.index, f.grey.shape, f.pts) for f in frames]
        self.spec = spec


def test_two_pass_stage_sees_every_frame_downscaled_before_rendering(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", size=(128, 96), frames=15, rotation_deg=90)
    stage = CountingTwoPass()
    phases = []
    mmpipe.Pipeline(video=[stage]).run(src, tmp_path / "out.mp4", on_progress=phases.append)
    assert [index for index, _, _ in stage.seen] == list(range(15))
    assert {shape for _, shape, _ in stage.seen} == {(43, 32)}  # display orientation, 32 wide
    assert (stage.spec.width_px, stage.spec.height_px) == (96, 128)
    # one report per frame, and the last once more just before the output is put in place
    assert [p.phase for p in phases] == ["analyze"] * 15 + ["render"] * 16
    assert phases[-1] == phases[-2]


def test_hard_link_to_the_input_is_refused(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4")
    (tmp_path / "link.mp4").hardlink_to(src)
    with pytest.raises(mmpipe.ConfigError, match="the output is the input"):
        mmpipe.enhance(src, tmp_path / "link.mp4")


def test_ctrl_c_leaves_no_output(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", size=(1280, 720), frames=900)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mmpipe.cli",
            "enhance",
            str(src),
            "--no-stabilize",
            "-o",
            str(tmp_path / "o.mp4"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".o.*partial.mp4")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "mmpipe: interrupted; no output was written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def write_wav(path: Path, samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    import soundfile

    soundfile.write(path, samples.T, rate, subtype=subtype)
    return path


@pytest.mark.parametrize(
    ("suffix", "subtype", "tolerance"),
    [(".wav", "PCM_16", 2e-4), (".wav", "FLOAT", 1e-6), (".flac", "PCM_24", 1e-5)],
)
def test_audio_file_through_an_audio_stage(
    tmp_path: Path, suffix: str, subtype: str, tolerance: float
) -> None:
    import soundfile

    rng = np.random.default_rng(0)
    samples = (0.3 * rng.standard_normal((2, 44_100))).clip(-1, 1).astype(np.float32)
    src = write_wav(tmp_path / "in.wav", samples, 44_100, subtype)
    out = tmp_path / f"out{suffix}"
    seen = []
    mmpipe.Pipeline(video=None, audio=[Gain(0.5)]).run(src, out, on_progress=seen.append)
    result, rate = soundfile.read(out, dtype="float32", always_2d=True)
    assert rate == 44_100 and result.shape == (44_100, 2)
    assert np.abs(result.T - 0.5 * soundfile.read(src, dtype="float32")[0].T).max() < tolerance
    assert seen[-1].unit == "s" and seen[-1].frames_done == pytest.approx(1.0)


def test_audio_only_job_copies_the_video_untouched(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", rotation_deg=90, audio_tracks=2)
    out = tmp_path / "out.mp4"
    mmpipe.Pipeline(video=None, audio=[Gain(0.5)]).run(src, out)
    assert packet_bytes(out, 0) == packet_bytes(src, 0)
    assert packet_bytes(out, 2) == packet_bytes(src, 2)
    info = mmpipe.probe(out)
    assert info.video.rotation_deg == 90
    assert abs(info.audio[0].duration_s - mmpipe.probe(src).audio[0].duration_s) < 1 / 30


def test_audio_can_be_extracted_from_a_video(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", audio_channels=1)
    report = mmpipe.Pipeline(video=None, audio=[Gain(0.5)]).run(src, tmp_path / "voice.wav")
    assert any("video stream is not written" in note for note in report.notes)
    info = mmpipe.probe(tmp_path / "voice.wav")
    assert info.video is None and info.audio[0].codec == "pcm_s16le"


def test_pipelines_that_cannot_apply(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "in.wav", np.zeros((1, 4800), np.float32), 48_000)
    with pytest.raises(mmpipe.MediaError, match="no video stream"):
        mmpipe.Pipeline(video=[Invert()]).run(wav, tmp_path / "out.mp4")
    with pytest.raises(mmpipe.ConfigError, match="nothing to do"):
        mmpipe.Pipeline(video=None).run(wav, tmp_path / "out.wav")
    silent = write_clip(tmp_path / "silent.mp4", audio_tracks=0)
    with pytest.raises(mmpipe.MediaError, match="no audio stream"):
        mmpipe.Pipeline(video=None, audio=[Gain(0.5)]).run(silent, tmp_path / "out.mp4")
    with pytest.raises(mmpipe.ConfigError, match="holds no video"):
        mmpipe.Pipeline(video=[Invert()]).run(silent, tmp_path / "out.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "silent.mp4"]


class Record:
    """A stage that takes either layout and records what it was given."""

    latency = 0
    pixel_formats = ("yuv420p", "rgb24")

    def __init__(self) -> None:
        self.frames: list[mmpipe.VideoFrame] = []

    def configure(self, spec: VideoSpec) -> VideoSpec:
        self.spec = spec
        return spec

    def process(self, frame: mmpipe.VideoFrame) -> Iterator[mmpipe.VideoFrame]:
        self.frames.append(frame)
        yield frame

    def flush(self) -> Iterator[mmpipe.VideoFrame]:
        return iter(())


@pytest.mark.parametrize(("size", "expected"), [((64, 48), "yuv420p"), ((63, 47), "rgb24")])
def test_frames_stay_in_yuv_planes_when_every_stage_takes_them(
    tmp_path: Path, size: tuple[int, int], expected: str
) -> None:
    src = write_clip(tmp_path / "in.mkv", size=size, frames=5, codec="ffv1", pix_fmt="yuv420p")
    stage = Record()
    mmpipe.Pipeline([stage]).run(src, tmp_path / "out.mp4")
    assert stage.spec.pixel_format == expected
    assert stage.spec.full_range == (expected == "rgb24")  # the clip is limited-range YUV
    assert [f.pixel_format for f in stage.frames] == [expected] * 5
    height = size[1] * 3 // 2 if expected == "yuv420p" else size[1]
    assert stage.frames[0].image.shape[:2] == (height, size[0])
    mixed = Record()
    assert mmpipe.Pipeline([mixed, Invert()]).run(src, tmp_path / "b.mp4").frames_out == 5
    assert mixed.spec.pixel_format == "rgb24"  # Invert takes only RGB


def test_a_callback_cancelling_at_the_last_report_leaves_no_output(tmp_path: Path) -> None:
    """The CLI's Ctrl-C safety net: a cancel seen only at the very end still writes nothing."""
    src = write_clip(tmp_path / "in.mp4", frames=5)
    seen: list[mmpipe.Progress] = []

    def cancel_at_the_end(progress: mmpipe.Progress) -> None:
        if seen and progress is seen[-1]:
            raise KeyboardInterrupt
        seen.append(progress)

    with pytest.raises(KeyboardInterrupt):
        mmpipe.Pipeline().run(src, tmp_path / "out.mp4", on_progress=cancel_at_the_end)
    assert len(seen) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_a_second_ctrl_c_does_not_cut_short_the_encoders_stop(tmp_path: Path) -> None:
    # the runner removes the partial output right after abandon(): were the encoder thread
    # still running then, it could open or write that file again
    encoder = _Worker("test-encode")
    running, release = threading.Event(), threading.Event()
    encoder.submit(lambda: (running.set(), release.wait(10)))
    encoder.submit(lambda: (tmp_path / "queued call ran").touch())
    running.wait(10)

    def interrupt_then_release() -> None:
        time.sleep(0.2)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # the second Ctrl-C
        time.sleep(0.3)
        release.set()

    helper = threading.Thread(target=interrupt_then_release)
    helper.start()
    try:
        encoder.abandon()
    except KeyboardInterrupt:
        pytest.fail("abandon() returned on a Ctrl-C while the encoder thread still ran")
    finally:
        helper.join()
    assert release.is_set() and not encoder.thread.is_alive()
    assert not os.listdir(tmp_path)  # calls still queued are dropped


def test_the_encoder_thread_hears_of_work_after_a_notify_cut_short() -> None:
    # a Ctrl-C in Queue.put between waking the encoder thread's waiter and striking it off
    # the condition's list leaves a stale waiter that takes the next notification
    encoder = _Worker("test-encode")
    condition, deadline = encoder.calls.not_empty, time.monotonic() + 5
    while time.monotonic() < deadline:
        with encoder.calls.mutex:
            if condition._waiters:  # the encoder thread waits for work
                condition._waiters[0].release()  # woken, not struck off: what the cut leaves
                break
        time.sleep(0.01)
    else:
        pytest.fail("the encoder thread never waited")
    time.sleep(0.3)  # it wakes, finds no work and waits again behind the stale waiter
    done = threading.Event()
    encoder.submit(done.set)
    assert done.wait(5), "the encoder thread slept through the submitted call"
    encoder.finish()
