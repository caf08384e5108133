"""Camera-path smoothing: from the shaky measured path to the path the viewer sees.

Paths are ``[n, 4]`` arrays of ``(dx_px, dy_px, angle_rad, log_scale)`` (see
:mod:`mmpipe.vision.transforms`): the measured path ``C`` maps the first frame of a
shot to frame ``i``; the smooth path ``P`` is where that content should appear
instead. The per-frame correction warps frame ``i`` by ``B_i = P_i C_i^-1``.

Two smoothers, both keeping every correction inside a crop window (the frame shrunk by
a margin on each side stays covered by the warped frame). The margin is the preset's
``margin_frac`` times ``strength``, or less when the shake is small: about 1.5 times
the largest excursion of the shake (what a 0.5 s Gaussian removes), so a gentle clip
is not cropped for nothing.

- ``l1``: the L1-optimal camera path of Grundmann, Kwatra and Essa (CVPR 2011):
  minimise ``w1 |D1 P| + w2 |D2 P| + w3 |D3 P|`` (velocity, acceleration, jerk), which
  yields paths made of still, constant-velocity and smoothly eased segments, as a
  cinematographer would move the camera. A closeness cost ``|P - T|`` picks, among
  equally smooth paths, the one nearest a target ``T``: the measured path itself (the
  least crop), or, for presets that follow the camera's intent (``pan``), the measured
  path low-passed by an order-4 Whittaker-Henderson smoother, which keeps a cubic
  (an eased pan: start, glide, stop) exactly and removes everything above its cut-off,
  so the path follows a pan's acceleration instead of approximating it by straight
  pieces whose kinks would read as jitter. The crop-window constraint is linearised
  about small corrections, with box bounds on each parameter. Solved with scipy's
  HiGHS in overlapping windows, each pinned to the previous solution at its start, so
  time and memory stay bounded on long clips, without seams.
- ``gaussian``: a Gaussian low-pass of each parameter; corrections that would leave
  the crop window are scaled back. Faster, less cinematic.

Variable frame rate: given the frames' times, the path is resampled onto an even time
grid, smoothed there and sampled back, so smoothing acts over seconds, not frames.

Rotation and zoom are scaled by the half-diagonal (pixels per radian) inside the
smoothers so that all four parameters are in pixels at the frame corner.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import solveh_banded
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import linprog

from mmpipe.errors import ConfigError
from mmpipe.vision.transforms import frame_center, from_matrix, to_matrix

logger = logging.getLogger(__name__)

METHODS = ("l1", "gaussian")


@dataclass(frozen=True)
class PathPreset:
    """Smoothing for one kind of shot, at strength 1.

    ``closeness`` weighs the L1 method's ``|P - T|`` against the smoothness costs;
    ``intent_hz`` is the cut-off of the low-pass that makes the target ``T`` (None: the
    target is the measured path).
    """

    margin_frac: float  # largest correction: this fraction of width/height per side
    sigma_s: float  # Gaussian method: standard deviation of the smoothing, seconds
    weights: tuple[float, float, float]  # L1 method: weights of |velocity|, |accel|, |jerk|
    closeness: float = 0.1  # L1 method: weight of |P - T|
    intent_hz: float | None = None  # L1 method: cut-off of the target's low-pass, Hz


PRESETS: dict[str, PathPreset] = {
    # Follow the walk's drift and turns (cheap velocity), remove bob and sway.
    "walking": PathPreset(margin_frac=0.08, sigma_s=1.0, weights=(0.1, 10.0, 100.0)),
    # Strong, fast vibration; slow turns of the road are followed.
    "vehicle": PathPreset(margin_frac=0.08, sigma_s=0.7, weights=(0.1, 10.0, 100.0)),
    # Follow the pan's smooth start, glide and stop; hand tremor (above 1 Hz) goes.
    "pan": PathPreset(
        margin_frac=0.06, sigma_s=1.0, weights=(0.1, 1.0, 100.0), closeness=1.0, intent_hz=0.2
    ),
    # Prefer a still camera: the shot looks locked off.
    "tripod": PathPreset(margin_frac=0.05, sigma_s=3.0, weights=(100.0, 10.0, 100.0)),
}
# Order of the Whittaker-Henderson low-pass behind an intent target: order 4 keeps
# cubics (eased starts and stops) exactly, and cuts off steeply (about 48 dB/octave).
_INTENT_ORDER = 4
# Smoothness costs per parameter: rotation and zoom changes cost more than shifts, so
# the optimiser never trades a pan for a zoom drift (Grundmann et al. do the same).
_PARAM_WEIGHTS = np.array([1.0, 1.0, 10.0, 10.0])
# Rotation and zoom corrections may move a corner by at most this share of the margin.
_ROTATION_ZOOM_SHARE = 0.5
# Frames of a window pinned to the previous window's solution (continuity up to D2).
_PINNED_FRAMES = 3


def _check(preset: str, strength: float, method: str) -> PathPreset:
    if preset not in PRESETS:
        raise ConfigError(f"unknown stabilization preset {preset!r}; use one of {list(PRESETS)}")
    if not 0.0 <= strength <= 1.0:
        raise ConfigError(f"strength must be between 0 and 1, got {strength}")
    if method not in METHODS:
        raise ConfigError(f"unknown smoothing method {method!r}; use one of {list(METHODS)}")
    return PRESETS[preset]


def smooth_path(
    path: np.ndarray,
    *,
    width_px: int,
    height_px: int,
    fps: float,
    preset: str = "walking",
    strength: float = 1.0,
    method: str = "l1",
    segment_starts: list[int] | None = None,
    window_frames: int = 300,
    overlap_frames: int = 60,
    times_s: np.ndarray | None = None,
) -> np.ndarray:
    """The smooth camera path ``[n, 4]`` for a measured path ``[n, 4]``.

    ``strength`` scales the preset's crop margin (and Gaussian width); 0 returns the
    measured path (no stabilization). Shots starting at ``segment_starts`` (scene cuts)
    are smoothed independently. ``window_frames``/``overlap_frames`` bound each L1
    problem. ``times_s`` (``[n]``), if given, are the frames' times in seconds: when the
    intervals vary (variable frame rate) the path is smoothed over time on an even grid
    at ``fps``; otherwise (or if the times do not increase) frames are taken as
    ``1 / fps`` apart.
    """
    settings = _check(preset, strength, method)
    path = np.asarray(path, dtype=np.float64)
    n = len(path)
    if times_s is not None and len(times_s) != n:
        raise ConfigError(f"times_s has {len(times_s)} entries for a path of {n} frames")
    radius_px = 0.5 * float(np.hypot(width_px, height_px))
    units = np.array([1.0, 1.0, radius_px, radius_px])
    half = np.array([(width_px - 1) / 2.0, (height_px - 1) / 2.0])
    bounds = sorted({0, *(segment_starts or []), n})
    margin_frac = min(
        settings.margin_frac * strength,
        _needed_margin_frac(path * units, bounds, half, fps),
    )
    if n == 0 or margin_frac <= 0:
        return path.copy()
    smooth = np.empty_like(path)
    for start, end in itertools.pairwise(bounds):
        scaled = path[start:end] * units
        times = None if times_s is None else np.asarray(times_s[start:end], dtype=np.float64)
        grid = None if times is None else _even_grid(times, fps)
        if grid is not None:
            scaled = _resample(times, scaled, grid)
        if method == "l1":
            target = scaled
            if settings.intent_hz is not None:
                target = _low_pass(scaled, settings.intent_hz / fps)
            result = _l1_windows(
                scaled,
                target,
                settings,
                half,
                margin_frac,
                radius_px,
                window_frames,
                overlap_frames,
            )
        else:
            sigma_frames = settings.sigma_s * strength * fps
            result = _gaussian(scaled, sigma_frames, half, margin_frac, radius_px)
        if grid is not None:
            result = _resample(grid, result, times)
        smooth[start:end] = result / units
    return smooth


def corrections(
    raw_path: np.ndarray, smooth: np.ndarray, *, width_px: int, height_px: int
) -> np.ndarray:
    """Per-frame corrections ``B_i = P_i C_i^-1`` as parameters ``[n, 4]``."""
    center = frame_center(width_px, height_px)
    raw_m = to_matrix(raw_path, center)
    smooth_m = to_matrix(smooth, center)
    return from_matrix(smooth_m @ np.linalg.inv(raw_m), center)


def _even_grid(times_s: np.ndarray, fps: float) -> np.ndarray | None:
    """Even times ``1 / fps`` apart over ``times_s``, or None to keep the frames as they are.

    None when the frames are already evenly spaced (within 5 %), or when their times do
    not increase (then they are taken as evenly spaced).
    """
    steps_s = np.diff(times_s)
    if len(steps_s) == 0 or np.any(steps_s <= 0) or np.all(np.abs(steps_s * fps - 1.0) < 0.05):
        return None
    count = round((times_s[-1] - times_s[0]) * fps) + 1
    return times_s[0] + np.arange(max(count, 2)) / fps


def _resample(times_s: np.ndarray, path: np.ndarray, new_times_s: np.ndarray) -> np.ndarray:
    """``path`` ``[n, k]`` at ``times_s``, linearly interpolated at ``new_times_s``."""
    columns = [np.interp(new_times_s, times_s, path[:, j]) for j in range(path.shape[1])]
    return np.stack(columns, axis=1)


def _low_pass(path: np.ndarray, cutoff_per_frame: float) -> np.ndarray:
    """Whittaker-Henderson smoothing of each column of ``path`` ``[n, k]``.

    Minimises ``|x - path|^2 + lam |D^4 x|^2``: a zero-phase low-pass with gain 1/2 at
    ``cutoff_per_frame`` (cycles per frame) that reproduces cubics exactly, also at the
    ends of the clip. One banded Cholesky solve, O(n).
    """
    n, order = len(path), _INTENT_ORDER
    if n <= order:
        return path.copy()
    lam = (2.0 * np.sin(np.pi * cutoff_per_frame)) ** (-2 * order)
    kernel = np.diff(np.eye(order + 1), order, axis=0)[0]  # 1, -4, 6, -4, 1
    diff = sp.diags(list(kernel), list(range(order + 1)), shape=(n - order, n))
    gram = (lam * (diff.T @ diff) + sp.identity(n)).todia()
    banded = np.zeros((order + 1, n))  # upper form: banded[order - k, j] = gram[j - k, j]
    for offset, values in zip(gram.offsets, gram.data, strict=True):
        if 0 <= offset <= order:
            banded[order - offset] += values
    return solveh_banded(banded, path)


def _corner_rows(half: np.ndarray, margin_frac: float, radius_px: float):
    """Linear crop-window constraints ``lo <= G @ delta <= hi`` per frame.

    ``delta`` is measured minus smooth (scaled units); the correction's inverse moves
    crop-window corner ``v`` by about ``(dx - a vy + s vx, dy + a vx + s vy)``, which
    must keep the corner inside the frame.
    """
    crop = half * (1.0 - 2.0 * margin_frac)
    rows, lo, hi = [], [], []
    for vx in (-crop[0], crop[0]):
        for vy in (-crop[1], crop[1]):
            rows.append([1.0, 0.0, -vy / radius_px, vx / radius_px])
            lo.append(-half[0] - vx)
            hi.append(half[0] - vx)
            rows.append([0.0, 1.0, vx / radius_px, vy / radius_px])
            lo.append(-half[1] - vy)
            hi.append(half[1] - vy)
    return np.array(rows), np.array(lo), np.array(hi)


def _needed_margin_frac(scaled: np.ndarray, bounds: list[int], half: np.ndarray, fps: float):
    """The crop margin this shake needs: its largest excursion, plus a little room.

    The shake is what a 0.5 s Gaussian removes from the path; a margin that covers it
    lets the smoother cancel it, and a larger one would only cost picture.
    """
    worst = 0.0
    for start, end in itertools.pairwise(bounds):
        segment = scaled[start:end]
        if len(segment) < 2:
            continue
        shake = segment - gaussian_filter1d(segment, 0.5 * fps, axis=0, mode="nearest")
        corner = np.abs(shake[:, :2]) + np.abs(shake[:, 2:3]) + np.abs(shake[:, 3:4])
        worst = max(worst, float((corner / half).max()))
    return 1.5 * worst / 2.0 + 0.005


def _reach(half: np.ndarray, margin_frac: float) -> np.ndarray:
    """Largest correction of each parameter (scaled units): box bounds on the path."""
    margin = 2.0 * margin_frac * half
    rotation_zoom = _ROTATION_ZOOM_SHARE * float(margin.min())
    return np.array([margin[0], margin[1], rotation_zoom, rotation_zoom])


def _l1_windows(
    path, target, settings, half, margin_frac, radius_px, window_frames, overlap_frames
):
    """Solve the L1 problem over overlapping windows, each continuing the last.

    Each window after the first starts ``overlap_frames`` before the previous one ends,
    with its first three frames pinned to the previous solution, so position, velocity
    and acceleration carry across the seam; the previous window's free end is replaced.
    """
    n = len(path)
    overlap_frames = max(overlap_frames, _PINNED_FRAMES + 1)
    window_frames = max(window_frames, 2 * overlap_frames + 4)

    def solve(start: int, end: int, pinned: np.ndarray | None = None) -> np.ndarray:
        return _l1(
            path[start:end],
            target[start:end],
            settings.weights,
            settings.closeness,
            half,
            margin_frac,
            radius_px,
            pinned,
        )

    out = solve(0, window_frames)
    if n <= window_frames:
        return out
    out = np.concatenate([out, np.zeros((n - window_frames, path.shape[1]))])
    end = window_frames
    while end < n:
        start = end - overlap_frames
        end = min(start + window_frames, n)
        out[start:end] = solve(start, end, out[start : start + _PINNED_FRAMES])
    return out


def _l1(path, target, weights, closeness, half, margin_frac, radius_px, pinned=None):
    """L1-optimal path for one window, ``path`` ``[n, 4]`` in scaled units.

    ``target`` (``[n, 4]``) is what the closeness cost ``|p - target|`` pulls towards;
    ``pinned`` (``[m, 4]``), if given, fixes the first ``m`` frames of the solution.
    """
    n, k = path.shape
    if n < 4:
        return path.copy()
    eye = sp.identity(n, format="csr")
    diffs = [sp.csr_matrix(np.diff(np.eye(n), order, axis=0)) for order in (1, 2, 3)]
    # Variables: p (k*n, parameter-major), then slacks e0 (k*n) and e1..e3.
    n_p = k * n
    sizes = [n_p] + [k * d.shape[0] for d in diffs]
    n_vars = n_p + sum(sizes)
    blocks, rhs = [], []

    def slack_block(index: int, rows: int) -> sp.csr_matrix:
        offset = n_p + sum(sizes[:index])
        cols = sp.csr_matrix(
            (-np.ones(rows), (np.arange(rows), offset + np.arange(rows))), shape=(rows, n_vars)
        )
        return cols

    flat = path.T.ravel()
    flat_target = target.T.ravel()
    # |p - t| <= e0
    p_part = sp.hstack([sp.identity(n_p), sp.csr_matrix((n_p, n_vars - n_p))])
    blocks += [p_part + slack_block(0, n_p), -p_part + slack_block(0, n_p)]
    rhs += [flat_target, -flat_target]
    # |D p| <= e
    for index, diff in enumerate(diffs, start=1):
        d = sp.kron(sp.identity(k), diff)
        d_part = sp.hstack([d, sp.csr_matrix((d.shape[0], n_vars - n_p))])
        blocks += [
            d_part + slack_block(index, d.shape[0]),
            -d_part + slack_block(index, d.shape[0]),
        ]
        rhs += [np.zeros(d.shape[0]), np.zeros(d.shape[0])]
    # Crop window: lo <= G (c - p) <= hi for every frame.
    g, lo, hi = _corner_rows(half, margin_frac, radius_px)
    g_all = sp.vstack([sp.hstack([coef * eye for coef in row]) for row in g])
    gc = g_all @ flat
    g_part = sp.hstack([g_all, sp.csr_matrix((g_all.shape[0], n_vars - n_p))])
    blocks += [-g_part, g_part]
    rhs += [np.repeat(hi, n) - gc, gc - np.repeat(lo, n)]
    cost = np.concatenate(
        [np.zeros(n_p), np.full(sizes[0], closeness)]
        + [
            np.repeat(w * _PARAM_WEIGHTS, size // k)
            for size, w in zip(sizes[1:], weights, strict=True)
        ]
    )
    reach = _reach(half, margin_frac)
    low, high = flat - np.repeat(reach, n), flat + np.repeat(reach, n)
    if pinned is not None:
        for param in range(k):
            low[param * n : param * n + len(pinned)] = pinned[:, param]
            high[param * n : param * n + len(pinned)] = pinned[:, param]
    bounds = list(zip(low, high, strict=True))
    bounds += [(0, None)] * (n_vars - n_p)
    result = linprog(
        cost,
        A_ub=sp.vstack(blocks, format="csr"),
        b_ub=np.concatenate(rhs),
        bounds=bounds,
        method="highs",
    )
    if result.status != 0:
        logger.warning(
            "L1 path optimisation failed (%s); this window keeps the Gaussian path instead",
            result.message,
        )
        return _gaussian(path, 30.0, half, margin_frac, radius_px)
    return result.x[:n_p].reshape(k, n).T


def _gaussian(path, sigma_frames, half, margin_frac, radius_px):
    """Gaussian-smoothed path, corrections scaled back into the crop window."""
    if sigma_frames <= 0 or len(path) < 2:
        return path.copy()
    pad = min(len(path) - 1, int(3 * sigma_frames))
    # Point reflection at both ends keeps a pan's slope up to the last frame.
    head = 2 * path[0] - path[pad:0:-1]
    tail = 2 * path[-1] - path[-2 : -pad - 2 : -1]
    padded = np.concatenate([head, path, tail])
    smooth = gaussian_filter1d(padded, sigma_frames, axis=0, mode="nearest")[pad : pad + len(path)]
    reach = _reach(half, margin_frac)
    delta = np.clip(path - smooth, -reach, reach)
    g, lo, hi = _corner_rows(half, margin_frac, radius_px)
    moved = delta @ g.T  # [n, rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        limit = np.where(moved > 0, hi / moved, np.where(moved < 0, lo / moved, np.inf))
    scale = np.clip(limit.min(axis=1), 0.0, 1.0)
    return path - delta * scale[:, None]
