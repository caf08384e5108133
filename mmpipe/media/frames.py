"""The units of data that travel through a pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

# The layouts a VideoFrame's pixels come in (see VideoFrame).
PIXEL_FORMATS = ("rgb24", "yuv420p")


@dataclass(frozen=True, slots=True)
class StabilizedView:
    """What a stabilized frame was made from, for a later stage that fills its borders.

    ``source`` is the decoded picture before the stabilizing warp, in the frame's
    ``pixel_format``. ``to_output`` is the 3x3 smooth path ``P_i`` (where the viewer sees
    the shot's first frame) and ``from_input`` the 3x3 inverse camera path ``C_i^-1``; the
    warp from frame ``j``'s source to output frame ``i`` is ``(P_i @ C_j^-1)[:2]``.
    ``trust_epoch`` counts the frames up to and including this one whose motion was not
    measured reliably (scene cut, bridged or faint frame): the motion between two frames
    is trusted exactly when their epochs are equal. ``faint``: the frame had too little
    texture to register (a smooth sky or wall), where repeating its own edge is the better
    guess for what no neighbour saw. The arrays are shared, never copied: read them, do not
    write them.
    """

    source: np.ndarray
    to_output: np.ndarray
    from_input: np.ndarray
    trust_epoch: int
    faint: bool = False


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One decoded picture in display orientation.

    ``image`` is uint8, laid out as ``pixel_format`` says: ``"rgb24"`` is ``[H, W, 3]``
    full-range RGB; ``"yuv420p"`` is the three planes of an even-sized 4:2:0 picture,
    packed one after the other into ``[H * 3 // 2, W]`` (split them with
    :func:`yuv420p_planes`), in the source's colour matrix and range. ``pts`` counts
    ``time_base`` units from the stream origin, exactly as decoded (never re-derived
    from a nominal frame rate); ``index`` is the frame's position in decode order, from 0.
    ``stabilized``: set by ``Stabilize(fill="none")`` for a ``FillBorders`` stage after it,
    which consumes it (None on its output and everywhere else).
    """

    image: np.ndarray
    pts: int
    time_base: Fraction
    index: int
    pixel_format: str = "rgb24"
    stabilized: StabilizedView | None = None

    @property
    def time_s(self) -> float:
        return float(self.pts * self.time_base)


def yuv420p_planes(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y ``[H, W]``, U and V ``[H/2, W/2]`` planes of a packed 4:2:0 image."""
    height_px, width_px = packed.shape[0] * 2 // 3, packed.shape[1]
    flat = packed.reshape(-1)
    luma = height_px * width_px
    chroma = luma // 4
    return (
        flat[:luma].reshape(height_px, width_px),
        flat[luma : luma + chroma].reshape(height_px // 2, width_px // 2),
        flat[luma + chroma :].reshape(height_px // 2, width_px // 2),
    )


def pack_yuv420p(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The packed ``[H * 3 // 2, W]`` image of three 4:2:0 planes."""
    flat = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)])
    return flat.reshape(-1, y.shape[1])


@dataclass(frozen=True, slots=True)
class AnalysisFrame:
    """A downscaled grey frame for motion analysis (pass 1 of a two-pass stage).

    ``grey`` is uint8 ``[h, w]``; ``scale`` is analysis width / full display width.
    """

    grey: np.ndarray
    pts: int
    time_base: Fraction
    index: int
    scale: float


@dataclass(frozen=True, slots=True)
class AudioBlock:
    """A run of audio samples: float32 ``[channels, n]`` in [-1, 1].

    ``start`` is the index of the first sample, counted at ``sample_rate`` from the
    start of the audio stream.
    """

    samples: np.ndarray
    sample_rate: int
    start: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[1])
