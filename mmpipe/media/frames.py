"""The units of data that travel through a pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One decoded picture in display orientation.

    ``image`` is uint8 ``[H, W, 3]`` RGB; ``pts`` counts ``time_base`` units from the
    stream origin, exactly as decoded (never re-derived from a nominal frame rate);
    ``index`` is the frame's position in decode order, from 0.
    """

    image: np.ndarray
    pts: int
    time_base: Fraction
    index: int

    @property
    def time_s(self) -> float:
        return float(self.pts * self.time_base)


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
