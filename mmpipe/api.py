"""The Python API: one call per job, plus the composable `Pipeline` and its stages."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from mmpipe import batch as _batch
from mmpipe import export as _export
from mmpipe.errors import ConfigError
from mmpipe.media.probe import MediaInfo
from mmpipe.media.probe import probe as _probe
from mmpipe.media.writer import EncodeSettings
from mmpipe.metrics.shake import ShakeAnalysis, analyze_shake, plot_camera_path
from mmpipe.pipeline.runner import Pipeline, ProgressCallback, RunReport
from mmpipe.pipeline.stage import VideoStage
from mmpipe.stages.denoise import Denoise
from mmpipe.stages.fill import stabilize_stages
from mmpipe.stages.interpolate import Interpolate
from mmpipe.stages.stabilize import Stabilize
from mmpipe.vision.motion import MotionFlag

PathLike = str | os.PathLike[str]
ENHANCE_ATTENUATION_LIMIT_DB = 20.0


def probe(path: PathLike) -> MediaInfo:
    """Describe a media file: streams, codecs, size, frame rate (and VFR), rotation, duration.

    >>> info = mmpipe.probe("samples/shaky_speech.mp4")  # doctest: +SKIP
    >>> info.video.display_width_px, info.audio[0].sample_rate  # doctest: +SKIP
    (1280, 48000)
    """
    return _probe(path)


def enhance(
    input_path: PathLike,
    output_path: PathLike,
    *,
    stabilize: bool = True,
    fill: str = "crop",
    denoise: bool = True,
    backend: str = "onnx",
    fps: str | float | Fraction | None = None,
    encode: EncodeSettings | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunReport:
    """Run every default stage over a video file in one streaming pass.

    ``stabilize``: remove camera shake (``fill`` as in `stabilize`); ``denoise``: clean the
    speech of the first audio stream (with a 20 dB attenuation limit, which keeps speech
    intelligibility at or above the input's on the validation set). ``backend``: "onnx" (the
    exported models, default) or "torch" (the checkpoints in ``models/``, train extra).
    ``fps``: convert to this frame rate last (as `interpolate`). The output is written
    atomically (a temporary file renamed on success) and never replaces the input. Audio
    that no stage changes is copied bit-exact.
    """
    video: list[VideoStage] = list(stabilize_stages(fill=fill)) if stabilize else []
    if fps is not None:
        video.append(Interpolate(fps=fps))
    audio = (
        [Denoise(attenuation_limit_db=ENHANCE_ATTENUATION_LIMIT_DB, backend=backend)]
        if denoise
        else []
    )
    pipeline = Pipeline(video=video, audio=audio, encode=encode)
    return pipeline.run(input_path, output_path, on_progress=on_progress)


def stabilize(
    input_path: PathLike,
    output_path: PathLike,
    *,
    preset: str = "walking",
    strength: float = 1.0,
    fill: str = "crop",
    method: str = "l1",
    plan: PathLike | None = None,
    save_plan: PathLike | None = None,
    encode: EncodeSettings | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunReport:
    """Stabilize a video: analyse its motion, smooth the camera path, warp every frame.

    ``preset``: walking | vehicle | pan | tripod; ``strength`` 0..1; ``fill``: ``crop`` (the
    smallest fixed zoom that hides the borders), ``none`` (black borders, no zoom) or
    ``mosaic`` (full frame, borders filled from neighbouring frames: ``Stabilize(fill="none")``
    followed by ``FillBorders()``); ``method``: ``l1`` (optimal camera path) or ``gaussian``.
    ``plan``: a motion plan saved by ``save_plan`` from the same clip: the analysis pass is
    skipped.
    """
    stages = stabilize_stages(fill=fill, preset=preset, strength=strength, method=method, plan=plan)
    stage = stages[0]
    assert isinstance(stage, Stabilize)
    report = Pipeline(video=stages, encode=encode).run(
        input_path, output_path, on_progress=on_progress
    )
    if save_plan is not None:
        _save_plan(stage, Path(save_plan))
    return report


def analyze(
    input_path: PathLike,
    *,
    preset: str = "walking",
    strength: float = 1.0,
    plot: PathLike | None = None,
    save_plan: PathLike | None = None,
    on_progress: ProgressCallback | None = None,
) -> ShakeAnalysis:
    """Measure a clip's shake without writing a video.

    Returns the figures of `ShakeAnalysis`; ``plot`` writes a PNG of the measured and
    smoothed camera path (x, y, rotation, scale over time).
    """
    stage = Stabilize(preset=preset, strength=strength, fill="crop")
    spec = Pipeline(video=[stage]).analyze(input_path, on_progress=on_progress)
    plan = stage.plan
    assert plan is not None
    flags = np.asarray(plan.flags, dtype=int)
    unmeasured = MotionFlag.LOW_TEXTURE | MotionFlag.BRIDGED
    result = analyze_shake(
        stage.camera_path,
        stage.smooth_path,
        width_px=spec.width_px,
        height_px=spec.height_px,
        duration_s=spec.duration_s,
        zoom=stage.zoom,
        scene_cuts=len(plan.segment_starts()) - 1,
        unmeasured_frames=int(np.count_nonzero(flags & int(unmeasured))),
    )
    if plot is not None:
        times_s = np.asarray(plan.pts, dtype=float) * float(plan.time_base)
        plot_camera_path(
            stage.camera_path,
            stage.smooth_path,
            times_s - times_s[0],
            plot,
            title=f"{Path(input_path).name}: camera path ({preset} preset)",
            cuts_s=[float(times_s[i] - times_s[0]) for i in plan.segment_starts()[1:]],
        )
    if save_plan is not None:
        _save_plan(stage, Path(save_plan))
    return result


def interpolate(
    input_path: PathLike,
    output_path: PathLike,
    *,
    fps: str | float | Fraction | None = None,
    factor: str | float | Fraction | None = None,
    slowmo: str | float | Fraction | None = None,
    method: str = "flow",
    encode: EncodeSettings | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunReport:
    """Change a video's frame rate with in-between frames synthesized from optical flow.

    Exactly one of ``fps`` (the output rate, exact: 60, "24000/1001"; lowering is allowed),
    ``factor`` (times the input's average rate) and ``slowmo`` (that many times slower,
    at the input's frame rate). With ``fps``/``factor`` the duration is kept (to within one
    output frame) and the audio is copied untouched, in sync. With ``slowmo`` the video
    lasts ``slowmo`` times longer and no audio (nor any other stream) is written, each with
    a note in the report: stretched sound would be out of sync or unnatural. Scene cuts are
    never blended across; frames a phone repeated are retimed.
    """
    stage = Interpolate(fps=fps, factor=factor, slowmo=slowmo, method=method)
    pipeline = Pipeline(video=[stage], encode=encode, video_only=slowmo is not None)
    return pipeline.run(input_path, output_path, on_progress=on_progress)


def denoise(
    input_path: PathLike,
    output_path: PathLike,
    *,
    attenuation_limit_db: float | None = None,
    backend: str = "onnx",
    on_progress: ProgressCallback | None = None,
) -> RunReport:
    """Remove noise from the speech of a video (its video copied untouched) or audio file.

    Any sample rate from 8 to 48 kHz and any channel count come out as they went in, with
    the same length and alignment. ``attenuation_limit_db`` keeps some ambience (e.g. 12);
    ``backend``: "onnx" (the exported model, default) or "torch" (needs the train extra).
    """
    stage = Denoise(attenuation_limit_db=attenuation_limit_db, backend=backend)
    pipeline = Pipeline(video=None, audio=[stage])
    return pipeline.run(input_path, output_path, on_progress=on_progress)


def batch(
    inputs: PathLike | list[PathLike] | tuple[PathLike, ...],
    out_dir: PathLike,
    *,
    recursive: bool = False,
    jobs: int = 1,
    engine: str = "local",
    address: str | None = None,
    threads: int | None = None,
    memory_mb: int = _batch.DEFAULT_MEMORY_MB,
    on_progress: _batch.BatchProgressCallback | None = None,
    **options: object,
) -> _batch.BatchReport:
    """`enhance` every video of a folder, glob pattern or fsspec URL into ``out_dir``.

    ``options`` are `enhance`'s (``stabilize``, ``fill``, ``denoise``, ``encode``, ...).
    Outputs mirror the inputs' relative paths (``recursive``: subfolders too). A rerun skips
    outputs whose record and content verify as complete and redoes the rest; a bad file is
    reported in the `BatchReport`, never stops the batch. ``engine``: "local" (``jobs``
    processes) or "ray" (one task per file, on the cluster at ``address``; the ray extra).
    ``threads``/``memory_mb``: what each file may use (see `mmpipe.batch` in the README).
    """
    options["encode"] = options.get("encode") or EncodeSettings()
    return _batch.run(
        enhance,
        inputs,
        out_dir,
        options=options,
        recursive=recursive,
        jobs=jobs,
        engine=engine,
        address=address,
        threads=threads,
        memory_mb=memory_mb,
        on_progress=on_progress,
    )


TRAINABLE = ("denoiser", "interpolator", "inpainter")
EXPORTABLE = _export.EXPORTABLE


def export(
    names: list[str] | tuple[str, ...] | None = None,
    *,
    out_dir: PathLike | None = None,
    int8: bool = True,
    ort: bool = True,
) -> dict[str, dict]:
    """The `mmpipe export` command: torch -> ``NAME.onnx`` (+ ``.int8.onnx``, ``.ort``).

    ``names``: models to export (default every shipped one); ``out_dir``: default the shipped
    ``export/``. Checks parity with torch (max abs error 1e-4) and int8 PESQ (within 0.1 of
    fp32) and fails with ``ExportError`` otherwise; updates ``manifest.json`` and returns its
    new entries. Needs the train extra (torch, onnx).
    """
    return _export.export(names, out_dir=out_dir, int8=int8, ort=ort)


def check_exports(
    names: list[str] | tuple[str, ...] | None = None, *, out_dir: PathLike | None = None
) -> dict[str, dict]:
    """`mmpipe export --check`: verify the exported files, write nothing.

    Raises ``ExportError`` when a file is missing, differs from ``manifest.json``, was made
    from other weights than ``models/``, or fails the parity/PESQ checks; returns the figures.
    """
    return _export.check(names, out_dir=out_dir)


def train(
    name: str,
    *,
    minutes: float,
    data_dir: PathLike | None = None,
    seed: int = 0,
    resume: bool = True,
) -> dict[str, object]:
    """Reproduce a shipped model: train ``name`` for ``minutes`` of wall time.

    Needs the train extra (``pip install 'mmpipe[train]'``). Returns the last validation
    figures; the weights and the training log go where the model card says.
    """
    if name not in TRAINABLE:
        raise ConfigError(f"unknown model {name!r}; trainable models: {', '.join(TRAINABLE)}")
    if minutes <= 0:
        raise ConfigError(f"--minutes must be positive, got {minutes}")
    kwargs = {} if data_dir is None else {"data_dir": Path(data_dir)}
    if name == "interpolator":
        from mmpipe.train import interpolator

        return interpolator.train(minutes, seed=seed, resume=resume, **kwargs)
    if name == "inpainter":
        from mmpipe.train import inpainter

        return inpainter.train(minutes, seed=seed, resume=resume, **kwargs)
    from mmpipe.train import denoiser

    return denoiser.train(minutes, seed=seed, resume=resume, **kwargs)


def _save_plan(stage: Stabilize, target: Path) -> None:
    """Write the stage's motion plan atomically."""
    tmp = target.with_name(f".{target.name}.partial")
    try:
        stage.save_plan(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
