"""The Stabilize stage: two passes, like vid.stab, without pass files to manage.

Pass 1 (``analyze``) measures raw frame-to-frame motion on downscaled grey frames into
a :class:`~mmpipe.vision.motion.MotionPlan`. ``configure`` smooths the camera path and
decides the crop; pass 2 (``process``) warps each full-resolution frame once, with no
frames held back. A plan saved with :meth:`Stabilize.save_plan` and passed back in
skips pass 1, so a clip can be re-rendered with other settings without re-analysis.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from mmpipe.errors import ConfigError
from mmpipe.media.frames import AnalysisFrame, VideoFrame
from mmpipe.pipeline.stage import VideoSpec
from mmpipe.vision.mosaic import Mosaic, MosaicOptions
from mmpipe.vision.motion import MotionPlan, estimate_motion
from mmpipe.vision.path import METHODS, PRESETS, corrections, smooth_path
from mmpipe.vision.warp import FILLS, crop_zoom, warp_frame, warp_matrices

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StabilizeConfig:
    """Options of :class:`Stabilize`.

    ``preset``: walking | vehicle | pan | tripod. ``strength`` 0..1 scales how much
    shake is removed (0: untouched). ``fill``: ``none`` keeps the frame size and
    leaves black borders; ``crop`` zooms by the smallest fixed factor that hides them;
    ``mosaic`` keeps the full frame and field of view, filling the borders from
    neighbouring frames (the stage then holds ``MosaicOptions.window_frames`` back).
    ``method``: ``l1`` (optimal camera path) or ``gaussian`` (faster). ``plan``: a
    motion plan file from :meth:`Stabilize.save_plan`; analysis is then skipped.
    """

    preset: str = "walking"
    strength: float = 1.0
    fill: str = "crop"
    method: str = "l1"
    analysis_width_px: int = 640
    plan: str | None = None

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; use one of {list(PRESETS)}")
        if not 0.0 <= self.strength <= 1.0:
            raise ConfigError(f"strength must be between 0 and 1, got {self.strength}")
        if self.fill not in FILLS:
            raise ConfigError(f"unknown fill {self.fill!r} for Stabilize; use one of {FILLS}")
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; use one of {list(METHODS)}")
        if self.analysis_width_px < 64:
            raise ConfigError("analysis_width_px must be at least 64")


class Stabilize:
    """Video stabilization stage (implements ``TwoPassVideoStage``).

    ``Stabilize(preset="pan", fill="none")`` or ``Stabilize(StabilizeConfig(...))``;
    ``plan=`` takes an already measured :class:`MotionPlan` or the path of a saved one.
    """

    def __init__(
        self,
        config: StabilizeConfig | None = None,
        *,
        plan: MotionPlan | str | Path | None = None,
        **options,
    ) -> None:
        known = {f.name for f in fields(StabilizeConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown Stabilize options {unknown}; use some of {sorted(known)}")
        if isinstance(plan, str | Path):
            options["plan"] = str(plan)
            plan = None
        self.config = replace(config or StabilizeConfig(), **options)
        if plan is None and self.config.plan is not None:
            plan = MotionPlan.from_json(self.config.plan)
        self._plan = plan
        self._plan_given = plan is not None
        self._matrices: np.ndarray | None = None
        self._camera_path: np.ndarray | None = None
        self._smooth_path: np.ndarray | None = None
        self._zoom = 1.0
        self._spec: VideoSpec | None = None
        self._mosaic: Mosaic | None = None
        self._window: dict[int, VideoFrame] = {}  # input frames kept for the mosaic
        self._next_out = 0

    # Warping works on any layout: frames can stay in the decoder's 4:2:0 planes.
    pixel_formats = ("yuv420p", "rgb24")

    @property
    def analysis_width_px(self) -> int:
        return self.config.analysis_width_px

    @property
    def latency(self) -> int:
        return MosaicOptions().window_frames if self.config.fill == "mosaic" else 0

    @property
    def needs_analysis(self) -> bool:
        """False when a motion plan was given: the runner can skip pass 1."""
        return self._plan is None

    @property
    def plan(self) -> MotionPlan | None:
        """The motion plan, once analysed or given."""
        return self._plan

    @property
    def zoom(self) -> float:
        """The fixed zoom applied to every frame (1.0 unless ``fill="crop"``)."""
        return self._zoom

    @property
    def camera_path(self) -> np.ndarray:
        """The measured camera path ``[n, 4]`` (dx_px, dy_px, angle_rad, log_scale)."""
        if self._camera_path is None:
            raise ConfigError("Stabilize.configure must run before its camera path exists")
        return self._camera_path

    @property
    def smooth_path(self) -> np.ndarray:
        """The smoothed camera path ``[n, 4]`` the output follows."""
        if self._smooth_path is None:
            raise ConfigError("Stabilize.configure must run before its camera path exists")
        return self._smooth_path

    @property
    def warp_matrices(self) -> np.ndarray:
        """The 2x3 input-to-output matrix of every frame, ``[n, 2, 3]`` (after configure)."""
        if self._matrices is None:
            raise ConfigError("Stabilize.configure must run before its warps exist")
        return self._matrices

    def analyze(self, frames: Iterator[AnalysisFrame], spec: VideoSpec) -> None:
        """Pass 1: measure the motion of the whole clip from downscaled grey frames."""
        self._plan = estimate_motion(frames, width_px=spec.width_px, height_px=spec.height_px)

    def save_plan(self, path: str | Path) -> None:
        """Write the motion plan as JSON (reuse it with ``plan=``)."""
        if self._plan is None:
            raise ConfigError("there is no motion plan to save yet: analyse the clip first")
        self._plan.to_json(path)

    def configure(self, spec: VideoSpec) -> VideoSpec:
        """Smooth the camera path and fix the crop; frames keep their size."""
        if self._plan is None:
            raise ConfigError(
                "Stabilize needs a motion plan: run its analysis pass or pass plan=PLAN.json"
            )
        if self._plan_given and spec.frame_count and self._plan.n_frames != spec.frame_count:
            raise ConfigError(
                f"the motion plan has {self._plan.n_frames} frames but the clip has "
                f"{spec.frame_count}: the plan belongs to another clip; analyse this one"
            )
        plan = self._plan.scaled_to(spec.width_px, spec.height_px)
        self._plan = plan
        cfg = self.config
        raw = plan.camera_path()
        smooth = smooth_path(
            raw,
            width_px=spec.width_px,
            height_px=spec.height_px,
            fps=_frame_rate(plan, spec),
            preset=cfg.preset,
            strength=cfg.strength,
            method=cfg.method,
            segment_starts=plan.segment_starts(),
            times_s=np.asarray(plan.pts, dtype=np.float64) * float(plan.time_base),
        )
        self._camera_path, self._smooth_path = raw, smooth
        correction = corrections(raw, smooth, width_px=spec.width_px, height_px=spec.height_px)
        self._zoom = 1.0
        if cfg.fill == "crop" and len(correction):
            self._zoom = crop_zoom(correction, width_px=spec.width_px, height_px=spec.height_px)
        self._matrices = warp_matrices(
            correction, width_px=spec.width_px, height_px=spec.height_px, zoom=self._zoom
        )
        self._window, self._next_out, self._mosaic = {}, 0, None
        if cfg.fill == "mosaic":
            self._mosaic = Mosaic(
                raw,
                smooth,
                plan.flags,
                width_px=spec.width_px,
                height_px=spec.height_px,
                pixel_format=spec.pixel_format,
                full_range=spec.full_range,
            )
        logger.debug("stabilize: %d frames, zoom %.3f", plan.n_frames, self._zoom)
        self._spec = spec
        return spec

    def process(self, frame: VideoFrame) -> Iterator[VideoFrame]:
        """Pass 2: warp one full-resolution frame (with ``mosaic``, the one ``latency`` back)."""
        matrices, plan = self.warp_matrices, self._plan
        assert plan is not None
        index = frame.index
        if index >= plan.n_frames or (
            plan.pts[index] * plan.time_base != frame.pts * frame.time_base
        ):
            raise ConfigError(
                f"frame {index} (t={frame.time_s:.3f} s) is not in the motion plan of "
                f"{plan.n_frames} frames: the plan belongs to another clip; analyse this one"
            )
        if self._mosaic is None:
            assert self._spec is not None  # configure ran: warp_matrices exist
            image = warp_frame(
                frame.image,
                matrices[index],
                pixel_format=frame.pixel_format,
                full_range=self._spec.full_range,
            )
            yield replace(frame, image=image)
            return
        self._window[index] = frame
        while self._next_out + self._mosaic.window_frames <= index:
            yield self._render_mosaic()

    def flush(self) -> Iterator[VideoFrame]:
        while self._mosaic is not None and self._next_out in self._window:
            yield self._render_mosaic()

    def _render_mosaic(self) -> VideoFrame:
        """The next output frame, filled from the window; frames out of reach are dropped."""
        assert self._mosaic is not None
        index, reach = self._next_out, self._mosaic.window_frames
        images = {j: f.image for j, f in self._window.items()}
        frame = self._window[index]
        image = self._mosaic.render(index, images)
        self._next_out += 1
        for j in [j for j in self._window if j < self._next_out - reach]:
            del self._window[j]
        return replace(frame, image=image)


def _frame_rate(plan: MotionPlan, spec: VideoSpec) -> float:
    """Frames per second from the plan's timestamps (robust to VFR), else the spec's."""
    if plan.n_frames >= 2:
        steps_s = np.diff(np.asarray(plan.pts, dtype=np.float64)) * float(plan.time_base)
        steps_s = steps_s[steps_s > 0]
        if len(steps_s):
            return float(1.0 / np.median(steps_s))
    rate = float(spec.average_rate) if spec.average_rate else 0.0
    return rate if rate > 0 else 30.0
