"""Synthetic shaky clips with a known camera path, for tests and benchmarks.

A clip is made by moving a virtual camera over a still image larger than the output:
frame ``i`` shows the reference view (the centred ``out_size`` window of the source)
moved by the similarity ``camera[i]`` (see :mod:`mmpipe.vision.transforms` for the
parameter convention). Each path is the sum, parameter by parameter, of a smooth
``intentional`` part (a pan, a slow drift, a walk's forward zoom) and a ``shake`` part
(step bob, sway, tremor, vibration), so residual jitter can be measured exactly:
rendering ``intentional`` gives the ideal stabilized clip.

Everything here is deterministic for a given ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from mmpipe.media.frames import VideoFrame
from mmpipe.vision.transforms import frame_center, to_matrix

SHAKE_KINDS = ("walking", "vehicle", "pan", "tripod")
DEFAULT_AMPLITUDE_PX = {"walking": 10.0, "vehicle": 8.0, "pan": 6.0, "tripod": 2.0}
# Rotation and zoom shake per pixel of translation shake: 10 px of shake comes with
# about 0.4 degrees of roll and 0.3 % of zoom wobble.
_ANGLE_RAD_PER_PX = 0.0007
_LOG_SCALE_PER_PX = 0.0003
SYNTHETIC_TIME_BASE = Fraction(1, 90_000)


@dataclass(frozen=True)
class ShakePath:
    """A known camera path: ``camera = intentional + shake``, each ``[n, 4]``.

    Rows are ``(dx_px, dy_px, angle_rad, log_scale)``: how the content of the steady
    reference view is moved in frame ``i`` (about the frame centre).
    """

    camera: np.ndarray
    intentional: np.ndarray
    fps: float
    kind: str

    @property
    def shake(self) -> np.ndarray:
        """The unwanted part, ``camera - intentional``, ``[n, 4]``."""
        return self.camera - self.intentional

    @property
    def n_frames(self) -> int:
        return int(self.camera.shape[0])


def _band_noise(rng: np.random.Generator, n: int, fps: float, low_hz: float, high_hz: float):
    """Unit-RMS noise with its spectrum limited to ``[low_hz, high_hz]``."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs_hz = np.fft.rfftfreq(n, d=1.0 / fps)
    spectrum[(freqs_hz < low_hz) | (freqs_hz > high_hz)] = 0.0
    noise = np.fft.irfft(spectrum, n)
    rms = float(np.sqrt(np.mean(noise**2)))
    return noise / rms if rms > 0 else noise


def shake_path(
    n_frames: int,
    *,
    fps: float = 30.0,
    kind: str = "walking",
    amplitude_px: float | None = None,
    seed: int = 0,
) -> ShakePath:
    """A hand-held camera path of ``n_frames`` at ``fps``.

    ``kind``:
      - ``walking``: slow drift and forward zoom; shake is step bob (1.6-2 Hz,
        vertical), half-rate sway, 2-8 Hz tremor and roll.
      - ``vehicle``: slow drift; shake is 1-3 Hz bumps and 6-14 Hz vibration.
      - ``pan``: a smooth eased pan of about 80 px/s; shake is 1-8 Hz tremor.
      - ``tripod``: no intentional motion; 1-6 Hz tremor of a couple of pixels.

    ``amplitude_px`` is the RMS of the translation shake per axis, roughly (defaults
    per kind in ``DEFAULT_AMPLITUDE_PX``); rotation and zoom shake scale with it. All
    shake lies above about 0.8 Hz, so a 1 s high-pass separates it from intent.
    """
    if kind not in SHAKE_KINDS:
        raise ValueError(f"unknown shake kind {kind!r}; use one of {SHAKE_KINDS}")
    if n_frames < 1 or fps <= 0:
        raise ValueError("n_frames must be >= 1 and fps > 0")
    amp = DEFAULT_AMPLITUDE_PX[kind] if amplitude_px is None else float(amplitude_px)
    rng = np.random.default_rng(seed)
    t_s = np.arange(n_frames) / fps
    duration_s = max(n_frames / fps, 1e-6)
    intent = np.zeros((n_frames, 4))
    shake = np.zeros((n_frames, 4))
    angle_amp, scale_amp = amp * _ANGLE_RAD_PER_PX, amp * _LOG_SCALE_PER_PX

    def band(low_hz: float, high_hz: float) -> np.ndarray:
        return _band_noise(rng, n_frames, fps, low_hz, high_hz)

    if kind == "walking":
        step_hz = rng.uniform(1.6, 2.0)
        phase = rng.uniform(0, 2 * np.pi, size=2)
        intent[:, 0] = rng.uniform(-15, 15) * t_s + 8 * np.sin(2 * np.pi * 0.1 * t_s + phase[0])
        intent[:, 3] = 0.01 * t_s  # walking forward: the scene grows slowly
        shake[:, 1] = amp * 1.1 * np.sin(2 * np.pi * step_hz * t_s + phase[1])
        shake[:, 0] = amp * 0.8 * np.sin(np.pi * step_hz * t_s + phase[0])
        shake[:, :2] += amp * 0.4 * np.stack([band(2, 8), band(2, 8)], axis=1)
        shake[:, 2] = angle_amp * (np.sin(np.pi * step_hz * t_s + phase[1]) + 0.5 * band(2, 6))
        shake[:, 3] = scale_amp * band(1, 4)
    elif kind == "vehicle":
        intent[:, 0] = rng.uniform(-10, 10) * t_s
        intent[:, 1] = rng.uniform(-3, 3) * t_s
        shake[:, 0] = amp * (0.4 * band(1, 3) + 0.5 * band(6, 14))
        shake[:, 1] = amp * (1.0 * band(1, 3) + 0.5 * band(6, 14))
        shake[:, 2] = angle_amp * band(1, 5)
        shake[:, 3] = scale_amp * band(1, 5)
    elif kind == "pan":
        direction = rng.choice([-1.0, 1.0])
        ease = t_s / duration_s
        ease = ease * ease * (3 - 2 * ease)
        intent[:, 0] = direction * 80.0 * duration_s * ease
        intent[:, 1] = rng.uniform(-0.1, 0.1) * intent[:, 0]
        shake[:, 0] = amp * band(1, 8)
        shake[:, 1] = amp * band(1, 8)
        shake[:, 2] = angle_amp * band(1, 6)
        shake[:, 3] = scale_amp * band(1, 6)
    else:  # tripod
        shake[:, 0] = amp * band(1, 6)
        shake[:, 1] = amp * band(1, 6)
        shake[:, 2] = angle_amp * band(1, 6)
    # Start where the reference view is, so frame 0 of the ideal clip is the reference.
    intent -= intent[0]
    return ShakePath(camera=intent + shake, intentional=intent, fps=float(fps), kind=kind)


def required_margin_px(params: np.ndarray, out_size: tuple[int, int]) -> tuple[float, float]:
    """How far ``(x, y)`` beyond the reference view a path looks, in source pixels.

    A source image must be at least ``out_size + 2 * margin`` to render without borders.
    """
    width_px, height_px = out_size
    center = frame_center(width_px, height_px)
    corners = np.array(
        [[0, 0], [width_px - 1, 0], [0, height_px - 1], [width_px - 1, height_px - 1]], float
    )
    inverse = np.linalg.inv(to_matrix(params, center))  # frame -> reference
    seen = corners @ inverse[:, :2, :2].transpose(0, 2, 1) + inverse[:, None, :2, 2]
    over_x = np.maximum(-seen[..., 0], seen[..., 0] - (width_px - 1))
    over_y = np.maximum(-seen[..., 1], seen[..., 1] - (height_px - 1))
    return float(max(over_x.max(), 0.0)), float(max(over_y.max(), 0.0))


def render_shaken(
    source_rgb: np.ndarray,
    params: np.ndarray,
    *,
    out_size: tuple[int, int],
    moving_object: bool = False,
    seed: int = 0,
) -> Iterator[np.ndarray]:
    """Yield one uint8 ``[h, w, 3]`` frame per row of ``params`` (``[n, 4]``).

    ``source_rgb`` (uint8 ``[H, W, 3]``) must be larger than ``out_size = (w, h)`` by
    the margin the path needs (see :func:`required_margin_px`); the reference view is
    its centred ``w x h`` window. Pass ``path.camera`` for the shaky clip and
    ``path.intentional`` for the ideal stabilized one. With ``moving_object`` a
    textured box crosses the scene (it moves in the world, so the camera shakes it
    too): foreground motion that a stabilizer must not follow.
    """
    width_px, height_px = out_size
    src_h, src_w = source_rgb.shape[:2]
    margin_x, margin_y = required_margin_px(params, out_size)
    offset = np.array([(src_w - width_px) / 2.0, (src_h - height_px) / 2.0])
    if margin_x > offset[0] or margin_y > offset[1]:
        raise ValueError(
            f"source {src_w}x{src_h} is too small for this path at {width_px}x{height_px}: "
            f"it needs {margin_x:.0f}x{margin_y:.0f} px of margin on each side; "
            "use a larger source or a smaller amplitude"
        )
    to_reference = np.array([[1.0, 0, -offset[0]], [0, 1.0, -offset[1]], [0, 0, 1.0]])
    matrices = to_matrix(params, frame_center(width_px, height_px)) @ to_reference
    box = None
    if moving_object:
        box_px = max(8, height_px // 4)
        box = textured_image(box_px, box_px, kind="scene", seed=seed + 1)
    for i, matrix in enumerate(matrices):
        source = source_rgb
        if box is not None:
            progress = i / max(len(matrices) - 1, 1)
            x0 = int(offset[0] + (0.1 + 0.6 * progress) * width_px)
            y0 = int(offset[1] + 0.4 * height_px)
            source = source_rgb.copy()
            source[y0 : y0 + box.shape[0], x0 : x0 + box.shape[1]] = box
        yield cv2.warpAffine(
            source,
            matrix[:2],
            (width_px, height_px),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT101,
        )


def to_video_frames(images: Iterable[np.ndarray], *, fps: float) -> Iterator[VideoFrame]:
    """Wrap RGB images as ``VideoFrame``s at a constant ``fps`` (time base 1/90000)."""
    for index, image in enumerate(images):
        pts = round(index / fps / SYNTHETIC_TIME_BASE)
        yield VideoFrame(image=image, pts=pts, time_base=SYNTHETIC_TIME_BASE, index=index)


def _value_noise(rng: np.random.Generator, height_px: int, width_px: int, cell_px: int):
    """Smooth noise in about [-1, 1] with features about ``cell_px`` across."""
    grid = rng.uniform(-1, 1, size=(height_px // cell_px + 2, width_px // cell_px + 2))
    big = cv2.resize(
        grid, (grid.shape[1] * cell_px, grid.shape[0] * cell_px), interpolation=cv2.INTER_CUBIC
    )
    return big[:height_px, :width_px]


def textured_image(
    height_px: int, width_px: int, *, kind: str = "scene", seed: int = 0
) -> np.ndarray:
    """A procedural uint8 RGB ``[height_px, width_px, 3]`` image.

    ``scene``: multi-scale colour texture with shapes and edges (corners to track).
    ``sky``: a near-uniform gradient with faint clouds (hard for feature trackers).
    ``wood``: low-contrast brown grain (the kind vid.stab finds no motion on).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height_px, 0:width_px].astype(np.float32)
    if kind == "scene":
        image = np.zeros((height_px, width_px, 3), np.float32)
        for cell_px, weight in ((96, 60.0), (24, 30.0), (6, 20.0), (2, 12.0)):
            for channel in range(3):
                image[..., channel] += weight * _value_noise(rng, height_px, width_px, cell_px)
        image += rng.uniform(60, 190, size=3)
        n_shapes = max(20, height_px * width_px // 4000)
        for _ in range(n_shapes):
            color = tuple(float(c) for c in rng.uniform(0, 255, size=3))
            x, y = int(rng.integers(0, width_px)), int(rng.integers(0, height_px))
            size = int(rng.integers(4, max(5, min(height_px, width_px) // 8)))
            shape = rng.integers(0, 3)
            if shape == 0:
                cv2.rectangle(image, (x, y), (x + size, y + int(size * 0.7)), color, -1)
            elif shape == 1:
                cv2.circle(image, (x, y), size // 2, color, -1)
            else:
                end = (x + int(rng.integers(-size, size)), y + int(rng.integers(-size, size)))
                cv2.line(image, (x, y), end, color, 2)
    elif kind == "sky":
        base = np.array([150.0, 185.0, 225.0]) - 40.0 * (yy / height_px)[..., None]
        clouds = 4.0 * _value_noise(rng, height_px, width_px, max(8, width_px // 6))
        image = base + clouds[..., None] + rng.normal(0, 0.8, size=(height_px, width_px, 1))
    elif kind == "wood":
        warp = 25.0 * _value_noise(rng, height_px, width_px, max(8, height_px // 3))
        grain = np.sin((xx + warp) * (2 * np.pi / 23.0)) + 0.3 * np.sin(xx * 0.9)
        shade = 6.0 * grain + 3.0 * _value_noise(rng, height_px, width_px, 5)
        image = np.array([150.0, 105.0, 65.0]) + shade[..., None]
    else:
        raise ValueError(f"unknown texture kind {kind!r}; use scene, sky or wood")
    return np.clip(image, 0, 255).astype(np.uint8)


def retime_footage(footage: Sequence[np.ndarray], n_frames: int) -> Iterator[np.ndarray]:
    """``n_frames`` float32 frames spread over ``footage``, each a blend of its two nearest."""
    for i in range(n_frames):
        u = i * (len(footage) - 1) / max(n_frames - 1, 1)
        j = min(int(u), len(footage) - 2)
        w = u - j
        yield (1 - w) * footage[j].astype(np.float32) + w * footage[j + 1].astype(np.float32)


def render_shaken_footage(
    footage: Sequence[np.ndarray], params: np.ndarray, *, out_size: tuple[int, int], zoom: float
) -> Iterator[np.ndarray]:
    """Real footage retimed to ``len(params)`` frames, upscaled to cover ``out_size``, zoomed
    by ``zoom`` and moved along the camera ``params`` (like `render_shaken` for a still), with
    the upscale and the motion composed into one cubic warp so the picture stays sharp."""
    width_px, height_px = out_size
    src_h, src_w = footage[0].shape[:2]
    scale = zoom * max(width_px / src_w, height_px / src_h)
    stable = np.array(
        [
            [scale, 0, (width_px - 1) / 2 - scale * (src_w - 1) / 2],
            [0, scale, (height_px - 1) / 2 - scale * (src_h - 1) / 2],
            [0, 0, 1],
        ]
    )
    moves = to_matrix(params, frame_center(width_px, height_px))
    for move, src in zip(moves, retime_footage(footage, len(params)), strict=True):
        warped = cv2.warpAffine(
            src,
            (move @ stable)[:2],
            out_size,
            flags=cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_REPLICATE,
        )
        yield np.clip(np.rint(warped), 0, 255).astype(np.uint8)
