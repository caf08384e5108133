"""Speech quality measures: PESQ (wide band), STOI, SI-SDR.

PESQ and STOI come from the ``pesq`` and ``pystoi`` packages (``train`` extra); SI-SDR is
computed here. All take float arrays ``[n]`` of the same length at ``sample_rate_hz``.
"""

from __future__ import annotations

import numpy as np

from mmpipe.train.denoiser_data import resample


def si_sdr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019)."""
    reference = reference.astype(np.float64) - reference.mean()
    estimate = estimate.astype(np.float64) - estimate.mean()
    scale = np.dot(estimate, reference) / (np.dot(reference, reference) + 1e-12)
    target = scale * reference
    return float(
        10 * np.log10((target**2).sum() / (((estimate - target) ** 2).sum() + 1e-12) + 1e-12)
    )


def pesq_wb(estimate: np.ndarray, reference: np.ndarray, sample_rate_hz: int) -> float:
    """Wide-band PESQ (ITU-T P.862.2) after resampling to 16 kHz; 1.0 when it cannot run."""
    from pesq import pesq

    ref = resample(reference, sample_rate_hz, 16_000)
    est = resample(estimate, sample_rate_hz, 16_000)
    try:
        return float(pesq(16_000, ref, est, "wb"))
    except Exception:  # pesq raises on inputs without detectable speech
        return float("nan")


def stoi(estimate: np.ndarray, reference: np.ndarray, sample_rate_hz: int) -> float:
    """Short-time objective intelligibility (Taal et al. 2011), 0..1."""
    from pystoi import stoi as _stoi

    return float(_stoi(reference, estimate, sample_rate_hz, extended=False))


def speech_scores(
    estimate: np.ndarray, reference: np.ndarray, sample_rate_hz: int
) -> dict[str, float]:
    """``{"pesq_wb", "stoi", "si_sdr_db"}`` of one aligned estimate against its reference."""
    return {
        "pesq_wb": pesq_wb(estimate, reference, sample_rate_hz),
        "stoi": stoi(estimate, reference, sample_rate_hz),
        "si_sdr_db": si_sdr_db(estimate, reference),
    }
