"""Speech denoising side by side: mmpipe vs RNNoise, noisereduce, ffmpeg afftdn.

Runs every method on the same held-out mixtures (the training recipe's fixed validation set:
speakers and noise sources never seen in training, 5 SNRs), on its second set whose noises
start mid-clip (what a model that only tracks the noise of its first frames gets wrong),
on a larger draw from the same held-out speakers and noises on which no training step was
chosen (the validation set chose the shipped step, which flatters figures on it a little),
plus ``samples/speech_noisy.wav``,
and prints PESQ (wide band), STOI, SI-SDR, overall and per SNR, and the single-threaded
real-time factor (processing time / audio duration). Measures and prints; asserts nothing.

Baselines are aligned to the clean reference by the integer lag (within +-50 ms) that
maximizes their correlation; mmpipe compensates its own latency. ffmpeg ``arnndn`` is skipped:
Debian ships no model file for it.

    python -m benchmarks.denoise [--data ~/.cache/mmpipe/data] [--count 40] [--unseen 200]
        [--json OUT]

Needs the ``train`` extra (pesq, pystoi) plus ``pyrnnoise`` and ``noisereduce``, and the
prepared corpus (``python -m mmpipe.train.denoiser_data``).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from mmpipe.stages.denoise import Denoise
from mmpipe.train.denoiser_data import DEFAULT_DATA_DIR, validation_set
from mmpipe.train.speech_metrics import speech_scores

RATE_HZ = 48_000
UNSEEN_SEED = 777  # not the validation set's seed: no training step is chosen on this draw
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def rnnoise(noisy: np.ndarray) -> np.ndarray:
    """RNNoise (pyrnnoise's bundled librnnoise), 480-sample frames, int16 scale floats."""
    from pyrnnoise.rnnoise import create, destroy, lib

    state = create()
    pad = -len(noisy) % 480
    x = np.pad(noisy, (0, pad)).astype(np.float32) * 32768
    out = np.zeros_like(x)
    pointer = ctypes.POINTER(ctypes.c_float)
    for start in range(0, len(x), 480):
        frame_in = np.ascontiguousarray(x[start : start + 480])
        frame_out = np.zeros(480, np.float32)
        lib.rnnoise_process_frame(
            state, frame_out.ctypes.data_as(pointer), frame_in.ctypes.data_as(pointer)
        )
        out[start : start + 480] = frame_out
    destroy(state)
    return out[: len(noisy)] / 32768


def noisereduce(stationary: bool) -> Callable[[np.ndarray], np.ndarray]:
    import noisereduce as nr

    def run(noisy: np.ndarray) -> np.ndarray:
        return nr.reduce_noise(y=noisy, sr=RATE_HZ, stationary=stationary, n_jobs=1)

    return run


def afftdn(noisy: np.ndarray) -> np.ndarray:
    """ffmpeg's afftdn with its defaults plus noise tracking (Debian's /usr/bin/ffmpeg)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        sf.write(src, noisy, RATE_HZ, subtype="FLOAT")
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-v",
                "error",
                "-threads",
                "1",
                "-i",
                str(src),
                "-af",
                "afftdn=tn=1",
                "-c:a",
                "pcm_f32le",
                str(dst),
            ],
            check=True,
        )
        out, _ = sf.read(dst, dtype="float32")
    return out[: len(noisy)]


def mmpipe_denoiser() -> Callable[[np.ndarray], np.ndarray]:
    stage = Denoise(threads=1)

    def run(noisy: np.ndarray) -> np.ndarray:
        return stage.process_array(noisy, sample_rate=RATE_HZ)

    return run


def align(estimate: np.ndarray, reference: np.ndarray, max_lag: int = 2400) -> np.ndarray:
    """Shift ``estimate`` by the lag in [-max_lag, max_lag] that best matches ``reference``."""
    n = len(reference)
    spectrum = np.fft.rfft(estimate, 2 * n) * np.conj(np.fft.rfft(reference, 2 * n))
    corr = np.fft.irfft(spectrum, 2 * n)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    lag = int(lags[np.argmax(corr[lags])])
    shifted = np.roll(estimate, -lag)
    if lag > 0:
        shifted[-lag:] = 0
    elif lag < 0:
        shifted[:-lag] = 0
    return shifted


def scores(method: Callable[[np.ndarray], np.ndarray], mixtures) -> list[dict[str, float]]:
    """Speech scores of ``method`` on each ``(noisy, clean)`` pair of ``mixtures``."""
    return [
        speech_scores(align(method(x), ref), ref, RATE_HZ)
        for x, ref in zip(mixtures[0], mixtures[1], strict=True)
    ]


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    """Each score's mean over ``rows`` (NaN rows skipped)."""
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}


def paired_difference(
    rows: list[dict[str, float]], baseline: list[dict[str, float]], key: str = "pesq_wb"
) -> dict[str, float]:
    """Mean of ``rows - baseline`` per mixture on ``key``, with a 95 % bootstrap interval
    (10,000 resamples of the mixtures, seeded)."""
    diff = np.array([r[key] - b[key] for r, b in zip(rows, baseline, strict=True)])
    diff = diff[~np.isnan(diff)]
    resampled = np.random.default_rng(0).choice(diff, (10_000, len(diff))).mean(axis=1)
    low, high = np.percentile(resampled, [2.5, 97.5])
    return {"mean": float(diff.mean()), "low": float(low), "high": float(high)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument(
        "--unseen", type=int, default=200, help="mixtures in the draw never used for selection"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    noisy, clean, snrs = validation_set(args.data / "prepared", count=args.count)
    onset = validation_set(args.data / "prepared", count=args.count, noise_onset=True)
    unseen = validation_set(args.data / "prepared", count=args.unseen, seed=UNSEEN_SEED)
    sample_noisy, _ = sf.read(SAMPLES / "speech_noisy.wav", dtype="float32")
    sample_clean, _ = sf.read(SAMPLES / "speech_clean.wav", dtype="float32")
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "noisy input": lambda x: x,
        "mmpipe (onnx, 1 thread)": mmpipe_denoiser(),
        "RNNoise (pyrnnoise)": rnnoise,
        "noisereduce stationary": noisereduce(True),
        "noisereduce non-stationary": noisereduce(False),
        "ffmpeg afftdn": afftdn,
    }
    results, per_mixture = {}, {}
    for name, method in methods.items():
        rows, seconds = [], 0.0
        for x, ref in zip(noisy, clean, strict=True):
            start = time.perf_counter()
            y = method(x)
            seconds += time.perf_counter() - start
            rows.append(speech_scores(align(y, ref), ref, RATE_HZ))
        y = method(sample_noisy)
        sample = speech_scores(align(y, sample_clean), sample_clean, RATE_HZ)
        per_mixture[name] = {"validation": rows, "unseen": scores(method, unseen)}
        results[name] = {
            "rtf": seconds / (noisy.size / RATE_HZ),
            **mean_scores(rows),
            "per_snr": {
                int(s): mean_scores([r for r, t in zip(rows, snrs, strict=True) if t == s])
                for s in sorted(set(snrs.tolist()))
            },
            "sample_clip": sample,
            "noise_onset": mean_scores(scores(method, onset)),
            "unseen": mean_scores(per_mixture[name]["unseen"]),
        }
    print(f"{args.count} held-out mixtures, 4 s each, SNR {sorted(set(snrs.tolist()))} dB\n")
    print(
        "| method | PESQ wb | STOI | SI-SDR dB | RTF (1 thread) | sample clip PESQ/STOI/SI-SDR "
        f"| noise starting mid-clip PESQ/STOI | {args.unseen} never used for selection PESQ/STOI |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        s, o, u = r["sample_clip"], r["noise_onset"], r["unseen"]
        print(
            f"| {name} | {r['pesq_wb']:.2f} | {r['stoi']:.3f} | {r['si_sdr_db']:.1f} | "
            f"{r['rtf']:.4f} | {s['pesq_wb']:.2f} / {s['stoi']:.3f} / {s['si_sdr_db']:.1f} | "
            f"{o['pesq_wb']:.2f} / {o['stoi']:.3f} | {u['pesq_wb']:.2f} / {u['stoi']:.3f} |"
        )
    print("\nper SNR (PESQ wb / STOI):\n")
    snr_list = sorted(set(snrs.tolist()))
    print("| method | " + " | ".join(f"{int(s)} dB" for s in snr_list) + " |")
    print("| --- |" + " --- |" * len(snr_list))
    for name, r in results.items():
        cells = [
            f"{r['per_snr'][int(s)]['pesq_wb']:.2f} / {r['per_snr'][int(s)]['stoi']:.3f}"
            for s in snr_list
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    ours, theirs = per_mixture["mmpipe (onnx, 1 thread)"], per_mixture["RNNoise (pyrnnoise)"]
    print("\nmmpipe - RNNoise, PESQ wb per mixture (mean, 95 % bootstrap interval):\n")
    draws = [("validation", f"{args.count} mixtures"), ("unseen", f"{args.unseen} unseen")]
    for draw, label in draws:
        d = paired_difference(ours[draw], theirs[draw])
        results["mmpipe (onnx, 1 thread)"][f"pesq_over_rnnoise_{draw}"] = d
        print(f"- {label}: {d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
