"""The `mmpipe` command: argument parsing, progress bars and one-line errors.

Only this module prints or exits; it turns every `MmpipeError` into ``mmpipe: error: ...``
on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction

from tqdm import tqdm

from mmpipe import api
from mmpipe.errors import MmpipeError
from mmpipe.media.probe import MediaInfo
from mmpipe.media.writer import PRESETS
from mmpipe.pipeline.runner import Progress, RunReport

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
    enhance.add_argument("input", help="the video to fix (mp4, mov, mkv, ...)")
    enhance.add_argument("-o", "--output", required=True, help="output .mp4/.mov/.mkv/.m4v")
    _add_encode_options(enhance)
    enhance.set_defaults(run=_enhance)
    return parser


def _add_encode_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--crf", type=float, default=18.0, help="x264 quality, 0 (lossless) to 51 (default 18)"
    )
    parser.add_argument(
        "--preset", choices=PRESETS, default="medium", help="x264 speed preset (default medium)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mmpipe` command; returns the exit status."""
    logging.basicConfig(format="mmpipe: %(levelname)s: %(message)s", level=logging.WARNING)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except _UsageError as exc:
        print(f"mmpipe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MmpipeError as exc:
        print(f"mmpipe: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("mmpipe: interrupted; no output was written", file=sys.stderr)
        return EXIT_INTERRUPTED


def _info(args: argparse.Namespace) -> int:
    info = api.probe(args.input)
    print(json.dumps(info.to_dict(), indent=2) if args.json else format_info(info))
    return 0


def _enhance(args: argparse.Namespace) -> int:
    with _ProgressBar(args.quiet) as bar:
        report = api.enhance(
            args.input, args.output, crf=args.crf, preset=args.preset, on_progress=bar
        )
    _summary(report, args.quiet)
    return 0


def _summary(report: RunReport, quiet: bool) -> None:
    if not quiet:
        fps = report.frames_in / report.elapsed_s if report.elapsed_s else 0.0
        print(f"wrote {report.output} ({report.frames_out} frames, {fps:.1f} frames/s)")


class _ProgressBar:
    """An ``on_progress`` callback drawing one tqdm bar (with ETA) per phase."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: tqdm | None = None
        self.phase = ""

    def __enter__(self) -> Callable[[Progress], None]:
        return self

    def __call__(self, progress: Progress) -> None:
        if self.quiet:
            return
        if progress.phase != self.phase:
            self.close()
            self.phase = progress.phase
            self.bar = tqdm(
                total=progress.frames_total or None,
                desc=progress.phase,
                unit="frame",
                file=sys.stderr,
                dynamic_ncols=True,
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
        lines.append(
            f"  audio #{a.index}: {a.codec} {a.sample_rate} Hz, {a.channels} channel(s) "
            f"({a.layout}){lang}, {a.duration_s:.3f} s"
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
