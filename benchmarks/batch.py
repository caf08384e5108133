"""Batch throughput: files per minute for one job, ``--jobs 2`` and Ray with 2 workers.

    python benchmarks/batch.py [--clips 8] [--seconds 2] [--preset medium] [--rounds 2] [--no-ray]

Cuts ``--clips`` short 720p clips with sound from the bundled sample (consecutive windows,
each ``--seconds`` long), then runs `mmpipe.batch` with the default stages (stabilization and
speech denoising, x264 CRF 18 ``--preset``) on the same folder three ways, each into a fresh
output folder: the local engine with one job (x264 picks its threads), the local engine with
two jobs (one thread each), and Ray with two 1-CPU workers (``ray.init(num_cpus=2)``; the Ray
start-up is timed apart, once). ``--rounds`` runs each engine that many times, interleaved
in a rotating order, because a shared machine's load drifts. Prints a table; asserts
nothing. Needs the ray extra for the last row.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

import mmpipe

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "shaky_speech.mp4"


def make_clips(folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` clips of ``seconds`` each, from windows of the sample (looped if short)."""
    with av.open(str(SAMPLE)) as src:
        video = src.streams.video[0]
        rate = video.average_rate
        images = [f.to_ndarray(format="rgb24") for f in src.decode(video)]
    with av.open(str(SAMPLE)) as src:
        audio_stream = src.streams.audio[0]
        sample_rate = audio_stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=sample_rate)
        chunks = [r.to_ndarray() for f in src.decode(audio_stream) for r in resampler.resample(f)]
    sound = np.concatenate(chunks, axis=1)
    n_frames = round(seconds * rate)
    step = max(1, (len(images) - n_frames) // max(1, count - 1))
    clips = []
    for i in range(count):
        start = i * step
        path = folder / f"clip{i:02d}.mp4"
        frames = [images[(start + k) % len(images)] for k in range(n_frames)]
        first = round(start / rate * sample_rate)
        samples = np.take(
            sound, range(first, first + round(seconds * sample_rate)), axis=1, mode="wrap"
        )
        _write(path, frames, rate, samples, sample_rate)
        clips.append(path)
    return clips


def _write(
    path: Path, frames: list[np.ndarray], rate: Fraction, samples: np.ndarray, sample_rate: int
) -> None:
    with av.open(str(path), "w") as dst:
        video = dst.add_stream("libx264", rate=rate)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt, video.options = "yuv420p", {"crf": "18", "preset": "veryfast"}
        audio = dst.add_stream("aac", rate=sample_rate, layout="stereo")
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, 1 / rate
            dst.mux(video.encode(frame))
        dst.mux(video.encode(None))
        for start in range(0, samples.shape[1], 1024):
            chunk = np.ascontiguousarray(samples[:, start : start + 1024], dtype=np.float32)
            block = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            block.sample_rate, block.pts = sample_rate, start
            dst.mux(audio.encode(block))
        dst.mux(audio.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--preset", default="medium", help="x264 preset (default medium)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each engine, interleaved")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray row")
    args = parser.parse_args()
    encode = mmpipe.EncodeSettings(preset=args.preset)
    engines: dict[str, dict] = {
        "local, 1 job": {},
        "local, --jobs 2": {"jobs": 2},
    }
    if not args.no_ray:
        engines["Ray, 2 workers"] = {"engine": "ray"}
    with tempfile.TemporaryDirectory(prefix="mmpipe-bench-batch-") as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        clips = make_clips(folder, args.clips, args.seconds)
        info = mmpipe.probe(clips[0])
        assert info.video is not None
        print(
            f"{len(clips)} clips, {info.video.display_width_px}x{info.video.display_height_px}, "
            f"{info.video.frame_count} frames ({info.duration_s:.1f} s) each; enhance "
            f"(stabilize + denoise), x264 CRF 18 {args.preset}; {args.rounds} rounds"
        )
        startup = ""
        if not args.no_ray:
            import ray

            started = time.monotonic()
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            startup = f"Ray start-up (once): {time.monotonic() - started:.1f} s"
        reports: dict[str, list[mmpipe.BatchReport]] = {name: [] for name in engines}
        try:
            names = list(engines)
            for round_ in range(args.rounds):  # each round in another order: the load varies
                for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                    out = Path(tmp) / f"out-{round_}-{names.index(name)}"  # fresh: no skips
                    report = mmpipe.batch(folder, out, encode=encode, **engines[name])
                    reports[name].append(report)
                    print(f"  {name}: {report.elapsed_s:.1f} s", flush=True)
        finally:
            if not args.no_ray:
                ray.shutdown()
        print()
        print("| engine | files | wall per round (s) | files / min (best) | peak MB per worker |")
        print("| --- | ---: | --- | ---: | ---: |")
        for name, runs in reports.items():
            done = min(len(r.processed) for r in runs)
            walls = " / ".join(f"{r.elapsed_s:.1f}" for r in runs)
            best = max(60 * len(r.processed) / r.elapsed_s for r in runs)
            peak = max(x.peak_memory_mb for r in runs for x in r.results)
            failed = sum(len(r.failed) for r in runs)
            note = f" ({failed} failed)" if failed else ""
            print(f"| {name} | {done}{note} | {walls} | {best:.1f} | {peak:.0f} |")
        if startup:
            print(f"\n{startup}")


if __name__ == "__main__":
    main()
