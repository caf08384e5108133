"""Throughput of the pass-through pipeline beside ffmpeg's own transcode, on the same clips.

    python benchmarks/passthrough.py [--frames 150] [--preset medium]

Builds 720p and 1080p clips from the bundled sample (scaled, H.264 CRF 18), then times an
empty `mmpipe.Pipeline` (decode -> stage chain -> x264 encode, audio copied) and
`ffmpeg -i IN -c:v libx264 -crf 18 OUT` (if an ffmpeg binary is on PATH: Debian's
`apt-get install ffmpeg`). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import av

import mmpipe

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "shaky_speech.mp4"
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def make_clip(path: Path, size: tuple[int, int], frames: int) -> Path:
    """The sample, scaled to ``size`` and looped to ``frames`` frames, with its audio dropped."""
    with av.open(str(SAMPLE)) as src, av.open(str(path), "w") as dst:
        video = src.streams.video[0]
        out = dst.add_stream("libx264", rate=video.average_rate)
        out.width, out.height, out.pix_fmt = *size, "yuv420p"
        out.options = {"crf": "18", "preset": "veryfast"}
        decoded = [f.reformat(width=size[0], height=size[1]) for f in src.decode(video)]
        for i in range(frames):
            frame = decoded[i % len(decoded)].reformat(format="yuv420p")
            frame.pts, frame.time_base = i, 1 / video.average_rate
            dst.mux(out.encode(frame))
        dst.mux(out.encode(None))
    return path


def time_mmpipe(clip: Path, out: Path, preset: str) -> float:
    started = time.perf_counter()
    mmpipe.Pipeline(encode=mmpipe.EncodeSettings(crf=18, preset=preset)).run(clip, out)
    return time.perf_counter() - started


def time_ffmpeg(clip: Path, out: Path, preset: str) -> float | None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    command = [ffmpeg, "-v", "error", "-y", "-i", str(clip), "-c:v", "libx264", "-crf", "18"]
    started = time.perf_counter()
    subprocess.run([*command, "-preset", preset, str(out)], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--preset", default="medium")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in SIZES.items():
            clip = make_clip(Path(tmp) / f"{name}.mp4", size, args.frames)
            ours = time_mmpipe(clip, Path(tmp) / f"{name}.mmpipe.mp4", args.preset)
            theirs = time_ffmpeg(clip, Path(tmp) / f"{name}.ffmpeg.mp4", args.preset)
            rows.append((name, args.frames / ours, args.frames / theirs if theirs else None))
    print(f"pass-through, {args.frames} frames, x264 crf 18 preset {args.preset}")
    print("| clip  | mmpipe pass-through (fps) | ffmpeg -c:v libx264 (fps) |")
    print("| ----- | ------------------------- | ------------------------- |")
    for name, ours, theirs in rows:
        ffmpeg = f"{theirs:.1f}" if theirs else "ffmpeg not installed"
        print(f"| {name:5} | {ours:25.1f} | {ffmpeg:25} |")


if __name__ == "__main__":
    main()
