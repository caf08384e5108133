"""Pass 1 of stabilization: frame-to-frame camera motion, as a small saveable plan.

Each analysis frame (downscaled grey) is compared with the one before it:

1. a frame nearly identical to the previous one is a duplicate: identity motion;
2. a frame with too little texture to track (black, fog, a blank wall) is flagged;
3. corners are found on a grid over the previous frame (so every part of the picture
   votes, not just the busiest object), tracked with pyramidal Lucas-Kanade and kept
   only if tracking back lands where they started (forward-backward check);
4. a similarity (shift, rotation, zoom) is fitted to the tracks by RANSAC in
   full-resolution pixels; the largest consistent set is the background, so a person
   walking through does not drag the estimate;
5. where that fails for want of texture (skies, fog, plain walls), the same is tried
   on both frames with their local contrast stretched (CLAHE), which still measures
   rotation and zoom, if it agrees with the whole-frame shift found by phase
   correlation; failing that, that shift alone stands in;
6. a jump in the grey histogram, or nearly all tracks lost between two textured frames
   with no whole-frame shift either, is a scene cut: identity motion, the path restarts.

The previous frame of a measured pair becomes a key frame: the next frames track its
inlier points (from where the last fit predicts them) instead of fresh corners, and
their motion is the difference of two key-frame fits, so measurement noise does not
pile up frame after frame along a still or slow shot. A new key frame is taken when
fewer than half of its points are still found, or after ``max_key_age_frames``.

Frames whose motion could not be measured are bridged afterwards by interpolating the
motion of their measured neighbours in the same shot, so the path never jumps.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntFlag
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from mmpipe.errors import ConfigError
from mmpipe.media.frames import AnalysisFrame
from mmpipe.vision.transforms import accumulate, apply_points, frame_center, from_matrix

logger = logging.getLogger(__name__)

PLAN_FORMAT = "mmpipe.motion-plan"
PLAN_VERSION = 1
PARAM_NAMES = ("dx_px", "dy_px", "angle_rad", "log_scale")


class MotionFlag(IntFlag):
    """What happened when measuring a frame's motion (bits, combined per frame)."""

    NONE = 0
    LOW_TEXTURE = 1  # faint: tracked on enhanced contrast, a whole-frame shift, or bridged
    SCENE_CUT = 2  # the frame starts a new shot; motion is identity, the path restarts
    DUPLICATE = 4  # the frame repeats the previous one; motion is identity
    BRIDGED = 8  # not measured: interpolated from measured neighbours (or identity)


@dataclass(frozen=True)
class MotionOptions:
    """Tuning of the motion estimator (the defaults suit phone video at 640 px)."""

    max_corners: int = 400
    grid_cells: int = 4  # corners are found in grid_cells x grid_cells cells
    min_tracks: int = 12  # fewer good tracks than this: the motion is not measured
    fb_error_px: float = 0.7  # forward-backward tolerance, analysis pixels
    ransac_threshold_px: float = 1.0  # inlier tolerance, analysis pixels
    min_texture_std: float = 3.0  # grey standard deviation below this: no texture
    duplicate_mean_abs_diff: float = 0.1  # grey levels
    cut_histogram_distance: float = 0.5  # Bhattacharyya distance of grey histograms
    min_inlier_ratio: float = 0.3  # of good tracks; fewer RANSAC inliers: tracks disagree
    min_shift_response: float = 0.2  # phase-correlation peak for a whole-frame shift
    min_lost_ratio: float = 0.1  # fewer good tracks than this share of corners: a cut
    faint_contrast_limit: float = 2.0  # CLAHE clip limit for frames too faint to track
    faint_shift_tolerance_px: float = 0.5  # enhanced tracks vs whole-frame shift, analysis px
    min_key_share: float = 0.5  # fewer of the key frame's points found: a new key frame
    max_key_age_frames: int = 60  # frames measured from one key frame at most


@dataclass
class MotionPlan:
    """Raw frame-to-frame motion of a clip: the output of stabilization pass 1.

    ``motions[i]`` is the similarity ``(dx_px, dy_px, angle_rad, log_scale)`` about
    the full-resolution frame centre that maps frame ``i - 1`` onto frame ``i``
    (``motions[0]`` is identity), in full-resolution pixels, so a plan measured at
    ``analysis_width_px`` applies to the full frame. ``flags[i]`` are
    :class:`MotionFlag` bits; ``pts`` are the frames' timestamps in ``time_base``.
    """

    width_px: int
    height_px: int
    analysis_width_px: int
    analysis_height_px: int
    time_base: Fraction
    motions: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    pts: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    version: int = PLAN_VERSION

    @property
    def n_frames(self) -> int:
        return len(self.pts)

    def segment_starts(self) -> list[int]:
        """Indices of the first frame of each shot (0 and every scene cut)."""
        return [0] + [i for i, f in enumerate(self.flags) if i > 0 and f & MotionFlag.SCENE_CUT]

    def camera_path(self) -> np.ndarray:
        """Absolute path ``[n, 4]``: frame 0 (or its shot's first frame) to frame ``i``."""
        path = np.zeros((self.n_frames, 4))
        bounds = [*self.segment_starts(), self.n_frames]
        center = frame_center(self.width_px, self.height_px)
        for start, end in itertools.pairwise(bounds):
            if end > start:
                path[start:end] = accumulate(self.motions[start:end], center)
        return path

    def scaled_to(self, width_px: int, height_px: int) -> MotionPlan:
        """The same plan for frames of another size with the same aspect ratio."""
        if (width_px, height_px) == (self.width_px, self.height_px):
            return self
        sx, sy = width_px / self.width_px, height_px / self.height_px
        if abs(sx - sy) > 0.02 * max(sx, sy):
            raise ConfigError(
                f"the motion plan was made for {self.width_px}x{self.height_px} frames and "
                f"cannot apply to {width_px}x{height_px}; analyse this clip again"
            )
        motions = self.motions.copy()
        motions[:, 0] *= sx
        motions[:, 1] *= sy
        return MotionPlan(
            width_px=width_px,
            height_px=height_px,
            analysis_width_px=self.analysis_width_px,
            analysis_height_px=self.analysis_height_px,
            time_base=self.time_base,
            motions=motions,
            pts=list(self.pts),
            flags=list(self.flags),
        )

    def to_json(self, path: str | Path) -> None:
        """Write the plan as a small JSON file (columns per frame)."""
        data = {
            "format": PLAN_FORMAT,
            "version": self.version,
            "width_px": self.width_px,
            "height_px": self.height_px,
            "analysis_width_px": self.analysis_width_px,
            "analysis_height_px": self.analysis_height_px,
            "time_base": f"{self.time_base.numerator}/{self.time_base.denominator}",
            "params": list(PARAM_NAMES),
            "flag_bits": {flag.name.lower(): int(flag) for flag in MotionFlag if flag},
            "pts": [int(p) for p in self.pts],
            "flags": [int(f) for f in self.flags],
            "motions": [[round(float(v), 9) for v in row] for row in self.motions],
        }
        Path(path).write_text(json.dumps(data, separators=(",", ":")) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> MotionPlan:
        """Read a plan written by :meth:`to_json`; refuse other formats or versions."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read motion plan {path}: {exc}; pass a file written by --save-plan"
            ) from exc
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise ConfigError(f"{path} is not an mmpipe motion plan; pass one from --save-plan")
        if data.get("version") != PLAN_VERSION:
            raise ConfigError(
                f"motion plan {path} has version {data.get('version')}, this mmpipe reads "
                f"version {PLAN_VERSION}; analyse the clip again to make a new plan"
            )
        try:
            motions = np.asarray(data["motions"], dtype=np.float64).reshape(-1, 4)
            plan = cls(
                width_px=int(data["width_px"]),
                height_px=int(data["height_px"]),
                analysis_width_px=int(data["analysis_width_px"]),
                analysis_height_px=int(data["analysis_height_px"]),
                time_base=Fraction(data["time_base"]),
                motions=motions,
                pts=[int(p) for p in data["pts"]],
                flags=[int(f) for f in data["flags"]],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"motion plan {path} is damaged ({exc}); analyse again") from exc
        if not (len(plan.pts) == len(plan.flags) == len(plan.motions)):
            raise ConfigError(f"motion plan {path} has columns of different lengths; analyse again")
        return plan


@dataclass(frozen=True)
class _KeyFrame:
    """A frame whose tracked points later frames are measured from (analysis pixels)."""

    image: np.ndarray  # grey (contrast-stretched if ``enhanced``)
    points: np.ndarray  # [k, 2] points that tracked well and agreed with the fit
    to_last: np.ndarray  # 3x3 full-resolution matrix: key frame -> last measured frame
    enhanced: bool
    age: int  # frames measured from it so far


class MotionEstimator:
    """Streaming pass 1: feed analysis frames in order, then :meth:`finish`.

    Holds only the previous frame, so memory does not grow with the clip (apart from
    four numbers per frame).
    """

    def __init__(self, width_px: int, height_px: int, options: MotionOptions | None = None) -> None:
        self.width_px = width_px
        self.height_px = height_px
        self.options = options or MotionOptions()
        self._center = frame_center(width_px, height_px)
        self._prev: np.ndarray | None = None
        self._prev_hist: np.ndarray | None = None
        self._prev_textured = False
        self._window: np.ndarray | None = None
        self._clahe: cv2.CLAHE | None = None
        self._stretched_cache: list[tuple[int, np.ndarray]] = []  # (frame index, image)
        self._faint = False  # the last frame pair was tracked on enhanced contrast
        self._key: _KeyFrame | None = None
        self._to_analysis = np.eye(3)  # full-resolution pixels to analysis pixels
        self._to_analysis_inv = np.eye(3)
        self._analysis_size = (0, 0)
        self._time_base = Fraction(1, 1)
        self._motions: list[np.ndarray] = []
        self._pts: list[int] = []
        self._flags: list[int] = []

    def add(self, frame: AnalysisFrame) -> None:
        """Measure the motion from the previous frame to ``frame``."""
        grey = np.ascontiguousarray(frame.grey)
        if grey.ndim != 2 or grey.dtype != np.uint8:
            raise ValueError("analysis frames must be uint8 [h, w] grey images")
        hist = cv2.calcHist([grey], [0], None, [32], [0, 256])
        cv2.normalize(hist, hist, 1.0, 0.0, cv2.NORM_L1)
        textured = float(grey.std()) >= self.options.min_texture_std
        if self._prev is None:
            self._analysis_size = (grey.shape[1], grey.shape[0])
            self._time_base = frame.time_base
            sx, sy = grey.shape[1] / self.width_px, grey.shape[0] / self.height_px
            self._to_analysis = np.array(
                [[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]]
            )
            self._to_analysis_inv = np.linalg.inv(self._to_analysis)
            motion = np.zeros(4)
            flags = MotionFlag.NONE if textured else MotionFlag.LOW_TEXTURE
        elif grey.shape != self._prev.shape:
            raise ValueError("analysis frames changed size in the middle of the clip")
        else:
            motion, flags = self._measure(self._prev, grey, self._prev_hist, hist, textured)
        self._motions.append(motion)
        self._pts.append(int(frame.pts))
        self._flags.append(int(flags))
        self._prev, self._prev_hist, self._prev_textured = grey, hist, textured

    def _measure(self, prev, grey, prev_hist, hist, textured) -> tuple[np.ndarray, MotionFlag]:
        opts = self.options
        identity = np.zeros(4)
        if float(cv2.absdiff(prev, grey).mean()) < opts.duplicate_mean_abs_diff:
            return identity, MotionFlag.DUPLICATE  # the key frame still holds
        key, self._key = self._key, None  # kept only while frames are measured from it
        if not (textured and self._prev_textured):
            return identity, MotionFlag.LOW_TEXTURE | MotionFlag.BRIDGED
        hist_distance = cv2.compareHist(prev_hist, hist, cv2.HISTCMP_BHATTACHARYYA)
        if hist_distance > opts.cut_histogram_distance:
            return identity, MotionFlag.SCENE_CUT
        shift = None  # the whole-frame shift (phase correlation), once needed
        if key is not None and key.age < opts.max_key_age_frames:
            to_grey = self._from_key(key, grey)
            if to_grey is not None:
                motion = from_matrix(to_grey @ np.linalg.inv(key.to_last), self._center)
                if key.enhanced:
                    shift = self._global_shift(prev, grey)
                if not key.enhanced or self._agrees(motion, *shift):
                    self._key = _KeyFrame(key.image, key.points, to_grey, key.enhanced, key.age + 1)
                    return motion, MotionFlag.LOW_TEXTURE if key.enhanced else MotionFlag.NONE
        shift_px, response = shift or self._global_shift(prev, grey)
        # Faint texture (sky, fog, a plain wall) defeats the tracker; stretched local
        # contrast often gives it enough to hold on to, rotation and zoom included.
        # The kind that worked for the last frame is tried first.
        p0 = np.zeros((0, 2), np.float32)
        n_corners = 0
        for enhanced in (self._faint, not self._faint):
            pair = (self._stretched(prev, -1), self._stretched(grey)) if enhanced else (prev, grey)
            corners = self._corners(pair[0])
            n_corners = len(corners)
            p0, p1 = self._track(*pair, corners, corners + shift_px.astype(np.float32))
            matrix, inliers = self._fit(p0, p1)
            if matrix is None:
                continue
            motion = from_matrix(matrix, self._center)
            if not enhanced or self._agrees(motion, shift_px, response):
                self._faint = enhanced
                self._key = _KeyFrame(pair[0], p0[inliers], matrix, enhanced, 1)
                return motion, MotionFlag.LOW_TEXTURE if enhanced else MotionFlag.NONE
        if response >= opts.min_shift_response:
            full_shift = shift_px * np.array([self.width_px, self.height_px]) / prev.shape[::-1]
            return np.array([*full_shift, 0.0, 0.0]), MotionFlag.LOW_TEXTURE
        lost_tracks = len(p0) < opts.min_lost_ratio * n_corners
        if hist_distance > 0.5 * opts.cut_histogram_distance or (n_corners > 0 and lost_tracks):
            return identity, MotionFlag.SCENE_CUT
        return identity, MotionFlag.BRIDGED

    def _agrees(self, motion: np.ndarray, shift_px: np.ndarray, response: float) -> bool:
        """Whether ``motion`` moves the frame centre as the whole-frame shift does.

        Tracks on stretched contrast can agree on a wrong motion; a clear phase
        correlation peak (analysis pixels) vetoes them. Without a clear peak: True.
        """
        if response < self.options.min_shift_response:
            return True
        centre_shift_px = (
            motion[:2] * np.array(self._analysis_size) / [self.width_px, self.height_px]
        )
        return (
            float(np.linalg.norm(centre_shift_px - shift_px))
            <= self.options.faint_shift_tolerance_px
        )

    def _from_key(self, key: _KeyFrame, grey: np.ndarray) -> np.ndarray | None:
        """The key frame's points tracked into ``grey``: key-to-``grey`` matrix, or None.

        None when too few of the key's points are still found (they left the picture,
        or the view changed too much): a new key frame is due.
        """
        image = self._stretched(grey) if key.enhanced else grey
        guess = apply_points(self._to_analysis @ key.to_last @ self._to_analysis_inv, key.points)
        p0, p1 = self._track(key.image, image, key.points, guess.astype(np.float32))
        if len(p0) < self.options.min_key_share * len(key.points):
            return None
        matrix, _ = self._fit(p0, p1)
        return matrix

    def _fit(self, p0: np.ndarray, p1: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """The similarity most tracks ``p0 -> p1`` agree on (RANSAC), and which agree.

        Returns a 3x3 full-resolution matrix, or None when there are too few tracks or
        too few of them agree; and the inlier mask ``[k]``.
        """
        opts = self.options
        none = np.zeros(len(p0), bool)
        if len(p0) < opts.min_tracks:
            return None, none
        matrix, inliers = cv2.estimateAffinePartial2D(
            self._to_full(p0),
            self._to_full(p1),
            method=cv2.RANSAC,
            ransacReprojThreshold=opts.ransac_threshold_px * self.width_px / self._analysis_size[0],
            maxIters=2000,
            confidence=0.995,
            refineIters=10,
        )
        if matrix is None or inliers is None:
            return None, none
        inliers = inliers.ravel() == 1
        if inliers.sum() < max(opts.min_tracks, opts.min_inlier_ratio * len(p0)):
            return None, none
        return np.vstack([matrix, [0.0, 0.0, 1.0]]), inliers

    def _stretched(self, grey: np.ndarray, offset: int = 0) -> np.ndarray:
        """``grey`` with its local contrast stretched (CLAHE).

        ``grey`` is the current frame (``offset`` 0) or the previous one (-1); the last
        two results are kept, so each frame is enhanced once.
        """
        if self._clahe is None:
            limit = self.options.faint_contrast_limit
            self._clahe = cv2.createCLAHE(clipLimit=limit, tileGridSize=(8, 8))
        index = len(self._pts) + offset
        for cached_index, image in self._stretched_cache:
            if cached_index == index:
                return image
        image = self._clahe.apply(grey)
        self._stretched_cache = [*self._stretched_cache[-1:], (index, image)]
        return image

    def _global_shift(self, prev: np.ndarray, grey: np.ndarray) -> tuple[np.ndarray, float]:
        """Whole-frame shift ``(x, y)`` from ``prev`` to ``grey`` by phase correlation.

        Returns the shift in analysis pixels and the correlation peak (0..1): dense and
        cheap, it still works on skies and walls where corners are few.
        """
        if self._window is None or self._window.shape != prev.shape:
            self._window = cv2.createHanningWindow(prev.shape[::-1], cv2.CV_32F)
        (dx, dy), response = cv2.phaseCorrelate(
            prev.astype(np.float32), grey.astype(np.float32), self._window
        )
        return np.array([dx, dy]), float(response)

    def _track(
        self, prev: np.ndarray, grey: np.ndarray, points: np.ndarray, guess: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``points`` ``[k, 2]`` of ``prev`` tracked into ``grey``, kept if they track back.

        ``guess`` ``[k, 2]`` is where each is expected; a good guess keeps the tracker
        off the wrong stripe of a repetitive texture. Returns ``(p0, p1)``, ``[m, 2]``.
        """
        if len(points) == 0:
            return points, points
        lk = {
            "winSize": (21, 21),
            "maxLevel": 3,
            "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
            "flags": cv2.OPTFLOW_USE_INITIAL_FLOW,
        }
        p0 = points.reshape(-1, 1, 2).astype(np.float32)
        p1 = guess.reshape(-1, 1, 2).astype(np.float32)
        p1, ok_fwd, _ = cv2.calcOpticalFlowPyrLK(prev, grey, p0, p1, **lk)
        back = (p1 - (guess.reshape(-1, 1, 2) - p0)).astype(np.float32)
        back, ok_bwd, _ = cv2.calcOpticalFlowPyrLK(grey, prev, p1, back, **lk)
        fb_error = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
        good = (ok_fwd.ravel() == 1) & (ok_bwd.ravel() == 1)
        good &= fb_error < self.options.fb_error_px
        return p0.reshape(-1, 2)[good], p1.reshape(-1, 2)[good]

    def _corners(self, grey: np.ndarray) -> np.ndarray:
        """Good corners spread over a grid of cells, ``[k, 2]`` float32."""
        cells = self.options.grid_cells
        h, w = grey.shape
        per_cell = max(4, self.options.max_corners // (cells * cells))
        min_distance = max(3.0, w / 80)
        found = []
        for row in range(cells):
            for col in range(cells):
                y0, y1 = row * h // cells, (row + 1) * h // cells
                x0, x1 = col * w // cells, (col + 1) * w // cells
                pts = cv2.goodFeaturesToTrack(
                    grey[y0:y1, x0:x1], per_cell, 0.02, min_distance, blockSize=5
                )
                if pts is not None:
                    found.append(pts.reshape(-1, 2) + np.array([x0, y0], np.float32))
        return np.concatenate(found) if found else np.zeros((0, 2), np.float32)

    def _to_full(self, points: np.ndarray) -> np.ndarray:
        """Analysis-pixel positions to full-resolution pixel positions."""
        aw, ah = self._analysis_size
        scale = np.array([self.width_px / aw, self.height_px / ah])
        return ((points + 0.5) * scale - 0.5).astype(np.float32)

    def finish(self) -> MotionPlan:
        """Bridge unmeasured frames and return the plan."""
        motions = np.array(self._motions).reshape(-1, 4)
        flags = list(self._flags)
        _bridge(motions, flags)
        return MotionPlan(
            width_px=self.width_px,
            height_px=self.height_px,
            analysis_width_px=self._analysis_size[0],
            analysis_height_px=self._analysis_size[1],
            time_base=self._time_base,
            motions=motions,
            pts=list(self._pts),
            flags=flags,
        )


def _bridge(motions: np.ndarray, flags: list[int]) -> None:
    """Interpolate, in place, the motion of BRIDGED frames from measured neighbours.

    Only measured frames of the same shot count as neighbours (duplicates and cuts are
    not measurements of camera motion); a gap with a neighbour on one side only keeps
    identity motion.
    """
    unmeasured = MotionFlag.BRIDGED | MotionFlag.SCENE_CUT | MotionFlag.DUPLICATE
    measured = np.flatnonzero([i > 0 and not f & unmeasured for i, f in enumerate(flags)])
    shot = np.cumsum([bool(f & MotionFlag.SCENE_CUT) for f in flags])
    for i, f in enumerate(flags):
        if i == 0 or not f & MotionFlag.BRIDGED:
            continue
        k = int(np.searchsorted(measured, i))
        if k == 0 or k == len(measured):
            continue
        before, after = measured[k - 1], measured[k]
        if shot[before] != shot[i] or shot[after] != shot[i]:
            continue
        weight = (i - before) / (after - before)
        motions[i] = (1 - weight) * motions[before] + weight * motions[after]


def estimate_motion(
    frames: Iterable[AnalysisFrame],
    *,
    width_px: int,
    height_px: int,
    options: MotionOptions | None = None,
) -> MotionPlan:
    """Run pass 1 over ``frames`` for a clip of ``width_px`` x ``height_px`` full frames."""
    estimator = MotionEstimator(width_px, height_px, options)
    for frame in frames:
        estimator.add(frame)
    plan = estimator.finish()
    counts = {flag.name: sum(1 for f in plan.flags if f & flag) for flag in MotionFlag if flag}
    logger.debug("motion plan: %d frames, flags %s", plan.n_frames, counts)
    return plan
