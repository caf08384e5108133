"""Stabilization quality measures.

The three measures of Liu et al., "Bundled camera paths for video stabilization"
(SIGGRAPH 2013), as computed by the DIFRINT, DUT and FuSta evaluation scripts, plus the
residual jitter against a known camera path.

Homographies come from SIFT matches (Lowe ratio 0.7) and RANSAC (5 px), as in those
scripts, except that SIFT's contrast threshold is lowered to 0.02 (from 0.04) so that
low-contrast footage still gives enough matches; frames wider than ``max_width_px``
are downscaled first (all three measures are ratios, so they do not depend on scale).

- **Stability score** (higher is steadier, 0..1): chain the homographies ``H_t`` between
  consecutive *output* frames into the path ``P_t = H_1 ... H_t``; take its translation
  magnitude ``|(P[0,2], P[1,2])|`` and rotation ``atan2(P[1,0], P[0,0])`` as two 1-D
  signals; for each, the energy ``|FFT|^2`` of the lowest five non-DC frequency bins
  (bins 2..6 in 1-based counting) over the energy of all non-DC bins up to Nyquist.
  The score is the mean of the translation and rotation ratios.
- **Cropping ratio** (higher keeps more picture, <= 1): per frame, the homography from
  the input to the output frame; its scale ``s = sqrt(|det A|)`` of the 2x2 part ``A``;
  ratio ``min(1, 1/s)``, averaged over frames.
- **Distortion value** (1 is none): per frame, the ratio of the smaller to the larger
  singular value of ``A`` (the published scripts use eigenvalues, which are complex for
  any rotation; singular values measure the same anisotropy); the worst (minimum) frame.
- **Residual jitter** (px RMS, lower is better): for a synthetic clip with a known
  intentional path, the transform ``E_t`` from where the ideal stabilized frame shows
  the scene to where the output shows it; the displacements of the four frame corners
  and the centre under ``E_t``, high-passed over time (zero-phase 4th-order Butterworth,
  ``highpass_hz``) so a slow drift the viewer reads as camera intent does not count;
  the RMS length of what is left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from mmpipe.vision.transforms import frame_center, to_matrix

LOW_FREQUENCY_BINS = 5


@dataclass(frozen=True)
class StabilityScore:
    """Liu et al. stability: low-frequency energy share of translation and rotation."""

    translation: float
    rotation: float

    @property
    def score(self) -> float:
        return 0.5 * (self.translation + self.rotation)


def _grey(frame: np.ndarray, max_width_px: int) -> np.ndarray:
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    if grey.shape[1] > max_width_px:
        height_px = round(grey.shape[0] * max_width_px / grey.shape[1])
        grey = cv2.resize(grey, (max_width_px, height_px), interpolation=cv2.INTER_AREA)
    return grey


class _Matcher:
    """SIFT features and ratio-test matching, with the last frame's features cached."""

    def __init__(self, max_width_px: int) -> None:
        self.max_width_px = max_width_px
        self.sift = cv2.SIFT_create(contrastThreshold=0.02)
        self.matcher = cv2.BFMatcher()

    def features(self, frame: np.ndarray):
        return self.sift.detectAndCompute(_grey(frame, self.max_width_px), None)

    def homography(self, first, second, *, similarity: bool = False, ransac_px: float = 5.0):
        """Homography (or similarity) mapping ``first`` to ``second`` features, or None."""
        (kp1, d1), (kp2, d2) = first, second
        if d1 is None or d2 is None or len(kp1) < 2 or len(kp2) < 2:
            return None
        good = [
            m
            for pair in self.matcher.knnMatch(d1, d2, k=2)
            if len(pair) == 2
            for m in [pair[0]]
            if pair[0].distance < 0.7 * pair[1].distance
        ]
        if len(good) <= 10:
            return None
        src = np.float32([kp1[m.queryIdx].pt for m in good])
        dst = np.float32([kp2[m.trainIdx].pt for m in good])
        if similarity:
            matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC)
            return None if matrix is None else np.vstack([matrix, [0.0, 0.0, 1.0]])
        matrix, _ = cv2.findHomography(src, dst, cv2.RANSAC, ransac_px)
        return matrix


def low_frequency_share(signal: np.ndarray, still: float) -> float:
    """Share of the non-DC energy in the lowest bins; 1.0 if the signal moves < ``still``."""
    if float(np.ptp(signal)) < still:
        return 1.0  # a path that does not move is perfectly stable
    power = np.abs(np.fft.fft(signal)) ** 2
    power = power[1:]
    power = power[: len(power) // 2]
    return float(power[:LOW_FREQUENCY_BINS].sum() / power.sum())


def stability_score(frames: Iterable[np.ndarray], *, max_width_px: int = 640) -> StabilityScore:
    """Stability score of a clip (RGB or grey uint8 frames), see the module docstring.

    Pairs without enough matches count as no motion; a path that moves less than
    0.01 px and 1e-5 rad in all scores 1.0.
    """
    matcher = _Matcher(max_width_px)
    path = np.eye(3)
    translation, rotation = [], []
    previous = None
    for frame in frames:
        current = matcher.features(frame)
        if previous is not None:
            h = matcher.homography(previous, current)
            path = path @ (h if h is not None else np.eye(3))
            translation.append(float(np.hypot(path[0, 2], path[1, 2])))
            rotation.append(float(np.arctan2(path[1, 0], path[0, 0])))
        previous = current
    if len(translation) < 4:
        raise ValueError("the stability score needs at least 5 frames")
    return StabilityScore(
        translation=low_frequency_share(np.array(translation), still=0.01),
        rotation=low_frequency_share(np.array(rotation), still=1e-5),
    )


def cropping_and_distortion(
    inputs: Iterable[np.ndarray], outputs: Iterable[np.ndarray], *, max_width_px: int = 640
) -> tuple[float, float]:
    """``(cropping ratio, distortion value)`` of outputs against their input frames."""
    matcher = _Matcher(max_width_px)
    crops, distortions = [], []
    for source, result in zip(inputs, outputs, strict=True):
        h = matcher.homography(matcher.features(source), matcher.features(result))
        if h is None:
            continue
        linear = h[:2, :2] / h[2, 2]
        scale = float(np.sqrt(abs(np.linalg.det(linear))))
        crops.append(min(1.0, 1.0 / scale) if scale > 0 else 0.0)
        singular = np.linalg.svd(linear, compute_uv=False)
        distortions.append(float(singular[1] / singular[0]))
    if not crops:
        raise ValueError("no output frame could be matched to its input frame")
    return float(np.mean(crops)), float(np.min(distortions))


def residual_jitter_px(
    error_transforms: np.ndarray,
    *,
    width_px: int,
    height_px: int,
    fps: float,
    highpass_hz: float = 0.5,
) -> float:
    """Residual jitter (px RMS) from per-frame error transforms ``[n, 3, 3]``.

    ``error_transforms[t]`` maps where the ideal stabilized frame ``t`` shows a scene
    point to where the output shows it (identity everywhere: no jitter).
    """
    e = np.asarray(error_transforms, dtype=np.float64)
    center = frame_center(width_px, height_px)
    points = np.array(
        [[0, 0], [width_px - 1, 0], [0, height_px - 1], [width_px - 1, height_px - 1], center],
        dtype=np.float64,
    )
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    mapped = np.einsum("nij,kj->nki", e, homogeneous)
    displacement = mapped[..., :2] / mapped[..., 2:3] - points  # [n, k, 2]
    if len(e) < 16:
        raise ValueError("residual jitter needs at least 16 frames")
    from scipy.signal import butter, sosfiltfilt  # slow to import; only this measure needs it

    sos = butter(4, highpass_hz, btype="highpass", fs=fps, output="sos")
    shake = sosfiltfilt(sos, displacement, axis=0)
    return float(np.sqrt(np.mean(np.sum(shake**2, axis=-1))))


def path_jitter_px(
    output_transforms: np.ndarray,
    intentional_path: np.ndarray,
    *,
    width_px: int,
    height_px: int,
    fps: float,
    highpass_hz: float = 0.5,
) -> float:
    """Residual jitter when the output's transforms are known exactly.

    ``output_transforms`` ``[n, 3, 3]`` map the steady reference view to each output
    frame (for a stabilizer: its warp times the synthetic camera matrix);
    ``intentional_path`` ``[n, 4]`` is :attr:`ShakePath.intentional`.
    """
    ideal = to_matrix(intentional_path, frame_center(width_px, height_px))
    errors = np.asarray(output_transforms) @ np.linalg.inv(ideal)
    return residual_jitter_px(
        errors, width_px=width_px, height_px=height_px, fps=fps, highpass_hz=highpass_hz
    )


def frame_jitter_px(
    outputs: Sequence[np.ndarray],
    ideal: Sequence[np.ndarray],
    *,
    fps: float,
    highpass_hz: float = 0.5,
    max_width_px: int = 640,
) -> float:
    """Residual jitter measured on pictures: each output frame registered to the ideal.

    ``ideal`` is the clip rendered along the intentional path (e.g.
    ``render_shaken(source, path.intentional, ...)``). The registration is a similarity
    (a homography's perspective terms are too noisy at the corners); frames that cannot
    be matched count as exact.
    """
    matcher = _Matcher(max_width_px)
    height_px, width_px = outputs[0].shape[:2]
    small_width_px = min(width_px, max_width_px)
    scale = np.diag([width_px / small_width_px, width_px / small_width_px, 1.0])
    errors = []
    for result, reference in zip(outputs, ideal, strict=True):
        h = matcher.homography(
            matcher.features(reference), matcher.features(result), similarity=True
        )
        errors.append(np.eye(3) if h is None else scale @ h @ np.linalg.inv(scale))
    return residual_jitter_px(
        np.array(errors), width_px=width_px, height_px=height_px, fps=fps, highpass_hz=highpass_hz
    )
