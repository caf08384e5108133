"""The `mmpipe` command: argument parsing, progress bars and one-line errors.

Only this module prints or exits; it turns every `MmpipeError` into ``mmpipe: error: ...``
on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction

from tqdm import tqdm

from mmpipe import api
from mmpipe.batch import BatchProgress, is_batch_input
from mmpipe.errors import MmpipeError
from mmpipe.media.probe import MediaInfo
from mmpipe.media.writer import PRESETS as X264_PRESETS
from mmpipe.media.writer import EncodeSettings
from mmpipe.metrics.shake import ShakeAnalysis
from mmpipe.pipeline.runner import Progress, RunReport
from mmpipe.stages.fill import FILLS
from mmpipe.vision.path import METHODS, PRESETS

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other mmpipe error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{message}; see '{self.prog} --help'")


class _UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mmpipe", description="Fix phone videos in one command.")
    parser.add_argument("--version", action="version", version=f"mmpipe {_version()}")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, only errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    info = commands.add_parser("info", help="describe a media file's streams and timing")
    info.add_argument("input", help="a video or audio file")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(run=_info)

    enhance = commands.add_parser("enhance", help="run all default stages over a video")
    enhance.add_argument(
        "input",
        help="the video to fix (mp4, mov, mkv, ...), or a folder, glob pattern or fsspec URL "
        "of videos (then -o is the output folder)",
    )
    _add_output(enhance)
    enhance.add_argument(
        "--no-stabilize", dest="stabilize", action="store_false", help="skip stabilization"
    )
    _add_fill(enhance)
    enhance.add_argument(
        "--no-denoise", dest="denoise", action="store_false", help="keep the sound as it is"
    )
    _add_backend(enhance)
    enhance.add_argument(
        "--fps", metavar="RATE", help="convert to this frame rate last (e.g. 60 or 24000/1001)"
    )
    _add_encode_options(enhance)
    _add_batch_options(enhance)
    enhance.set_defaults(run=_enhance)

    interpolate = commands.add_parser(
        "interpolate", help="change the frame rate with synthesized in-between frames"
    )
    interpolate.add_argument("input", help="the video to convert")
    _add_output(interpolate)
    rate = interpolate.add_mutually_exclusive_group(required=True)
    rate.add_argument(
        "--fps", metavar="RATE", help="output frame rate, exact (60, 29.97, 24000/1001)"
    )
    rate.add_argument("--factor", metavar="N", help="output rate = N x the input's (e.g. 2)")
    rate.add_argument(
        "--slowmo",
        metavar="N",
        help="N times slower at the input's frame rate (the sound is not written)",
    )
    _add_encode_options(interpolate)
    interpolate.set_defaults(run=_interpolate)

    stabilize = commands.add_parser("stabilize", help="remove camera shake from a video")
    stabilize.add_argument("input", help="the shaky video")
    _add_output(stabilize)
    _add_motion_options(stabilize)
    _add_fill(stabilize)
    stabilize.add_argument(
        "--method", choices=METHODS, default="l1", help="l1 (optimal path, default) or gaussian"
    )
    stabilize.add_argument("--plan", metavar="PLAN.json", help="reuse a saved motion analysis")
    stabilize.add_argument("--save-plan", metavar="PLAN.json", help="save the motion analysis")
    _add_encode_options(stabilize)
    stabilize.set_defaults(run=_stabilize)

    denoise = commands.add_parser("denoise", help="remove noise from speech (video or audio)")
    denoise.add_argument("input", help="a video (its picture is copied untouched) or audio file")
    denoise.add_argument(
        "-o", "--output", required=True, help="output .mp4/.mov/.mkv/.m4v or .wav/.flac/.m4a"
    )
    denoise.add_argument(
        "--attenuation-limit",
        type=float,
        metavar="DB",
        help="lower the noise by at most DB decibels, keeping some ambience (e.g. 12)",
    )
    _add_backend(denoise)
    denoise.set_defaults(run=_denoise)

    export = commands.add_parser(
        "export", help="torch -> ONNX, int8 and ORT files in export/ (needs mmpipe[train])"
    )
    export.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"models to export (default all: {', '.join(api.EXPORTABLE)})",
    )
    export.add_argument(
        "--int8", action="store_true", help="make only the int8 file beside the fp32 one"
    )
    export.add_argument("--ort", action="store_true", help="make only the .ort beside the fp32")
    export.add_argument(
        "--check",
        action="store_true",
        help="write nothing: verify the exported files against models/ (hashes, parity, PESQ)",
    )
    export.add_argument("--out", metavar="DIR", help="write here instead of export/")
    export.set_defaults(run=_export)

    train = commands.add_parser("train", help="reproduce a shipped model (needs mmpipe[train])")
    train.add_argument("name", choices=api.TRAINABLE, help="the model to train")
    train.add_argument("--minutes", type=float, required=True, help="wall-clock budget")
    train.add_argument(
        "--data",
        metavar="DIR",
        help="denoiser: speech/ and noise/ folders of audio; interpolator: its picture cache",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--no-resume", dest="resume", action="store_false", help="start over")
    train.set_defaults(run=_train)

    analyze = commands.add_parser("analyze", help="measure a video's shake, write nothing")
    analyze.add_argument("input", help="the video to measure")
    _add_motion_options(analyze)
    analyze.add_argument("--json", action="store_true", help="machine-readable output")
    analyze.add_argument("--plot", metavar="PATH.png", help="plot the camera path to a PNG")
    analyze.add_argument("--save-plan", metavar="PLAN.json", help="save the motion analysis")
    analyze.set_defaults(run=_analyze)
    return parser


def _add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("onnx", "torch"),
        default="onnx",
        help="model runtime: onnx (the exported files, default) or torch (models/, train extra)",
    )


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, help="output .mp4/.mov/.mkv/.m4v")


def _add_fill(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fill",
        choices=FILLS,
        default="crop",
        help="stabilized borders: crop (smallest zoom that hides them, default), none (black), "
        "mosaic (full frame, filled from neighbouring frames) or generate (mosaic, and what "
        "no neighbour saw generated by the inpainter)",
    )


def _add_motion_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="walking",
        help="the kind of shot (default walking)",
    )
    parser.add_argument(
        "--strength", type=float, default=1.0, help="0 (untouched) to 1 (steadiest, default)"
    )


def _add_encode_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--crf", type=float, default=18.0, help="x264 quality, 0 (lossless) to 51 (default 18)"
    )
    parser.add_argument(
        "--x264-preset",
        choices=X264_PRESETS,
        default="medium",
        help="x264 speed preset (default medium)",
    )


def _encode(args: argparse.Namespace) -> EncodeSettings:
    return EncodeSettings(crf=args.crf, preset=args.x264_preset)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mmpipe` command; returns the exit status."""
    logging.basicConfig(format="mmpipe: %(levelname)s: %(message)s", level=logging.WARNING)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        with _ctrl_c_noted():
            return args.run(args)
    except _UsageError as exc:
        print(f"mmpipe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MmpipeError as exc:
        print(f"mmpipe: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # whoever read stdout stopped early (`mmpipe info f | head -1`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("mmpipe: interrupted; no output was written", file=sys.stderr)
        return EXIT_INTERRUPTED


def _info(args: argparse.Namespace) -> int:
    info = api.probe(args.input)
    print(json.dumps(info.to_dict(), indent=2) if args.json else format_info(info))
    return 0


def _write(args: argparse.Namespace, job: Callable[..., RunReport], **options: object) -> int:
    """Run a job that writes ``args.output``, with a progress bar and a summary line."""
    with _ProgressBar(args.quiet) as bar:
        report = job(args.input, args.output, on_progress=bar, **options)
    _summary(report, args.quiet)
    return 0


def _enhance(args: argparse.Namespace) -> int:
    options = dict(
        stabilize=args.stabilize,
        fill=args.fill,
        denoise=args.denoise,
        backend=args.backend,
        fps=args.fps,
        encode=_encode(args),
    )
    if is_batch_input(args.input):
        return _enhance_batch(args, options)
    for option in _BATCH_OPTIONS:
        if getattr(args, option.lstrip("-").replace("-", "_")) not in (None, False):
            raise _UsageError(f"{option} is for a folder or glob pattern input, not one file")
    return _write(args, api.enhance, **options)


_BATCH_OPTIONS = ("--recursive", "--jobs", "--engine", "--address", "--threads", "--memory-mb")


def _add_batch_options(parser: argparse.ArgumentParser) -> None:
    batch = parser.add_argument_group("many files (a folder, glob pattern or URL as input)")
    batch.add_argument("-r", "--recursive", action="store_true", help="include subfolders")
    batch.add_argument("--jobs", type=int, metavar="N", help="files processed at once (local)")
    batch.add_argument(
        "--engine", choices=("local", "ray"), help="local processes (default) or a Ray cluster"
    )
    batch.add_argument("--address", metavar="ADDR", help="the Ray cluster (default: start one)")
    batch.add_argument(
        "--threads", type=int, metavar="N", help="threads per file (default: CPUs / jobs)"
    )
    batch.add_argument(
        "--memory-mb", type=int, metavar="MB", help="memory each Ray task declares (2048)"
    )


def _enhance_batch(args: argparse.Namespace, options: dict[str, object]) -> int:
    """Enhance many files: a bar over files, a summary table, exit 1 when any failed."""
    engine = args.engine or "local"
    limits = {"memory_mb": args.memory_mb} if args.memory_mb is not None else {}
    jobs = 1 if args.jobs is None else args.jobs
    show_frames = engine == "local" and jobs == 1
    try:
        with _BatchBar(args.quiet, show_frames) as bar:
            report = api.batch(
                args.input,
                args.output,
                recursive=args.recursive,
                jobs=jobs,
                engine=engine,
                address=args.address,
                threads=args.threads,
                on_progress=bar,
                **limits,
                **options,
            )
    except KeyboardInterrupt:
        print(
            "mmpipe: interrupted; finished outputs are kept: run the same command to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if args.quiet:
        for result in report.failed:
            print(f"mmpipe: error: {result.name}: {result.reason}", file=sys.stderr)
    else:
        print(report.table())
    return EXIT_ERROR if report.failed else 0


class _BatchBar:
    """An ``on_progress`` callback for batches: a bar over files (with the failures so far)
    and, when files run one at a time, one over the current file's frames."""

    def __init__(self, quiet: bool, show_frames: bool) -> None:
        self.quiet, self.show_frames = quiet, show_frames
        self.files: tqdm | None = None
        self.frames: tqdm | None = None
        self.current = ""  # the file and phase the frames bar shows
        self.failed = 0

    def __enter__(self) -> Callable[[BatchProgress], None]:
        return self

    def __call__(self, progress: BatchProgress) -> None:
        if _INTERRUPTED.is_set():
            raise KeyboardInterrupt
        if self.quiet:
            return
        if self.files is None:
            self.files = self._bar(progress.files_total, "files", "file", 0)
        if progress.event == "frames" and self.show_frames and progress.frames is not None:
            frames = progress.frames
            if self.frames is None:
                self.frames = self._bar(None, "", frames.unit, 1)
            description = f"{progress.name} {frames.phase}"
            if self.current != description:
                self.current = description
                self.frames.reset(total=frames.frames_total or None)
                self.frames.set_description(description)  # drawn now: short files end fast
            self.frames.update(frames.frames_done - self.frames.n)
        elif progress.event == "done":
            assert progress.result is not None
            if progress.result.status == "failed":
                self.failed += 1
                self.files.set_postfix(failed=self.failed, refresh=False)
            self.files.update(1)

    @staticmethod
    def _bar(total: float | None, description: str, unit: str, position: int) -> tqdm:
        return tqdm(
            total=total,
            desc=description,
            unit=unit,
            file=sys.stderr,
            dynamic_ncols=True,
            position=position,
            leave=position == 0,
        )

    def __exit__(self, *exc: object) -> None:
        for bar in (self.frames, self.files):
            if bar is not None:
                bar.close()


def _interpolate(args: argparse.Namespace) -> int:
    return _write(
        args,
        api.interpolate,
        fps=args.fps,
        factor=args.factor,
        slowmo=args.slowmo,
        encode=_encode(args),
    )


def _stabilize(args: argparse.Namespace) -> int:
    return _write(
        args,
        api.stabilize,
        preset=args.preset,
        strength=args.strength,
        fill=args.fill,
        method=args.method,
        plan=args.plan,
        save_plan=args.save_plan,
        encode=_encode(args),
    )


def _denoise(args: argparse.Namespace) -> int:
    return _write(
        args, api.denoise, attenuation_limit_db=args.attenuation_limit, backend=args.backend
    )


def _export(args: argparse.Namespace) -> int:
    if args.check:
        if args.int8 or args.ort:
            raise _UsageError("--check verifies every exported file; drop --int8/--ort")
        summary = api.check_exports(args.names, out_dir=args.out)
        if not args.quiet:
            print(json.dumps(summary, indent=2))
        return 0
    both = not (args.int8 or args.ort)
    entries = api.export(args.names, out_dir=args.out, int8=args.int8 or both, ort=args.ort or both)
    if not args.quiet:
        for name, entry in entries.items():
            for info in entry["files"].values():
                # latency_ms_per_{hop, 720p_frame, 640x16_strip}_1thread, by model
                key = next(k for k in info if k.startswith("latency_ms_per_"))
                unit = key.removeprefix("latency_ms_per_").removesuffix("_1thread")
                speed = f"{info[key]:.3g} ms per {unit.replace('_', ' ')}"
                print(
                    f"wrote {info['file']} ({info['size_bytes'] / 1e6:.2f} MB, {speed}, 1 thread)"
                )
            print(f"updated manifest.json ({name})")
    return 0


def _train(args: argparse.Namespace) -> int:
    logging.getLogger("mmpipe").setLevel(logging.INFO)
    figures = api.train(
        args.name, minutes=args.minutes, data_dir=args.data, seed=args.seed, resume=args.resume
    )
    print(json.dumps(figures, indent=2))
    return 0


def _analyze(args: argparse.Namespace) -> int:
    with _ProgressBar(args.quiet) as bar:
        result = api.analyze(
            args.input,
            preset=args.preset,
            strength=args.strength,
            plot=args.plot,
            save_plan=args.save_plan,
            on_progress=bar,
        )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_shake(args.input, result))
    return 0


def format_shake(path: str, result: ShakeAnalysis) -> str:
    """The human-readable form of `mmpipe analyze`."""
    return "\n".join(
        [
            f"{path}: {result.frames} frames, {result.duration_s:.2f} s, "
            f"{result.width_px}x{result.height_px}",
            f"  stability score: {result.stability_score:.3f} as shot, "
            f"{result.stabilized_score:.3f} stabilized (1 is steady)",
            f"  jitter: {result.jitter_px:.1f} px RMS, largest correction "
            f"{result.max_correction_px:.1f} px",
            f"  crop to hide borders: zoom {result.zoom:.3f} "
            f"({100 * result.crop_fraction:.1f} % of the area)",
            f"  scene cuts: {result.scene_cuts}; frames without measurable motion: "
            f"{result.unmeasured_frames}",
        ]
    )


def _summary(report: RunReport, quiet: bool) -> None:
    if quiet:
        return
    if report.frames_out:
        fps = report.frames_in / report.elapsed_s if report.elapsed_s else 0.0
        print(f"wrote {report.output} ({report.frames_out} frames, {fps:.1f} frames/s)")
    else:
        print(f"wrote {report.output} ({report.elapsed_s:.1f} s)")


_SECONDS_BAR = "{l_bar}{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]"


_INTERRUPTED = threading.Event()


@contextlib.contextmanager
def _ctrl_c_noted() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt as usual and is also remembered.

    Python can lose a KeyboardInterrupt raised while a destructor runs; the progress
    callback (called for every frame, and once more before the output is put in place)
    raises it again, so an interrupted job never leaves an output behind.
    """
    _INTERRUPTED.clear()

    def interrupt(signum: int, frame: object) -> None:
        _INTERRUPTED.set()
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _ProgressBar:
    """An ``on_progress`` callback drawing one tqdm bar (with ETA) per phase."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: tqdm | None = None
        self.phase = ""

    def __enter__(self) -> Callable[[Progress], None]:
        return self

    def __call__(self, progress: Progress) -> None:
        if _INTERRUPTED.is_set():
            raise KeyboardInterrupt
        if self.quiet:
            return
        if progress.phase != self.phase:
            self.close()
            self.phase = progress.phase
            self.bar = tqdm(
                total=progress.frames_total or None,
                desc=progress.phase,
                unit=progress.unit,
                file=sys.stderr,
                dynamic_ncols=True,
                bar_format=_SECONDS_BAR if progress.unit == "s" else None,
            )
        assert self.bar is not None
        self.bar.update(progress.frames_done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __exit__(self, *exc: object) -> None:
        self.close()


def format_info(info: MediaInfo) -> str:
    """The human-readable form of `mmpipe info`."""
    lines = [
        f"{info.path}: {info.container}, {info.duration_s:.3f} s, {info.size_bytes:,} bytes",
    ]
    v = info.video
    if v is not None:
        timing = "variable" if v.variable_frame_rate else "constant"
        lines.append(
            f"  video #{v.index}: {v.codec} {v.width_px}x{v.height_px} {v.pixel_format} "
            f"({v.bit_depth}-bit), {_rate(v.average_rate)} fps ({timing} frame rate), "
            f"{v.frame_count} frames, rotation {v.rotation_deg} deg "
            f"(displayed {v.display_width_px}x{v.display_height_px})"
        )
    for a in info.audio:
        lang = f", {a.language}" if a.language and a.language != "und" else ""
        layout = "" if a.layout.endswith("channels") else f" ({a.layout})"
        lines.append(
            f"  audio #{a.index}: {a.codec} {a.sample_rate} Hz, {a.channels} channel(s)"
            f"{layout}{lang}, {a.duration_s:.3f} s"
        )
    for o in info.other:
        lines.append(f"  {o.kind} #{o.index}: {o.codec}")
    if v is None:
        lines.append("  no video stream")
    if not info.audio:
        lines.append("  no audio stream")
    for key in ("creation_time", "location"):
        if key in info.metadata:
            lines.append(f"  {key}: {info.metadata[key]}")
    return "\n".join(lines)


def _rate(rate: Fraction) -> str:
    return f"{float(rate):.3f} ({rate.numerator}/{rate.denominator})"


def _version() -> str:
    from mmpipe import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
