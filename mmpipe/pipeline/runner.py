"""The runner: decode -> stages -> encode, with a bounded queue between threads.

This is the only module that knows about threads. Decoding runs in a background thread
that feeds a bounded queue; stages and the encoder run in the calling thread. Output goes
to a temporary file beside the target that is renamed only on success.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TypeVar

import av

from mmpipe.errors import ConfigError, MediaError, MmpipeError
from mmpipe.media.convert import ColorConversion
from mmpipe.media.frames import AudioBlock, VideoFrame
from mmpipe.media.probe import MediaInfo, probe
from mmpipe.media.reader import DecodedAudio, read_analysis_frames, read_media
from mmpipe.media.writer import (
    AUDIO_FORMATS,
    EncodeSettings,
    MediaFileWriter,
    even_size,
    output_format,
)
from mmpipe.pipeline.stage import AudioSpec, AudioStage, TwoPassVideoStage, VideoSpec, VideoStage

log = logging.getLogger(__name__)

T = TypeVar("T")
QUEUE_ITEMS = 8  # decoded frames in flight between the decode thread and the stages
TEMP_NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"  # those mkstemp uses


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported to ``on_progress`` as work is done: ``phase`` is "analyze" or "render".

    Counted in video frames, or in seconds of audio (``unit="s"``) when no video is encoded.
    The last report comes once more just before the output is put in place, so a callback
    that raises there (to cancel) still leaves no output.
    """

    phase: str
    frames_done: float
    frames_total: float
    elapsed_s: float
    unit: str = "frame"  # "s" when an audio-only job counts seconds of sound


@dataclass
class RunReport:
    """What a run did: frame counts, notes a user should read, and the time it took."""

    output: Path
    frames_in: int = 0
    frames_out: int = 0
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        log.warning(message)
        self.notes.append(message)


ProgressCallback = Callable[[Progress], None]


class Pipeline:
    """Video and audio stages applied in one streaming pass over a media file.

    ``video``: the video stages; an empty list still decodes and re-encodes every frame,
    ``None`` copies the video stream untouched (for jobs that change only the audio, and
    for audio files). ``audio``: stages for the first audio stream; the other audio
    streams, and the first one when there are no audio stages, are copied bit-exact.
    ``video_only``: write no other stream (each one left out gets a note), for stages that
    change the video's duration, such as slow motion.

    >>> Pipeline(video=[], audio=[]).run("in.mp4", "out.mp4")  # doctest: +SKIP
    """

    def __init__(
        self,
        video: Sequence[VideoStage] | None = (),
        audio: Sequence[AudioStage] = (),
        *,
        encode: EncodeSettings | None = None,
        video_only: bool = False,
    ) -> None:
        if video_only and (video is None or audio):
            raise ConfigError("video_only writes the video alone: give video stages, no audio")
        for stage in [*(video or ()), *audio]:
            if not isinstance(stage, VideoStage | AudioStage):
                raise ConfigError(
                    f"{stage!r} is not a stage (it needs configure, process, flush and latency); "
                    "pass mmpipe stages such as mmpipe.Stabilize()"
                )
        _check_order(list(video or ()))
        self.copy_video = video is None
        self.video = list(video or ())
        self.audio = list(audio)
        self.encode = encode or EncodeSettings()
        self.video_only = video_only

    def analyze(
        self,
        input_path: str | os.PathLike[str],
        *,
        on_progress: ProgressCallback | None = None,
    ) -> VideoSpec:
        """Run only the analysis pass of the two-pass stages and configure every stage.

        Nothing is written; the stages keep what they measured (a stabilizer its plan).
        Returns the spec of the video the pipeline would write.
        """
        source = Path(input_path)
        info = probe(source)
        _check_video(source, info)
        return _prepare(self.video, source, info, on_progress, time.monotonic())

    def run(
        self,
        input_path: str | os.PathLike[str],
        output_path: str | os.PathLike[str],
        *,
        on_progress: ProgressCallback | None = None,
    ) -> RunReport:
        """Process ``input_path`` into ``output_path`` (written atomically; never the input)."""
        source, target = Path(input_path), Path(output_path)
        format_name = output_format(target)
        info = probe(source)
        _check_target(source, target)
        report = RunReport(output=target)
        job = _plan_job(self, source, info, format_name, report)
        started = time.monotonic()
        spec = None
        if job.encode_video:
            spec = _prepare(self.video, source, info, on_progress, started)
        sent: list[Progress] = []

        def progress(update: Progress) -> None:
            sent[:] = [update]
            if on_progress:
                on_progress(update)

        with temp_output(target) as tmp:
            _render(job, source, tmp, format_name, info, spec, report, progress)
            if on_progress and sent:  # once more just before the output is put in place
                on_progress(sent[0])
            os.replace(tmp, target)
        report.elapsed_s = time.monotonic() - started
        return report


def _check_order(stages: list[VideoStage]) -> None:
    """A stage that needs the views ``Stabilize(fill="none")`` attaches to its frames
    (``needs_stabilized``, e.g. FillBorders) must come directly after a stage that can
    attach them (``keep_full_frame``, e.g. Stabilize, which then renders the full frame)."""
    for position, stage in enumerate(stages):
        if not getattr(stage, "needs_stabilized", False):
            continue
        before = stages[position - 1] if position else None
        if hasattr(before, "keep_full_frame"):
            before.keep_full_frame()
        if not getattr(before, "yields_stabilized", False):
            raise ConfigError(
                f"{type(stage).__name__} (video stage {position + 1}) fills what "
                "Stabilize leaves empty: put a Stabilize directly before it"
            )


def temp_affixes(name: str) -> tuple[str, str]:
    """Prefix and suffix of the temporary file an output ``name`` is written to before its
    rename (`temp_name` puts 8 random characters between): ``.STEM.XXXXXXXX.partial.EXT``,
    one leading dot only for names that already start with one."""
    path = PurePosixPath(name)
    prefix = f"{path.stem}." if path.stem.startswith(".") else f".{path.stem}."
    return prefix, f".partial{path.suffix}"


def temp_name(name: str) -> str:
    """A fresh temporary name for an output ``name`` (``.STEM.XXXXXXXX.partial.EXT``)."""
    prefix, suffix = temp_affixes(name)
    return prefix + "".join(secrets.choice(TEMP_NAME_CHARACTERS) for _ in range(8)) + suffix


@contextlib.contextmanager
def temp_output(target: Path) -> Iterator[Path]:
    """A new empty file beside ``target`` (named by `temp_name`, ordinary permissions) to
    write the output into and ``os.replace`` onto ``target``; removed if the body fails or is
    interrupted before that. It is created inside the cleanup's ``try``, so a Ctrl-C at any
    moment leaves no file behind."""
    tmp = target.parent / temp_name(target.name)
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _default_mode()))
        yield tmp
    except FileExistsError:
        raise  # the random name is taken (one chance in 37**8): not ours to remove
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@functools.cache
def _default_mode() -> int:
    """The mode a new file gets under the process's umask (0o644 under the usual 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@dataclass(frozen=True)
class _Job:
    """What one run does with each kind of stream."""

    pipeline: Pipeline
    encode_video: bool  # decode, run the video stages, encode
    copy_video: bool  # mux the video packets unchanged
    audio_stages: list[AudioStage]
    stage_audio: int | None  # index of the audio stream the audio stages process


def _plan_job(
    pipeline: Pipeline, source: Path, info: MediaInfo, format_name: str, report: RunReport
) -> _Job:
    audio_only_output = format_name in AUDIO_FORMATS
    encode_video = not pipeline.copy_video  # video=[] still decodes and re-encodes
    if encode_video:
        _check_video(source, info)
        if audio_only_output:
            raise ConfigError(
                f"{format_name} output holds no video, but video stages were asked for; "
                "write .mp4/.mov/.mkv"
            )
    elif not pipeline.audio:
        raise ConfigError("nothing to do: no stage changes the video or the audio")
    video = info.video
    if encode_video:
        assert video is not None
        if video.bit_depth > 8:
            report.note(
                f"{video.bit_depth}-bit video ({video.pixel_format}) is processed and "
                "written at 8 bit; colour tags are kept, HDR precision is not"
            )
        even_w, even_h = even_size(video.display_width_px, video.display_height_px)
        if (even_w, even_h) != (video.display_width_px, video.display_height_px):
            report.note(
                f"odd frame size {video.display_width_px}x{video.display_height_px}: "
                f"H.264 4:2:0 needs even sizes, so the output is {even_w}x{even_h} "
                "(the last row/column is dropped)"
            )
    if video is not None and audio_only_output:
        report.note(f"the video stream is not written: {format_name} holds audio only")
    audio_stages = pipeline.audio
    if audio_stages and not info.audio:
        if not encode_video:
            raise MediaError(f"{source}: has no audio stream; pass a file with sound")
        report.note(f"{source}: has no audio stream; the audio stages are skipped")
        audio_stages = []
    return _Job(
        pipeline=pipeline,
        encode_video=encode_video,
        copy_video=not encode_video and video is not None and not audio_only_output,
        audio_stages=audio_stages,
        stage_audio=info.audio[0].index if audio_stages else None,
    )


def _check_target(source: Path, target: Path) -> None:
    if target.exists() and os.path.samefile(source, target):
        raise ConfigError(f"{target}: the output is the input; choose another output path")
    folder = target.parent
    if not folder.is_dir():
        raise MediaError(f"{folder}: the output folder does not exist; create it or choose another")
    if not os.access(folder, os.W_OK):
        raise MediaError(f"{folder}: the output folder is not writable; choose another")
    if target.is_dir():
        raise MediaError(f"{target}: is a folder; give a file name such as {target / 'out.mp4'}")


def _check_video(source: Path, info: MediaInfo) -> None:
    if info.video is None:
        raise MediaError(f"{source}: has no video stream; pass a video file")
    if info.video.frame_count == 0:
        raise MediaError(f"{source}: the video stream has no frames (zero-length clip)")


def _prepare(
    stages: list[VideoStage],
    source: Path,
    info: MediaInfo,
    on_progress: ProgressCallback | None,
    started: float,
) -> VideoSpec:
    """Analysis pass of each two-pass stage that needs one, then configure the chain."""
    spec = _video_spec(info, _pixel_format(stages, info))
    for stage in stages:
        if isinstance(stage, TwoPassVideoStage) and getattr(stage, "needs_analysis", True):
            _analyze(stage, source, info, spec, on_progress, started)
        spec = stage.configure(spec)
    return spec


def _pixel_format(stages: list[VideoStage], info: MediaInfo) -> str:
    """yuv420p when every stage takes it and the picture is even-sized, else rgb24."""
    video = info.video
    assert video is not None
    size = (video.display_width_px, video.display_height_px)
    takes_yuv = all("yuv420p" in getattr(s, "pixel_formats", ("rgb24",)) for s in stages)
    return "yuv420p" if takes_yuv and even_size(*size) == size else "rgb24"


def _video_spec(info: MediaInfo, pixel_format: str) -> VideoSpec:
    video = info.video
    assert video is not None
    return VideoSpec(
        width_px=video.display_width_px,
        height_px=video.display_height_px,
        time_base=video.time_base,
        average_rate=video.average_rate,
        frame_count=video.frame_count,
        duration_s=video.duration_s,
        variable_frame_rate=video.variable_frame_rate,
        pixel_format=pixel_format,
        full_range=pixel_format == "rgb24" or ColorConversion(video).full_range,
    )


def _analyze(
    stage: TwoPassVideoStage,
    source: Path,
    info: MediaInfo,
    spec: VideoSpec,
    on_progress: ProgressCallback | None,
    started: float,
) -> None:
    total = spec.frame_count

    def frames() -> Iterator:
        analysis = read_analysis_frames(source, info, width_px=stage.analysis_width_px)
        for frame in _prefetch(analysis):
            yield frame
            if on_progress:
                on_progress(Progress("analyze", frame.index + 1, total, time.monotonic() - started))

    stage.analyze(frames(), spec)


def _render(
    job: _Job,
    source: Path,
    tmp: Path,
    format_name: str,
    info: MediaInfo,
    spec: VideoSpec | None,
    report: RunReport,
    on_progress: ProgressCallback | None,
) -> None:
    with av.open(str(source), metadata_errors="ignore") as templates:
        writer = MediaFileWriter(tmp, format_name=format_name, metadata=info.metadata)
        try:
            if job.encode_video:
                assert info.video is not None and spec is not None
                writer.add_video(
                    width_px=spec.width_px,
                    height_px=spec.height_px,
                    rate=spec.average_rate,
                    time_base=spec.time_base,
                    colour=ColorConversion(info.video),
                    settings=job.pipeline.encode,
                    language=templates.streams[info.video.index].metadata.get("language"),
                )
            decoded_audio = _add_streams(job, writer, templates, info, report)
            _stream(job, source, writer, info, spec, decoded_audio, report, on_progress)
            writer.close()
        except BaseException:
            writer.abort()
            raise


def _add_streams(
    job: _Job,
    writer: MediaFileWriter,
    templates: av.container.InputContainer,
    info: MediaInfo,
    report: RunReport,
) -> set[int]:
    """Add every stream but the encoded video to the output; return the audio to decode."""
    decoded: set[int] = set()
    container = writer.container.format.name
    for stream in templates.streams:
        codec = stream.codec_context.name if stream.codec_context else "unknown"
        if info.video is not None and stream.index == info.video.index:
            if job.copy_video:
                writer.add_copy(stream)
            continue
        if job.pipeline.video_only:
            report.note(
                f"{stream.type} stream #{stream.index} ({codec}) is not written: this job "
                "changes the video's duration, so it would be out of sync"
            )
        elif stream.index == job.stage_audio:
            writer.add_audio(stream)
            decoded.add(stream.index)
        elif writer.holds_audio_only:
            report.note(
                f"{stream.type} stream #{stream.index} ({codec}) is not written: {container}"
            )
        elif stream.type in ("audio", "subtitle", "data") and writer.can_store(codec):
            writer.add_copy(stream)
        elif stream.type == "audio":
            writer.add_audio(stream)
            decoded.add(stream.index)
            report.note(
                f"audio stream #{stream.index} ({codec}) cannot be stored in {container}; "
                "re-encoded as AAC (write .mkv to keep it as is)"
            )
        else:
            report.note(
                f"{stream.type} stream #{stream.index} ({codec}) cannot be stored in "
                f"{container} and is dropped; write .mkv to keep it"
            )
    return decoded


def _stream(
    job: _Job,
    source: Path,
    writer: MediaFileWriter,
    info: MediaInfo,
    spec: VideoSpec | None,
    decoded_audio: set[int],
    report: RunReport,
    on_progress: ProgressCallback | None,
) -> None:
    started = time.monotonic()
    video_stages, audio_stages = job.pipeline.video, job.audio_stages
    if job.stage_audio is not None:
        audio = next(a for a in info.audio if a.index == job.stage_audio)
        for stage in audio_stages:
            stage.configure(AudioSpec(sample_rate=audio.sample_rate, channels=audio.channels))
    items = read_media(
        source,
        info,
        decode_video=job.encode_video,
        decode_audio=decoded_audio,
        copy=set(writer.copied),
        pixel_format=spec.pixel_format if spec is not None else "rgb24",  # stages keep it
    )
    audio_total_s = info.audio[0].duration_s if info.audio else 0.0
    encoder = _Worker("mmpipe-encode")
    try:
        for item in _prefetch(items):
            if isinstance(item, VideoFrame):
                report.frames_in += 1
                for out in _through(video_stages, item):
                    encoder.submit(writer.write_video, _pixels_only(out))
                    report.frames_out += 1
                if on_progress and spec is not None:
                    elapsed = time.monotonic() - started
                    total = info.video.frame_count if info.video else 0  # counts input frames
                    on_progress(Progress("render", report.frames_in, total, elapsed))
            elif isinstance(item, DecodedAudio):
                stages = audio_stages if item.stream_index == job.stage_audio else []
                for block in _through(stages, item.block):
                    encoder.submit(writer.write_audio, item.stream_index, block)
                if on_progress and not job.encode_video and stages:
                    end_s = (item.block.start + item.block.n_samples) / item.block.sample_rate
                    done_s = min(end_s, audio_total_s) if audio_total_s else end_s
                    elapsed = time.monotonic() - started
                    on_progress(Progress("render", done_s, audio_total_s, elapsed, unit="s"))
            else:
                encoder.submit(writer.write_packet, item)
        for out in _flush(video_stages):
            encoder.submit(writer.write_video, _pixels_only(out))
            report.frames_out += 1
        if job.stage_audio is not None:
            for block in _flush(audio_stages):
                encoder.submit(writer.write_audio, job.stage_audio, block)
    except BaseException:
        encoder.abandon()
        raise
    encoder.finish()
    if job.encode_video and report.frames_in == 0:
        raise MediaError(f"{source}: no video frame could be decoded; the file is corrupt")


def _pixels_only(frame: VideoFrame) -> VideoFrame:
    """The frame without a stabilized view: the encoder needs only the pixels, and frames
    waiting in its queue should not keep their decoded pictures alive too."""
    return frame if frame.stabilized is None else replace(frame, stabilized=None)


def _through(stages: list, item: VideoFrame | AudioBlock) -> Iterator:
    """Push one item through a chain of stages, yielding what comes out of the last one."""
    if not stages:
        yield item
        return
    first, rest = stages[0], stages[1:]
    for out in first.process(item):
        yield from _through(rest, out)


def _flush(stages: list) -> Iterator:
    """Flush a chain in order: what stage i flushes still passes through stages i+1..."""
    for i, stage in enumerate(stages):
        for out in stage.flush():
            yield from _through(stages[i + 1 :], out)


_DONE = object()


def _prefetch(items: Iterable[T], maxsize: int = QUEUE_ITEMS) -> Iterator[T]:
    """Iterate ``items`` in a background thread through a bounded queue.

    An exception in the thread is re-raised here; leaving the loop early stops the thread.
    """
    buffer: queue.Queue = queue.Queue(maxsize=maxsize)
    stop = threading.Event()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consuming thread, which raises it
            put(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="mmpipe-decode", daemon=True)
    thread.start()
    try:
        while True:
            value = buffer.get()
            if value is _DONE:
                return
            if isinstance(value, BaseException):
                if isinstance(value, (MmpipeError, KeyboardInterrupt)):
                    raise value
                raise MediaError(f"decoding failed: {value}") from value
            yield value
    finally:
        stop.set()
        thread.join()


def _despite_interrupts(wait: Callable[[], object]) -> None:
    """Call ``wait`` until it returns, calling it again when a Ctrl-C interrupts it."""
    while True:
        try:
            wait()
            return
        except KeyboardInterrupt:
            continue


class _Worker:
    """Runs submitted calls in order on one background thread, through a bounded queue.

    The encoder and muxer live here, so encoding overlaps decoding and the stages. The
    first error is raised from the next `submit` or from `finish`.
    """

    def __init__(self, name: str, maxsize: int = QUEUE_ITEMS) -> None:
        self.calls: queue.Queue = queue.Queue(maxsize=maxsize)
        self.error: BaseException | None = None
        self.abandoned = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def submit(self, function: Callable[..., object], *args: object) -> None:
        self._raise()
        self.calls.put((function, args))

    def finish(self) -> None:
        """Wait for every submitted call; raise the first error."""
        self.calls.put(None)
        self.thread.join()
        self._raise()

    def abandon(self) -> None:
        """Stop after the call running now, dropping the queued ones and ignoring errors
        (another error is being raised). A second Ctrl-C while it waits does not cut the wait
        short: the caller removes the output next, which must not happen while this thread
        can still open or write it."""
        self.abandoned = True
        _despite_interrupts(lambda: self.calls.put(None))
        _despite_interrupts(self.thread.join)

    def _next_call(self) -> tuple | None:
        """The next submitted call, looking at the queue every 0.1 s as well as when told.

        A Ctrl-C can interrupt the submitting (main) thread inside ``Queue.put`` after it
        woke this thread's waiter but before it struck the waiter off the condition's list;
        the next notification then goes to that stale waiter and this thread, told of
        nothing, would sleep forever (and the abandon() that waits for it, too)."""
        while True:
            try:
                return self.calls.get(timeout=0.1)
            except queue.Empty:
                continue

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            if isinstance(error, MmpipeError | KeyboardInterrupt):
                raise error
            raise MediaError(
                f"writing the output failed ({error}); check free disk space and the folder"
            ) from error

    def _run(self) -> None:
        while (call := self._next_call()) is not None:
            if self.error is not None or self.abandoned:
                continue  # keep draining so that submit never blocks on a dead worker
            function, args = call
            try:
                function(*args)
            except BaseException as exc:  # raised in the submitting thread
                self.error = exc
