"""`mmpipe export`: torch -> ONNX (fp32), int8 ONNX and ORT format, checks and the manifest.

For every shipped model ``NAME`` this writes into ``export/`` (or ``out_dir``):

- ``NAME.onnx``: the fp32 graph (the model family's exporter in ``mmpipe.train``), checked
  against torch (max abs error <= 1e-4, or ``ExportError``);
- ``NAME.int8.onnx``: every MatMul/GRU weight stored as int8 (per output unit), dequantized
  once when the session loads (see ``quantize_int8`` for why not dynamic quantization);
  checked to stay within 0.1 wide-band PESQ of the fp32 file on a fixed seeded speech set;
- ``NAME.ort``: the fp32 graph in onnxruntime's mobile (flatbuffer) format, pre-optimized
  (``convert_onnx_models_to_ort``, fixed style, level "all", no x86-only layouts), for
  onnxruntime's minimal/reduced builds;
- ``manifest.json``: per model the I/O contract, and per file sha256, size, opset, parity or
  PESQ figures and the single-thread latency per hop measured on this machine.

The interpolator (``mmpipe.train.interpolator_export``) gets the fp32 and ORT files only (no
int8: a small convolutional net), its parity checked on seeded frame pairs and its latency
measured per 720p frame.

Every file carries the contract metadata (``model``, ``contract_version``, ``weights_sha256``
of the checkpoint, ``variant`` and, for derived files, ``source_sha256`` of the fp32 file), and
``mmpipe.runtime`` checks it when it loads any of them. Needs torch and onnx (the train extra).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from mmpipe.assets import data_dir, model_dir
from mmpipe.errors import ConfigError, ExportError

logger = logging.getLogger(__name__)

EXPORTABLE = ("denoiser", "interpolator", "inpainter")
PARITY_TOLERANCE = 1e-4
INT8_MAX_PESQ_LOSS = 0.1
VARIANTS = ("onnx", "int8", "ort")


def file_names(name: str) -> dict[str, str]:
    """The files of model ``name`` in ``export/``, by variant."""
    return {"onnx": f"{name}.onnx", "int8": f"{name}.int8.onnx", "ort": f"{name}.ort"}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def require_train_extra() -> None:
    """Raise ``ExportError`` unless torch and onnx are importable."""
    missing = [m for m in ("torch", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise ExportError(
            f"export needs {' and '.join(missing)}: pip install -e '.[train]' (the train extra)"
        )


def export(
    names: Sequence[str] | None = None,
    *,
    out_dir: Path | str | None = None,
    int8: bool = True,
    ort: bool = True,
    latency_hops: int = 300,
) -> dict[str, dict]:
    """Export ``names`` (default: every shipped model) and update ``manifest.json``.

    ``out_dir`` defaults to the shipped ``export/``. The fp32 file is always (re)made, since
    the others derive from it; ``int8``/``ort`` select the extra variants. Every check fails
    the export (``ExportError``) instead of warning. Returns the manifest entries written.
    """
    names = _resolve(names)
    require_train_extra()
    out = Path(out_dir) if out_dir is not None else data_dir("export")
    out.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name in names:
        if name == "interpolator":
            entry = _export_interpolator(out, ort=ort)
        elif name == "inpainter":
            entry = _export_inpainter(out, ort=ort)
        else:
            entry = _export_denoiser(out, int8=int8, ort=ort, latency_hops=latency_hops)
        _keep_current_variants(out, name, entry)
        write_manifest_entry(out, name, entry)
        entries[name] = entry
    return entries


def _keep_current_variants(out: Path, name: str, entry: dict) -> None:
    """Keep the manifest rows of variants not made this time if they derive from this fp32."""
    path = out / "manifest.json"
    old = json.loads(path.read_text()).get(name, {}) if path.exists() else {}
    source = entry["files"]["onnx"]["sha256"]
    for variant, info in old.get("files", {}).items():
        if (
            variant not in entry["files"]
            and info.get("source_sha256") == source
            and (out / info["file"]).is_file()
            and sha256(out / info["file"]) == info["sha256"]
        ):
            entry["files"][variant] = info


def _resolve(names: Sequence[str] | None) -> list[str]:
    names = list(names or EXPORTABLE)
    unknown = [n for n in names if n not in EXPORTABLE]
    if unknown:
        raise ConfigError(
            f"unknown model {unknown[0]!r}; exportable models: {', '.join(EXPORTABLE)}"
        )
    return names


def _export_denoiser(out: Path, *, int8: bool, ort: bool, latency_hops: int) -> dict:
    from mmpipe.train.denoiser_export import export_denoiser

    name = "denoiser"
    files = file_names(name)
    source_dir = model_dir(name)
    fp32 = out / files["onnx"]
    meta = export_denoiser(
        source_dir, fp32, check=True, tolerance=PARITY_TOLERANCE, extra={"variant": "fp32"}
    )
    source_hash = sha256(fp32)
    entry = _contract_entry(fp32, meta)
    entry["files"] = {"onnx": _fp32_file_entry(fp32, meta)}
    if int8:
        path = out / files["int8"]
        quantize_int8(fp32, path, source_sha256=source_hash)
        fp32_pesq, int8_pesq = check_int8_pesq(fp32, path)
        entry["files"]["int8"] = {
            **_file_entry(path),
            "variant": "int8",
            "source_sha256": source_hash,
            "quantization": "int8 weights of every MatMul and GRU (symmetric, per output "
            "unit), dequantized once at load; fp32 compute",
            "pesq_wb_fp32": round(fp32_pesq, 4),
            "pesq_wb_int8": round(int8_pesq, 4),
            "pesq_set": pesq_set_description(),
        }
    if ort:
        path = out / files["ort"]
        entry["files"]["ort"] = _ort_file_entry(fp32, path, source_hash)
        entry["files"]["ort"]["max_abs_error_vs_onnx"] = denoiser_difference(fp32, path)
    for variant, info in entry["files"].items():
        info["latency_ms_per_hop_1thread"] = round(
            denoiser_latency_ms(out / files[variant], hops=latency_hops), 4
        )
    return entry


def _export_interpolator(out: Path, *, ort: bool) -> dict:
    """``interpolator.onnx`` (+ ``.ort``): no int8 variant (a 1 MB conv net; fp32 kernels)."""
    from mmpipe.train import interpolator_export as family

    return _export_fp32_net(
        out, "interpolator", family.export_interpolator, family.latency_ms, ort=ort,
        opset=family.OPSET, padding=family.PADDING,
        latency_key="latency_ms_per_720p_frame_1thread",
    )  # fmt: skip


def _export_inpainter(out: Path, *, ort: bool) -> dict:
    """``inpainter.onnx`` (+ ``.ort``): the UNet of one denoising step; no int8 variant."""
    from mmpipe.train import inpainter_export as family

    return _export_fp32_net(
        out, "inpainter", family.export_inpainter, family.latency_ms, ort=ort,
        opset=family.OPSET, padding="pad H and W to stride (edges)",
        latency_key="latency_ms_per_640x16_strip_1thread",
    )  # fmt: skip


def _export_fp32_net(
    out: Path,
    name: str,
    export_fp32,
    latency_ms,
    *,
    ort: bool,
    opset: int,
    padding: str,
    latency_key: str,
) -> dict:
    """``NAME.onnx`` (+ ``.ort``) of a network kept in fp32: the file checked by the family's
    ``export_fp32`` (its parity), the contract, and per file ``latency_key``: ``latency_ms``
    (1 thread, ms, one decimal)."""
    files = file_names(name)
    fp32 = out / files["onnx"]
    meta = export_fp32(
        model_dir(name), fp32, check=True, tolerance=PARITY_TOLERANCE, extra={"variant": "fp32"}
    )
    source_hash = sha256(fp32)
    entry = _contract_entry(fp32, meta, opset=opset, padding=padding)
    entry["files"] = {"onnx": _fp32_file_entry(fp32, meta)}
    if ort:
        entry["files"]["ort"] = _ort_file_entry(fp32, out / files["ort"], source_hash)
    for variant, info in entry["files"].items():
        info[latency_key] = round(latency_ms(out / files[variant], threads=1), 1)
    return entry


def _fp32_file_entry(fp32: Path, meta: dict) -> dict:
    """The manifest entry of a freshly exported fp32 file (``meta``: the exporter's)."""
    return {
        **_file_entry(fp32),
        "variant": "fp32",
        "parity_max_abs_error_vs_torch": float(meta["parity_max_abs_error"]),
    }


def _ort_file_entry(fp32: Path, path: Path, source_hash: str) -> dict:
    """Convert ``fp32`` to ORT format at ``path``; its manifest entry."""
    convert_to_ort(fp32, path, source_sha256=source_hash)
    return {
        **_file_entry(path),
        "variant": "ort",
        "source_sha256": source_hash,
        "optimization": "fixed, level all, NchwcTransformer excluded",
    }


# ---------------------------------------------------------------- variants


def quantize_int8(
    fp32_path: Path, int8_path: Path, *, source_sha256: str, levels: int = 127
) -> Path:
    """``fp32_path`` -> ``int8_path``: every MatMul/Gemm/GRU weight stored as int8.

    Symmetric, one scale per output unit, as ``Cast(int8) * scale`` nodes that onnxruntime
    folds back to fp32 once at load, so the compute is fp32 and the output depends neither on
    how a signal is cut into calls nor on the other streams of a batch. (onnxruntime's
    ``quantize_dynamic`` quantizes the activations per call, over the whole batch, which
    breaks both, covers no GRU and measured no faster here; see export/README.md.)
    The contract metadata is kept, with ``variant=int8`` and ``source_sha256`` added.
    ``levels``: weights use the integers ``-levels..levels`` (127: int8; tests use fewer to
    make a file that the PESQ check must reject).
    """
    import onnx

    proto = onnx.load(str(fp32_path))
    _int8_weights(proto, levels)
    _set_metadata(proto, {"variant": "int8", "source_sha256": source_sha256})
    onnx.checker.check_model(proto)
    onnx.save(proto, str(int8_path))
    return int8_path


def _int8_weights(proto, levels: int = 127) -> None:
    """Replace MatMul/Gemm/GRU weight initializers by int8 + per-output-unit scales."""
    from onnx import TensorProto, helper, numpy_helper

    initializers = {i.name: i for i in proto.graph.initializer}
    new_nodes = []
    done: set[str] = set()
    for node in proto.graph.node:
        if node.op_type == "GRU":
            names, keep_axis = node.input[1:3], 1  # W, R: [dirs, 3 * hidden, in]
        elif node.op_type in ("MatMul", "Gemm") and not (
            node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
        ):
            names, keep_axis = node.input[1:2], -1  # B: [in, out]
        else:
            continue
        for name in names:
            if name not in initializers or name in done:
                continue
            done.add(name)
            weight = numpy_helper.to_array(initializers[name])
            axes = tuple(a for a in range(weight.ndim) if a != keep_axis % weight.ndim)
            scale = np.abs(weight).max(axis=axes, keepdims=True) / levels
            scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
            quantized = np.clip(np.round(weight / scale), -levels, levels).astype(np.int8)
            proto.graph.initializer.remove(initializers[name])
            proto.graph.initializer.extend(
                [
                    numpy_helper.from_array(quantized, f"{name}_int8"),
                    numpy_helper.from_array(scale, f"{name}_scale"),
                ]
            )
            new_nodes += [
                helper.make_node("Cast", [f"{name}_int8"], [f"{name}_f"], to=TensorProto.FLOAT),
                helper.make_node("Mul", [f"{name}_f", f"{name}_scale"], [name]),
            ]
    if not done:
        raise ExportError("no MatMul/GRU weights found to quantize; not the expected graph")
    nodes = list(proto.graph.node)
    del proto.graph.node[:]
    proto.graph.node.extend(new_nodes + nodes)


def convert_to_ort(onnx_path: Path, ort_path: Path, *, source_sha256: str) -> Path:
    """``onnx_path`` -> ``ort_path`` with onnxruntime's ``convert_onnx_models_to_ort``.

    Fixed optimization style at level "all" (the tool's default, which leaves out the
    x86-only NCHWc layout); the contract metadata is carried into the ORT file, with
    ``variant=ort`` and ``source_sha256``.
    """
    import onnx
    from onnxruntime.tools.convert_onnx_models_to_ort import (
        OptimizationStyle,
        convert_onnx_models_to_ort,
    )

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in" / ort_path.with_suffix(".onnx").name
        source.parent.mkdir()
        proto = onnx.load(str(onnx_path))
        _set_metadata(proto, {"variant": "ort", "source_sha256": source_sha256})
        onnx.save(proto, str(source))
        with contextlib.redirect_stdout(io.StringIO()) as log, _quiet_root_logger():
            try:
                convert_onnx_models_to_ort(
                    source,
                    output_dir=Path(tmp) / "out",
                    optimization_styles=[OptimizationStyle.Fixed],
                )
            except Exception as error:
                raise ExportError(
                    f"ORT format conversion of {onnx_path} failed ({error}): {log.getvalue()}"
                ) from error
        made = Path(tmp) / "out" / source.with_suffix(".ort").name
        if not made.is_file():
            raise ExportError(f"ORT format conversion made no file: {log.getvalue()[-300:]}")
        ort_path.write_bytes(made.read_bytes())
    return ort_path


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Hold back onnxruntime tools' advice on the root logger (pre-processing, op configs)."""
    root = logging.getLogger()

    def keep(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR

    root.addFilter(keep)
    for handler in root.handlers:
        handler.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)
        for handler in root.handlers:
            handler.removeFilter(keep)


def _set_metadata(proto, values: dict[str, str]) -> None:
    keep = [(p.key, p.value) for p in proto.metadata_props if p.key not in values]
    keep = [(k, v) for k, v in keep if k != "onnx.infer"]  # added by the quantizer
    del proto.metadata_props[:]
    for key, value in [*keep, *values.items()]:
        proto.metadata_props.add(key=key, value=value)


# ---------------------------------------------------------------- checks and measures


def _clip_set() -> tuple[np.ndarray, np.ndarray]:
    """The fixed PESQ set: the bundled speech under seeded noises, ``(noisy, clean) [6, n]``.

    ``samples/speech_clean.wav`` (5.5 s, 48 kHz) mixed with white, pink and brown noise,
    50 Hz hum with harmonics, and the bundled windy mixture itself, at 0-15 dB SNR.
    """
    import soundfile

    folder = data_dir("samples")
    try:
        clean, rate = soundfile.read(folder / "speech_clean.wav", dtype="float32")
        noisy_sample, _ = soundfile.read(folder / "speech_noisy.wav", dtype="float32")
    except Exception as error:
        raise ExportError(
            f"the int8 PESQ check needs samples/speech_clean.wav and speech_noisy.wav "
            f"({error}); run it from a checkout"
        ) from error
    if rate != 48_000:
        raise ExportError(f"samples/speech_clean.wav is {rate} Hz, expected 48000")
    rng = np.random.default_rng(20261129)
    n = clean.size
    spectrum = np.fft.rfft(rng.standard_normal((3, n)), axis=1)
    f = np.maximum(np.fft.rfftfreq(n, 1 / rate), 20.0)
    white, pink, brown = np.fft.irfft(spectrum / np.stack([f**0, f**0.5, f]), n=n, axis=1)
    t = np.arange(n) / rate
    hum = sum(np.sin(2 * np.pi * 50 * k * t + k) / k for k in range(1, 8))
    noises = [(white, 15.0), (pink, 5.0), (brown, 0.0), (hum + 0.3 * pink / pink.std(), 10.0)]
    power = float(np.mean(clean**2))
    mixtures = [
        clean + noise * np.sqrt(power / 10 ** (snr / 10) / np.mean(noise**2))
        for noise, snr in noises
    ]
    mixtures.append(noisy_sample)
    mixtures.append(0.5 * noisy_sample + 0.05 * white / white.std())
    noisy = np.clip(np.stack(mixtures), -1, 1).astype(np.float32)
    return noisy, np.repeat(clean[None], len(noisy), 0)


def pesq_set_description() -> str:
    return (
        "6 mixtures of samples/speech_clean.wav (5.5 s): white 15 dB, pink 5 dB, brown 0 dB, "
        "hum+pink 10 dB SNR (seed 20261129), samples/speech_noisy.wav, and it + white noise"
    )


def _denoise_whole(path: Path, noisy: np.ndarray) -> np.ndarray:
    """Run an exported denoiser over ``noisy [B, n]`` in one call; latency-aligned output."""
    from mmpipe.runtime.denoiser import OnnxDenoiser

    runner = OnnxDenoiser(path, threads=1)
    latency, hop = runner.latency_samples, runner.hop
    n = noisy.shape[1]
    padded = np.pad(noisy, ((0, 0), (0, -(-(n + latency) // hop) * hop - n)))
    out, _ = runner.step(padded, runner.initial_state(len(noisy)), 0.0)
    return out[:, latency : latency + n]


def mean_pesq(path: Path, noisy: np.ndarray, clean: np.ndarray) -> float:
    """Mean wide-band PESQ of the exported denoiser ``path`` on ``(noisy, clean)``."""
    from mmpipe.train.speech_metrics import pesq_wb

    estimates = _denoise_whole(path, noisy)
    scores = [pesq_wb(e, c, 48_000) for e, c in zip(estimates, clean, strict=True)]
    return float(np.nanmean(scores))


def check_int8_pesq(
    fp32_path: Path, int8_path: Path, *, max_loss: float = INT8_MAX_PESQ_LOSS
) -> tuple[float, float]:
    """``(fp32 PESQ, int8 PESQ)`` on the fixed set; ``ExportError`` if int8 loses > max_loss."""
    noisy, clean = _clip_set()
    reference = mean_pesq(fp32_path, noisy, clean)
    quantized = mean_pesq(int8_path, noisy, clean)
    if not quantized >= reference - max_loss:
        raise ExportError(
            f"{int8_path.name} scores PESQ {quantized:.3f}, more than {max_loss} below the fp32 "
            f"file's {reference:.3f}: quantize fewer ops or export without --int8"
        )
    return reference, quantized


def denoiser_difference(a: Path, b: Path, seconds: float = 1.0) -> float:
    """Max abs difference of two exported denoisers on a seeded 48 kHz signal (one call)."""
    rng = np.random.default_rng(0)
    n = int(seconds * 48_000)
    t = np.arange(n) / 48_000
    x = (0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)
    return float(np.abs(_denoise_whole(a, x[None]) - _denoise_whole(b, x[None])).max())


def denoiser_latency_ms(path: Path, *, hops: int = 300, repeats: int = 3) -> float:
    """Wall time per 10 ms hop, one hop per call, one thread: best of ``repeats`` runs."""
    from mmpipe.runtime.denoiser import load_denoiser

    backend = "torch" if Path(path).is_dir() else "onnx"
    runner = load_denoiser(backend, Path(path), threads=1)
    x = (np.random.default_rng(0).standard_normal((1, runner.hop)) * 0.1).astype(np.float32)
    state = runner.initial_state(1)
    for _ in range(20):
        _, state = runner.step(x, state, 0.0)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(hops):
            _, state = runner.step(x, state, 0.0)
        best = min(best, (time.perf_counter() - start) / hops)
    return best * 1e3


def mobile_usability(path: Path) -> tuple[int, str]:
    """Exit status and report of ``onnxruntime.tools.check_onnx_model_mobile_usability``."""
    result = subprocess.run(
        [sys.executable, "-m", "onnxruntime.tools.check_onnx_model_mobile_usability", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


# ---------------------------------------------------------------- manifest


def _file_entry(path: Path) -> dict:
    return {"file": path.name, "sha256": sha256(path), "size_bytes": path.stat().st_size}


def _contract_entry(
    onnx_path: Path, meta: dict, *, opset: int | None = None, padding: str | None = None
) -> dict:
    import onnxruntime as ort

    from mmpipe.train.denoiser_export import OPSET

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    skip = ("model", "config", "parity_max_abs_error", "variant")
    return {
        "opset": opset or OPSET,
        "inputs": {i.name: {"shape": i.shape, "dtype": i.type} for i in session.get_inputs()},
        "outputs": {o.name: {"shape": o.shape, "dtype": o.type} for o in session.get_outputs()},
        "padding": padding
        or "feed K >= 1 whole hops; the output is latency_samples late: append "
        "latency_samples zeros (rounded up to a hop) and drop the first latency_samples",
        **{k: v for k, v in meta.items() if k not in skip},
    }


def write_manifest_entry(out: Path, name: str, entry: dict) -> Path:
    """Replace ``name``'s entry in ``out/manifest.json`` (other models are kept)."""
    path = out / "manifest.json"
    manifest = json.loads(path.read_text()) if path.exists() else {}
    manifest[name] = entry
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def check(names: Sequence[str] | None = None, *, out_dir: Path | str | None = None) -> dict:
    """Verify the exported files without writing: hashes, weights freshness, parity, PESQ.

    Raises ``ExportError`` naming the first stale or mismatched file; returns a summary.
    No ``names`` checks every exportable model that ``manifest.json`` lists.
    """
    explicit = bool(names)
    names = _resolve(names)
    require_train_extra()
    out = Path(out_dir) if out_dir is not None else data_dir("export")
    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        raise ExportError(f"{manifest_path} is missing: run `mmpipe export`")
    manifest = json.loads(manifest_path.read_text())
    if not explicit:
        names = [n for n in names if n in manifest]
        if not names:
            raise ExportError(f"{manifest_path} lists no exported model: run `mmpipe export`")
    summary = {}
    for name in names:
        if name == "interpolator":
            summary[name] = _check_interpolator(out, manifest.get(name))
        elif name == "inpainter":
            summary[name] = _check_inpainter(out, manifest.get(name))
        else:
            summary[name] = _check_denoiser(out, manifest.get(name))
    return summary


def _check_files(name: str, out: Path, entry: dict | None, open_runtime, weights: str) -> Path:
    """Every file of ``name``'s manifest ``entry``: present, its hash, made from the shipped
    weights (hash ``weights``) and, for the variants, from the current fp32 file. Returns the
    fp32 file."""
    if not entry:
        raise ExportError(f"manifest.json has no entry for {name}: run `mmpipe export`")
    fp32_hash = entry["files"]["onnx"]["sha256"]
    for variant, info in entry["files"].items():
        path = out / info["file"]
        if not path.is_file():
            raise ExportError(f"{path} is missing: run `mmpipe export`")
        if sha256(path) != info["sha256"]:
            raise ExportError(f"{path} does not match manifest.json: run `mmpipe export`")
        meta = open_runtime(path).runner.metadata
        if meta.get("weights_sha256") != weights:
            raise ExportError(
                f"{path.name} was made from other weights than models/{name}: run `mmpipe export`"
            )
        if variant != "onnx" and meta.get("source_sha256") != fp32_hash:
            raise ExportError(f"{path.name} was not made from the current fp32 file")
    return out / entry["files"]["onnx"]["file"]


def _check_interpolator(out: Path, entry: dict | None) -> dict:
    from mmpipe.nets.interpolator import from_pretrained
    from mmpipe.runtime.interpolator import OnnxInterpolator
    from mmpipe.train.interpolator_export import check_parity, weights_sha256

    weights = weights_sha256(model_dir("interpolator"))
    fp32 = _check_files("interpolator", out, entry, OnnxInterpolator, weights)
    model = from_pretrained(model_dir("interpolator"))
    return {"parity_max_abs_error": check_parity(model, fp32, PARITY_TOLERANCE)}


def _check_inpainter(out: Path, entry: dict | None) -> dict:
    from types import SimpleNamespace

    from mmpipe.nets.inpainter import from_pretrained
    from mmpipe.runtime.onnx import OnnxRunner
    from mmpipe.train.inpainter_export import check_parity
    from mmpipe.train.onnx_files import weights_sha256

    weights = weights_sha256(model_dir("inpainter"))
    fp32 = _check_files(
        "inpainter", out, entry, lambda path: SimpleNamespace(runner=OnnxRunner(path)), weights
    )
    model = from_pretrained(model_dir("inpainter"))
    return {"parity_max_abs_error": check_parity(model, fp32, PARITY_TOLERANCE)}


def _check_denoiser(out: Path, entry: dict | None) -> dict:
    from mmpipe.nets.denoiser import from_pretrained
    from mmpipe.runtime.denoiser import OnnxDenoiser
    from mmpipe.train.denoiser_export import check_parity, weights_sha256

    weights = weights_sha256(model_dir("denoiser"))
    fp32 = _check_files("denoiser", out, entry, OnnxDenoiser, weights)
    model = from_pretrained(model_dir("denoiser"))
    model.use_dft_matrices = True
    result = {"parity_max_abs_error": check_parity(model, fp32, PARITY_TOLERANCE, seconds=0.5)}
    assert entry is not None  # _check_files raised otherwise
    if "int8" in entry["files"]:
        result["pesq_fp32"], result["pesq_int8"] = check_int8_pesq(
            fp32, out / entry["files"]["int8"]["file"]
        )
    return result
