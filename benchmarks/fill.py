"""Full-frame fill side by side: what each method puts where stabilization leaves no picture.

    python -m benchmarks.fill [--frames 60] [--workdir DIR]

Run from the repository root (needs scikit-image for the photos, as benchmarks/devset.py).
Ground truth: each clip is rendered on a canvas ``MARGIN_PX`` larger on every side than the
video, and the video is the canvas's centre, so what lies beyond the input frame's edges is
known, for stills, moving objects, scene cuts and real footage (with its own parallax)
alike. mmpipe's `Stabilize` measures the motion and smooths the path once per clip; every
method then renders the same corrections ``B_i``, and the truth for output frame ``i`` is
the canvas seen through ``B_i`` shifted by the margin.

Methods, on the pixels the warp leaves empty (the "hole", where the frame's own coverage
is below 0.999):
- `crop`: what users get today; it fills nothing, so the table gives the share of the
  picture its zoom throws away instead;
- `edge`: the frame's edge pixels repeated outwards (OpenCV BORDER_REPLICATE);
- `telea`: OpenCV's inpainting (Telea 2004, radius 3) of the hole;
- `mosaic`: mmpipe's `--fill mosaic` (`Stabilize(fill="none")` then `FillBorders()`).

Metrics: PSNR over all hole pixels of the clip; SSIM (Gaussian 11x11, sigma 1.5, on grey)
averaged over hole pixels; flicker: mean |change of the fill between consecutive frames -
change of the truth|, grey levels, on pixels in the hole of both frames (lower is
steadier); time per frame with OpenCV on one thread (for mosaic: the two stages' time minus
``Stabilize(fill="none")`` alone, i.e. FillBorders; also on the 4:2:0 planes the pipeline
hands the stages).
Prints markdown; asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from benchmarks.devset import (
    DEFAULT_WORKDIR,
    ClipSpec,
    city_footage,
    footage_zoom,
    source_for,
)
from mmpipe.media.frames import AnalysisFrame, VideoFrame
from mmpipe.pipeline.stage import VideoSpec, VideoStage
from mmpipe.stages.fill import FillBorders
from mmpipe.stages.stabilize import Stabilize
from mmpipe.vision.synthetic import (
    SYNTHETIC_TIME_BASE,
    render_shaken,
    render_shaken_footage,
    shake_path,
    to_video_frames,
)
from mmpipe.vision.warp import warp_frame

MARGIN_PX = 96
FPS = 30.0
SIZE = (1280, 720)
METHODS = ("edge", "telea", "mosaic")


@dataclass(frozen=True)
class FillClip:
    name: str
    kind: str  # shake_path kind
    sources: tuple[str, ...]  # one per shot: devset PHOTOS / TEXTURES names, or "city"
    moving_object: bool = False
    seed: int = 0


CLIPS = (
    FillClip("textured-static", "walking", ("scene",), seed=21),
    FillClip("photo-astronaut", "walking", ("astronaut",), seed=22),
    FillClip("low-texture-sky", "walking", ("sky",), seed=23),
    FillClip("moving-object", "vehicle", ("coffee",), moving_object=True, seed=24),
    FillClip("scene-cut", "walking", ("rocket", "chelsea"), seed=25),
    FillClip("real-footage-city", "vehicle", ("city",), seed=26),
)


def render_canvas(clip: FillClip, n_frames: int, workdir: Path) -> list[np.ndarray]:
    """The clip's frames on the larger canvas (RGB); the video is their centre."""
    canvas = (SIZE[0] + 2 * MARGIN_PX, SIZE[1] + 2 * MARGIN_PX)
    path = shake_path(n_frames, fps=FPS, kind=clip.kind, seed=clip.seed)
    shots = np.array_split(np.arange(n_frames), len(clip.sources))
    frames: list[np.ndarray] = []
    for source_name, shot in zip(clip.sources, shots, strict=True):
        camera = path.camera[shot]
        if source_name == "city":
            footage = city_footage(workdir)
            zoom = footage_zoom(path, canvas)
            frames += render_shaken_footage(footage, camera, out_size=canvas, zoom=zoom)
            continue
        spec = ClipSpec(clip.name, clip.kind, canvas, source_name, seed=clip.seed)
        still = source_for(spec, path)
        frames += render_shaken(
            still, camera, out_size=canvas, moving_object=clip.moving_object, seed=clip.seed
        )
    return frames


def analysis_grey(frame: VideoFrame, width_px: int = 640) -> AnalysisFrame:
    """What the runner hands to the analysis pass: a downscaled grey frame."""
    grey = cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY)
    height_px = round(grey.shape[0] * width_px / grey.shape[1])
    small = cv2.resize(grey, (width_px, height_px), interpolation=cv2.INTER_AREA)
    return AnalysisFrame(small, frame.pts, frame.time_base, frame.index, width_px / grey.shape[1])


def run_stages(
    stages: list[VideoStage], frames: list[VideoFrame], spec: VideoSpec
) -> list[np.ndarray]:
    """Configure the stages in order and stream the whole clip through one after another."""
    for stage in stages:
        spec = stage.configure(spec)
    for stage in stages:
        frames = [o for f in frames for o in stage.process(f)] + list(stage.flush())
    return [f.image for f in frames]


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM per pixel of two grey images (Wang et al. 2004, Gaussian window)."""
    a, b = a.astype(np.float64), b.astype(np.float64)

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )


def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)


def evaluate(clip: FillClip, n_frames: int, workdir: Path) -> list[str]:
    canvas = render_canvas(clip, n_frames, workdir)
    m = MARGIN_PX
    inputs = [np.ascontiguousarray(c[m:-m, m:-m]) for c in canvas]
    frames = list(to_video_frames(inputs, fps=FPS))
    spec = VideoSpec(*SIZE, SYNTHETIC_TIME_BASE, FPS, len(frames), n_frames / FPS, False)
    reference = Stabilize(fill="none")
    reference.analyze(iter(analysis_grey(f) for f in frames), spec)
    plan = reference.plan
    cv2.setNumThreads(1)
    started = time.perf_counter()
    run_stages([reference], frames, spec)
    none_s = time.perf_counter() - started
    started = time.perf_counter()
    mosaic = run_stages([Stabilize(fill="none", plan=plan), FillBorders()], frames, spec)
    mosaic_s = time.perf_counter() - started - none_s
    # the same in the layout the pipeline hands the stage (4:2:0 planes, no RGB conversion)
    yuv = [
        replace(f, image=cv2.cvtColor(f.image, cv2.COLOR_RGB2YUV_I420), pixel_format="yuv420p")
        for f in frames
    ]
    yuv_spec = replace(spec, pixel_format="yuv420p", full_range=True)
    started = time.perf_counter()
    run_stages([Stabilize(fill="none", plan=plan)], yuv, yuv_spec)
    yuv_none_s = time.perf_counter() - started
    started = time.perf_counter()
    run_stages([Stabilize(fill="none", plan=plan), FillBorders()], yuv, yuv_spec)
    yuv_mosaic_s = time.perf_counter() - started - yuv_none_s
    crop = Stabilize(fill="crop", plan=plan)
    crop.configure(spec)
    shift = np.array([[1.0, 0, -m], [0, 1.0, -m], [0, 0, 1.0]])
    ones = np.ones(SIZE[::-1], np.float32)
    errors = {k: [0.0, 0] for k in METHODS}
    ssims: dict[str, list[float]] = {k: [] for k in METHODS}
    flicker: dict[str, list[float]] = {k: [] for k in METHODS}
    seconds = {k: 0.0 for k in METHODS}
    seconds["mosaic"] = mosaic_s
    previous: dict[str, np.ndarray] | None = None
    previous_hole = None
    hole_share = []
    for i, (frame, big) in enumerate(zip(inputs, canvas, strict=True)):
        warp = reference.warp_matrices[i]
        hole = cv2.warpAffine(ones, warp, SIZE) < 0.999
        hole_share.append(float(hole.mean()))
        truth = cv2.warpAffine(big, (np.vstack([warp, [0, 0, 1]]) @ shift)[:2], SIZE)
        started = time.perf_counter()
        edge = warp_frame(frame, warp, replicate_edges=True)
        seconds["edge"] += time.perf_counter() - started
        started = time.perf_counter()
        telea = cv2.inpaint(warp_frame(frame, warp), hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
        seconds["telea"] += time.perf_counter() - started
        current = {"edge": edge, "telea": telea, "mosaic": mosaic[i], "truth": truth}
        greys = {k: grey(v) for k, v in current.items()}
        for name in METHODS:
            if hole.any():
                diff = current[name][hole].astype(np.float64) - truth[hole]
                errors[name][0] += float(np.sum(diff**2))
                errors[name][1] += diff.size
                ssims[name].append(float(ssim_map(greys[name], greys["truth"])[hole].mean()))
            if previous is not None and previous_hole is not None:
                both = hole & previous_hole
                if both.any():
                    change = greys[name] - previous[name]
                    true_change = greys["truth"] - previous["truth"]
                    flicker[name].append(float(np.abs(change - true_change)[both].mean()))
        previous, previous_hole = greys, hole
    cv2.setNumThreads(-1)
    lost = 1.0 - 1.0 / crop.zoom**2
    lines = [
        f"| {clip.name} | crop | - | - | - | - | {100 * lost:.1f} % of the picture lost "
        f"(zoom {crop.zoom:.3f}) |"
    ]
    for name in METHODS:
        total, count = errors[name]
        psnr = 10 * np.log10(255.0**2 / max(total / max(count, 1), 1e-12))
        note = f"hole {100 * np.mean(hole_share):.1f} % of the frame"
        if name == "mosaic":
            note += f"; {1000 * yuv_mosaic_s / len(inputs):.1f} ms/frame on 4:2:0 planes"
        lines.append(
            f"| {clip.name} | {name} | {psnr:.2f} | {np.mean(ssims[name]):.3f} "
            f"| {np.mean(flicker[name]) if flicker[name] else float('nan'):.2f} "
            f"| {1000 * seconds[name] / len(inputs):.1f} | {note} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--clips", default=",".join(c.name for c in CLIPS))
    args = parser.parse_args()
    wanted = args.clips.split(",")
    print(f"{SIZE[0]}x{SIZE[1]}, {args.frames} frames per clip, margin {MARGIN_PX} px\n")
    print("| clip | method | PSNR dB | SSIM | flicker | ms/frame (1 thread) | note |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for clip in CLIPS:
        if clip.name in wanted:
            for line in evaluate(clip, args.frames, args.workdir):
                print(line, flush=True)


if __name__ == "__main__":
    main()
