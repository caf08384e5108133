"""Export the denoiser to ONNX: waveform hops in, waveform hops out, state in and out.

The graph is ``Denoiser.forward`` with DFT matrices instead of FFT ops (plain MatMul, so
every execution provider and onnxruntime-mobile runs it) and a GRU op for the recurrence.
Inputs/outputs (``B`` streams, e.g. channels; ``K`` >= 1 hops of 480 samples at 48 kHz):

==================  ==========================  =========================================
name                shape                       meaning
==================  ==========================  =========================================
audio               float32 [B, K*480]          input samples, 48 kHz, about [-1, 1]
input_tail          float32 [B, 480]            state: last 480 input samples
output_tail         float32 [B, 480]            state: overlap-add carry
spectrum_history    float32 [B, P, W]           state: past spectra (see below)
gru_state           float32 [n_layers, B, hidden]       state: GRU hidden units
min_gain            float32 [1]                 0 = full suppression; 10**(-dB/20) limits it
audio_out           float32 [B, K*480]          denoised samples, ``latency_samples`` late
*_out               same as the state inputs    the new state, fed back on the next call
==================  ==========================  =========================================

``spectrum_history``: without look-ahead (the default config) ``P = df_order - 1`` past frames
of the low ``W = 2 * df_bins`` values (real, imaginary); with ``lookahead = L`` frames,
``P = df_order - 1 + L`` whole past spectra, ``W = 2 * 481``. ``latency_samples`` is
``480 * (1 + L)`` (10 ms without look-ahead).

All states start at zeros. The contract constants (sample rate, hop, latency, state shapes,
weights hash) are written into the ONNX metadata and checked by ``mmpipe.runtime``.
``mmpipe.export`` (`mmpipe export`) drives this, makes the int8 and ORT files and the manifest.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from mmpipe.errors import ExportError
from mmpipe.train.onnx_files import (
    export_graph,
    require_parity,
    save_with_metadata,
    weights_sha256,
)

MODEL_NAME = "denoiser"
CONTRACT_VERSION = "1"
OPSET = 17


def export_denoiser(
    model_dir: Path,
    onnx_path: Path,
    *,
    check: bool = True,
    tolerance: float = 1e-4,
    extra: dict[str, str] | None = None,
) -> dict:
    """Export ``model_dir`` (config.json + model.safetensors) to ``onnx_path``.

    ``extra`` adds metadata entries (e.g. ``variant``). With ``check``, runs a golden clip
    through torch and onnxruntime (whole clip and hop by hop) and raises ``ExportError`` when
    the max abs difference exceeds ``tolerance``.
    Returns the contract metadata (also embedded in the file), with measured errors.
    """
    import onnx
    import torch

    from mmpipe.nets.denoiser import STATE_NAMES, from_pretrained

    model = from_pretrained(model_dir)
    model.use_dft_matrices = True
    c = model.config

    class Step(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, audio, input_tail, output_tail, spectrum_history, gru_state, min_gain):
            out, state = self.model(
                audio, (input_tail, output_tail, spectrum_history, gru_state), min_gain
            )
            return (out, *state)

    batch = 2
    state = model.initial_state(batch)
    audio = torch.randn(batch, 3 * c.hop) * 0.1
    min_gain = torch.zeros(1)
    inputs = ("audio", *STATE_NAMES, "min_gain")
    outputs = ("audio_out", *(f"{n}_out" for n in STATE_NAMES))
    dynamic = {"audio": {0: "batch", 1: "samples"}, "audio_out": {0: "batch", 1: "samples"}}
    for name in STATE_NAMES:
        axis = 1 if name == "gru_state" else 0
        dynamic[name] = {axis: "batch"}
        dynamic[f"{name}_out"] = {axis: "batch"}
    with warnings.catch_warnings():
        # the GRU's initial state is a graph input, which is what this warning asks for
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        export_graph(
            Step().eval(),
            (audio, *state, min_gain),
            onnx_path,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dynamic,
            opset=OPSET,
        )
    metadata = {
        "model": MODEL_NAME,
        "contract_version": CONTRACT_VERSION,
        "sample_rate_hz": str(c.sample_rate_hz),
        "hop": str(c.hop),
        "window": str(c.window),
        "latency_samples": str(c.latency_samples),
        "state_names": ",".join(STATE_NAMES),
        "state_shapes": json.dumps(
            {
                n: list(s.shape[1:]) if n != "gru_state" else [s.shape[0], "B", s.shape[2]]
                for n, s in zip(STATE_NAMES, state, strict=True)
            }
        ),
        "config": (model_dir / "config.json").read_text(),
        "weights_sha256": weights_sha256(model_dir),
        **(extra or {}),
    }
    proto = onnx.load(str(onnx_path))
    _dft_from_indices(proto, c.window)
    save_with_metadata(proto, metadata, onnx_path)
    if check:
        metadata["parity_max_abs_error"] = str(check_parity(model, onnx_path, tolerance))
    return metadata


def _dft_from_indices(proto, window: int) -> None:
    """Replace the four stored DFT matrices (7.4 MB) by nodes that compute them.

    ``cos(2 pi ((n k) mod N) / N)`` from integer ranges: exact angles, a few dozen bytes;
    onnxruntime folds the subgraph once when the session loads.
    """
    from onnx import TensorProto, helper, numpy_helper

    from mmpipe.nets.denoiser import dft_matrices

    bins = window // 2 + 1
    k = np.arange(bins)
    weight = (np.where((k == 0) | (k == window // 2), 1.0, 2.0) / window).astype(np.float32)
    targets = dft_matrices(window)
    nodes = list(proto.graph.node)
    prefix = "/dft/"

    def const(name: str, value: np.ndarray):
        return helper.make_node(
            "Constant", [], [prefix + name], value=numpy_helper.from_array(value, prefix + name)
        )

    new_nodes = [
        const("zero", np.array(0, np.int64)),
        const("one", np.array(1, np.int64)),
        const("n_len", np.array(window, np.int64)),
        const("k_len", np.array(bins, np.int64)),
        const("axis0", np.array([0], np.int64)),
        const("axis1", np.array([1], np.int64)),
        const("step", np.array(2 * np.pi / window, np.float32)),
        const("weight", weight[:, None]),
        helper.make_node(
            "Range", [prefix + "zero", prefix + "n_len", prefix + "one"], [prefix + "n"]
        ),
        helper.make_node(
            "Range", [prefix + "zero", prefix + "k_len", prefix + "one"], [prefix + "k"]
        ),
        helper.make_node("Unsqueeze", [prefix + "n", prefix + "axis1"], [prefix + "n_col"]),
        helper.make_node("Unsqueeze", [prefix + "k", prefix + "axis0"], [prefix + "k_row"]),
        helper.make_node("Mul", [prefix + "n_col", prefix + "k_row"], [prefix + "nk"]),
        helper.make_node("Mod", [prefix + "nk", prefix + "n_len"], [prefix + "nk_mod"]),
        helper.make_node("Cast", [prefix + "nk_mod"], [prefix + "nk_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", [prefix + "nk_f", prefix + "step"], [prefix + "angle"]),
        helper.make_node("Cos", [prefix + "angle"], [prefix + "cos"]),
        helper.make_node("Sin", [prefix + "angle"], [prefix + "sin_pos"]),
        helper.make_node("Neg", [prefix + "sin_pos"], [prefix + "sin"]),
        helper.make_node("Transpose", [prefix + "cos"], [prefix + "cos_t"], perm=[1, 0]),
        helper.make_node("Transpose", [prefix + "sin"], [prefix + "sin_t"], perm=[1, 0]),
        helper.make_node("Mul", [prefix + "cos_t", prefix + "weight"], [prefix + "icos"]),
        helper.make_node("Mul", [prefix + "sin_t", prefix + "weight"], [prefix + "isin"]),
    ]
    replaced = {}
    kept = []
    for node in nodes:
        if node.op_type == "Constant" and node.attribute[0].t.dims in (
            [window, bins],
            [bins, window],
        ):
            value = numpy_helper.to_array(node.attribute[0].t)
            names = ("cos", "sin", "icos", "isin")
            match = [n for n, t in zip(names, targets, strict=True) if np.array_equal(t, value)]
            if len(match) == 1:
                replaced[node.output[0]] = prefix + match[0]
                continue
        kept.append(node)
    if len(replaced) != 4:
        raise ExportError(f"expected 4 DFT matrices in the traced graph, found {len(replaced)}")
    for node in kept:
        for i, name in enumerate(node.input):
            if name in replaced:
                node.input[i] = replaced[name]
    del proto.graph.node[:]
    proto.graph.node.extend(new_nodes + kept)


def check_parity(model, onnx_path: Path, tolerance: float = 1e-4, seconds: float = 1.0) -> float:
    """Max abs error between torch (whole clip, FFT path) and onnxruntime (hop by hop).

    Raises ``ExportError`` above ``tolerance``.
    """
    import torch

    from mmpipe.runtime.denoiser import OnnxDenoiser

    c = model.config
    rng = np.random.default_rng(0)
    n = int(seconds * c.sample_rate_hz) // c.hop * c.hop
    t = np.arange(n) / c.sample_rate_hz
    clip = (
        (
            0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
            + 0.05 * rng.standard_normal(n)
        )
        .astype(np.float32)[None]
        .repeat(2, 0)
    )
    use_dft = model.use_dft_matrices
    model.use_dft_matrices = False
    with torch.no_grad():
        expected = model(torch.from_numpy(clip), model.initial_state(2))[0].numpy()
    model.use_dft_matrices = use_dft
    runner = OnnxDenoiser(onnx_path, threads=1)
    state = runner.initial_state(2)
    outs = []
    for start in range(0, n, c.hop):
        out, state = runner.step(clip[:, start : start + c.hop], state, 0.0)
        outs.append(out)
    error = float(np.abs(np.concatenate(outs, axis=1) - expected).max())
    require_parity(error, tolerance)
    return error
