"""Size, parameters and single-thread latency per 10 ms hop of every exported denoiser file.

    python -m benchmarks.export_latency [--hops 2000] [--pesq]

One hop (480 samples at 48 kHz) per call, one intra-op thread, as on a phone: onnxruntime on
export/denoiser.onnx (fp32), denoiser.int8.onnx and denoiser.ort, and torch on
models/denoiser (the development backend). Prints a markdown table; asserts nothing. ``--pesq``
adds wide-band PESQ on the 40 held-out validation mixtures when the training corpus has been
prepared (``python -m mmpipe.train.denoiser_data``), else on the export's fixed sample set.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mmpipe.assets import data_dir, model_dir
from mmpipe.export import _clip_set, denoiser_latency_ms, mean_pesq

HOP_MS = 10.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, default=2000, help="hops timed per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="best of this many repeats")
    parser.add_argument("--pesq", action="store_true", help="also measure PESQ wb")
    args = parser.parse_args(argv)

    export = data_dir("export")
    rows = [
        ("onnxruntime fp32", export / "denoiser.onnx"),
        ("onnxruntime int8", export / "denoiser.int8.onnx"),
        ("onnxruntime .ort", export / "denoiser.ort"),
        ("torch (models/)", model_dir("denoiser")),
    ]
    params = _parameters()
    pesq_sets = _pesq_set() if args.pesq else None
    header = "| runtime, file | size (MB) | params | ms per 10 ms hop, 1 thread | RTF |"
    if pesq_sets:
        header += f" PESQ wb ({pesq_sets[2]}) |"
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))
    for label, path in rows:
        size = (
            sum(f.stat().st_size for f in path.iterdir() if f.suffix == ".safetensors")
            if path.is_dir()
            else path.stat().st_size
        )
        ms = denoiser_latency_ms(path, hops=args.hops, repeats=args.repeats)
        line = f"| {label} | {size / 1e6:.2f} | {params:,} | {ms:.3f} | {ms / HOP_MS:.4f} |"
        if pesq_sets:
            score = "" if path.is_dir() else f"{mean_pesq(path, *pesq_sets[:2]):.3f}"
            line += f" {score} |"
        print(line, flush=True)


def _parameters() -> int:
    from safetensors.numpy import load_file

    tensors = load_file(str(model_dir("denoiser") / "model.safetensors"))
    return int(sum(np.prod(t.shape) for t in tensors.values()))


def _pesq_set() -> tuple[np.ndarray, np.ndarray, str]:
    from mmpipe.train.denoiser_data import DEFAULT_DATA_DIR, validation_set

    prepared = DEFAULT_DATA_DIR / "prepared"
    if Path(prepared / "speech_val.npy").exists():
        noisy, clean, _ = validation_set(prepared)
        return noisy, clean, "40 validation mixtures"
    noisy, clean = _clip_set()
    return noisy, clean, "6 sample mixtures"


if __name__ == "__main__":
    main()
