"""Export the border inpainter's UNet to ONNX: one denoising call, ``x_0`` out.

The graph is ``Inpainter.forward`` (diffusers' ``UNet2DModel`` with its sinusoidal timestep
embedding, plus the nearest-fill residual). Outside it (``export/README.md``): building the
condition (nearest known pixel fill, mask, scaling to ``[-1, 1]``, padding to ``stride`` by
edge replication), the starting noise and the DDIM loop (``mmpipe.runtime.inpainter``).

==========  ============================  ===============================================
name        shape                         meaning
==========  ============================  ===============================================
noisy       float32 [B, 3, H, W]          diffusion state x_t (YUV, [-1, 1])
condition   float32 [B, 4, H, W]          nearest-filled strip (3) and known mask (1)
timestep    float32 [B]                   diffusion time in [0, 1000)
x0          float32 [B, 3, H, W]          predicted clean strip (YUV, [-1, 1])
==========  ============================  ===============================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmpipe.runtime.inpainter import CONTRACT_VERSION, DEFAULT_STEPS, INPUT_NAMES
from mmpipe.runtime.onnx import OnnxRunner
from mmpipe.train.onnx_files import (
    export_graph,
    model_to_export,
    parity_error,
    save_with_metadata,
)

MODEL_NAME = "inpainter"
OPSET = 17
PREPROCESSING = (
    "strip at half luma resolution as YUV (BT.601) uint8, oriented with the frame's edge on "
    "top; condition = the classical fill named by `base` (telea: cv2.inpaint radius 3 "
    "INPAINT_TELEA; nearest: nearest known pixel) / 127.5 - 1 and the known mask; pad H and "
    "W to a multiple of stride by edge replication; DDIM eta 0 on the cosine schedule "
    "(squaredcos_cap_v2, 1000 steps), trailing timesteps, x_0 clipped to [-1, 1]; known "
    "pixels copied back"
)


def export_inpainter(
    model_dir: Path | None,
    onnx_path: Path,
    *,
    check: bool = True,
    tolerance: float = 1e-4,
    extra: dict[str, str] | None = None,
    model=None,
) -> dict:
    """Export ``model_dir`` (config.json + model.safetensors), or ``model``, to ``onnx_path``.

    With ``check``, runs seeded strips of two sizes through torch and onnxruntime and raises
    ``ExportError`` above ``tolerance``. Returns the contract metadata (also in the file).
    """
    import onnx
    import torch

    from mmpipe.nets.inpainter import from_pretrained

    model, weights, config_text = model_to_export(MODEL_NAME, model_dir, model, from_pretrained)
    model = model.eval()
    stride = model.config.stride
    inputs = golden_inputs(2, 4 * stride, 8 * stride, seed=0)
    dynamic = {n: {0: "batch", 2: "height", 3: "width"} for n in ("noisy", "condition", "x0")}
    dynamic["timestep"] = {0: "batch"}
    export_graph(
        model,
        tuple(torch.from_numpy(inputs[n]) for n in INPUT_NAMES),
        onnx_path,
        input_names=INPUT_NAMES,
        output_names=["x0"],
        dynamic_axes=dynamic,
        opset=OPSET,
    )
    metadata = {
        "model": MODEL_NAME,
        "contract_version": CONTRACT_VERSION,
        "stride": str(stride),
        "base": model.config.base,
        "default_steps": str(DEFAULT_STEPS),
        "preprocessing": PREPROCESSING,
        "config": config_text,
        "weights_sha256": weights,
        **(extra or {}),
    }
    save_with_metadata(onnx.load(str(onnx_path)), metadata, onnx_path)
    if check:
        metadata["parity_max_abs_error"] = str(check_parity(model, onnx_path, tolerance))
    return metadata


def golden_inputs(batch: int, height_px: int, width_px: int, *, seed: int) -> dict:
    """Seeded network inputs: smooth strips with edges, a top band unknown, noise, times."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height_px, 0:width_px].astype(np.float32)
    phase = rng.uniform(0, 6, size=(batch, 3, 1, 1)).astype(np.float32)
    picture = 0.8 * np.sin(xs / 7.0 + phase) * np.cos(ys / 5.0 - phase)
    known = np.broadcast_to((ys >= height_px // 3)[None, None], (batch, 1, height_px, width_px))
    condition = np.concatenate([picture, known.astype(np.float32)], axis=1)
    return {
        "noisy": rng.standard_normal((batch, 3, height_px, width_px)).astype(np.float32),
        "condition": condition.astype(np.float32),
        "timestep": rng.uniform(0, 999, size=batch).astype(np.float32),
    }


def check_parity(model, onnx_path: Path, tolerance: float = 1e-4) -> float:
    """Max abs error between torch and onnxruntime on seeded strips of two sizes."""
    runner = OnnxRunner(onnx_path, threads=1)
    stride = model.config.stride
    sizes = [(3 * stride, 16 * stride), (10 * stride, 4 * stride)]
    feeds = (golden_inputs(2, h, w, seed=seed + 1) for seed, (h, w) in enumerate(sizes))
    return parity_error(
        model, lambda inputs: runner.run(inputs)["x0"], feeds, INPUT_NAMES, tolerance
    )


def latency_ms(
    path: Path, *, height_px: int = 16, width_px: int = 640, threads: int = 1, repeats: int = 3
) -> float:
    """Wall time of one ``inpaint`` call (``DEFAULT_STEPS`` steps) on a ``height_px x
    width_px`` strip with its top half unknown: the top strip of a 720p frame cut 16 px deep,
    at half resolution, with its context. Best of ``repeats``."""
    import time

    from mmpipe.runtime.inpainter import load_inpainter

    backend = "torch" if Path(path).is_dir() else "onnx"
    inpainter = load_inpainter(backend, Path(path), threads=threads)
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (height_px, width_px, 3), dtype=np.uint8)
    known = np.zeros((height_px, width_px), bool)
    known[height_px // 2 :] = True
    inpainter.inpaint(picture, known)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        inpainter.inpaint(picture, known)
        best = min(best, time.perf_counter() - start)
    return best * 1e3
