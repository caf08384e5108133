"""Streaming state side by side: how well a denoiser copes with what came before.

A streaming denoiser carries state from the first sample on. Two things real recordings do
that the standard mixtures (noise and speech from the first sample) never show:

- **a silent start**: the file begins with 10 ms to 1 s of digital silence (encoder
  priming, a muted microphone, an edit), then the mixture; scored on the mixture;
- **a noise that starts mid-stream**: speech alone for 1 s, then the noise of the mixture
  switches on (a car passing, a machine started); scored from 1.5 s on, against the same
  mixture with its noise present from the start, scored on the same span.

Runs mmpipe (onnxruntime, 1 thread) and RNNoise on the recipe's fixed validation mixtures
(held-out speakers and noises) and prints mean PESQ (wide band) per condition. Measures and
prints; asserts nothing.

    python -m benchmarks.denoise_starts [--data ~/.cache/mmpipe/data] [--count 40]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.denoise import RATE_HZ, align, mmpipe_denoiser, rnnoise
from mmpipe.train.denoiser_data import DEFAULT_DATA_DIR, validation_set
from mmpipe.train.speech_metrics import speech_scores

SILENT_STARTS_S = (0.01, 0.05, 0.2, 1.0)
ONSET_S = 1.0
SCORED_FROM_S = 1.5


def mean_pesq(estimates: list[np.ndarray], references: np.ndarray, start: int = 0) -> float:
    """Mean wide-band PESQ of the estimates against the references, from sample ``start``."""
    return float(
        np.mean(
            [
                speech_scores(e[start:], r[start:], RATE_HZ)["pesq_wb"]
                for e, r in zip(estimates, references, strict=True)
            ]
        )
    )


def conditions(
    method: Callable[[np.ndarray], np.ndarray], noisy: np.ndarray, clean: np.ndarray
) -> dict[str, float]:
    """PESQ of ``method`` per condition (see the module docstring)."""

    def outputs(mixtures, lead_s: float = 0.0) -> list[np.ndarray]:
        lead = np.zeros(int(lead_s * RATE_HZ), np.float32)
        return [
            align(method(np.concatenate([lead, x]))[len(lead) :], ref)
            for x, ref in zip(mixtures, clean, strict=True)
        ]

    scored = int(SCORED_FROM_S * RATE_HZ)
    late = (np.arange(noisy.shape[1]) >= int(ONSET_S * RATE_HZ)).astype(np.float32)
    noise_later = (clean + (noisy - clean) * late).astype(np.float32)
    standard = outputs(noisy)
    rows = {"standard": mean_pesq(standard, clean)}
    for seconds in SILENT_STARTS_S:
        rows[f"{seconds * 1000:g} ms silent start"] = mean_pesq(outputs(noisy, seconds), clean)
    rows[f"noise from 0 s, scored from {SCORED_FROM_S:g} s"] = mean_pesq(standard, clean, scored)
    rows[f"noise from {ONSET_S:g} s, scored from {SCORED_FROM_S:g} s"] = mean_pesq(
        outputs(noise_later), clean, scored
    )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--count", type=int, default=40)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    noisy, clean, _ = validation_set(args.data / "prepared", count=args.count)
    methods = {"mmpipe (onnx, 1 thread)": mmpipe_denoiser(), "RNNoise (pyrnnoise)": rnnoise}
    results = {name: conditions(method, noisy, clean) for name, method in methods.items()}
    names = list(results)
    print(f"{args.count} held-out mixtures, 4 s each; mean PESQ wb\n")
    print("| condition | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for condition in results[names[0]]:
        cells = [f"{results[n][condition]:.3f}" for n in names]
        print(f"| {condition} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
