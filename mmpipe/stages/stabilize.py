"""The Stabilize stage: two passes, like vid.stab, without pass files to manage.

Pass 1 (``analyze``) measures raw frame-to-frame motion on downscaled grey frames into
a :class:`~mmpipe.vision.motion.MotionPlan`. ``configure`` smooths the camera path and
decides the crop; pass 2 (``process``) warps each full-resolution frame once, with no
frames held back. With ``fill="none"`` each frame also carries what it was made from (a
:class:`~mmpipe.media.frames.StabilizedView`), so that a ``FillBorders`` stage after it can
fill the borders from neighbouring frames. A plan saved with :meth:`Stabilize.save_plan`
and passed back in skips pass 1, so a clip can be re-rendered with other settings without
re-analysis.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from mmpipe.errors import ConfigError
from mmpipe.media.frames import AnalysisFrame, StabilizedView, VideoFrame
from mmpipe.pipeline.stage import VideoSpec
from mmpipe.vision.mosaic import trust_epochs
from mmpipe.vision.motion import MotionFlag, MotionPlan, estimate_motion
from mmpipe.vision.path import METHODS, PRESETS, corrections, smooth_path
from mmpipe.vision.transforms import frame_center, to_matrix
from mmpipe.vision.warp import FILLS, crop_zoom, warp_frame, warp_matrices

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StabilizeConfig:
    """Options of :class:`Stabilize`.

    ``preset``: walking | vehicle | pan | tripod. ``strength`` 0..1 scales how much
    shake is removed (0: untouched). ``fill``: ``none`` keeps the frame size and
    leaves black borders (a ``FillBorders`` stage after it can fill them from neighbouring
    frames); ``crop`` zooms by the smallest fixed factor that hides them.
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
            raise ConfigError(
                f"Stabilize fill must be one of {FILLS}, got {self.fill!r}; to fill the borders "
                "from neighbouring frames put FillBorders() after Stabilize(fill='none') "
                "(what --fill mosaic and fill='mosaic' in mmpipe.enhance/stabilize do)"
            )
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
        # fill="none": P_i [n, 3, 3], C_i^-1 [n, 3, 3] and trust epochs [n] for the views
        self._views: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # Warping works on any layout: frames can stay in the decoder's 4:2:0 planes.
    pixel_formats = ("yuv420p", "rgb24")

    @property
    def analysis_width_px(self) -> int:
        return self.config.analysis_width_px

    @property
    def latency(self) -> int:
        return 0

    @property
    def yields_stabilized(self) -> bool:
        """Whether yielded frames carry a ``stabilized`` view (``fill="none"``), which a
        ``FillBorders`` stage directly after this one needs."""
        return self.config.fill == "none"

    def keep_full_frame(self) -> None:
        """Render the full frame (``fill="none"``) for a ``FillBorders`` stage after this one;
        a `Pipeline` calls it, so ``[Stabilize(), FillBorders()]`` needs no ``fill`` option."""
        if self.config.fill != "none":
            self.config = replace(self.config, fill="none")

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
        self._views = None
        if self.yields_stabilized:
            center = frame_center(spec.width_px, spec.height_px)
            to_output = to_matrix(smooth, center)  # P_i
            from_input = np.linalg.inv(to_matrix(raw, center))  # C_i^-1
            self._views = (to_output, from_input, trust_epochs(plan.flags))
        logger.debug("stabilize: %d frames, zoom %.3f", plan.n_frames, self._zoom)
        self._spec = spec
        return spec

    def process(self, frame: VideoFrame) -> Iterator[VideoFrame]:
        """Pass 2: warp one full-resolution frame (``fill="none"``: with its view attached)."""
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
        assert self._spec is not None  # configure ran: warp_matrices exist
        image = warp_frame(
            frame.image,
            matrices[index],
            pixel_format=frame.pixel_format,
            full_range=self._spec.full_range,
        )
        view = None
        if self._views is not None:
            to_output, from_input, epochs = self._views
            view = StabilizedView(
                frame.image,
                to_output[index],
                from_input[index],
                int(epochs[index]),
                faint=bool(plan.flags[index] & MotionFlag.LOW_TEXTURE),
            )
        yield replace(frame, image=image, stabilized=view)

    def flush(self) -> Iterator[VideoFrame]:
        yield from ()


def _frame_rate(plan: MotionPlan, spec: VideoSpec) -> float:
    """Frames per second from the plan's timestamps (robust to VFR), else the spec's."""
    if plan.n_frames >= 2:
        steps_s = np.diff(np.asarray(plan.pts, dtype=np.float64)) * float(plan.time_base)
        steps_s = steps_s[steps_s > 0]
        if len(steps_s):
            return float(1.0 / np.median(steps_s))
    rate = float(spec.average_rate) if spec.average_rate else 0.0
    return rate if rate > 0 else 30.0
