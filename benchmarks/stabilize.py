"""Video stabilization side by side: mmpipe against the tools people use today, same clips.

    python -m benchmarks.stabilize [--quick] [--workdir DIR] [--tools NAME,...] [--jobs 2]

Run from the repository root. Set-up, for the benchmark only (mmpipe needs none of it):
`apt-get install ffmpeg` (Debian's build has vidstabdetect/vidstabtransform and deshake) and
`pip install vidstab imutils progress matplotlib scikit-image` (vidstab's cv2 extra is not
needed: the opencv-python-headless that mmpipe uses serves it).

Tools, each from the same input file to an H.264 file with the same x264 settings
(CRF 18, preset medium):

- `mmpipe` (`Stabilize()` defaults: L1 path, crop fill), `mmpipe-gaussian` and
  `mmpipe-mosaic` (`Stabilize(fill="none")` then `FillBorders()`), through `mmpipe.Pipeline`;
- `vidstab` (ffmpeg vid.stab two-pass, defaults) and `vidstab-tuned` (shakiness=8,
  accuracy=15, smoothing=30, bicubic, static optimal zoom);
- `deshake` (ffmpeg, defaults);
- `pyvidstab` (the python `vidstab` package, defaults: 30-frame window, black borders),
  decoded and encoded with PyAV;
- `opencv-ma` (a plain OpenCV baseline written here: corners + LK, RANSAC similarity,
  moving average over 1 s, black borders).

On every output: the Liu et al. stability score, cropping ratio and distortion value, and the
residual jitter (px RMS at the clip's size) against the ground-truth stabilized clip, all from
`mmpipe.metrics`, applied identically to every tool (and to the input, as a reference row).
Frames are downscaled (INTER_AREA) to `--metric-width` before the metrics see them; the
metrics are scale-free and jitter is scaled back. End-to-end fps counts decode, analysis, warp
and encode (vid.stab: both passes). Tools run one at a time; the metrics run afterwards, in
`--jobs` processes. Timings are noisy on a shared machine. Prints markdown; asserts nothing.
Then mmpipe runs alone on the robustness clips (static, scene cut, uniform wall, black frames,
VFR, rotated portrait), reporting crashes and the largest frame-to-frame jump.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

import mmpipe
from benchmarks.devset import DEFAULT_WORKDIR, Clip, development_set, robustness_set
from mmpipe.metrics.stability import cropping_and_distortion, frame_jitter_px, stability_score
from mmpipe.stages.fill import stabilize_stages

CRF, PRESET = 18, "medium"
X264 = ["-c:v", "libx264", "-crf", str(CRF), "-preset", PRESET, "-pix_fmt", "yuv420p"]
VIDSTAB_TUNED = (
    "shakiness=8:accuracy=15",
    "smoothing=30:optzoom=1:interpol=bicubic",
)
ANALYSIS_WIDTH_PX = 640  # the OpenCV baseline tracks on frames this wide
CROP_EVERY = 3  # cropping/distortion on every 3rd frame (a mean and a minimum)
MIN_TEXTURE_STD = 4.0  # grey levels; flatter frames cannot be registered for the jump measure
MIN_KEYPOINTS = 50  # fewer SIFT keypoints on a clip's ideal frame: the metrics cannot see it

Runner = Callable[[Path, Path, Path], None]  # (input, output, scratch folder)


# -- I/O for the Python tools ------------------------------------------------------------


def decode(path: Path, fmt: str = "rgb24") -> Iterator[np.ndarray]:
    """Every frame of the first video stream as an array (coded orientation)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format=fmt)


def encode(path: Path, frames: Iterator[np.ndarray], rate: Fraction, fmt: str = "rgb24") -> None:
    """Frames to H.264 with the benchmark's x264 settings, one per 1/rate."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.options = {"crf": str(CRF), "preset": PRESET}
        stream.pix_fmt = "yuv420p"
        for i, image in enumerate(frames):
            if i == 0:
                stream.height, stream.width = image.shape[:2]
            frame = av.VideoFrame.from_ndarray(image, format=fmt)
            frame.pts, frame.time_base = i, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def frame_rate(path: Path) -> Fraction:
    with av.open(str(path)) as container:
        return container.streams.video[0].average_rate


# -- the tools ---------------------------------------------------------------------------


def mmpipe_tool(**options) -> Runner:
    def run(src: Path, dst: Path, scratch: Path) -> None:
        settings = mmpipe.EncodeSettings(crf=CRF, preset=PRESET)
        mmpipe.Pipeline(video=stabilize_stages(**options), encode=settings).run(src, dst)

    return run


def ffmpeg(*args: str | Path, cwd: Path) -> None:
    binary = shutil.which("ffmpeg")
    if binary is None:
        raise RuntimeError("no ffmpeg binary: apt-get install ffmpeg (the benchmark needs it)")
    command = [binary, "-hide_banner", "-v", "error", "-y", *map(str, args)]
    subprocess.run(command, check=True, cwd=cwd)


def vidstab_tool(detect: str = "", transform: str = "") -> Runner:
    """vid.stab's two passes; the transforms file lives in the scratch folder."""

    def run(src: Path, dst: Path, scratch: Path) -> None:
        trf = f"{dst.stem}.trf"  # relative: a path in a filter option would need escaping
        options = f":{detect}" if detect else ""
        ffmpeg(
            "-i", src, "-vf", f"vidstabdetect=result={trf}{options}", "-f", "null", "-", cwd=scratch
        )
        options = f":{transform}" if transform else ""
        vf = f"vidstabtransform=input={trf}{options}"
        ffmpeg("-i", src, "-vf", vf, *X264, "-c:a", "copy", dst, cwd=scratch)

    return run


def deshake(src: Path, dst: Path, scratch: Path) -> None:
    ffmpeg("-i", src, "-vf", "deshake", *X264, "-c:a", "copy", dst, cwd=scratch)


def import_vidstab():
    """The python vidstab package, on OpenCV 5.

    vidstab 1.7.4 goes through imutils 0.5.4, written for OpenCV <= 4: at import, imutils
    builds a table that names `cv2.BRISK_create` (moved out of OpenCV 5's main modules), and
    vidstab only takes the `estimateAffinePartial2D` branch when `imutils.is_cv4()`. Neither
    touches what vidstab computes with its default GFTT keypoints, so the benchmark stands in
    for both rather than installing a second OpenCV.
    """
    if not hasattr(cv2, "BRISK_create"):
        cv2.BRISK_create = None  # never called with the default GFTT detector
    import imutils

    if int(cv2.__version__.split(".")[0]) >= 4:
        imutils.is_cv4 = lambda: True
    from vidstab import VidStab

    return VidStab


def pyvidstab(src: Path, dst: Path, scratch: Path) -> None:
    """vidstab's streaming API. Its output lags by the window and starts with black warm-up
    frames; after the last input it is drained, and only the last ``n`` outputs are kept."""
    stabilizer = import_vidstab()()
    window = 30
    outputs, n_frames = [], 0
    for image in decode(src, "bgr24"):
        outputs.append(stabilizer.stabilize_frame(image, smoothing_window=window))
        n_frames += 1
    while (out := stabilizer.stabilize_frame(None, smoothing_window=window)) is not None:
        outputs.append(out)
    encode(dst, iter(outputs[-n_frames:]), frame_rate(src), "bgr24")


def track(previous: np.ndarray, current: np.ndarray) -> np.ndarray | None:
    """2x3 similarity from one grey frame to the next: corners, LK, RANSAC; None if lost."""
    corners = cv2.goodFeaturesToTrack(previous, 300, 0.01, 15)
    if corners is None or len(corners) < 10:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, corners, None)
    ok = status.ravel() == 1
    if ok.sum() < 10:
        return None
    matrix, inliers = cv2.estimateAffinePartial2D(corners[ok], moved[ok], method=cv2.RANSAC)
    if matrix is None or inliers.sum() < 8:
        return None
    return matrix


def small_grey(image: np.ndarray, width_px: int = ANALYSIS_WIDTH_PX) -> tuple[np.ndarray, float]:
    """Grey frame at most ``width_px`` wide, and full width / small width."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if grey.shape[1] <= width_px:
        return grey, 1.0
    scale = grey.shape[1] / width_px
    small = cv2.resize(grey, (width_px, round(grey.shape[0] / scale)), interpolation=cv2.INTER_AREA)
    return small, scale


def motion_about_center(matrix: np.ndarray | None, center: np.ndarray) -> np.ndarray:
    """(dx, dy, angle) of a 2x3 similarity, the shift measured at ``center``."""
    if matrix is None:
        return np.zeros(3)
    shift = matrix[:, :2] @ center + matrix[:, 2] - center
    return np.array([shift[0], shift[1], np.arctan2(matrix[1, 0], matrix[0, 0])])


def opencv_ma(src: Path, dst: Path, scratch: Path, window_s: float = 1.0) -> None:
    """Plain baseline: per-frame (dx, dy, angle) summed into a path, moving average, warp."""
    motions, previous, scale, size = [np.zeros(3)], None, 1.0, (0, 0)
    for image in decode(src):
        grey, scale = small_grey(image)
        size = (image.shape[1], image.shape[0])
        if previous is not None:
            center = np.array([(grey.shape[1] - 1) / 2, (grey.shape[0] - 1) / 2])
            motions.append(motion_about_center(track(previous, grey), center))
        previous = grey
    path = np.cumsum(motions, axis=0) * np.array([scale, scale, 1.0])
    rate = frame_rate(src)
    radius = max(1, round(window_s * float(rate) / 2))
    padded = np.pad(path, ((radius, radius), (0, 0)), mode="edge")
    kernel = np.ones(2 * radius + 1) / (2 * radius + 1)
    smooth = np.stack([np.convolve(padded[:, k], kernel, "valid") for k in range(3)], axis=1)
    correction = smooth - path
    center = ((size[0] - 1) / 2, (size[1] - 1) / 2)

    def warped() -> Iterator[np.ndarray]:
        for image, (dx, dy, angle) in zip(decode(src), correction, strict=True):
            matrix = cv2.getRotationMatrix2D(center, -np.degrees(angle), 1.0)
            matrix[:, 2] += (dx, dy)
            yield cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR)

    encode(dst, warped(), rate)


TOOLS: dict[str, Runner] = {
    "mmpipe": mmpipe_tool(),
    "mmpipe-gaussian": mmpipe_tool(method="gaussian"),
    "mmpipe-mosaic": mmpipe_tool(fill="mosaic"),
    "vidstab": vidstab_tool(),
    "vidstab-tuned": vidstab_tool(*VIDSTAB_TUNED),
    "deshake": deshake,
    "pyvidstab": pyvidstab,
    "opencv-ma": opencv_ma,
}
REFERENCES = ("vidstab", "vidstab-tuned", "deshake", "pyvidstab", "opencv-ma")
VIDSTABS = ("vidstab", "vidstab-tuned")
OURS = ("mmpipe", "mmpipe-gaussian", "mmpipe-mosaic")


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Row:
    clip: str
    tool: str
    seconds: float | None = None
    fps: float | None = None
    stability: float | None = None
    cropping: float | None = None
    distortion: float | None = None
    jitter_px: float | None = None
    error: str = ""


def small_frames(path: Path, width_px: int) -> list[np.ndarray]:
    """All frames, RGB, downscaled (INTER_AREA) to at most ``width_px`` wide."""
    frames = []
    for image in decode(path):
        if image.shape[1] > width_px:
            height_px = round(image.shape[0] * width_px / image.shape[1])
            image = cv2.resize(image, (width_px, height_px), interpolation=cv2.INTER_AREA)
        frames.append(image)
    return frames


def stretched(frames: list[np.ndarray], low: float, high: float) -> list[np.ndarray]:
    """Grey frames with the fixed linear map ``low..high -> 0..255`` (clipped)."""
    gain = 255.0 / max(high - low, 1.0)
    return [
        cv2.convertScaleAbs(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), alpha=gain, beta=-low * gain)
        for f in frames
    ]


def measure(clip: Clip, output: Path, width_px: int, is_input: bool) -> dict:
    """The quality figures of one output against its clip's input and ideal.

    Low-contrast clips are measured on grey frames stretched by one linear map (from the
    input's first frame), the same for every tool. A figure that cannot be measured (no
    SIFT matches at all) is left out and its error returned.
    """
    cv2.setNumThreads(1)  # the jobs run side by side
    outputs = small_frames(output, width_px)
    inputs = small_frames(clip.input, width_px)
    ideal = small_frames(clip.ideal, width_px)
    n = min(len(outputs), len(inputs), len(ideal))
    outputs, inputs, ideal = outputs[:n], inputs[:n], ideal[:n]
    if clip.low_contrast:
        low, high = np.percentile(cv2.cvtColor(inputs[0], cv2.COLOR_RGB2GRAY), [1, 99])
        outputs, inputs, ideal = (stretched(f, low, high) for f in (outputs, inputs, ideal))
    # The metrics count frames they cannot match as perfectly steady: refuse to score a
    # clip on which their SIFT (contrast threshold 0.02) sees next to nothing.
    keypoints = len(cv2.SIFT_create(contrastThreshold=0.02).detect(ideal[0]))
    if keypoints < MIN_KEYPOINTS:
        return {"error": f"not measurable: {keypoints} SIFT keypoints on the ideal frame"}
    figures, errors = {}, []

    def attempt(compute: Callable[[], dict]) -> None:
        try:
            figures.update(compute())
        except ValueError as exc:
            errors.append(str(exc))

    def crop_figures() -> dict:
        cropping, distortion = cropping_and_distortion(
            inputs[::CROP_EVERY], outputs[::CROP_EVERY], max_width_px=width_px
        )
        return {"cropping": cropping, "distortion": distortion}

    def jitter_figure() -> dict:
        jitter = frame_jitter_px(outputs, ideal, fps=clip.fps, max_width_px=width_px)
        return {"jitter_px": jitter * clip.width_px / outputs[0].shape[1]}

    attempt(lambda: {"stability": stability_score(outputs, max_width_px=width_px).score})
    if is_input:  # the input against itself: no crop, no distortion, by definition
        figures.update(cropping=1.0, distortion=1.0)
    else:
        attempt(crop_figures)
    attempt(jitter_figure)
    if errors:
        figures["error"] = "metrics: " + "; ".join(errors)
    return figures


def time_tools(clips: list[Clip], tools: list[str], workdir: Path) -> list[Row]:
    """Run every tool on every clip, one at a time, and time each run."""
    rows = []
    for clip in clips:
        folder = workdir / "outputs" / clip.name
        folder.mkdir(parents=True, exist_ok=True)
        for tool in tools:
            output = folder / f"{tool}.mp4"
            output.unlink(missing_ok=True)
            row = Row(clip.name, tool)
            started = time.perf_counter()
            try:
                TOOLS[tool](clip.input, output, folder)
                row.seconds = time.perf_counter() - started
                row.fps = clip.n_frames / row.seconds
            except Exception as exc:  # reported in the table; the other tools go on
                row.error = f"{type(exc).__name__}: {exc}"[:120]
            print(f"  {clip.name:28} {tool:16} {row.seconds or 0:6.1f} s {row.error}", flush=True)
            rows.append(row)
    return rows


def measure_rows(clips: list[Clip], rows: list[Row], workdir: Path, width_px: int, jobs: int):
    """Fill in the quality figures (and an `input` row per clip), in ``jobs`` processes."""
    by_name = {clip.name: clip for clip in clips}
    inputs = [Row(clip.name, "input") for clip in clips]
    todo = [row for row in [*inputs, *rows] if not row.error]

    def output_of(row: Row) -> Path:
        if row.tool == "input":
            return by_name[row.clip].input
        return workdir / "outputs" / row.clip / f"{row.tool}.mp4"

    # spawn, not fork: forking a process whose OpenCV/FFmpeg threads hold locks can hang
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [
            pool.submit(measure, by_name[r.clip], output_of(r), width_px, r.tool == "input")
            for r in todo
        ]
        for row, future in zip(todo, futures, strict=True):
            try:
                for key, value in future.result().items():
                    setattr(row, key, value)
            except Exception as exc:
                row.error = f"metrics: {type(exc).__name__}: {exc}"[:120]
    return [*inputs, *rows]


# -- robustness --------------------------------------------------------------------------


def largest_jump_px(path: Path) -> tuple[float | None, int, float]:
    """(largest frame-to-frame corner displacement px, frames, mean black share of frames).

    Consecutive frames that cannot be registered (a cut, black frames) are skipped, and so
    are frames without texture (grey std below MIN_TEXTURE_STD: the corners found there
    are compression noise); None when no pair of frames could be measured.
    """
    jumps, previous, count, black = [], None, 0, []
    for image in decode(path):
        count += 1
        black.append(float(np.mean(image.max(axis=2) < 16)))
        grey, scale = small_grey(image)
        if float(grey.std()) < MIN_TEXTURE_STD:
            grey = None
        if previous is not None and grey is not None:
            matrix = track(previous, grey)
            if matrix is not None:
                h, w = grey.shape
                corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], float)
                moved = corners @ matrix[:, :2].T + matrix[:, 2]
                jumps.append(scale * float(np.max(np.linalg.norm(moved - corners, axis=1))))
        previous = grey
    return max(jumps, default=None), count, float(np.mean(black))


def robustness(workdir: Path) -> list[str]:
    lines = [
        "| clip | tool | result | frames in/out | max jump in (px) | max jump out (px) "
        "| black share in/out |",
        "| --- | --- | --- | --- | ---: | ---: | --- |",
    ]
    folder = workdir / "outputs" / "robustness"
    folder.mkdir(parents=True, exist_ok=True)
    for name, clip in robustness_set(workdir):
        jump_in, n_in, black_in = largest_jump_px(clip)
        for tool in OURS:
            output = folder / f"{name}.{tool}.mp4"
            try:
                TOOLS[tool](clip, output, folder)
            except Exception as exc:
                lines.append(f"| {name} | {tool} | CRASH {type(exc).__name__}: {exc} | | | | |")
                continue
            jump_out, n_out, black_out = largest_jump_px(output)
            lines.append(
                f"| {name} | {tool} | ok | {n_in}/{n_out} | {fmt(jump_in, 1)} | {fmt(jump_out, 1)} "
                f"| {black_in:.2f}/{black_out:.2f} |"
            )
    return lines


# -- tables ------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def per_clip_table(rows: list[Row], clips: list[Clip]) -> list[str]:
    lines = [
        "| clip | tool | stability | cropping | distortion | jitter (px RMS) | fps | s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for clip in clips:
        for row in (r for r in rows if r.clip == clip.name):
            figures = [row.stability, row.cropping, row.distortion]
            cells = [fmt(v) for v in figures] + [fmt(row.jitter_px, 2)]
            cells += [fmt(row.fps, 1), fmt(row.seconds, 1)]
            note = f" ({row.error})" if row.error else ""
            lines.append(f"| {clip.name} | {row.tool}{note} | " + " | ".join(cells) + " |")
    return lines


def mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def summary_table(rows: list[Row], clips: list[Clip]) -> list[str]:
    height = {clip.name: clip.height_px for clip in clips}
    lines = [
        "| tool | mean stability | mean cropping | worst distortion | mean jitter (px) "
        "| fps 720p | fps 1080p |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for tool in ["input", *TOOLS]:
        mine = [r for r in rows if r.tool == tool]
        if not mine:
            continue
        worst = [r.distortion for r in mine if r.distortion is not None]
        cells = [
            fmt(mean([r.stability for r in mine])),
            fmt(mean([r.cropping for r in mine])),
            fmt(min(worst) if worst else None),
            fmt(mean([r.jitter_px for r in mine]), 2),
            fmt(mean([r.fps for r in mine if height[r.clip] == 720]), 1),
            fmt(mean([r.fps for r in mine if height[r.clip] == 1080]), 1),
        ]
        lines.append(f"| {tool} | " + " | ".join(cells) + " |")
    return lines


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def at_least(ours: float | None, theirs: float | None, digits: int = 3) -> str:
    """A tie at the printed precision counts as met (the metrics are not finer than that)."""
    if ours is None or theirs is None:
        return "n/a"
    ok = round(ours, digits) >= round(theirs, digits)
    return f"{verdict(ok)} {ours:.{digits}f} vs {theirs:.{digits}f}"


def targets_table(rows: list[Row], clips: list[Clip]) -> list[str]:
    """The issue's targets, clip by clip, for each mmpipe method.

    vid.stab's best setting is the one with the higher stability score on that clip; the
    best reference for jitter is the lowest jitter among all the other tools.
    """
    table = {(r.clip, r.tool): r for r in rows}
    lines = [
        "| clip | tool | stability >= best vid.stab | cropping >= | distortion >= "
        "| jitter <= 0.5x best ref | fps >= 1.5x vid.stab two passes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for clip in clips:
        stabs = [table.get((clip.name, t)) for t in VIDSTABS]
        stabs = [r for r in stabs if r and r.stability is not None]
        refs = [table.get((clip.name, t)) for t in REFERENCES]
        refs = [r for r in refs if r and r.jitter_px is not None]
        for tool in OURS:
            ours = table.get((clip.name, tool))
            if ours is None:
                continue
            if stabs:
                best = max(stabs, key=lambda r: r.stability)
                cells = [
                    f"{at_least(ours.stability, best.stability)} ({best.tool})",
                    at_least(ours.cropping, best.cropping),
                    at_least(ours.distortion, best.distortion),
                ]
            else:
                cells = ["n/a"] * 3
            if refs and ours.jitter_px is not None:
                ref = min(refs, key=lambda r: r.jitter_px)
                half = 0.5 * ref.jitter_px
                cells.append(
                    f"{verdict(ours.jitter_px <= half)} {ours.jitter_px:.2f} vs {half:.2f} "
                    f"({ref.tool} {ref.jitter_px:.2f})"
                )
            else:
                cells.append("n/a")
            two_pass = table.get((clip.name, "vidstab"))
            if clip.height_px >= 1080 and ours.fps and two_pass and two_pass.fps:
                ratio = ours.fps / two_pass.fps
                cells.append(f"{verdict(ratio >= 1.5)} {ratio:.2f}x")
            else:
                cells.append("(1080p only)")
            lines.append(f"| {clip.name} | {tool} | " + " | ".join(cells) + " |")
    return lines


def speed_table(rows: list[Row], clips: list[Clip]) -> list[str]:
    """Seconds and frames per second end to end, and the speed-up over vid.stab's two passes."""
    table = {(r.clip, r.tool): r for r in rows}
    lines = [
        "| clip | tool | s | fps | x vid.stab two passes |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for clip in clips:
        two_pass = table.get((clip.name, "vidstab"))
        for row in (r for r in rows if r.clip == clip.name):
            ratio = "-"
            if two_pass and two_pass.seconds and row.seconds:
                ratio = f"{two_pass.seconds / row.seconds:.2f}"
            cells = [fmt(row.seconds, 1), fmt(row.fps, 1), ratio]
            lines.append(f"| {clip.name} | {row.tool} | " + " | ".join(cells) + " |")
    return lines


def merged(rows: list[Row], results: Path, tools: list[str], clips: set[str]) -> list[Row]:
    """This run's rows plus, from the last run's ``results``, the other tools' rows.

    So ``--tools mmpipe`` re-measures mmpipe and still prints the references beside it.
    """
    if not results.exists():
        return rows
    known = {f.name for f in fields(Row)}
    fresh = {(r.clip, r.tool) for r in rows}
    kept = []
    for item in json.loads(results.read_text()):
        row = Row(**{k: v for k, v in item.items() if k in known})
        if row.clip in clips and (row.clip, row.tool) not in fresh and row.tool not in tools:
            kept.append(row)
    return rows + kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--quick", action="store_true", help="3 short clips and the sample")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument("--metric-width", type=int, default=360, help="px, for the metrics")
    parser.add_argument("--jobs", type=int, default=2, help="processes for the metrics")
    parser.add_argument("--no-robustness", action="store_true")
    parser.add_argument(
        "--speed-only", action="store_true", help="only time the tools on the 1080p clips"
    )
    args = parser.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tools {unknown}; choose from {list(TOOLS)}")
    started = time.perf_counter()
    clips = development_set(args.workdir, quick=args.quick)
    print(f"development set ready ({time.perf_counter() - started:.0f} s); timing, one at a time:")
    if args.speed_only:
        clips = [clip for clip in clips if clip.height_px >= 1080]
        load_before = os.getloadavg()[0]
        rows = time_tools(clips, tools, args.workdir)
        print(f"\n1080p, x264 CRF {CRF} {PRESET}, load {load_before:.1f} before\n")
        print("\n".join(speed_table(rows, clips)))
        return
    load_before = os.getloadavg()[0]
    rows = time_tools(clips, tools, args.workdir)
    load_after = os.getloadavg()[0]
    rows = measure_rows(clips, rows, args.workdir, args.metric_width, args.jobs)
    rows = merged(rows, args.workdir / "results.json", tools, {c.name for c in clips})
    (args.workdir / "results.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    print()
    print(f"## Stabilization, {len(clips)} clips, x264 CRF {CRF} preset {PRESET}\n")
    print(f"Metrics on frames {args.metric_width} px wide; jitter in px at the clip's size.")
    reused = sorted({r.tool for r in rows} - {"input", *tools})
    if reused:
        print(f"Rows of {', '.join(reused)} come from the last run's results.json.")
    print(f"Times are noisy: a shared 2-core machine (load {load_before:.1f} before, ")
    print(f"{load_after:.1f} after the timed runs).\n")
    for clip in clips:
        print(
            f"- {clip.name}: {clip.width_px}x{clip.height_px}, {clip.n_frames} frames, {clip.note}"
        )
    print()
    print("\n".join(per_clip_table(rows, clips)))
    print("\n### Per tool\n")
    print("\n".join(summary_table(rows, clips)))
    print("\n### Targets of issue 3 (mmpipe against vid.stab's best and the best reference)\n")
    print("\n".join(targets_table(rows, clips)))
    if not args.no_robustness:
        print("\n### No crash, no jump (mmpipe only)\n")
        print("\n".join(robustness(args.workdir)))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
