"""The learned frame interpolator as a runner: ``synthesize(frame0, frame1, flow01, flow10, t)``.

Same signature and units as the classical ``mmpipe.vision.interpolate.synthesize``: uint8 RGB
``[H, W, 3]`` frames, float32 ``[H, W, 2]`` full-resolution flows (0 -> 1 and 1 -> 0, as
``mmpipe.vision.flow.dense_flow`` returns them, OpenCV convention), ``t`` in ``(0, 1)``;
returns the uint8 RGB frame at time ``t``. Frames of any size: the runner pads ``H`` and
``W`` up to a multiple of the network's stride by edge replication (flows too) and crops
the result (the export contract, ``export/README.md``).

Backends: onnxruntime on ``export/interpolator.onnx`` (default) or torch on
``models/interpolator`` (development; needs torch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from mmpipe.assets import exported_model, model_dir
from mmpipe.errors import ConfigError
from mmpipe.runtime.onnx import OnnxRunner
from mmpipe.runtime.torch_backend import import_torch, trained_model

CONTRACT_VERSION = "1"
INPUT_NAMES = ("frame0", "frame1", "flow01", "flow10", "t")


def default_onnx_path() -> Path:
    """The shipped ``export/interpolator.onnx``."""
    return exported_model("interpolator")


def default_model_dir() -> Path:
    """The shipped ``models/interpolator`` (for the torch backend)."""
    return model_dir("interpolator")


class InterpolatorRunner(Protocol):
    stride: int

    def synthesize(
        self,
        frame0: np.ndarray,
        frame1: np.ndarray,
        flow01: np.ndarray,
        flow10: np.ndarray,
        t: float,
    ) -> np.ndarray: ...


def network_feeds(
    frame0: np.ndarray,
    frame1: np.ndarray,
    flow01: np.ndarray,
    flow10: np.ndarray,
    t: float,
    stride: int,
) -> dict[str, np.ndarray]:
    """The network's inputs for one pair: padded to ``stride``, NCHW float32, frames / 255."""
    if frame0.shape != frame1.shape or frame0.ndim != 3 or frame0.shape[2] != 3:
        raise ConfigError(f"interpolation needs two RGB frames of one shape, got {frame0.shape}")
    if frame0.dtype != np.uint8 or frame1.dtype != np.uint8:
        raise ConfigError("interpolation needs uint8 frames; convert with .astype(np.uint8)")
    h, w = frame0.shape[:2]
    if flow01.shape != (h, w, 2) or flow10.shape != (h, w, 2):
        raise ConfigError("flows must be full-resolution [H, W, 2] arrays, one per direction")
    if not 0.0 < t < 1.0:
        raise ConfigError(f"interpolation time must be in (0, 1), got {t}")
    pad = ((0, -h % stride), (0, -w % stride), (0, 0))

    def nchw(image: np.ndarray, scale: float) -> np.ndarray:
        padded = np.pad(image, pad, mode="edge") if any(p[1] for p in pad) else image
        return np.ascontiguousarray(padded.transpose(2, 0, 1)[None], np.float32) * np.float32(scale)

    return {
        "frame0": nchw(frame0, 1 / 255.0),
        "frame1": nchw(frame1, 1 / 255.0),
        "flow01": nchw(flow01, 1.0),
        "flow10": nchw(flow10, 1.0),
        "t": np.array([t], np.float32),
    }


def to_image(frame: np.ndarray, height_px: int, width_px: int) -> np.ndarray:
    """Network output ``[1, 3, H', W']`` in [0, 1] -> cropped uint8 ``[H, W, 3]``."""
    image = frame[0, :, :height_px, :width_px].transpose(1, 2, 0)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


class _Interpolator:
    """What both backends share: pad, run the network, crop back (``_network`` differs)."""

    stride: int

    def synthesize(
        self,
        frame0: np.ndarray,
        frame1: np.ndarray,
        flow01: np.ndarray,
        flow10: np.ndarray,
        t: float,
    ) -> np.ndarray:
        """The uint8 RGB frame at time ``t`` (see the module docstring)."""
        feeds = network_feeds(frame0, frame1, flow01, flow10, t, self.stride)
        return to_image(self._network(feeds), frame0.shape[0], frame0.shape[1])

    def _network(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError


class OnnxInterpolator(_Interpolator):
    """The exported interpolator on onnxruntime (the default backend)."""

    def __init__(self, path: Path | None = None, *, threads: int = 1) -> None:
        self.runner = OnnxRunner(
            path or default_onnx_path(),
            threads=threads,
            expect={"model": "interpolator", "contract_version": CONTRACT_VERSION},
        )
        self.stride = int(self.runner.metadata["stride"])

    def _network(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.runner.run(feeds)["frame"]


class TorchInterpolator(_Interpolator):
    """The checkpoint in ``models/interpolator`` on torch (development backend; needs torch)."""

    def __init__(self, model_dir: Path | None = None, *, threads: int = 1, model=None) -> None:
        self._torch = import_torch(threads)
        from mmpipe.nets.interpolator import from_pretrained

        self.model = model or trained_model(
            "interpolator", model_dir or default_model_dir(), from_pretrained
        )
        self.stride = self.model.config.stride

    def _network(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            return self.model(*(torch.from_numpy(feeds[n]) for n in INPUT_NAMES)).numpy()


def load_interpolator(
    backend: str = "onnx", path: Path | None = None, threads: int = 1
) -> InterpolatorRunner:
    """The interpolator on ``backend`` ("onnx" or "torch"); ``path`` overrides the shipped one."""
    if backend == "onnx":
        return OnnxInterpolator(path, threads=threads)
    if backend == "torch":
        return TorchInterpolator(path, threads=threads)
    raise ConfigError(f"unknown backend {backend!r}: use 'onnx' or 'torch'")
