"""Export the frame interpolator to ONNX: two frames, their DIS flows and ``t`` in, a frame out.

The graph is ``Interpolator.forward``: pooling, the fixed-point flow projection, every warp
(``GridSample``, bilinear, border padding, ``align_corners=1``: opset 16+), the U-Net, the
upsampling (``Resize``) and the fusion are all inside. Outside it (pre-processing, documented
in ``export/README.md``) are the two dense flows, OpenCV DIS at half scale
(``mmpipe.vision.flow.dense_flow``), and the padding of ``H`` and ``W`` to a multiple of
``stride`` by edge replication (frames and flows), cropped off the output.

==========  ============================  ===============================================
name        shape                         meaning
==========  ============================  ===============================================
frame0      float32 [B, 3, H, W]          RGB in [0, 1] (uint8 / 255), time 0
frame1      float32 [B, 3, H, W]          RGB in [0, 1], time 1
flow01      float32 [B, 2, H, W]          (dx, dy) full-resolution pixels, frame 0 -> 1
flow10      float32 [B, 2, H, W]          (dx, dy) full-resolution pixels, frame 1 -> 0
t           float32 [B]                   time of the new frame, in (0, 1)
frame       float32 [B, 3, H, W]          RGB in [0, 1] at time t
==========  ============================  ===============================================

``mmpipe.export`` (`mmpipe export interpolator`) drives this, makes the ORT file and the
manifest entry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmpipe.train.onnx_files import (
    export_graph,
    model_to_export,
    parity_error,
    save_with_metadata,
    weights_sha256,  # noqa: F401 - part of this module's API
)

MODEL_NAME = "interpolator"
CONTRACT_VERSION = "1"
OPSET = 17
INPUT_NAMES = ("frame0", "frame1", "flow01", "flow10", "t")
FLOW_PREPROCESSING = (
    "OpenCV DIS, preset MEDIUM with patch stride 2 and spatial propagation, on grey frames "
    "shrunk by 0.5 "
    "(INTER_AREA), upsampled bilinearly to full resolution and multiplied by 2: "
    "mmpipe.vision.flow.dense_flow(frame0, frame1) and dense_flow(frame1, frame0)"
)
PADDING = (
    "pad H and W up to a multiple of stride by edge replication (frames and flows alike), "
    "crop the output back to H x W"
)


def export_interpolator(
    model_dir: Path | None,
    onnx_path: Path,
    *,
    check: bool = True,
    tolerance: float = 1e-4,
    extra: dict[str, str] | None = None,
    model=None,
) -> dict:
    """Export ``model_dir`` (config.json + model.safetensors), or ``model``, to ``onnx_path``.

    ``extra`` adds metadata entries (e.g. ``variant``). With ``check``, runs seeded pairs of
    two sizes through torch and onnxruntime and raises ``ExportError`` when the max abs
    difference exceeds ``tolerance``. Returns the contract metadata (also in the file).
    """
    import onnx
    import torch

    from mmpipe.nets.interpolator import from_pretrained

    model, weights, config_text = model_to_export(MODEL_NAME, model_dir, model, from_pretrained)
    model = model.eval()
    stride = model.config.stride
    inputs = _golden_inputs(2, 2 * stride, 3 * stride, seed=0)
    dynamic = {n: {0: "batch", 2: "height", 3: "width"} for n in (*INPUT_NAMES[:4], "frame")}
    dynamic["t"] = {0: "batch"}
    export_graph(
        model,
        tuple(torch.from_numpy(inputs[n]) for n in INPUT_NAMES),
        onnx_path,
        input_names=INPUT_NAMES,
        output_names=["frame"],
        dynamic_axes=dynamic,
        opset=OPSET,
    )
    metadata = {
        "model": MODEL_NAME,
        "contract_version": CONTRACT_VERSION,
        "stride": str(stride),
        "work_scale": str(model.config.work_scale),
        "flow_preprocessing": FLOW_PREPROCESSING,
        "padding": PADDING,
        "config": config_text,
        "weights_sha256": weights,
        **(extra or {}),
    }
    proto = onnx.load(str(onnx_path))
    save_with_metadata(proto, metadata, onnx_path)
    if check:
        metadata["parity_max_abs_error"] = str(check_parity(model, onnx_path, tolerance))
    return metadata


def _golden_inputs(batch: int, height_px: int, width_px: int, *, seed: int) -> dict:
    """Seeded frames (smooth colour + edges) and smooth flows of up to about 6 px."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height_px, 0:width_px].astype(np.float32)
    frames = []
    for _ in range(2):
        phase = rng.uniform(0, 6, size=(batch, 3, 1, 1)).astype(np.float32)
        wave = 0.5 + 0.4 * np.sin(xs / 7.0 + phase) * np.cos(ys / 5.0 - phase)
        edges = (rng.random((batch, 1, height_px, width_px)) > 0.9).astype(np.float32) * 0.1
        frames.append(np.clip(wave + edges, 0, 1).astype(np.float32))
    flows = []
    for _ in range(2):
        a = rng.uniform(-6, 6, size=(batch, 2, 1, 1)).astype(np.float32)
        flows.append(a * (0.6 + 0.4 * np.sin(xs / 11.0 + ys / 13.0)).astype(np.float32))
    t = rng.uniform(0.2, 0.8, size=batch).astype(np.float32)
    return {
        "frame0": frames[0],
        "frame1": frames[1],
        "flow01": flows[0],
        "flow10": flows[1],
        "t": t,
    }


def check_parity(model, onnx_path: Path, tolerance: float = 1e-4) -> float:
    """Max abs error between torch and onnxruntime on seeded pairs of two sizes.

    Raises ``ExportError`` above ``tolerance``.
    """
    from mmpipe.runtime.interpolator import OnnxInterpolator

    runner = OnnxInterpolator(onnx_path, threads=1)
    stride = model.config.stride
    sizes = [(3 * stride, 4 * stride), (5 * stride, 2 * stride)]
    feeds = (_golden_inputs(2, h, w, seed=seed + 1) for seed, (h, w) in enumerate(sizes))
    return parity_error(
        model, lambda inputs: runner.runner.run(inputs)["frame"], feeds, INPUT_NAMES, tolerance
    )


def latency_ms(
    path: Path, *, height_px: int = 720, width_px: int = 1280, threads: int = 1, repeats: int = 3
) -> float:
    """Wall time of one network call on a ``height_px x width_px`` pair (flows not included).

    ``path`` is an exported file (onnxruntime) or a model folder (torch); best of ``repeats``.
    """
    import time

    from mmpipe.runtime.interpolator import load_interpolator

    backend = "torch" if Path(path).is_dir() else "onnx"
    runner = load_interpolator(backend, Path(path), threads=threads)
    rng = np.random.default_rng(0)
    frame0 = rng.integers(0, 256, (height_px, width_px, 3), dtype=np.uint8)
    frame1 = np.roll(frame0, 3, axis=1)
    flow01 = np.zeros((height_px, width_px, 2), np.float32)
    flow01[..., 0] = 3.0
    flow10 = -flow01
    runner.synthesize(frame0, frame1, flow01, flow10, 0.5)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        runner.synthesize(frame0, frame1, flow01, flow10, 0.5)
        best = min(best, time.perf_counter() - start)
    return best * 1e3
